"""portfolio time series: snapshots, risk metrics, stress scenarios and results

Revision ID: 0005_portfolio_timeseries
Revises: 0004_position_analytics
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_portfolio_timeseries"
down_revision = "0004_position_analytics"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "onb_portfolio_snapshots",
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('portfolio_id', sa.Uuid(), sa.ForeignKey("portfolios.id", ondelete="CASCADE"), nullable=False),
        sa.Column('snapshot_date', sa.Date(), nullable=False),
        sa.Column('total_value', sa.Float(), nullable=False),
        sa.Column('cash_value', sa.Float(), nullable=False),
        sa.Column('long_value', sa.Float(), nullable=False),
        sa.Column('short_value', sa.Float(), nullable=False),
        sa.Column('gross_exposure', sa.Float(), nullable=False),
        sa.Column('net_exposure', sa.Float(), nullable=False),
        sa.Column('daily_pnl', sa.Float(), nullable=True),
        sa.Column('daily_return', sa.Float(), nullable=True),
        sa.Column('cumulative_pnl', sa.Float(), nullable=False),
        sa.Column('portfolio_delta', sa.Float(), nullable=False),
        sa.Column('portfolio_gamma', sa.Float(), nullable=False),
        sa.Column('portfolio_theta', sa.Float(), nullable=False),
        sa.Column('portfolio_vega', sa.Float(), nullable=False),
        sa.Column('num_positions', sa.Integer(), nullable=False),
        sa.Column('num_long_positions', sa.Integer(), nullable=False),
        sa.Column('num_short_positions', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('portfolio_id', 'snapshot_date', name="uq_onb_portfolio_snapshots"),
    )
    op.create_index("ix_onb_portfolio_snapshots_portfolio_id", "onb_portfolio_snapshots", ["portfolio_id"])
    op.create_table(
        "onb_portfolio_risk_metrics",
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('portfolio_id', sa.Uuid(), sa.ForeignKey("portfolios.id", ondelete="CASCADE"), nullable=False),
        sa.Column('calculation_date', sa.Date(), nullable=False),
        sa.Column('quality_flag', sa.String(32), nullable=False),
        sa.Column('n_observations', sa.Integer(), nullable=False),
        sa.Column('lookback_sessions', sa.Integer(), nullable=False),
        sa.Column('gross_exposure', sa.Float(), nullable=True),
        sa.Column('net_value', sa.Float(), nullable=True),
        sa.Column('var_95_historical', sa.Float(), nullable=True),
        sa.Column('var_99_historical', sa.Float(), nullable=True),
        sa.Column('var_95_parametric', sa.Float(), nullable=True),
        sa.Column('var_99_parametric', sa.Float(), nullable=True),
        sa.Column('var_95_monte_carlo', sa.Float(), nullable=True),
        sa.Column('var_99_monte_carlo', sa.Float(), nullable=True),
        sa.Column('var_95_historical_10d', sa.Float(), nullable=True),
        sa.Column('var_99_historical_10d', sa.Float(), nullable=True),
        sa.Column('es_975_historical', sa.Float(), nullable=True),
        sa.Column('es_975_parametric', sa.Float(), nullable=True),
        sa.Column('es_975_monte_carlo', sa.Float(), nullable=True),
        sa.Column('annualised_volatility', sa.Float(), nullable=True),
        sa.Column('beta_spy', sa.Float(), nullable=True),
        sa.Column('max_drawdown', sa.Float(), nullable=True),
        sa.Column('sharpe_ratio', sa.Float(), nullable=True),
        sa.Column('sortino_ratio', sa.Float(), nullable=True),
        sa.Column('backtest_exceedances_95', sa.Integer(), nullable=True),
        sa.Column('backtest_exceedances_99', sa.Integer(), nullable=True),
        sa.Column('backtest_sessions', sa.Integer(), nullable=True),
        sa.Column('kupiec_p_95', sa.Float(), nullable=True),
        sa.Column('kupiec_p_99', sa.Float(), nullable=True),
        sa.Column('details', sa.JSON(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('portfolio_id', 'calculation_date', name="uq_onb_portfolio_risk_metrics"),
    )
    op.create_index("ix_onb_portfolio_risk_metrics_portfolio_id", "onb_portfolio_risk_metrics", ["portfolio_id"])
    op.create_table(
        "onb_stress_test_scenarios",
        sa.Column('id', sa.String(128), primary_key=True),
        sa.Column('name', sa.String(255), nullable=False),
        sa.Column('category', sa.String(64), nullable=False),
        sa.Column('source', sa.String(32), nullable=False),
        sa.Column('file_version', sa.Integer(), nullable=True),
        sa.Column('definition', sa.JSON(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "onb_stress_test_results",
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('portfolio_id', sa.Uuid(), sa.ForeignKey("portfolios.id", ondelete="CASCADE"), nullable=False),
        sa.Column('scenario_id', sa.String(128), sa.ForeignKey("onb_stress_test_scenarios.id"), nullable=False),
        sa.Column('calculation_date', sa.Date(), nullable=False),
        sa.Column('portfolio_pnl', sa.Float(), nullable=False),
        sa.Column('pnl_pct_gross', sa.Float(), nullable=True),
        sa.Column('pnl_pct_net', sa.Float(), nullable=True),
        sa.Column('gross_exposure', sa.Float(), nullable=False),
        sa.Column('net_value', sa.Float(), nullable=False),
        sa.Column('position_pnl', sa.JSON(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('portfolio_id', 'calculation_date', 'scenario_id', name="uq_onb_stress_test_results"),
    )
    op.create_index("ix_onb_stress_test_results_portfolio_id", "onb_stress_test_results", ["portfolio_id"])


def downgrade() -> None:
    for table in ("onb_stress_test_results", "onb_stress_test_scenarios", "onb_portfolio_risk_metrics", "onb_portfolio_snapshots"):
        op.drop_table(table)
