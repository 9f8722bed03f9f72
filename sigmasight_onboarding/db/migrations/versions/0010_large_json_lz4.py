"""PostgreSQL compresses the two large JSON columns of the time series with lz4 instead of pglz (issue 14).

`onb_stress_test_results.position_pnl` (every position's P&L of one scenario on one session) and
`onb_portfolio_risk_metrics.details` (component VaR per position, every ES level) are tens of kB per row
for a 1000-position book, so PostgreSQL TOASTs and compresses each value. With pglz that compression was
the largest single cost of a big book's time-series write: in scenario F (6 clients × 1000 positions ×
250 sessions, `pg_stat_statements`) the 24,000 stress rows took 17.7 s and the 1,500 risk rows 10.5 s of
server time. lz4 compresses the same JSON about 3× faster (measured: 2,000 rows of 1000-key JSON, COPY
1.59 s with pglz, 0.51 s with lz4) for ~30 % more disk.

Only the column's compression method changes (rows already stored keep theirs until rewritten). Skipped on
SQLite (no TOAST) and on a PostgreSQL server built without lz4 (older than 14, or ``--without-lz4``),
where the columns keep the server's default.

Revision ID: 0010_large_json_lz4
Revises: 0009_prices_keyed_by_symbol_date
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_large_json_lz4"
down_revision = "0009_prices_keyed_by_symbol_date"
branch_labels = None
depends_on = None

LARGE_JSON_COLUMNS = (("onb_stress_test_results", "position_pnl"), ("onb_portfolio_risk_metrics", "details"))


def lz4_supported(bind) -> bool:
    """True on a PostgreSQL server that can compress with lz4 (``default_toast_compression`` offers it)."""
    if bind.dialect.name != "postgresql":
        return False
    values = bind.execute(sa.text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")).scalar()
    return bool(values) and "lz4" in values


def _set_compression(method: str) -> None:
    if not lz4_supported(op.get_bind()):
        return
    for table, column in LARGE_JSON_COLUMNS:
        op.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET COMPRESSION {method}')


def upgrade() -> None:
    _set_compression("lz4")


def downgrade() -> None:
    _set_compression("default")
