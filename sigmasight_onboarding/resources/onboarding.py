"""Where drops come from, where reports go and what verification expects, as a Dagster resource."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from sigmasight_onboarding.resources.settings import SettingsResource


class OnboardingResource(SettingsResource):
    """Drop folder, reports, the sessions the automation materialises and verification expects,
    and the optional live API check. Unset fields come from the environment when used
    (`resources/settings.py`); read them with `settings()`."""

    ENV_VARS: ClassVar[dict[str, str]] = {
        "imports_dir": "SIGMASIGHT_IMPORTS_DIR",
        "drop_settle_seconds": "SIGMASIGHT_DROP_SETTLE_SECONDS",
        "reports_dir": "SIGMASIGHT_REPORTS_DIR",
        "reports_url": "SIGMASIGHT_REPORTS_URL",
        "onboard_sessions": "SIGMASIGHT_ONBOARD_SESSIONS",
        "api_url": "SIGMASIGHT_API_URL",
    }

    imports_dir: str | None = Field(default=None, description="Drop folder (SIGMASIGHT_IMPORTS_DIR); default <project>/data/imports")
    drop_settle_seconds: float | None = Field(default=None, description="Quiet time before the sensor takes a drop "
                                                                        "(SIGMASIGHT_DROP_SETTLE_SECONDS); default 5")
    reports_dir: str | None = Field(default=None, description="HTML reports (SIGMASIGHT_REPORTS_DIR); default <state dir>/reports")
    reports_url: str | None = Field(default=None, description="Base URL serving the reports (SIGMASIGHT_REPORTS_URL); default file:// links")
    onboard_sessions: int | None = Field(default=None, description="Sessions the time-series sensor materialises and "
                                                                   "verification expects (SIGMASIGHT_ONBOARD_SESSIONS); default 30")
    api_url: str | None = Field(default=None, description="SigmaSight API of the live verification check "
                                                          "(SIGMASIGHT_API_URL); unset: the check is skipped")
