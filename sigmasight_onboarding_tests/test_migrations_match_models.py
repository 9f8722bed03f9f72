"""Our Alembic migrations build exactly the `onb_*` schema the models declare (tables, columns, types,
nullability, indexes, unique constraints, foreign keys), on SQLite and PostgreSQL — so a model change without
its migration (or the reverse) fails here instead of in a deployment."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from sigmasight_onboarding.db import models  # noqa: F401  (registers every onb_* table on Base.metadata)
from sigmasight_onboarding.db.base import Base
from sigmasight_onboarding.db.engine import get_engine


def _ours(name: str | None) -> bool:
    return bool(name) and name.startswith("onb_") and name != "onb_alembic_version"


def test_migrated_schema_equals_the_models(db_url):
    engine = get_engine(db_url)  # migrated to head

    def include_object(obj, name, type_, reflected, compare_to):
        if type_ == "table":
            return _ours(name)
        table = getattr(obj, "table", None)
        return table is None or _ours(table.name)

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include_object, "compare_type": True})
        diffs = compare_metadata(context, Base.metadata)
    assert diffs == []
    tables = {t for t in Base.metadata.tables if _ours(t)}
    assert "onb_prices" in tables and len(tables) >= 10
    index_names = {ix.name for ix in Base.metadata.tables["onb_prices"].indexes}
    assert "ix_onb_market_data_date" not in index_names  # dropped by 0008 (reads filter by symbol and date)
