"""End-to-end verification of an onboarded client (the runbook's manual checklist, automated).

`verify_client` is used by the `onboarding_verification` asset and by `sigmasight verify`; each
check names every missing piece. It reads only; `record_verification` stores the outcome.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date

from sqlalchemy import Engine

from sigmasight_onboarding.calendar import last_sessions
from sigmasight_onboarding.config import Settings, get_settings
from sigmasight_onboarding.domain import (
    CHECK_ENGINES_RAN,
    CHECK_POSITIONS_MATCH_CSV,
    CHECK_PRICE_COVERAGE,
    CHECK_RISK_METRICS,
    CHECK_SNAPSHOTS,
    CHECK_STRESS,
    COVERAGE_SESSIONS,
    MIN_COVERAGE,
    OPTION_TYPES,
)
from sigmasight_onboarding.db.onboarding_writer import read_active_positions, reconcile_with_drop
from sigmasight_onboarding.db.portfolio_reads import UnknownClient, client_portfolio
from sigmasight_onboarding.db.verification_reads import (
    engine_row_counts,
    insert_verification,
    price_rows_by_symbol,
    risk_metrics_row,
    snapshot_dates,
    stress_pnl_by_scenario,
)
from sigmasight_onboarding.drops.problems import DropValidationError
from sigmasight_onboarding.drops.reader import find_drop_folder, read_drop
from sigmasight_onboarding.scenarios import load_scenarios


def expected_sessions(settings: Settings | None = None) -> int:
    """Sessions of snapshots a client is expected to have: `Settings.onboard_sessions`
    (SIGMASIGHT_ONBOARD_SESSIONS, default 30) — the same value the time-series and verification
    sensors use."""
    return (settings or get_settings()).onboard_sessions

RISK_FIELDS = ("var_95_historical", "var_99_historical", "var_95_parametric", "var_99_parametric",
               "var_95_monte_carlo", "var_99_monte_carlo", "es_975_historical", "annualised_volatility")


@dataclass(frozen=True)
class VerificationCheck:
    name: str
    passed: bool
    detail: str

    def as_dict(self) -> dict:
        return asdict(self)


def verify_client(engine: Engine, email: str, settings: Settings, as_of: date, sessions: int | None = None) -> list[VerificationCheck]:
    """Every verification check for `email` as of `as_of` (raises UnknownClient when absent).

    `sessions`: how many of the last sessions must have snapshots (default `expected_sessions()`);
    the check keeps its name `snapshots_30_sessions` so its history in Dagster stays one series."""
    n_sessions = expected_sessions(settings) if sessions is None else max(1, int(sessions))
    client = client_portfolio(engine, email)
    pid = client.portfolio_id
    stored = read_active_positions(engine, pid)
    checks: list[VerificationCheck] = []

    # 1. positions in the DB equal the CSV
    try:
        drop = read_drop(find_drop_folder(settings.imports_dir, email), settings)
        diffs = reconcile_with_drop(stored, drop)
        checks.append(VerificationCheck(CHECK_POSITIONS_MATCH_CSV, not diffs,
                                        f"{len(stored)} positions equal the CSV" if not diffs else "; ".join(diffs[:20])))
    except DropValidationError as err:
        checks.append(VerificationCheck(CHECK_POSITIONS_MATCH_CSV, False, f"drop cannot be read: {err.problems[0]}"))

    held = sorted({p["underlying_symbol"] if p["position_type"].value in OPTION_TYPES else p["symbol"] for p in stored})
    n_options = sum(p["position_type"].value in OPTION_TYPES for p in stored)
    with engine.connect() as conn:
        # 2. every engine produced rows for the as-of date
        pieces = engine_row_counts(conn, pid, as_of)
        missing = [name for name, n in pieces.items() if n == 0 and not (name == "position_greeks" and n_options == 0)]
        checks.append(VerificationCheck(CHECK_ENGINES_RAN, not missing,
                                        f"all engines have rows for {as_of}" if not missing else f"no rows for {as_of} in: " + ", ".join(missing)))

        # 3. price coverage over the last 90 sessions
        window = last_sessions(as_of, COVERAGE_SESSIONS)
        have = price_rows_by_symbol(conn, held, window[0], window[-1])
        low = {s: have.get(s, 0) / len(window) for s in held if have.get(s, 0) / len(window) < MIN_COVERAGE}
        checks.append(VerificationCheck(CHECK_PRICE_COVERAGE, not low,
                                        f"{len(held)} symbols ≥ {MIN_COVERAGE:.0%} over {len(window)} sessions" if not low else
                                        "below 95 %: " + ", ".join(f"{s} {v:.0%}" for s, v in sorted(low.items()))))

        # 4. the last N (default 30) sessions of snapshots
        sessions = last_sessions(as_of, n_sessions)
        present = snapshot_dates(conn, pid, sessions[0], sessions[-1])
        absent = [d for d in sessions if d not in present]
        checks.append(VerificationCheck(CHECK_SNAPSHOTS, not absent,
                                        f"{len(sessions)} sessions {sessions[0]}..{sessions[-1]}" if not absent else
                                        f"{len(absent)} missing of the last {len(sessions)} sessions: " + ", ".join(map(str, absent[:10])) + ("…" if len(absent) > 10 else "")))

        # 5. risk metrics present and finite
        risk = risk_metrics_row(conn, pid, as_of)
        if risk is None:
            checks.append(VerificationCheck(CHECK_RISK_METRICS, False, f"no risk metrics for {as_of}"))
        else:
            bad = [f for f in RISK_FIELDS if risk[f] is None or not math.isfinite(risk[f])]
            ok = risk["quality_flag"] == "ok" and not bad
            checks.append(VerificationCheck(CHECK_RISK_METRICS, ok, f"VaR99 (historical) {risk['var_99_historical']:,.0f} USD" if ok else
                                            f"quality {risk['quality_flag']}; not finite: {', '.join(bad) or 'none'}"))

        # 6. every stress scenario present and finite
        results = stress_pnl_by_scenario(conn, pid, as_of)
    expected = [s.id for s in load_scenarios()]
    lacking = [s for s in expected if s not in results or not math.isfinite(results[s])]
    checks.append(VerificationCheck(CHECK_STRESS, not lacking,
                                    f"{len(results)} scenario results" if not lacking else "missing or not finite: " + ", ".join(lacking)))
    return checks


def record_verification(engine: Engine, email: str, as_of: date, checks: list[VerificationCheck], source: str) -> bool:
    """Store one verification record; returns whether every check passed."""
    client = client_portfolio(engine, email)
    passed = all(c.passed for c in checks)
    insert_verification(engine, client.portfolio_id, email, as_of, source, passed, [c.as_dict() for c in checks])
    return passed


__all__ = ["VerificationCheck", "expected_sessions", "verify_client", "record_verification", "UnknownClient"]
