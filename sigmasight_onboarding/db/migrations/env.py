"""Alembic environment: always run with a connection handed in by `db.engine.migrate`."""

from alembic import context

from sigmasight_onboarding.db.models import Base
from sigmasight_onboarding.db.engine import VERSION_TABLE

target_metadata = Base.metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - we never run alembic offline
    raise RuntimeError("run migrations through sigmasight_onboarding.db.engine.migrate()")

# Our own version table: in a shared database the backend's migrations keep `alembic_version`.
context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                  version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
