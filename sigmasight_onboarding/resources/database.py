"""The SigmaSight database as a Dagster resource."""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field
from sqlalchemy import Engine

from sigmasight_onboarding.config import get_settings
from sigmasight_onboarding.db.engine import get_engine


class SigmaSightDatabase(ConfigurableResource):
    """SQLAlchemy engine of the SigmaSight database, migrated to the newest schema on first use.

    `url` defaults to SIGMASIGHT_DATABASE_URL (or the embedded SQLite file when unset).
    """

    url: str | None = Field(default=None, description="SQLAlchemy URL; default SIGMASIGHT_DATABASE_URL")

    def resolved_url(self) -> str:
        return self.url or get_settings().database_url

    def engine(self) -> Engine:
        return get_engine(self.resolved_url())

    def dialect_name(self) -> str:
        return self.engine().dialect.name
