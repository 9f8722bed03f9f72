"""onb_prices: daily prices shared by all clients

Revision ID: 0002_market_data_cache
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_market_data_cache"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "onb_prices",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("open", sa.Float(), nullable=True),
        sa.Column("high", sa.Float(), nullable=True),
        sa.Column("low", sa.Float(), nullable=True),
        sa.Column("close", sa.Float(), nullable=True),
        sa.Column("adj_close", sa.Float(), nullable=False),
        sa.Column("volume", sa.Float(), nullable=True),
        sa.Column("data_source", sa.String(16), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("symbol", "date", name="uq_onb_market_data_symbol_date"),
    )
    op.create_index("ix_onb_market_data_date", "onb_prices", ["date"])


def downgrade() -> None:
    op.drop_table("onb_prices")
