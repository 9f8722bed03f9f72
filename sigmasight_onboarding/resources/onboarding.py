"""Where drops come from, where reports go and what verification expects, as a Dagster resource."""

from __future__ import annotations

from sigmasight_onboarding.resources.settings import SettingsResource, env_setting


class OnboardingResource(SettingsResource):
    """Drop folder, reports, the sessions the automation materialises and verification expects,
    and the optional live API check. Unset fields come from the environment when used
    (`resources/settings.py`); read them with `settings()`."""

    imports_dir: str | None = env_setting("SIGMASIGHT_IMPORTS_DIR", "Drop folder ({var}); default <project>/data/imports")
    drop_settle_seconds: float | None = env_setting("SIGMASIGHT_DROP_SETTLE_SECONDS",
                                                    "Quiet time before the sensor takes a drop ({var}); default 5")
    reports_dir: str | None = env_setting("SIGMASIGHT_REPORTS_DIR", "HTML reports ({var}); default <state dir>/reports")
    reports_url: str | None = env_setting("SIGMASIGHT_REPORTS_URL", "Base URL serving the reports ({var}); default file:// links")
    onboard_sessions: int | None = env_setting("SIGMASIGHT_ONBOARD_SESSIONS",
                                               "Sessions the time-series sensor materialises and verification expects ({var}); "
                                               "default 30")
    batch_clients: int | None = env_setting("SIGMASIGHT_BATCH_CLIENTS",
                                            "Clients per run of the daily refresh and of a new session's time series ({var}); "
                                            "default 250")
    parallel_runs: int | None = env_setting("SIGMASIGHT_PARALLEL_RUNS",
                                            "Runs the daily refresh and a new session's time series are spread over, side by "
                                            "side in the run queue, each of at least 20 clients ({var}); default the host's CPUs")
    api_url: str | None = env_setting("SIGMASIGHT_API_URL",
                                      "SigmaSight API of the live verification check ({var}); unset: the check is skipped")
