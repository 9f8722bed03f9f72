"""Drop the eleven single-column indexes that a unique constraint already covers; index the one uncovered cascade.

Each of these tables has a unique constraint whose FIRST column is the indexed one (e.g.
``uq_onb_position_pnl_explain (position_id, calculation_date)`` and ``ix_onb_position_pnl_explain_position_id``).
PostgreSQL and SQLite both use the constraint's B-tree for lookups, joins and ON DELETE CASCADE scans by that
column alone, so the second index served no query and cost every insert and delete one more B-tree update —
on the time-series and analytics tables written for every session of every client.

Only our ``onb_*`` tables change; the backend's own tables keep the indexes of its schema (the contract).

The one cascading reference that had NO index, ``onb_correlation_cluster_positions.position_id``, gets one: on
PostgreSQL every deleted position (a re-drop that removes positions, an offboarding) made the cascade scan that
whole table.

Revision ID: 0011_drop_covered_indexes
Revises: 0010_large_json_lz4
"""

from alembic import op

revision = "0011_drop_covered_indexes"
down_revision = "0010_large_json_lz4"
branch_labels = None
depends_on = None

COVERED = (  # (table, column): the unique constraint of `table` leads with `column`
    ("onb_correlation_calculations", "portfolio_id"),
    ("onb_factor_exposures", "portfolio_id"),
    ("onb_portfolio_exposures", "portfolio_id"),
    ("onb_portfolio_risk_metrics", "portfolio_id"),
    ("onb_portfolio_snapshots", "portfolio_id"),
    ("onb_stress_test_results", "portfolio_id"),
    ("onb_position_exposures", "position_id"),
    ("onb_position_factor_exposures", "position_id"),
    ("onb_position_greeks", "position_id"),
    ("onb_position_interest_rate_betas", "position_id"),
    ("onb_position_pnl_explain", "position_id"),
)


UNCOVERED = ("onb_correlation_cluster_positions", "position_id")  # a cascading reference without an index


def upgrade() -> None:
    for table, column in COVERED:
        op.drop_index(f"ix_{table}_{column}", table_name=table)
    table, column = UNCOVERED
    op.create_index(f"ix_{table}_{column}", table, [column])


def downgrade() -> None:
    table, column = UNCOVERED
    op.drop_index(f"ix_{table}_{column}", table_name=table)
    for table, column in COVERED:
        op.create_index(f"ix_{table}_{column}", table, [column])
