"""The Dagster code location: assets, checks, jobs, sensors and resources."""

from dagster import Definitions

from sigmasight_onboarding.assets.backend import sigmasight_backend_tables
from sigmasight_onboarding.assets.market_data import price_history
from sigmasight_onboarding.assets.onboarding import client_onboarding
from sigmasight_onboarding.assets.onboarding_state import onboarding_complete
from sigmasight_onboarding.assets.position_analytics import (
    correlations,
    factor_exposures,
    interest_rate_betas_asset,
    position_greeks,
)
from sigmasight_onboarding.assets.timeseries import portfolio_timeseries
from sigmasight_onboarding.assets.verification import onboarding_report, onboarding_verification
from sigmasight_onboarding.executors import executor_from_settings
from sigmasight_onboarding.jobs import daily_refresh_job, onboard_client_job, timeseries_job, verify_client_job
from sigmasight_onboarding.ops import offboard_client_job
from sigmasight_onboarding.schedules import daily_refresh_schedule
from sigmasight_onboarding.resources.database import SigmaSightDatabase
from sigmasight_onboarding.resources.market_data_resource import MarketDataResource
from sigmasight_onboarding.sensors import client_drop_sensor, onboarding_timeseries_sensor, verification_sensor


def build_definitions() -> Definitions:
    return Definitions(
        assets=[
            client_onboarding,
            price_history,
            position_greeks,
            factor_exposures,
            interest_rate_betas_asset,
            correlations,
            portfolio_timeseries,
            sigmasight_backend_tables,
            onboarding_verification,
            onboarding_report,
        ],
        asset_checks=[onboarding_complete],
        jobs=[onboard_client_job, timeseries_job, verify_client_job, daily_refresh_job, offboard_client_job],
        schedules=[daily_refresh_schedule],
        sensors=[client_drop_sensor, onboarding_timeseries_sensor, verification_sensor],
        resources={"database": SigmaSightDatabase(), "market_data": MarketDataResource()},
        # Every job and UI materialisation uses this executor. Default in-process (one process per
        # run); SIGMASIGHT_EXECUTOR=celery hands each step to dagster-celery workers (executors.py).
        executor=executor_from_settings(),
    )


defs = build_definitions()
