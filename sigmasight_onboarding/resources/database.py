"""The SigmaSight database as a Dagster resource."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from sqlalchemy import Engine

from sigmasight_onboarding.db.engine import get_engine
from sigmasight_onboarding.resources.settings import SettingsResource


class SigmaSightDatabase(SettingsResource):
    """SQLAlchemy engine of the SigmaSight database, migrated to the newest schema on first use.

    Unset fields come from the environment when used (`resources/settings.py`).
    """

    ENV_VARS: ClassVar[dict[str, str]] = {"url": "SIGMASIGHT_DATABASE_URL", "state_dir": "SIGMASIGHT_STATE_DIR"}

    url: str | None = Field(default=None, description="SQLAlchemy URL (SIGMASIGHT_DATABASE_URL); "
                                                      "default: SQLite file sigmasight.db under the state folder")
    state_dir: str | None = Field(default=None, description="Local state folder (SIGMASIGHT_STATE_DIR) of the "
                                                            "embedded SQLite default; default <project>/.local")

    def resolved_url(self) -> str:
        return self.settings().database_url

    def engine(self) -> Engine:
        return get_engine(self.resolved_url())

    def dialect_name(self) -> str:
        return self.engine().dialect.name
