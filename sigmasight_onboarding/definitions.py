"""The Dagster code location: assets, checks, jobs, sensors and resources.

Configuration: every setting is a typed field of a resource (`build_resources`), parsed by
`config.Settings` (see README "Configuration" for the full table). A field whose environment
variable is set when the code location loads is bound with `dagster.EnvVar` — Dagster resolves it
when a run (or sensor/schedule tick) starts and shows the variable on the resource's page. A
variable that is unset stays None and takes its default through `config.Settings` when used
(`EnvVar` of an unset variable would fail every run, and every setting has a default). Nothing is
read at import of the package's other modules; this module reads the environment when it builds
the Definitions.
"""

import os

from sigmasight_onboarding.interpreter import configure_interpreter

configure_interpreter()  # first: the imports below make most of the process's long-lived objects (interpreter.py)

from dagster import Definitions, EnvVar  # noqa: E402 - after the collector settings

from sigmasight_onboarding.assets.backend import sigmasight_backend_tables
from sigmasight_onboarding.assets.price_history import price_history
from sigmasight_onboarding.assets.onboarding import client_onboarding
from sigmasight_onboarding.assets.onboarding_state import onboarding_complete
from sigmasight_onboarding.assets.position_analytics import (
    correlations,
    factor_exposures,
    interest_rate_betas_asset,
    position_greeks,
)
from sigmasight_onboarding.assets.timeseries import build_portfolio_timeseries
from sigmasight_onboarding.assets.verification import onboarding_report, onboarding_verification
from sigmasight_onboarding.executors import executor_from_settings
from sigmasight_onboarding.jobs import daily_refresh_job, onboard_client_job, timeseries_job, verify_client_job
from sigmasight_onboarding.ops import offboard_client_job
from sigmasight_onboarding.partitions import client_date_partitions
from sigmasight_onboarding.schedules import daily_refresh_schedule
from sigmasight_onboarding.resources.database import SigmaSightDatabase
from sigmasight_onboarding.resources.market_data_resource import MarketDataResource
from sigmasight_onboarding.resources.onboarding import OnboardingResource
from sigmasight_onboarding.resources.price_matrix_io import PRICE_MATRIX_IO_MANAGER, PriceMatrixIOManager
from sigmasight_onboarding.sensors import client_drop_sensor, onboarding_timeseries_sensor, verification_sensor


def env_var(name: str, integer: bool = False):
    """`EnvVar(name)` (`EnvVar.int` for an integer field) when `name` is set (non-blank) now, else
    None (the setting's default applies when used)."""
    if not os.environ.get(name, "").strip():
        return None
    return EnvVar.int(name) if integer else EnvVar(name)


def build_resources() -> dict:
    """The resources with their settings; booleans and floats (SIGMASIGHT_ALLOW_SYNTHETIC,
    SIGMASIGHT_JUMP_BOUND, SIGMASIGHT_DROP_SETTLE_SECONDS) are parsed by `config.Settings` when used."""
    return {
        "database": SigmaSightDatabase(url=env_var("SIGMASIGHT_DATABASE_URL"), state_dir=env_var("SIGMASIGHT_STATE_DIR")),
        "market_data": MarketDataResource(
            providers=env_var("SIGMASIGHT_PROVIDERS"),
            market_data_file=env_var("SIGMASIGHT_MARKET_DATA_FILE"),
            as_of_date=env_var("SIGMASIGHT_AS_OF"),
            price_lookback_days=env_var("SIGMASIGHT_PRICE_LOOKBACK_DAYS", integer=True),
            risk_lookback=env_var("SIGMASIGHT_RISK_LOOKBACK", integer=True),
        ),
        "onboarding": OnboardingResource(
            imports_dir=env_var("SIGMASIGHT_IMPORTS_DIR"),
            reports_dir=env_var("SIGMASIGHT_REPORTS_DIR"),
            reports_url=env_var("SIGMASIGHT_REPORTS_URL"),
            onboard_sessions=env_var("SIGMASIGHT_ONBOARD_SESSIONS", integer=True),
            batch_clients=env_var("SIGMASIGHT_BATCH_CLIENTS", integer=True),
            parallel_runs=env_var("SIGMASIGHT_PARALLEL_RUNS", integer=True),
            api_url=env_var("SIGMASIGHT_API_URL"),
        ),
    }


def build_definitions() -> Definitions:
    return Definitions(
        assets=[
            client_onboarding,
            price_history,
            position_greeks,
            factor_exposures,
            interest_rate_betas_asset,
            correlations,
            build_portfolio_timeseries(client_date_partitions()),
            sigmasight_backend_tables,
            onboarding_verification,
            onboarding_report,
        ],
        asset_checks=[onboarding_complete],
        jobs=[onboard_client_job, timeseries_job, verify_client_job, daily_refresh_job, offboard_client_job],
        schedules=[daily_refresh_schedule],
        sensors=[client_drop_sensor, onboarding_timeseries_sensor, verification_sensor],
        resources={**build_resources(), PRICE_MATRIX_IO_MANAGER: PriceMatrixIOManager()},
        # Every job and UI materialisation uses this executor. Default in-process (one process per
        # run); SIGMASIGHT_EXECUTOR=celery hands each step to dagster-celery workers (executors.py).
        executor=executor_from_settings(),
    )


defs = build_definitions()
