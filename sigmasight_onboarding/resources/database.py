"""The SigmaSight database as a Dagster resource."""

from __future__ import annotations

from sqlalchemy import Engine

from sigmasight_onboarding.db.engine import get_engine
from sigmasight_onboarding.resources.settings import SettingsResource, env_setting


class SigmaSightDatabase(SettingsResource):
    """SQLAlchemy engine of the SigmaSight database, migrated to the newest schema on first use.

    Unset fields come from the environment when used (`resources/settings.py`).
    """

    url: str | None = env_setting("SIGMASIGHT_DATABASE_URL",
                                  "SQLAlchemy URL ({var}); default: SQLite file sigmasight.db under the state folder")
    state_dir: str | None = env_setting("SIGMASIGHT_STATE_DIR",
                                        "Local state folder ({var}) of the embedded SQLite default; default <project>/.local")

    def resolved_url(self) -> str:
        return self.settings().database_url

    def engine(self) -> Engine:
        return get_engine(self.resolved_url())

    def dialect_name(self) -> str:
        return self.engine().dialect.name
