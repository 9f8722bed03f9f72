"""onb_prices is keyed by (symbol, date) itself (issue 17): the surrogate `id`, its sequence and the
separate unique index go. Every price written now extends one B-tree instead of two (plus a sequence
call on PostgreSQL), and SQLite stores the table WITHOUT ROWID, clustered by (symbol, date), so a
symbol's window is read as one contiguous range. Nothing referenced `onb_prices.id`. `fetched_at` gets
a server default, so the bulk COPY leaves the stamp to the server instead of sending and parsing one
timestamp per row. A partial index holds only the synthetic rows (normally none), so the SQLite matrix read
finds them with one probe per symbol instead of testing every row's label.

Measured with `python -m bench --only Q` (4.2 M prices; see bench/results/issue17.md, session 14).

The table is rebuilt (create, copy, drop, rename) the same way on both databases: SQLite cannot
change a primary key in place.

Revision ID: 0009_prices_keyed_by_symbol_date
Revises: 0008_prices_date_index
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_prices_keyed_by_symbol_date"
down_revision = "0008_prices_date_index"
branch_labels = None
depends_on = None

_COLUMNS = ("symbol", "date", "open", "high", "low", "close", "adj_close", "volume", "data_source", "fetched_at")


def _value_columns() -> list[sa.Column]:
    return [
        sa.Column("open", sa.Float(), nullable=True),
        sa.Column("high", sa.Float(), nullable=True),
        sa.Column("low", sa.Float(), nullable=True),
        sa.Column("close", sa.Float(), nullable=True),
        sa.Column("adj_close", sa.Float(), nullable=False),
        sa.Column("volume", sa.Float(), nullable=True),
        sa.Column("data_source", sa.String(16), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


def _rebuild(create) -> None:
    create("onb_prices_rebuilt")
    names = ", ".join(f'"{c}"' for c in _COLUMNS)
    op.execute(f'INSERT INTO onb_prices_rebuilt ({names}) SELECT {names} FROM onb_prices')
    op.drop_table("onb_prices")
    op.rename_table("onb_prices_rebuilt", "onb_prices")


def upgrade() -> None:
    def create(name: str) -> None:
        op.create_table(
            name,
            sa.Column("symbol", sa.String(64), nullable=False),
            sa.Column("date", sa.Date(), nullable=False),
            *_value_columns(),
            sa.PrimaryKeyConstraint("symbol", "date", name="pk_onb_prices"),
            sqlite_with_rowid=False,
        )

    _rebuild(create)
    synthetic = sa.text("data_source = 'synthetic'")
    op.create_index("ix_onb_prices_synthetic", "onb_prices", ["symbol", "date"], sqlite_where=synthetic,
                    postgresql_where=synthetic)


def downgrade() -> None:
    def create(name: str) -> None:
        op.create_table(
            name,
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("symbol", sa.String(64), nullable=False),
            sa.Column("date", sa.Date(), nullable=False),
            *_value_columns(),
            sa.UniqueConstraint("symbol", "date", name="uq_onb_market_data_symbol_date"),
        )

    _rebuild(create)
