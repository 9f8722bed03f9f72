"""Typed settings on the Dagster resources, one configuration path for runs, sensors and the CLI.

Every SIGMASIGHT_* setting is parsed in ONE place, `config.Settings.from_env`. A resource that
carries settings subclasses `SettingsResource` and declares them as typed fields made with
`env_setting`, each naming its environment variable. `settings()` returns the `Settings` with the
fields that are set laid over the environment, so:

- a field set in `definitions.py` (a value, or `dagster.EnvVar` — resolved when the run starts)
  wins, and the UI shows it on the resource's page;
- a field left unset (None) takes the environment variable as `get_settings()` sees it when the
  run, sensor tick or CLI command uses it — never a value frozen at import.
"""

from __future__ import annotations

import os
from typing import Any

from dagster import ConfigurableResource
from pydantic import Field

from sigmasight_onboarding.config import Settings, get_settings


def env_setting(var: str, description: str) -> Any:
    """A settings field standing for the environment variable ``var`` (what `config.Settings.from_env`
    reads): unset (None) by default, so the variable applies; ``{var}`` in ``description`` names it."""
    return Field(default=None, description=description.format(var=var), json_schema_extra={"env_var": var})


class SettingsResource(ConfigurableResource):
    """Base of the resources that carry settings; see the module docstring."""

    @classmethod
    def env_vars(cls) -> dict[str, str]:
        """Field name -> environment variable it stands for (the fields made with `env_setting`)."""
        return {name: field.json_schema_extra["env_var"] for name, field in cls.model_fields.items()
                if isinstance(field.json_schema_extra, dict) and "env_var" in field.json_schema_extra}

    def overrides(self) -> dict[str, str]:
        """{environment variable: value} of the fields that are set."""
        out = {}
        for name, var in self.env_vars().items():
            value = getattr(self, name)
            if value is not None:
                out[var] = ("1" if value else "0") if isinstance(value, bool) else str(value)
        return out

    def settings(self) -> Settings:
        overrides = self.overrides()
        return Settings.from_env({**os.environ, **overrides}) if overrides else get_settings()
