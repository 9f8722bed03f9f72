"""Group `timeseries`: per client and NYSE session — snapshots, risk metrics, stress tests.

One step computes the three assets of every (client, date) partition of its run from the same
loaded prices (each asset can also be materialised alone). A run is one partition or — asset
backfills, `sigmasight backfill`, the onboarding's last N sessions — a client × date range as ONE
run (`BackfillPolicy.single_run`): one price read per client, one bulk write per table.
Everything is point-in-time: each session sees exactly the history_sessions()-session price window
ending on it (prices up to the date, betas on the 252 sessions before it, options revalued with
Black–Scholes on that date, Monte Carlo seed 42), so a session's numbers are identical whether it
ran alone or inside a range. A date that is not an NYSE session, or after the market data ends,
is rejected with the reason (neither is a date partition any more).
"""

from datetime import date

import numpy as np
import pandas as pd
from dagster import (
    AssetCheckEvaluation,
    AssetKey,
    AssetsDefinition,
    BackfillPolicy,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    AssetSpec,
    Failure,
    MetadataValue,
    MultiPartitionsDefinition,
    Output,
    multi_asset,
)
from threadpoolctl import threadpool_limits

from sigmasight_onboarding.analytics.factors import FACTOR_ETFS
from sigmasight_onboarding.analytics.greeks import realised_volatility_by_date
from sigmasight_onboarding.analytics.rolling_betas import RollingStressBetas, rolling_stress_betas
from sigmasight_onboarding.analytics.returns import session_index, simple_returns
from sigmasight_onboarding.analytics.risk import RiskMetrics, VarEstimates, compute_risk_metrics, confidence_label
from sigmasight_onboarding.analytics.pnl_explain import TERMS, explain_session_pairs
from sigmasight_onboarding.analytics.snapshots import (
    marks_and_snapshots,
    prepare_positions,
    valuation_arrays,
)
from sigmasight_onboarding.analytics.stress import historical_replay_scenarios, run_stress_tests
from sigmasight_onboarding.price_backfill import filled_price_matrix, reference_symbols
from sigmasight_onboarding.calendar import is_session, last_sessions, sessions_between
from sigmasight_onboarding.db.pnl_explain import explain_records
from sigmasight_onboarding.db.onboarding_writer import PositionsChangedError
from sigmasight_onboarding.db.timeseries_writer import ClientTimeseries, merged_replay_definition, write_timeseries
from sigmasight_onboarding.db.base import utcnow
from sigmasight_onboarding.db.portfolio_reads import (
    client_books,
    is_option_type,
    price_symbols,
)
from sigmasight_onboarding.domain import DEFAULT_RISK_LOOKBACK, RISK_FREE_RATE_FALLBACK
from sigmasight_onboarding.finite import cents, finite_float as _f
from sigmasight_onboarding.metadata import readable
from sigmasight_onboarding.partitions import client_mapping, client_date_key
from sigmasight_onboarding.resources.database import SigmaSightDatabase
from sigmasight_onboarding.resources.market_data_resource import MarketDataResource
from sigmasight_onboarding.scenarios import load_scenarios

GROUP = "timeseries"
BACKTEST_SESSIONS = 250


def history_sessions(risk_lookback: int) -> int:
    """Sessions of prices a date needs: risk look-back (`Settings.risk_lookback`,
    SIGMASIGHT_RISK_LOOKBACK, read by the run — never at import) + backtest + the window's first return,
    and at least 2 × look-back: a historical replay's vol multiplier looks back one look-back from a window
    that may start a look-back ago (`historical_replay_scenarios`). 507 for the default 252."""
    return max(risk_lookback + BACKTEST_SESSIONS + 5, 2 * risk_lookback)

MC_PATHS = 10_000

_by_client = client_mapping()  # client × date -> client


def _dep(key: str) -> AssetDep:
    return AssetDep(key, partition_mapping=_by_client)


def scenario_definition(s) -> dict:
    return {"factor_shocks": dict(s.factor_shocks), "rates_bp": s.rates_bp, "volatility_multiplier": s.volatility_multiplier,
            "description": s.description, "symbol_returns": {k: float(v) for k, v in dict(s.symbol_returns).items()}}


def portfolio_timeseries(context: AssetExecutionContext, database: SigmaSightDatabase, market_data: MarketDataResource):
    """Every (client, session) partition of the run — one session, or a whole range as ONE run
    (asset backfills use `BackfillPolicy.single_run`): one price read per client, one bulk write
    per table, each session computed from exactly the price window it would see alone."""
    engine = database.engine()
    selected = set(context.op_execution_context.selected_output_names)
    by_client = partition_days(context.partition_keys)
    ranges = {client: f"{days[0]}..{days[-1]} ({len(days)})" for client, days in by_client.items()}
    context.log.info(f"time series for {', '.join(f'{c} {r}' for c, r in ranges.items())}")
    for client, days in by_client.items():  # every client's days checked before anything is read
        refuse_bad_days(client, days, market_data.as_of())
    shared = SharedWindow.read(engine, market_data, by_client)  # one window for every client of the run
    with threadpool_limits(1, user_api="blas"):  # small products: BLAS threads only contend here
        results = {client: compute_client_range(engine, market_data, client, days, selected, shared)
                   for client, days in by_client.items()}
    share_scenario_definitions(results)
    changed = {}
    for client, exc in write_client_ranges(engine, results).items():  # re-onboarded meanwhile: its own runs compute the new book
        changed[client] = str(exc)
        context.log.warning(str(exc))
    yield from _outputs({c: r for c, r in results.items() if c not in changed}, selected, changed)


def build_portfolio_timeseries(client_date_partitions: MultiPartitionsDefinition) -> AssetsDefinition:
    """The time-series multi-asset over `client_date_partitions` (clients × date; `definitions.py`
    passes `partitions.client_date_partitions()`, so nothing here reads settings at import)."""
    return multi_asset(
        specs=[
            AssetSpec("portfolio_snapshots", group_name=GROUP, kinds={"sql"},
                      deps=[_dep("portfolio_positions"), _dep("price_history")],
                      description="End-of-day portfolio value, exposures, P&L and Greeks per client and session (each session "
                                  "valued with its own marks, so daily P&L = Δ value), and the P&L explanation per position "
                                  "(delta, gamma, vega, theta, rates, residual) in onb_position_pnl_explain."),
            AssetSpec("portfolio_risk_metrics", group_name=GROUP, kinds={"sql", "numpy"},
                      deps=[_dep("portfolio_positions"), _dep("price_history")],
                      description="VaR (historical, parametric, Monte Carlo), ES 97.5 %, volatility, beta, drawdown, "
                                  "Sharpe/Sortino, Euler contributions and a Kupiec backtest of the current positions."),
            AssetSpec("stress_test_results", group_name=GROUP, kinds={"sql", "numpy"},
                      deps=[_dep("portfolio_positions"), _dep("price_history")],
                      description="P&L of the 18 SigmaSight scenarios plus historical replays, from the multivariate and rate "
                                  "betas of each session's own 252-session window (computed here per session; the factor_exposures "
                                  "and interest_rate_betas assets hold the as-of date's betas for the report and the backend)."),
        ],
        check_specs=[
            AssetCheckSpec("snapshot_valid", partitions_def=client_date_partitions, asset="portfolio_snapshots", blocking=True,
                           description="Every value finite; long − |short| = net; gross = long + |short|; daily P&L = Δ total value − "
                                       "capital of entering positions (to the cent, against the previous session of the run); the P&L "
                                       "explanation: terms + residual = pnl per position and Σ pnl = daily P&L − entry P&L, to the cent "
                                       "(every session of the run)."),
            AssetCheckSpec("risk_metrics_consistent", partitions_def=client_date_partitions, asset="portfolio_risk_metrics", blocking=True,
                           description="Finite; VaR99 ≥ VaR95 ≥ 0; ES97.5 ≥ VaR95; Euler contributions sum to the total (every session)."),
            AssetCheckSpec("stress_results_complete", partitions_def=client_date_partitions, asset="stress_test_results", blocking=True,
                           description="A finite result for every scenario of the scenario file and the replays (every session)."),
        ],
        partitions_def=client_date_partitions,
        backfill_policy=BackfillPolicy.single_run(),
        can_subset=True,
        name="portfolio_timeseries",
    )(portfolio_timeseries)


def partition_days(partition_keys) -> dict[str, list[date]]:
    """{client: sorted session dates} of a run's `clients|date` partition keys."""
    out: dict[str, set] = {}
    for key in partition_keys:
        if hasattr(key, "keys_by_dimension"):
            client, day = key.keys_by_dimension["clients"], key.keys_by_dimension["date"]
        else:
            client, day = str(key).rsplit("|", 1)
        out.setdefault(client, set()).add(date.fromisoformat(day))
    return {client: sorted(days) for client, days in sorted(out.items())}


class ClientRange:
    """What one client's range run computed: records per table, check problems per session."""

    def __init__(self, client, days):
        self.client, self.days = client, days
        self.snapshots: list[dict] = []
        self.explain: list[dict] = []
        self.entry: dict[date, dict] = {}  # per session: entry_pnl, entry capital, positions entering (for the check)
        self.risk: list[dict] = []
        self.stress: list[dict] = []
        self.scenarios: dict[str, dict] = {}
        self.problems: dict[str, dict[date, str]] = {"snapshot_valid": {}, "risk_metrics_consistent": {},
                                                    "stress_results_complete": {}}
        self.notes: list[str] = []
        self.expected_scenarios: dict[date, int] = {}
        self.risk_lookback = DEFAULT_RISK_LOOKBACK  # set by compute_client_range from the run's settings
        self.positions_version: int | None = None  # of the book computed from (SharedWindow.versions)


class SharedWindow:
    """The clients of a multi-client run (a new session for many clients): their portfolios, positions and
    ONE price window for the union of their symbols, read — and backfilled — once. Each client then takes
    exactly the rows and columns its own run would read (`compute_client_range`)."""

    def __init__(self, portfolios: dict, positions: dict, matrix: pd.DataFrame, failures: dict,
                 versions: dict[str, int] | None = None):
        self.portfolios, self.positions, self.matrix, self.failures = portfolios, positions, matrix, failures
        self.versions = versions or {}  # `positions_versions`, read before the positions
        self._cells: tuple | None = None  # (matrix as floats, row of a session, column of a symbol), for `frame`

    @classmethod
    def read(cls, engine, market_data, by_client: dict[str, list[date]]) -> "SharedWindow":
        books = client_books(engine, list(by_client))
        portfolios, positions, versions = books.portfolios, books.positions, books.versions
        symbols = sorted(set().union(*(price_symbols(f) for f in positions.values())) | set(reference_symbols()))
        history = history_sessions(market_data.settings().risk_lookback)
        first = min(days[0] for days in by_client.values())
        last = max(days[-1] for days in by_client.values())
        sessions = sessions_between(last_sessions(first, history)[0], last)
        matrix, _synthetic, fetched = filled_price_matrix(engine, market_data.chain(), symbols, sessions)
        return cls(portfolios, positions, matrix, fetched["failures"], versions)

    def frame(self, sessions: list[date], symbols: list[str]) -> pd.DataFrame:
        """``matrix.loc[sessions, symbols]`` (a KeyError for a label the window lacks), cut by position from one
        float array: a batch takes a frame per client, and ``.loc`` on the union's matrix cost more than the rest of a
        one-session client's reads."""
        if self._cells is None:
            self._cells = (self.matrix.to_numpy(dtype=float), {d: i for i, d in enumerate(self.matrix.index)},
                           {s: j for j, s in enumerate(self.matrix.columns)})
        cells, row_of, column_of = self._cells
        rows = [row_of.get(d, -1) for d in sessions]
        columns = [column_of.get(s, -1) for s in symbols]
        if min(rows, default=0) < 0 or min(columns, default=0) < 0:
            return self.matrix.loc[sessions, symbols]  # raises, naming what is missing
        values = cells[np.ix_(np.asarray(rows, dtype=np.intp), np.asarray(columns, dtype=np.intp))]
        return pd.DataFrame(values, index=pd.Index(list(sessions), name=self.matrix.index.name),
                            columns=pd.Index(list(symbols), name=self.matrix.columns.name))

    def client(self, client_key: str):
        """(ClientPortfolio, active positions) of one client of the run."""
        portfolio = self.portfolios[client_key.lower()]
        return portfolio, self.positions[portfolio.portfolio_id].copy()


def refuse_bad_days(client_key: str, days: list[date], data_end: date) -> None:
    """Failure naming every day that is not an NYSE session or is after the market data, before anything is read."""
    bad = [f"{d}: not an NYSE session (exchange holiday)" for d in days if not is_session(d)]
    bad += [f"{d}: after the newest session of the market data ({data_end}), no prices yet" for d in days if d > data_end]
    if bad:
        raise Failure(f"{client_key}: nothing to compute for " + "; ".join(bad), allow_retries=False)


def compute_client_range(engine, market_data, client_key: str, days: list[date], selected,
                         shared: SharedWindow | None = None) -> ClientRange:
    """Snapshots / risk / stress records of one client for `days` (NYSE sessions), not written.

    One read of the price window [history_sessions() before days[0], days[-1]]; each session then
    gets exactly the history_sessions() × symbols frame a single-session run would read, so its
    numbers do not depend on the range (MC seed 42 per session); a session before every entry date
    is an empty book. Raises Failure with every bad session (holiday, after the data, missing
    price) before anything is written.
    """
    refuse_bad_days(client_key, days, market_data.as_of())
    if shared is None:  # alone: the window of this client only
        shared = SharedWindow.read(engine, market_data, {client_key: days})
    client, all_positions = shared.client(client_key)
    symbols = sorted(set(price_symbols(all_positions)) | set(reference_symbols()))
    risk_lookback = market_data.settings().risk_lookback
    history = history_sessions(risk_lookback)
    first_window = last_sessions(days[0], history)
    sessions = sessions_between(first_window[0], days[-1])
    matrix = shared.frame(sessions, symbols)  # the run's window (read and backfilled once): this client's cells
    # ... on a session DatetimeIndex, once: every step below takes it (and each session its slice) as it is, with
    # no copy and date parse of a 507-row frame per session and step (`returns.session_index` / `by_session`)
    matrix = matrix.set_axis(session_index(matrix.index), axis=0)
    fetched = {"failures": shared.failures}
    position = {s: i for i, s in enumerate(sessions)}
    # validated and derived once (`prepare_positions` works row by row, so a day's slice of the prepared table
    # is that day's book prepared): the risk and stress steps then skip it for each of the range's sessions
    prepared = prepare_positions(all_positions) if len(all_positions) else all_positions
    held_by_day = {d: prepared[prepared["entry_date"] <= d] for d in days}
    reference = set(reference_symbols())
    by_size: dict[int, list[str]] = {}  # the held books are nested (entry_date ≤ day), so a size names one book

    def held_symbols(book) -> list[str]:
        """price_symbols(book), computed once per distinct book."""
        if len(book) not in by_size:
            by_size[len(book)] = price_symbols(book)
        return by_size[len(book)]

    missing = {}
    closes, column = matrix.to_numpy(dtype=float), {s: j for j, s in enumerate(matrix.columns)}
    columns_of: dict[int, np.ndarray] = {}  # per distinct book: its symbols' columns of the matrix
    for d in days:
        held = held_symbols(held_by_day[d])
        if len(held) not in columns_of:
            columns_of[len(held)] = np.array([column[s] for s in held], dtype=np.intp)
        absent = ~np.isfinite(closes[position[d], columns_of[len(held)]])
        if absent.any():
            missing[d] = [s for s, gone in zip(held, absent.tolist()) if gone]
    if missing:
        raise Failure("refusing to value with stale prices: " + "; ".join(f"no price on {d} for {', '.join(s)}" for d, s in missing.items()),
                      metadata={"failures": MetadataValue.json(fetched["failures"])})
    out = ClientRange(client, days)
    out.risk_lookback = risk_lookback
    out.positions_version = shared.versions.get(client_key.lower())

    scenarios = load_scenarios()
    irx_rates = (matrix["^IRX"] / 100.0).ffill()
    booked = [d for d in days if not held_by_day[d].empty]
    if "portfolio_snapshots" in selected and booked:
        _snapshot_records(out, client, held_by_day[booked[-1]], matrix, booked, irx_rates)
    option_underlyings = sorted(set(all_positions.loc[is_option_type(all_positions["position_type"]), "underlying_symbol"]))
    vol_by_day = (realised_volatility_by_date(matrix[option_underlyings], [pd.Timestamp(d) for d in booked], window=63)
                  if option_underlyings and booked else None)  # each session's 63-session window, one pass
    rolled = None
    if "stress_test_results" in selected and booked:  # every session's betas from its own 252-session window, one pass
        book_symbols = held_symbols(held_by_day[booked[-1]])
        columns = sorted(set(book_symbols) | set(FACTOR_ETFS.values()) | {"TLT"})
        rolled = SessionBetas(rolling_stress_betas(simple_returns(matrix[columns]), book_symbols, matrix["^TNX"], booked, window=252),
                              booked)
    for day in days:
        positions = held_by_day[day]
        if positions.empty:  # before the first entry date: an empty book, so "All" stays a valid range
            _empty_book_records(out, client, day, selected)
            continue
        day_symbols = sorted(set(held_symbols(positions)) | reference)
        i = position[day]
        prices = matrix.iloc[i - history + 1: i + 1][day_symbols]  # = a single-session run's frame, ending on day
        today_rate = float(prices["^IRX"].ffill().iloc[-1]) / 100.0
        rate = today_rate if np.isfinite(today_rate) else RISK_FREE_RATE_FALLBACK
        underlyings = sorted(set(positions.loc[is_option_type(positions["position_type"]), "underlying_symbol"]))
        vols = vol_by_day.loc[pd.Timestamp(day), underlyings] if underlyings else pd.Series(dtype=float)
        if "portfolio_risk_metrics" in selected:
            _risk_record(out, client, positions, prices, day, rate, vols)
        if "stress_test_results" in selected:
            _stress_records(out, client, positions, held_symbols(positions), prices, day, rate, vols, scenarios, rolled)
    if "portfolio_snapshots" in selected:
        _check_pnl_is_value_change(out)
    return out


def _check_pnl_is_value_change(out: ClientRange) -> None:
    """snapshot_valid across the run, for each session whose previous session is also in the run: the
    market P&L of the book held over the night, daily_pnl − entry_pnl, equals total_value − previous
    total_value − Σ market value of the positions entering that session, to the cent (no entry: daily_pnl
    = Δ total_value). This compares two separately computed rows, so it fails if the previous session were
    re-marked (e.g. with today's vol) inside today's valuation."""
    by_day = {r["snapshot_date"]: r for r in out.snapshots}
    for day, rec in by_day.items():
        prev = last_sessions(day, 2)[0]
        if prev not in by_day or rec["daily_pnl"] is None or day not in out.entry:
            continue
        e = out.entry[day]
        market = rec["daily_pnl"] - e["entry_pnl"]
        dvalue = rec["total_value"] - by_day[prev]["total_value"] - e["entering_value"]
        if abs(market - dvalue) > 0.005:
            problem = (f"daily P&L {rec['daily_pnl']:,.2f} (entry P&L {e['entry_pnl']:,.2f}) ≠ Δ total value "
                       f"{rec['total_value'] - by_day[prev]['total_value']:,.2f} − value of entering positions {e['entering_value']:,.2f}")
            out.problems["snapshot_valid"][day] = "; ".join(filter(None, [out.problems["snapshot_valid"].get(day), problem]))


def _empty_book_records(out, client, day, selected) -> None:
    """A session before every entry date: a zero snapshot, a risk row flagged 'empty_portfolio'
    (no numbers), no stress rows."""
    now = utcnow()
    if "portfolio_snapshots" in selected:
        out.snapshots.append({
            "portfolio_id": client.portfolio_id, "snapshot_date": day, "total_value": 0.0, "cash_value": 0.0,
            "long_value": 0.0, "short_value": 0.0, "gross_exposure": 0.0, "net_exposure": 0.0, "daily_pnl": None,
            "daily_return": None, "cumulative_pnl": 0.0, "portfolio_delta": 0.0, "portfolio_gamma": 0.0,
            "portfolio_theta": 0.0, "portfolio_vega": 0.0, "num_positions": 0, "num_long_positions": 0,
            "num_short_positions": 0, "created_at": now})
    if "portfolio_risk_metrics" in selected:
        out.risk.append({
            "portfolio_id": client.portfolio_id, "calculation_date": day, "quality_flag": "empty_portfolio",
            "n_observations": 0, "lookback_sessions": out.risk_lookback, "gross_exposure": 0.0, "net_value": 0.0,
            **{c: None for c in RISK_COLUMNS}, "beta_spy": None, "backtest_exceedances_95": None,
            "backtest_exceedances_99": None, "backtest_sessions": None, "kupiec_p_95": None, "kupiec_p_99": None,
            "details": {"note": "no position held yet (every entry_date is later)"}, "created_at": now})
    out.expected_scenarios[day] = 0
    out.notes.append(f"{day}: no position held yet (empty book)")


def share_scenario_definitions(results: dict[str, ClientRange]) -> None:
    """Give every client of a run the same definition of each scenario id, so it is upserted once per run.
    A historical replay's symbol moves are the union over the run's clients (`merged_replay_definition`: each
    client computed the window's moves of its own symbols; a symbol in two books has the same move, P_end /
    P_start − 1 of the same closes), its other fields the last client's — what writing them one after the
    other would store."""
    shared: dict[str, dict] = {}
    for res in results.values():
        for sid, scenario in res.scenarios.items():
            if sid in shared and scenario["source"] == "historical_replay":
                scenario = {**scenario, "definition": merged_replay_definition(shared[sid]["definition"], scenario["definition"])}
            shared[sid] = scenario
    for res in results.values():
        res.scenarios = {sid: shared[sid] for sid in res.scenarios}


def write_client_ranges(engine, results: dict[str, ClientRange]) -> dict[str, PositionsChangedError]:
    """Store the computed ranges of a run's clients (db/timeseries_writer.py: idempotent, ONE transaction for every
    client; the scenario definitions they use — shared by all, after `share_scenario_definitions` — upserted once
    before it). Returns, by client, the error of each client whose book was re-written since it was read: nothing of
    it stored (its own runs compute the new book)."""
    scenarios = list({sid: s for res in results.values() for sid, s in res.scenarios.items()}.values())
    key_of = {res.client.email: key for key, res in results.items()}
    changed = write_timeseries(engine, [
        ClientTimeseries(res.client.email, res.client.portfolio_id, res.days, snapshots=res.snapshots, explain=res.explain,
                         risk=res.risk, stress=res.stress, positions_version=res.positions_version)
        for res in results.values()], scenarios)
    return {key_of[email]: exc for email, exc in changed.items()}


def write_client_range(engine, res: ClientRange) -> None:
    """`write_client_ranges` of one client; raises its `PositionsChangedError` (nothing stored) if its book changed."""
    for exc in write_client_ranges(engine, {res.client.email: res}).values():
        raise exc


def _outputs(results: dict[str, ClientRange], selected, changed: dict[str, str] | None = None):
    """One Output per asset (Dagster records every partition key of the run) and one result per check of the
    clients in `results`; `changed`: clients whose book was re-written while the run computed — nothing stored,
    no check result, named in every output's metadata."""
    runs = list(results.values())
    span = "; ".join(f"{c} {r.days[0]}..{r.days[-1]}" for c, r in results.items())
    n_sessions = sum(len(r.days) for r in runs)
    skipped = {"positions_changed_meanwhile": ", ".join(sorted(changed))} if changed else {}

    def check(asset, name, extra):
        """One evaluation per (client, session) partition, so the UI shows each session's result."""
        for c, r in results.items():
            for d in r.days:
                problem = r.problems[name].get(d)
                yield AssetCheckEvaluation(asset_key=AssetKey(asset), check_name=name, passed=problem is None,
                                           blocking=True, partition=str(client_date_key(c, d)),
                                           metadata={"problem": problem or "none", "range": span, **extra})

    if "portfolio_snapshots" in selected:
        last = runs[-1].snapshots[-1] if runs and runs[-1].snapshots else {}
        notes = [n for r in runs for n in r.notes]
        yield Output(None, output_name="portfolio_snapshots", metadata=readable({
            "range": span, "sessions": n_sessions, "date": str(last.get("snapshot_date")),
            "total_value": last.get("total_value"), "gross_exposure": last.get("gross_exposure"),
            "daily_pnl": last.get("daily_pnl"), "positions": last.get("num_positions"),
            **_explain_metadata(runs[-1] if runs else None),
            "note": "; ".join(notes[:5]), **skipped}))
        yield from check("portfolio_snapshots", "snapshot_valid", {})
    if "portfolio_risk_metrics" in selected:
        last = runs[-1].risk[-1] if runs and runs[-1].risk else {}
        yield Output(None, output_name="portfolio_risk_metrics", metadata=readable({
            "range": span, "sessions": n_sessions, "date": str(last.get("calculation_date")),
            "quality_flag": last.get("quality_flag"), "observations": last.get("n_observations"),
            "var_95_historical": last.get("var_95_historical"), "var_99_historical": last.get("var_99_historical"),
            "var_99_parametric": last.get("var_99_parametric"), "var_99_monte_carlo": last.get("var_99_monte_carlo"),
            "es_975_historical": last.get("es_975_historical"), "annualised_volatility": last.get("annualised_volatility"),
            "kupiec_p_99": last.get("kupiec_p_99"), **skipped}))
        yield from check("portfolio_risk_metrics", "risk_metrics_consistent", {})
    if "stress_test_results" in selected:
        last_day = runs[-1].days[-1] if runs else None
        last_rows = [s for s in (runs[-1].stress if runs else []) if s["calculation_date"] == last_day]
        worst = min(last_rows, key=lambda r: r["portfolio_pnl"]) if last_rows else None
        yield Output(None, output_name="stress_test_results", metadata=readable({
            "range": span, "sessions": n_sessions, "date": str(last_day), "scenarios": len(last_rows),
            "worst_scenario": f"{worst['scenario_id']}: {worst['portfolio_pnl']:,.0f} USD" if worst else "none",
            "results_usd": MetadataValue.json({r["scenario_id"]: round(r["portfolio_pnl"], 2) for r in last_rows}),
            "method": "multivariate betas (SPY + orthogonalised styles), rate betas per bp, options repriced with Black–Scholes; no loss caps",
            **skipped}))
        yield from check("stress_test_results", "stress_results_complete",
                         {"expected": max((n for r in runs for n in r.expected_scenarios.values()), default=0)})


def _explain_metadata(res: ClientRange | None) -> dict:
    """The last session's portfolio P&L explanation (dollars) and |residual| as % of |Σ pnl|."""
    if res is None or not res.explain:
        return {}
    last = max(r["calculation_date"] for r in res.explain)
    rows = [r for r in res.explain if r["calculation_date"] == last]
    tot = {k: round(sum(r[k] for r in rows), 2) for k in ("pnl", *TERMS, "residual")}
    pct = abs(tot["residual"]) / abs(tot["pnl"]) * 100 if tot["pnl"] else None
    return {"pnl_explain_date": str(last), "pnl_explain_usd": MetadataValue.json(tot),
            "pnl_explain_residual_pct": round(pct, 3) if pct is not None else None}


def _snapshot_records(out, client, positions, matrix, days, rates):
    """The snapshot rows of `days` and the P&L explanation rows of the positions held over each night, in one
    pass: every session of the range and its previous session valued once (`marks_and_snapshots` over the union of
    those dates), each with its OWN marks — its spot, its rate, the realised-vol window ending on it, its time
    to expiry —, so a session's row is what a run of that session alone computes (the previous session is
    marked exactly as its own row was) and daily_pnl = total_value − previous total_value when no position
    enters (a position entering adds its P&L since the entry price, entry_pnl: a trade, not market P&L).

    positions: the book held on the last day (a position is held on d when entry_date ≤ d); matrix: sessions ×
    symbols, at least the 64 sessions before days[0]; rates: decimal ^IRX per session, forward-filled.
    """
    previous = {d: last_sessions(d, 2)[0] for d in days}
    dates = sorted(set(days) | set(previous.values()))
    stamps = pd.DatetimeIndex([pd.Timestamp(d) for d in dates])
    underlyings = sorted(set(positions.loc[is_option_type(positions["position_type"]), "underlying_symbol"]))
    vol_frame = realised_volatility_by_date(matrix[underlyings], stamps, window=63) if underlyings else None
    symbols = sorted(set(price_symbols(positions)))
    prices = matrix[symbols]  # all rows: an expired option settles on the last price on or before its expiry
    with np.errstate(invalid="ignore"):  # positions not held yet may lack a price: masked, never valued
        marks, series = marks_and_snapshots(positions, prices, dates, rates, vols=vol_frame)
    series.index = stamps
    now = utcnow()
    pairs = [(previous[d], d) for d in days]
    explained = explain_session_pairs(marks, pairs)
    held_grid = marks["held"].to_numpy().reshape(len(dates), -1).astype(bool)
    value_grid = marks["market_value"].to_numpy().reshape(len(dates), -1)
    row_of = {d: i for i, d in enumerate(dates)}
    for k, day in enumerate(days):
        prev = previous[day]
        row = series.loc[pd.Timestamp(day)]
        if row["missing_prices"]:
            raise Failure(f"missing prices on {day}: {row['missing_prices']}")
        prev_ok = not series.loc[pd.Timestamp(prev), "missing_prices"]
        if not prev_ok:
            out.notes.append(f"previous session {prev} has missing prices ({series.loc[pd.Timestamp(prev), 'missing_prices']}): "
                             "daily P&L left empty")
        record = {
            "portfolio_id": client.portfolio_id, "snapshot_date": day,
            "total_value": float(row["total_value"]), "cash_value": 0.0, "long_value": float(row["long_value"]),
            "short_value": float(row["short_value"]), "gross_exposure": float(row["gross_exposure"]),
            "net_exposure": float(row["net_exposure"]), "daily_pnl": _f(row["daily_pnl"]), "daily_return": _f(row["daily_return"]),
            "cumulative_pnl": float(row["cumulative_pnl"]), "portfolio_delta": float(row["portfolio_delta"]),
            "portfolio_gamma": float(row["portfolio_gamma"]), "portfolio_theta": float(row["portfolio_theta"]),
            "portfolio_vega": float(row["portfolio_vega"]), "num_positions": int(row["num_positions"]),
            "num_long_positions": int(row["num_long"]), "num_short_positions": int(row["num_short"]), "created_at": now,
        }
        numbers = [v for v in record.values() if isinstance(v, float)]
        consistent = (abs(record["long_value"] + record["short_value"] - record["net_exposure"]) < 0.01
                      and abs(record["long_value"] - record["short_value"] - record["gross_exposure"]) < 0.01)
        problems = []
        if not (all(np.isfinite(numbers)) and consistent):
            problems.append("non-finite value or long/short/net/gross inconsistent")
        if prev_ok:
            i0, i1 = row_of[prev], row_of[day]
            entering = held_grid[i1] & ~held_grid[i0]
            out.entry[day] = {"entry_pnl": float(row["entry_pnl"]), "entering_value": float(value_grid[i1][entering].sum()),
                              "n_entering": int(entering.sum())}
            position_ids, terms = explained.pair(k)
            out.explain.extend(explain_records(client.portfolio_id, prev, day, position_ids, terms, now))
            gap = np.abs(sum(terms[t] for t in TERMS) + terms["residual"] - terms["pnl"])
            if gap.size and float(gap.max()) > 0.005:
                problems.append(f"P&L explain: terms + residual ≠ pnl (max gap {float(gap.max()):.4f} $)")
            market = float(row["daily_pnl"]) - float(row["entry_pnl"])
            if abs(float(terms["pnl"].sum()) - market) > 0.005:
                problems.append(f"P&L explain: Σ position pnl {float(terms['pnl'].sum()):,.2f} ≠ daily P&L − entry P&L {market:,.2f}")
            if not all(np.isfinite(terms[c]).all() for c in ("pnl", *TERMS, "residual")):
                problems.append("P&L explain: non-finite term")
        if problems:
            out.problems["snapshot_valid"][day] = "; ".join(problems)
        out.snapshots.append(record)


RISK_COLUMNS = [
    "var_95_historical", "var_99_historical", "var_95_parametric", "var_99_parametric", "var_95_monte_carlo",
    "var_99_monte_carlo", "var_95_historical_10d", "var_99_historical_10d", "es_975_historical", "es_975_parametric",
    "es_975_monte_carlo", "annualised_volatility", "max_drawdown", "sharpe_ratio", "sortino_ratio",
]


def _risk_record(out, client, positions, prices, day, rate, vols):
    """The risk-metrics row of `day` (analytics.risk.compute_risk_metrics, MC seed 42)."""
    metrics = compute_risk_metrics(positions, prices, as_of=day, vols=vols, rate=rate, lookback=out.risk_lookback,
                                   backtest_sessions=BACKTEST_SESSIONS, n_paths=MC_PATHS, seed=42)
    out.risk.append(_risk_row(metrics, client.portfolio_id, day, out.risk_lookback, rate))
    problems = risk_consistency_problems(out.risk[-1])
    if problems:
        out.problems["risk_metrics_consistent"][day] = "; ".join(problems)


_NOT_COMPUTED = VarEstimates(var={}, es={})


def _risk_row(metrics: RiskMetrics, portfolio_id, day, lookback: int, rate) -> dict:
    """The onb_portfolio_risk_metrics row of a `RiskMetrics` (None for whatever was not computed)."""
    h, p, mc = (est or _NOT_COMPUTED for est in (metrics.historical, metrics.parametric, metrics.monte_carlo))
    r = metrics.ratios
    levels = metrics.backtest.levels if metrics.backtest else {}
    bt95, bt99 = levels.get(0.95), levels.get(0.99)
    return {
        "portfolio_id": portfolio_id, "calculation_date": day, "quality_flag": metrics.quality_flag.value,
        "n_observations": metrics.n_observations, "lookback_sessions": lookback,
        "gross_exposure": _f(metrics.gross_exposure), "net_value": _f(metrics.net_value),
        "var_95_historical": _f(h.var.get(0.95)), "var_99_historical": _f(h.var.get(0.99)),
        "var_95_parametric": _f(p.var.get(0.95)), "var_99_parametric": _f(p.var.get(0.99)),
        "var_95_monte_carlo": _f(mc.var.get(0.95)), "var_99_monte_carlo": _f(mc.var.get(0.99)),
        "var_95_historical_10d": _f(h.var_10d.get(0.95)), "var_99_historical_10d": _f(h.var_10d.get(0.99)),
        "es_975_historical": _f(h.es.get(0.975)), "es_975_parametric": _f(p.es.get(0.975)),
        "es_975_monte_carlo": _f(mc.es.get(0.975)),
        "annualised_volatility": _f(r.annualised_volatility) if r else None,
        "max_drawdown": _f(r.max_drawdown) if r else None,
        "sharpe_ratio": _f(r.sharpe_ratio) if r else None, "sortino_ratio": _f(r.sortino_ratio) if r else None,
        "beta_spy": _f(r.beta) if r and r.benchmark == "SPY" else None,
        "backtest_exceedances_95": bt95.exceedances if bt95 else None,
        "backtest_exceedances_99": bt99.exceedances if bt99 else None,
        "backtest_sessions": metrics.backtest.n_test if metrics.backtest else None,
        "kupiec_p_95": _f(bt95.kupiec_p) if bt95 else None, "kupiec_p_99": _f(bt99.kupiec_p) if bt99 else None,
        "details": {
            "es": {f"es_{confidence_label(c)}_{name}": _f((est or _NOT_COMPUTED).es.get(c))
                   for name, est in metrics.methods.items() for c in metrics.es_confidences},
            "component_var_95_parametric": {k: _f(v) for k, v in p.components.get(0.95, {}).items()},
            "component_var_99_parametric": {k: _f(v) for k, v in p.components.get(0.99, {}).items()},
            "component_var_99_historical": {k: _f(v) for k, v in h.components.get(0.99, {}).items()},
            "exposures": {k: _f(v) for k, v in (metrics.exposures or {}).items()},
            "rate": rate, "method": "1-day VaR; 10-day = 1-day × √10; MC seed 42, 10,000 paths; ES at 97.5 %",
            "missing_symbols": list(metrics.missing_symbols),
        },
        "created_at": utcnow(),
    }


def risk_consistency_problems(record: dict) -> list[str]:
    """Rules every stored risk row obeys (a limited-history row must carry no numbers)."""
    if record["quality_flag"] != "ok":
        return [] if all(record[c] is None for c in RISK_COLUMNS) else [f"{record['quality_flag']} row carries numbers"]
    problems = [f"{c} is not finite" for c in RISK_COLUMNS if record[c] is None]
    if problems:
        return problems
    for method in ("historical", "parametric", "monte_carlo"):
        v95, v99 = record[f"var_95_{method}"], record[f"var_99_{method}"]
        if not (v99 >= v95 >= 0):
            problems.append(f"{method}: VaR99 {v99:.2f} ≥ VaR95 {v95:.2f} ≥ 0 fails")
        if record[f"es_975_{method}"] < v95:
            problems.append(f"{method}: ES97.5 below VaR95")
    for level in ("95", "99"):
        parts = record["details"][f"component_var_{level}_parametric"]
        if parts and abs(sum(v for v in parts.values() if v is not None) - record[f"var_{level}_parametric"]) > 1e-6 * max(1.0, record[f"var_{level}_parametric"]):
            problems.append(f"Euler contributions at {level} % do not sum to the parametric VaR")
    hist = record["details"]["component_var_99_historical"]
    if hist and abs(sum(v for v in hist.values() if v is not None) - record["var_99_historical"]) > 1e-6 * max(1.0, record["var_99_historical"]):
        problems.append("historical contributions do not sum to the historical VaR 99")
    return problems


class SessionBetas:
    """One session's slice of a range's `RollingStressBetas`, labelled the way `run_stress_tests` takes it."""

    def __init__(self, rolled: RollingStressBetas, sessions: list[date]):
        self.rolled = rolled
        self.session = {d: k for k, d in enumerate(sessions)}
        self.column = {sym: j for j, sym in enumerate(rolled.symbols)}

    def of(self, day: date, symbols: list[str]) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
        """(symbol × factor betas, rate beta per symbol — NaN → 0 —, factor loadings) of `day`."""
        k, cols, factors = self.session[day], [self.column[s] for s in symbols], self.rolled.factors
        wide = pd.DataFrame(self.rolled.betas[k][cols], index=symbols, columns=factors).fillna(0.0)
        rate_betas = pd.Series(self.rolled.rate_betas[k][cols], index=symbols).fillna(0.0)
        return wide, rate_betas, pd.DataFrame(self.rolled.loadings[k], index=factors, columns=factors)


def _stress_records(out, client, positions, price_syms, prices, day, rate, vols, scenarios, rolled):
    """The stress rows of `day`: scenario file + historical replay, from the multivariate and rate betas of the
    session's own 252-session window (`analytics.rolling_betas.rolling_stress_betas`, computed for the whole range)."""
    wide, rate_betas, loadings = rolled.of(day, price_syms)
    spots = prices.iloc[-1]  # `prices` ends on `day`
    # the prepared book with the session's market values (valuation_arrays: the numbers of value_positions
    # without building its table)
    stress_positions = positions.assign(market_value=valuation_arrays(positions, spots, day, rate, vols=vols)["market_value"])
    replays = historical_replay_scenarios(prices, lookback=out.risk_lookback, window=20)
    result = run_stress_tests(stress_positions, wide, rate_betas, scenarios + replays, as_of=day, spots=spots, rate=rate, vols=vols,
                              factor_loadings=loadings)  # issue 15: orthogonal style factors
    now = utcnow()
    for s in scenarios + replays:  # the newest session's definition of a replay id wins (as when run one by one)
        out.scenarios[s.id] = {"id": s.id, "name": s.name, "category": s.category,
                               "source": "historical_replay" if s in replays else "scenario_file",
                               "file_version": None if s in replays else 1, "definition": scenario_definition(s),
                               "updated_at": now}
    position_symbols = positions["symbol"].reindex(result.position_pnl.columns).tolist()
    pnl = result.position_pnl.to_numpy(dtype=float)
    per_scenario = dict(zip(result.position_pnl.index, zip(cents(pnl).tolist(), np.isfinite(pnl).tolist())))
    summary = result.summary
    columns = {c: summary[c].to_numpy(dtype=float).tolist()
               for c in ("portfolio_pnl", "pnl_to_gross", "pnl_to_net", "gross_exposure", "net_value")}
    rows = []
    for k, sid in enumerate(summary.index):  # column lists, not iterrows (a Series per scenario and session)
        rows.append({
            "portfolio_id": client.portfolio_id, "scenario_id": sid, "calculation_date": day,
            "portfolio_pnl": columns["portfolio_pnl"][k], "pnl_pct_gross": _f(columns["pnl_to_gross"][k]),
            "pnl_pct_net": _f(columns["pnl_to_net"][k]), "gross_exposure": columns["gross_exposure"][k],
            "net_value": columns["net_value"][k],
            "position_pnl": {sym: v for sym, v, finite in zip(position_symbols, *per_scenario[sid]) if finite},
            "created_at": now,
        })
    expected = len(scenarios) + len(replays)
    out.expected_scenarios[day] = expected
    if not (len(rows) == expected and all(np.isfinite(r["portfolio_pnl"]) for r in rows)):
        out.problems["stress_results_complete"][day] = f"{len(rows)} finite results of {expected} expected"
    out.stress.extend(rows)
