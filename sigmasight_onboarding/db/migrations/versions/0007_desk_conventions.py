"""Desk conventions (issue 15): dividend yield on Greeks, rate-beta significance and repriced +100 bp P&L,
dollar-delta exposures per position and portfolio, and the per-position P&L explanation table.

Revision ID: 0007_desk_conventions
Revises: 0006_onboarding_verifications
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_desk_conventions"
down_revision = "0006_onboarding_verifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("onb_position_greeks") as batch:
        batch.add_column(sa.Column("dividend_yield", sa.Float(), nullable=True))
        batch.add_column(sa.Column("dividend_yield_source", sa.String(32), nullable=True))
    with op.batch_alter_table("onb_position_interest_rate_betas") as batch:
        batch.add_column(sa.Column("low_significance", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("pnl_up_100bp_repriced", sa.Float(), nullable=True))
    op.create_table(
        "onb_position_exposures",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("position_id", sa.Uuid(), sa.ForeignKey("positions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("portfolio_id", sa.Uuid(), sa.ForeignKey("portfolios.id", ondelete="CASCADE"), nullable=False),
        sa.Column("calculation_date", sa.Date(), nullable=False),
        sa.Column("underlying_symbol", sa.String(64), nullable=False),
        sa.Column("share_delta", sa.Float(), nullable=True),
        sa.Column("dollar_delta", sa.Float(), nullable=True),
        sa.Column("market_beta", sa.Float(), nullable=True),
        sa.Column("beta_adjusted_dollar_delta", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("position_id", "calculation_date", name="uq_onb_position_exposures"),
    )
    op.create_index("ix_onb_position_exposures_position_id", "onb_position_exposures", ["position_id"])
    op.create_index("ix_onb_position_exposures_portfolio_id", "onb_position_exposures", ["portfolio_id"])
    op.create_table(
        "onb_portfolio_exposures",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("portfolio_id", sa.Uuid(), sa.ForeignKey("portfolios.id", ondelete="CASCADE"), nullable=False),
        sa.Column("calculation_date", sa.Date(), nullable=False),
        sa.Column("long_dollar_delta", sa.Float(), nullable=False),
        sa.Column("short_dollar_delta", sa.Float(), nullable=False),
        sa.Column("delta_adjusted_gross", sa.Float(), nullable=False),
        sa.Column("delta_adjusted_net", sa.Float(), nullable=False),
        sa.Column("beta_adjusted_gross", sa.Float(), nullable=False),
        sa.Column("beta_adjusted_net", sa.Float(), nullable=False),
        sa.Column("n_positions_missing_beta", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("portfolio_id", "calculation_date", name="uq_onb_portfolio_exposures"),
    )
    op.create_index("ix_onb_portfolio_exposures_portfolio_id", "onb_portfolio_exposures", ["portfolio_id"])
    op.create_table(
        "onb_position_pnl_explain",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("position_id", sa.Uuid(), sa.ForeignKey("positions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("portfolio_id", sa.Uuid(), sa.ForeignKey("portfolios.id", ondelete="CASCADE"), nullable=False),
        sa.Column("calculation_date", sa.Date(), nullable=False),
        sa.Column("previous_date", sa.Date(), nullable=False),
        sa.Column("value_previous", sa.Float(), nullable=False),
        sa.Column("value_current", sa.Float(), nullable=False),
        sa.Column("pnl", sa.Float(), nullable=False),
        sa.Column("delta_pnl", sa.Float(), nullable=False),
        sa.Column("gamma_pnl", sa.Float(), nullable=False),
        sa.Column("vega_pnl", sa.Float(), nullable=False),
        sa.Column("theta_pnl", sa.Float(), nullable=False),
        sa.Column("rates_pnl", sa.Float(), nullable=False),
        sa.Column("residual", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("position_id", "calculation_date", name="uq_onb_position_pnl_explain"),
    )
    op.create_index("ix_onb_position_pnl_explain_position_id", "onb_position_pnl_explain", ["position_id"])
    op.create_index("ix_onb_position_pnl_explain_portfolio_id", "onb_position_pnl_explain", ["portfolio_id"])


def downgrade() -> None:
    op.drop_table("onb_position_pnl_explain")
    op.drop_table("onb_portfolio_exposures")
    op.drop_table("onb_position_exposures")
    with op.batch_alter_table("onb_position_interest_rate_betas") as batch:
        batch.drop_column("pnl_up_100bp_repriced")
        batch.drop_column("low_significance")
    with op.batch_alter_table("onb_position_greeks") as batch:
        batch.drop_column("dividend_yield_source")
        batch.drop_column("dividend_yield")
