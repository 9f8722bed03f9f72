"""onb_prices loses its date-only index (issue 17): every read filters by symbol and date, which the
(symbol, date) unique index serves; the date index only cost writes — 4.2 M cached prices on SQLite were
stored in 11.5 s instead of 16.9 s without it (`python -m bench --only Q`).

Revision ID: 0008_prices_date_index
Revises: 0007_desk_conventions
"""

from alembic import op

revision = "0008_prices_date_index"
down_revision = "0007_desk_conventions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_onb_market_data_date", table_name="onb_prices")


def downgrade() -> None:
    op.create_index("ix_onb_market_data_date", "onb_prices", ["date"])
