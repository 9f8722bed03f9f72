"""onb_verifications: stored results of the end-to-end verification

Revision ID: 0006_onboarding_verifications
Revises: 0005_portfolio_timeseries
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_onboarding_verifications"
down_revision = "0005_portfolio_timeseries"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "onb_verifications",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("portfolio_id", sa.Uuid(), sa.ForeignKey("portfolios.id", ondelete="CASCADE"), nullable=False),
        sa.Column("client_email", sa.String(255), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=False),
    )
    op.create_index("ix_onb_verifications_portfolio_id", "onb_verifications", ["portfolio_id"])


def downgrade() -> None:
    op.drop_table("onb_verifications")
