"""Gather one client's onboarding-report data: the reads in `db/report_reads.py`, assembled here.

Every piece may be missing — analytics not yet computed, no time series yet, no prices — so each
reader returns an empty frame / None and the caller records a warning; nothing here raises for
missing data. An unknown client raises `UnknownClient` (there is nothing to report on).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from sigmasight_onboarding.calendar import last_sessions
from sigmasight_onboarding.db.pnl_explain import load_pnl_explain
from sigmasight_onboarding.db.portfolio_reads import UnknownClient
from sigmasight_onboarding.db.report_reads import (
    latest_correlation,
    latest_desk_exposure,
    latest_factor_exposures,
    latest_greeks,
    latest_rate_betas,
    latest_risk_metrics,
    latest_stress_results,
    position_factor_rows,
    price_gaps,
    prices_and_sources,
    recent_snapshots,
    report_client,
    report_positions,
)
from sigmasight_onboarding.domain import COVERAGE_SESSIONS, OPTION_TYPES, SHORT_TYPES  # noqa: F401  (re-exported)
from sigmasight_onboarding.price_backfill import reference_symbols

REFERENCE_SYMBOLS = tuple(reference_symbols())  # factor ETFs and rate series (price_backfill)
BENCHMARK = "SPY"
SNAPSHOT_SESSIONS = 30
RETURN_SESSIONS = 252
MIN_SNAPSHOT_RETURNS = 20

__all__ = ["ReportData", "UnknownClient", "load_report_data"]


@dataclass
class ReportData:
    """Everything the report renders; frames are empty (never None) when a piece is missing."""

    email: str
    as_of: date
    full_name: str = ""
    portfolio_id: uuid.UUID | None = None
    portfolio_name: str = ""
    portfolio_description: str = ""
    currency: str = "USD"
    positions: pd.DataFrame = field(default_factory=pd.DataFrame)
    factor_exposures: pd.DataFrame = field(default_factory=pd.DataFrame)
    factor_date: date | None = None
    position_factors: pd.DataFrame = field(default_factory=pd.DataFrame)
    rate_betas: pd.DataFrame = field(default_factory=pd.DataFrame)
    desk_exposure: dict[str, Any] | None = None  # onb_portfolio_exposures row (dollar delta, beta-adjusted, gross/net)
    greeks: pd.DataFrame = field(default_factory=pd.DataFrame)
    correlation: dict[str, Any] | None = None  # calc row + "matrix" + "clusters"
    snapshots: pd.DataFrame = field(default_factory=pd.DataFrame)
    pnl_explain: pd.DataFrame = field(default_factory=pd.DataFrame)  # onb_position_pnl_explain rows of the snapshot sessions
    risk: dict[str, Any] | None = None
    stress: pd.DataFrame = field(default_factory=pd.DataFrame)
    stress_date: date | None = None
    sessions: list[date] = field(default_factory=list)  # RETURN_SESSIONS + 1 NYSE sessions up to as_of
    prices: pd.DataFrame = field(default_factory=pd.DataFrame)  # session × symbol adj_close
    sources: pd.DataFrame = field(default_factory=pd.DataFrame)  # symbol × data_source row counts
    gaps: pd.DataFrame = field(default_factory=pd.DataFrame)
    warnings: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # sections whose data does not exist yet

    @property
    def price_symbols(self) -> list[str]:
        """Symbols the holdings are priced from: equities and option underlyings."""
        if self.positions.empty:
            return []
        opt = self.positions["position_type"].isin(OPTION_TYPES)
        syms = set(self.positions.loc[~opt, "symbol"]) | set(self.positions.loc[opt, "underlying_symbol"].dropna())
        return sorted(syms)


# --------------------------------------------------------------------------------- assembly


def _optional(engine: Engine, data: ReportData, label: str, loader, default):
    """Run one optional loader on its own connection; a failure becomes a warning, not a crash
    (own connection: on PostgreSQL a failed statement would poison a shared transaction)."""
    try:
        with engine.connect() as conn:
            return loader(conn)
    except Exception as exc:  # noqa: BLE001 - a broken piece must not sink the whole report
        data.warnings.append(f"could not read {label}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        return default


def load_report_data(engine: Engine, email: str, as_of: date) -> ReportData:
    """Read every table the report uses for `email` (case-insensitive) as of `as_of`.

    Raises UnknownClient when there is no such user; everything else that is missing or
    unreadable is left empty with a warning.
    """
    email = email.strip().lower()
    data = ReportData(email=email, as_of=as_of)
    with engine.connect() as conn:
        client = report_client(conn, email)
        data.full_name = client["full_name"]
        port = client["portfolio"]
        if port is None:
            data.warnings.append("the client has no portfolio yet: nothing to report")
            data.positions = report_positions(conn, uuid.UUID(int=0))
            return data
        data.portfolio_id, data.portfolio_name = port[0], port[1] or ""
        data.portfolio_description, data.currency = port[2] or "", port[3] or "USD"
        data.positions = report_positions(conn, data.portfolio_id)
    pid = data.portfolio_id
    if data.positions.empty:
        data.warnings.append("the portfolio has no active positions")

    data.factor_exposures, data.factor_date = _optional(
        engine, data, "factor_exposures", lambda c: latest_factor_exposures(c, pid, as_of), (pd.DataFrame(), None))
    data.position_factors = _optional(engine, data, "position_factor_exposures",
                                      lambda c: position_factor_rows(c, pid, data.factor_date), pd.DataFrame())
    data.rate_betas = _optional(engine, data, "position_interest_rate_betas", lambda c: latest_rate_betas(c, pid, as_of), pd.DataFrame())
    data.greeks = _optional(engine, data, "position_greeks", lambda c: latest_greeks(c, pid, as_of), pd.DataFrame())
    data.desk_exposure = _optional(engine, data, "portfolio_exposures", lambda c: latest_desk_exposure(c, pid, as_of), None)
    data.correlation = _optional(engine, data, "correlations", lambda c: latest_correlation(c, pid, as_of), None)
    data.snapshots = _optional(engine, data, "portfolio_snapshots", lambda c: recent_snapshots(c, pid, as_of, SNAPSHOT_SESSIONS), pd.DataFrame())
    if len(data.snapshots):
        first = data.snapshots["snapshot_date"].iloc[0]
        data.pnl_explain = _optional(engine, data, "position_pnl_explain", lambda c: load_pnl_explain(c, pid, first, as_of),
                                     pd.DataFrame())
    data.risk = _optional(engine, data, "portfolio_risk_metrics", lambda c: latest_risk_metrics(c, pid, as_of), None)
    data.stress, data.stress_date = _optional(engine, data, "stress_test_results", lambda c: latest_stress_results(c, pid, as_of),
                                              (pd.DataFrame(), None))

    details = (data.risk or {}).get("details")
    exposure_syms = list((details.get("exposures") or {}) if isinstance(details, dict) else [])
    symbols = sorted(set(data.price_symbols) | set(REFERENCE_SYMBOLS) | {BENCHMARK} | set(exposure_syms))
    try:
        data.sessions = last_sessions(as_of, RETURN_SESSIONS + 1)
    except Exception as exc:  # noqa: BLE001 - as_of outside the exchange calendar
        data.warnings.append(f"no NYSE sessions up to {as_of}: {exc}")
    data.prices, data.sources = _optional(engine, data, "market_data_cache", lambda c: prices_and_sources(c, symbols, data.sessions),
                                          (pd.DataFrame(), pd.DataFrame()))
    if data.sessions:
        data.gaps = _optional(engine, data, "market_data_gaps",
                              lambda c: price_gaps(c, symbols, data.sessions[0], data.sessions[-1]), pd.DataFrame())
    return data
