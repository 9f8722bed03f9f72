"""Typed settings on the Dagster resources, one configuration path for runs, sensors and the CLI.

Every SIGMASIGHT_* setting is parsed in ONE place, `config.Settings.from_env`. A resource that
carries settings subclasses `SettingsResource` and declares them as typed fields, each mapped to
its environment variable in `ENV_VARS`. `settings()` returns the `Settings` with the fields that
are set laid over the environment, so:

- a field set in `definitions.py` (a value, or `dagster.EnvVar` — resolved when the run starts)
  wins, and the UI shows it on the resource's page;
- a field left unset (None) takes the environment variable as `get_settings()` sees it when the
  run, sensor tick or CLI command uses it — never a value frozen at import.
"""

from __future__ import annotations

import os
from typing import ClassVar

from dagster import ConfigurableResource

from sigmasight_onboarding.config import Settings, get_settings


class SettingsResource(ConfigurableResource):
    """Base of the resources that carry settings; see the module docstring."""

    #: field name -> environment variable it stands for (what `config.Settings.from_env` reads).
    ENV_VARS: ClassVar[dict[str, str]] = {}

    def overrides(self) -> dict[str, str]:
        """{environment variable: value} of the fields that are set."""
        out = {}
        for name, var in self.ENV_VARS.items():
            value = getattr(self, name)
            if value is not None:
                out[var] = ("1" if value else "0") if isinstance(value, bool) else str(value)
        return out

    def settings(self) -> Settings:
        overrides = self.overrides()
        return Settings.from_env({**os.environ, **overrides}) if overrides else get_settings()
