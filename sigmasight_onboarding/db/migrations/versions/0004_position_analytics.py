"""position analytics: greeks, factor definitions and exposures, rate betas, correlations

Revision ID: 0004_position_analytics
Revises: 0003_market_data_gaps
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_position_analytics"
down_revision = "0003_market_data_gaps"
branch_labels = None
depends_on = None

FACTORS = [
    (1, "Market", "SPY", "market", "US equity market (S&P 500)"),
    (2, "Value", "VTV", "style", "Value stocks; multivariate model: VTV return minus SPY"),
    (3, "Growth", "VUG", "style", "Growth stocks; multivariate model: VUG return minus SPY"),
    (4, "Momentum", "MTUM", "style", "Momentum; multivariate model: MTUM return minus SPY"),
    (5, "Quality", "QUAL", "style", "Quality; multivariate model: QUAL return minus SPY"),
    (6, "Size", "IWM", "style", "Small caps (Russell 2000); multivariate model: IWM return minus SPY"),
    (7, "Low Volatility", "USMV", "style", "Minimum volatility; multivariate model: USMV return minus SPY"),
]


def upgrade() -> None:
    op.create_table(
        "onb_position_greeks",
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('position_id', sa.Uuid(), sa.ForeignKey("positions.id", ondelete="CASCADE"), nullable=False),
        sa.Column('portfolio_id', sa.Uuid(), sa.ForeignKey("portfolios.id", ondelete="CASCADE"), nullable=False),
        sa.Column('calculation_date', sa.Date(), nullable=False),
        sa.Column('underlying_price', sa.Float(), nullable=False),
        sa.Column('implied_volatility', sa.Float(), nullable=False),
        sa.Column('volatility_source', sa.String(32), nullable=False),
        sa.Column('risk_free_rate', sa.Float(), nullable=False),
        sa.Column('time_to_expiry_years', sa.Float(), nullable=False),
        sa.Column('is_expired', sa.Boolean(), nullable=False),
        sa.Column('price_source', sa.String(16), nullable=False),
        sa.Column('unit_price', sa.Float(), nullable=False),
        sa.Column('delta', sa.Float(), nullable=False),
        sa.Column('gamma', sa.Float(), nullable=False),
        sa.Column('theta', sa.Float(), nullable=False),
        sa.Column('vega', sa.Float(), nullable=False),
        sa.Column('rho', sa.Float(), nullable=False),
        sa.Column('position_value', sa.Float(), nullable=False),
        sa.Column('position_delta', sa.Float(), nullable=False),
        sa.Column('position_gamma', sa.Float(), nullable=False),
        sa.Column('position_theta', sa.Float(), nullable=False),
        sa.Column('position_vega', sa.Float(), nullable=False),
        sa.Column('position_rho', sa.Float(), nullable=False),
        sa.Column('delta_dollars', sa.Float(), nullable=False),
        sa.Column('gamma_dollars', sa.Float(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('position_id', 'calculation_date', name="uq_onb_position_greeks_position_date"),
    )
    op.create_index("ix_onb_position_greeks_position_id", "onb_position_greeks", ["position_id"])
    op.create_index("ix_onb_position_greeks_portfolio_id", "onb_position_greeks", ["portfolio_id"])
    op.create_table(
        "onb_factor_definitions",
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('name', sa.String(64), nullable=False, unique=True),
        sa.Column('etf_proxy', sa.String(16), nullable=False),
        sa.Column('factor_type', sa.String(16), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('display_order', sa.Integer(), nullable=False),
        sa.UniqueConstraint('name', name="None"),
    )
    op.create_table(
        "onb_position_factor_exposures",
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('position_id', sa.Uuid(), sa.ForeignKey("positions.id", ondelete="CASCADE"), nullable=False),
        sa.Column('portfolio_id', sa.Uuid(), sa.ForeignKey("portfolios.id", ondelete="CASCADE"), nullable=False),
        sa.Column('factor_id', sa.Integer(), sa.ForeignKey("onb_factor_definitions.id"), nullable=False),
        sa.Column('calculation_date', sa.Date(), nullable=False),
        sa.Column('model', sa.String(16), nullable=False),
        sa.Column('exposure_value', sa.Float(), nullable=True),
        sa.Column('t_stat', sa.Float(), nullable=True),
        sa.Column('r_squared', sa.Float(), nullable=True),
        sa.Column('n_obs', sa.Integer(), nullable=False),
        sa.Column('quality_flag', sa.String(32), nullable=False),
        sa.Column('extreme_beta', sa.Boolean(), nullable=False),
        sa.Column('exposure_dollars', sa.Float(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('position_id', 'factor_id', 'calculation_date', 'model', name="uq_onb_position_factor_exposures"),
    )
    op.create_index("ix_onb_position_factor_exposures_position_id", "onb_position_factor_exposures", ["position_id"])
    op.create_index("ix_onb_position_factor_exposures_portfolio_id", "onb_position_factor_exposures", ["portfolio_id"])
    op.create_table(
        "onb_factor_exposures",
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('portfolio_id', sa.Uuid(), sa.ForeignKey("portfolios.id", ondelete="CASCADE"), nullable=False),
        sa.Column('factor_id', sa.Integer(), sa.ForeignKey("onb_factor_definitions.id"), nullable=False),
        sa.Column('calculation_date', sa.Date(), nullable=False),
        sa.Column('model', sa.String(16), nullable=False),
        sa.Column('exposure_value', sa.Float(), nullable=False),
        sa.Column('exposure_dollar', sa.Float(), nullable=False),
        sa.Column('beta_gross', sa.Float(), nullable=False),
        sa.Column('beta_net', sa.Float(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('portfolio_id', 'factor_id', 'calculation_date', 'model', name="uq_onb_factor_exposures"),
    )
    op.create_index("ix_onb_factor_exposures_portfolio_id", "onb_factor_exposures", ["portfolio_id"])
    op.create_table(
        "onb_position_interest_rate_betas",
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('position_id', sa.Uuid(), sa.ForeignKey("positions.id", ondelete="CASCADE"), nullable=False),
        sa.Column('portfolio_id', sa.Uuid(), sa.ForeignKey("portfolios.id", ondelete="CASCADE"), nullable=False),
        sa.Column('calculation_date', sa.Date(), nullable=False),
        sa.Column('rate_beta', sa.Float(), nullable=True),
        sa.Column('r_squared', sa.Float(), nullable=True),
        sa.Column('t_stat', sa.Float(), nullable=True),
        sa.Column('n_obs', sa.Integer(), nullable=False),
        sa.Column('quality_flag', sa.String(32), nullable=False),
        sa.Column('tlt_beta', sa.Float(), nullable=True),
        sa.Column('tlt_r_squared', sa.Float(), nullable=True),
        sa.Column('exposure_dollars', sa.Float(), nullable=True),
        sa.Column('pnl_up_100bp', sa.Float(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('position_id', 'calculation_date', name="uq_onb_position_ir_betas"),
    )
    op.create_index("ix_onb_position_interest_rate_betas_position_id", "onb_position_interest_rate_betas", ["position_id"])
    op.create_index("ix_onb_position_interest_rate_betas_portfolio_id", "onb_position_interest_rate_betas", ["portfolio_id"])
    op.create_table(
        "onb_correlation_calculations",
        sa.Column('id', sa.Uuid(), primary_key=True),
        sa.Column('portfolio_id', sa.Uuid(), sa.ForeignKey("portfolios.id", ondelete="CASCADE"), nullable=False),
        sa.Column('calculation_date', sa.Date(), nullable=False),
        sa.Column('duration_days', sa.Integer(), nullable=False),
        sa.Column('min_overlap', sa.Integer(), nullable=False),
        sa.Column('overall_correlation', sa.Float(), nullable=True),
        sa.Column('correlation_concentration_score', sa.Float(), nullable=True),
        sa.Column('effective_positions', sa.Float(), nullable=True),
        sa.Column('positions_included', sa.Integer(), nullable=False),
        sa.Column('positions_excluded', sa.Integer(), nullable=False),
        sa.Column('excluded', sa.JSON(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('portfolio_id', 'calculation_date', name="uq_onb_correlation_calculations"),
    )
    op.create_index("ix_onb_correlation_calculations_portfolio_id", "onb_correlation_calculations", ["portfolio_id"])
    op.create_table(
        "onb_pairwise_correlations",
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('correlation_calculation_id', sa.Uuid(), sa.ForeignKey("onb_correlation_calculations.id", ondelete="CASCADE"), nullable=False),
        sa.Column('symbol_1', sa.String(64), nullable=False),
        sa.Column('symbol_2', sa.String(64), nullable=False),
        sa.Column('correlation_value', sa.Float(), nullable=False),
        sa.Column('data_points', sa.Integer(), nullable=False),
        sa.Column('p_value', sa.Float(), nullable=False),
    )
    op.create_index("ix_onb_pairwise_correlations_correlation_calculation_id", "onb_pairwise_correlations", ["correlation_calculation_id"])
    op.create_table(
        "onb_correlation_clusters",
        sa.Column('id', sa.Uuid(), primary_key=True),
        sa.Column('correlation_calculation_id', sa.Uuid(), sa.ForeignKey("onb_correlation_calculations.id", ondelete="CASCADE"), nullable=False),
        sa.Column('cluster_number', sa.Integer(), nullable=False),
        sa.Column('nickname', sa.String(255), nullable=False),
        sa.Column('avg_correlation', sa.Float(), nullable=False),
        sa.Column('total_value', sa.Float(), nullable=False),
        sa.Column('portfolio_percentage', sa.Float(), nullable=False),
    )
    op.create_index("ix_onb_correlation_clusters_correlation_calculation_id", "onb_correlation_clusters", ["correlation_calculation_id"])
    op.create_table(
        "onb_correlation_cluster_positions",
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('cluster_id', sa.Uuid(), sa.ForeignKey("onb_correlation_clusters.id", ondelete="CASCADE"), nullable=False),
        sa.Column('position_id', sa.Uuid(), sa.ForeignKey("positions.id", ondelete="CASCADE"), nullable=False),
        sa.Column('symbol', sa.String(64), nullable=False),
        sa.Column('value', sa.Float(), nullable=False),
        sa.Column('portfolio_percentage', sa.Float(), nullable=False),
    )
    op.create_index("ix_onb_correlation_cluster_positions_cluster_id", "onb_correlation_cluster_positions", ["cluster_id"])
    onb_factor_definitions = sa.table(
        "onb_factor_definitions",
        sa.column("id", sa.Integer()), sa.column("name", sa.String()), sa.column("etf_proxy", sa.String()),
        sa.column("factor_type", sa.String()), sa.column("description", sa.Text()), sa.column("display_order", sa.Integer()),
    )
    op.bulk_insert(
        onb_factor_definitions,
        [
            {"id": i, "name": n, "etf_proxy": e, "factor_type": t, "description": d, "display_order": i}
            for i, n, e, t, d in FACTORS
        ],
    )


def downgrade() -> None:
    for table in (
        "onb_correlation_cluster_positions",
        "onb_correlation_clusters",
        "onb_pairwise_correlations",
        "onb_correlation_calculations",
        "onb_position_interest_rate_betas",
        "onb_factor_exposures",
        "onb_position_factor_exposures",
        "onb_factor_definitions",
        "onb_position_greeks",
    ):
        op.drop_table(table)
