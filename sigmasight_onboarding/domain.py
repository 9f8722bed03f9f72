"""Domain constants: the one place each business number and name of the onboarding is defined.

Every module that needs one of these imports it from here (drops, analytics, db, assets, the CLI
and the report); nothing redefines them. Pure Python: no Dagster, no database, so the pure layers
(`analytics/`, `drops/`) may import it. Settings that a deployment may change (sessions to
verify, risk look-back, …) are NOT here: they live in `config.Settings` and the Dagster resources
(see README "Configuration"); their defaults are here.
"""

from __future__ import annotations

import enum

import pandas as pd


class PositionType(str, enum.Enum):
    """Position types, in the backend's enum order (PostgreSQL type `positiontype`)."""

    LC = "LC"  # long call
    LP = "LP"  # long put
    SC = "SC"  # short call
    SP = "SP"  # short put
    LONG = "LONG"  # long stock / ETF
    SHORT = "SHORT"  # short stock / ETF

    @property
    def is_option(self) -> bool:
        return self.value in OPTION_TYPES

    @property
    def is_short(self) -> bool:
        return self.value in SHORT_TYPES

    @property
    def is_call(self) -> bool:
        return self.value in CALL_TYPES


# --- position types (plain strings, as in drops, frames and the report) -------------------------
#: Every position type, in drop/report order.
POSITION_TYPES: tuple[str, ...] = ("LONG", "SHORT", "LC", "LP", "SC", "SP")
STOCK_TYPES: tuple[str, ...] = ("LONG", "SHORT")
OPTION_TYPES: tuple[str, ...] = ("LC", "LP", "SC", "SP")
CALL_TYPES: tuple[str, ...] = ("LC", "SC")
#: Types whose quantity is negative.
SHORT_TYPES: tuple[str, ...] = ("SHORT", "SC", "SP")
LONG_TYPES: tuple[str, ...] = ("LONG", "LC", "LP")

assert set(POSITION_TYPES) == {t.value for t in PositionType}


def is_option_type(position_type: pd.Series) -> pd.Series:
    """Boolean mask: which entries of a position-type column are options (LC, LP, SC, SP)."""
    return position_type.isin(OPTION_TYPES)


# --- valuation ---------------------------------------------------------------------------------
#: Shares per listed equity option contract (value = quantity × multiplier × price per share).
CONTRACT_MULTIPLIER = 100
#: Risk-free rate (decimal, annualised) used when ^IRX has no quote at all for the as-of date's
#: window. 0 %: no rate is invented — valuation, Greeks, risk and stress use the same value, and
#: each use is flagged (a note in the asset metadata) so it is visible.
RISK_FREE_RATE_FALLBACK = 0.0

# --- market-data coverage rule ----------------------------------------------------------------
#: The coverage rule: every held symbol has prices on ≥ MIN_COVERAGE of the last
#: COVERAGE_SESSIONS NYSE sessions (pre-flight, `price_history` check, verification, CLI, report).
COVERAGE_SESSIONS = 90
MIN_COVERAGE = 0.95

# --- time series and verification ---------------------------------------------------------------
#: Default of `Settings.onboard_sessions` (SIGMASIGHT_ONBOARD_SESSIONS): the sessions of time
#: series the sensor materialises and verification expects.
DEFAULT_ONBOARD_SESSIONS = 30
#: clients per run of the daily refresh and of a new session's time series (SIGMASIGHT_BATCH_CLIENTS)
DEFAULT_BATCH_CLIENTS = 250
#: a run of the daily refresh (or of a new session's time series) spread over parallel runs
#: (SIGMASIGHT_PARALLEL_RUNS) keeps at least this many clients: a run's fixed cost (a process, Dagster's
#: run bookkeeping: ~2-3 s) is what about 20 clients of 30 positions cost to compute
MIN_CLIENTS_PER_RUN = 20
#: neighbouring clients share a time-series run only when each misses at most this many sessions (the new
#: session after the daily refresh): a longer backlog (an onboarding's last 30 sessions) is a run of its own,
#: so that work spreads over the workers instead of queueing behind one step
BATCH_MAX_SESSIONS = 5
#: Default of `Settings.risk_lookback` (SIGMASIGHT_RISK_LOOKBACK): sessions of returns behind VaR/ES.
DEFAULT_RISK_LOOKBACK = 252
#: Default of `Settings.timeseries_start` (SIGMASIGHT_TIMESERIES_START): the first date partition.
DEFAULT_TIMESERIES_START = "2024-01-01"
#: Default of `Settings.jump_bound` (SIGMASIGHT_JUMP_BOUND): |daily return| flagged as a possible split.
DEFAULT_JUMP_BOUND = 0.5

#: The verification checks (`verification.verify_client` → asset checks of
#: `onboarding_verification`), name → description, in the order they run.
#: `snapshots_30_sessions` keeps its name whatever N is, so its history in Dagster stays one series.
VERIFICATION_CHECKS: dict[str, str] = {
    "positions_match_csv": "Positions in the DB equal the CSV (count, symbols, quantities, prices, types, tags).",
    "engines_ran": "Every engine produced rows for the as-of date.",
    "price_coverage": f"Held symbols have prices on ≥ {MIN_COVERAGE * 100:.0f} % of the last {COVERAGE_SESSIONS} sessions.",
    "snapshots_30_sessions": "Snapshots exist for each of the last 30 sessions (N with `sigmasight onboard --sessions N`, "
                             "the run tag sigmasight/sessions or SIGMASIGHT_ONBOARD_SESSIONS).",
    "risk_metrics": "Risk metrics for the as-of date are present and finite.",
    "stress_scenarios": "Every stress scenario has a finite result for the as-of date.",
}
CHECK_POSITIONS_MATCH_CSV, CHECK_ENGINES_RAN, CHECK_PRICE_COVERAGE, CHECK_SNAPSHOTS, CHECK_RISK_METRICS, CHECK_STRESS = VERIFICATION_CHECKS
#: The optional live check against the SigmaSight API (SIGMASIGHT_API_URL); Skipped when unset.
CHECK_LIVE_API = "live_api"
