"""onb_price_gaps: sessions no provider had, so they are not asked for again

Revision ID: 0003_market_data_gaps
Revises: 0002_market_data_cache
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_market_data_gaps"
down_revision = "0002_market_data_cache"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "onb_price_gaps",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(255), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("symbol", "date", name="uq_onb_market_data_gaps_symbol_date"),
    )


def downgrade() -> None:
    op.drop_table("onb_price_gaps")
