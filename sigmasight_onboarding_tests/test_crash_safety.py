"""Crash safety: SIGKILL the real `sigmasight onboard` CLI in the middle of its writes.

The onboarding runs in a subprocess (`python -m sigmasight_onboarding.cli onboard DROP
--sessions 0`) against the test's own database. The test polls the database until the write is
observably in progress and then kills the process with SIGKILL — no mock, no hook in our code:

* PostgreSQL: the child's connections carry a unique `application_name` (libpq's PGAPPNAME), so
  `pg_stat_activity` shows exactly its statements: the kill comes while its current statement is
  `INSERT INTO positions …` (a) or one of the price write's statements (COPY into the load table or
  `INSERT INTO onb_prices …`) (b).
* SQLite (WAL, BEGIN IMMEDIATE): a probe connection tries `BEGIN IMMEDIATE` with no busy wait;
  "database is locked" means a write transaction is open. (a) is the first write transaction of
  the child (the client write); (b) is the first one after the new positions became visible
  (the price backfill's `store_prices`).

To make the windows wide enough to hit deterministically, the re-drop is big: 1,000 OCC option
positions on the 10 liquid underlyings of the shipped real-price extract plus 60 real equities
(and the previous drop had 50 positions: 30 to update, 15 to soft-delete, 5 unchanged). The
prices come from the shipped extract, so the variant with the full market file is not needed.

After each kill: the client's rows (users, portfolios, positions, tags, position_tags) equal
either the previous state or the complete new state — compared row by row with a clean
onboarding of the same drops — and every `market_data_cache` row is complete, unique and labelled
'file' (equal to the real data), the cache holding either none or all of the backfill. Finally a
re-run completes and every table's row count equals the clean onboarding's.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.engine import make_url

from sigmasight_onboarding.cli import run_onboarding
from sigmasight_onboarding.config import SHIPPED_MARKET_DATA, get_settings
from sigmasight_onboarding.db.engine import get_engine
from sigmasight_onboarding.db.models import (
    Base,
    MarketDataCache,
    MarketDataGap,
    OnboardingAuditLog,
    Portfolio,
    Position,
    PositionTag,
    Tag,
    User,
)
from sigmasight_onboarding.db.offboarding import offboard_client
from sigmasight_onboarding.db.onboarding_writer import write_client
from sigmasight_onboarding.drops.reader import read_drop
from sigmasight_onboarding.ephemeral_instance import ephemeral_instance

from .conftest import CSV_HEADER, REPO, write_drop

pytestmark = pytest.mark.slow

EMAIL = "crash.test@example.com"
UNDERLYINGS = {"SPY": 450, "QQQ": 380, "AAPL": 180, "MSFT": 400, "NVDA": 120,
               "AMZN": 170, "TSLA": 250, "META": 480, "GOOGL": 150, "IWM": 200}
EXPIRIES = [date(2027, 1, 15), date(2027, 3, 19), date(2027, 6, 18), date(2027, 9, 17), date(2027, 12, 17),
            date(2028, 1, 21), date(2028, 3, 17), date(2028, 6, 16), date(2028, 9, 15), date(2028, 12, 15)]
OPTIONS_PER_UNDERLYING = 100
N_EQUITIES = 60
KILL_DELAYS_A = (0.0, 0.01, 0.05)  # seconds between seeing the write and SIGKILL
KILL_DELAYS_B = (0.0,)
ATTEMPTS_B = 4  # (b) tries again (up to this many kills) until one lands inside the price write: with bulk
# executemany the 34,000-row write takes ~0.1 s, so a kill can arrive just after its commit
WINDOW_TIMEOUT = 240.0
CLIENT_TABLES = ("users", "portfolios", "positions", "tags", "position_tags")


# --- the drops ----------------------------------------------------------------------------------


def option_row(und: str, expiry: date, strike: float, cp: str, qty: int, tags: str) -> str:
    occ = f"{und}{expiry:%y%m%d}{cp}{int(round(strike * 1000)):08d}"
    return f'{occ},{qty},{1 + (qty % 7) * 0.25:.2f},{"LC" if cp == "C" else "LP"},2024-01-10,"{tags}",{und},{strike:.2f},{expiry}'


def new_option_rows() -> list[str]:
    rows = []
    for und, spot in UNDERLYINGS.items():
        k = 0
        for expiry in EXPIRIES:
            for i in range(OPTIONS_PER_UNDERLYING // len(EXPIRIES) // 2):
                for cp in "CP":
                    strike = round(spot * (0.8 + 0.1 * i), 0)
                    rows.append(option_row(und, expiry, strike, cp, 1 + k % 9, f"Options Overlay,{und} Book"))
                    k += 1
    return rows


def equity_symbols() -> list[str]:
    symbols = pd.read_parquet(SHIPPED_MARKET_DATA, columns=["symbol"])["symbol"].unique()
    return sorted(s for s in symbols if not s.startswith("^"))[:N_EQUITIES]


def equity_row(i: int, sym: str) -> str:
    short = i % 5 == 4
    qty = -(10 + i) if short else 10 * (i + 1)
    return f'{sym},{qty},{50 + i}.25,{"SHORT" if short else "LONG"},2024-02-01,"{"Shorts" if short else "Core"}",,,'


def new_csv() -> str:
    return "".join(r + "\n" for r in new_option_rows() + [equity_row(i, s) for i, s in enumerate(equity_symbols())])


def previous_csv() -> str:
    """50 rows: 30 options of the new drop with other quantities, 15 options the new drop drops,
    5 equities exactly as in the new drop."""
    options = new_option_rows()
    changed = [r.replace(f",{r.split(',')[1]},", f",{int(r.split(',')[1]) + 7},", 1) for r in options[::34][:30]]
    legacy = [option_row(und, date(2027, 2, 19), float(spot), "C", 3, "Legacy")
              for und, spot in list(UNDERLYINGS.items()) for _ in range(1)]
    legacy += [option_row(und, date(2027, 2, 19), float(spot), "P", 2, "Legacy") for und, spot in list(UNDERLYINGS.items())[:5]]
    equities = [equity_row(i, s) for i, s in enumerate(equity_symbols())][:5]
    assert len(changed) == 30 and len(legacy) == 15
    return "".join(r + "\n" for r in changed + legacy + equities)


def write_csv(folder: Path, body: str) -> None:
    (folder / "portfolio.csv").write_text(CSV_HEADER + body)


def write_previous_state(url: str, folder: Path) -> None:
    """The client as a completed earlier onboarding left it (the real writer, one transaction)."""
    write_csv(folder, previous_csv())
    settings = get_settings()
    write_client(get_engine(url), read_drop(folder, settings), settings, actor="crash-test setup")
    write_csv(folder, new_csv())


# --- reading the state back ---------------------------------------------------------------------


def _d(value) -> str | None:
    return None if value is None else f"{Decimal(str(value)):.4f}"


def projection(url: str) -> dict[str, list[tuple]]:
    """The client's rows in the five client tables, without timestamps and the (salted) hash."""
    engine = get_engine(url)
    with engine.connect() as conn:
        users = [(str(r.id), r.email, r.full_name, bool(r.is_active)) for r in conn.execute(select(User))]
        portfolios = [(str(r.id), str(r.user_id), r.name, r.description, r.currency, r.deleted_at is None)
                      for r in conn.execute(select(Portfolio))]
        positions = [
            (str(r.id), str(r.portfolio_id), r.symbol, getattr(r.position_type, "value", r.position_type),
             _d(r.quantity), _d(r.entry_price), str(r.entry_date), r.underlying_symbol, _d(r.strike_price),
             str(r.expiration_date) if r.expiration_date else None, r.deleted_at is None)
            for r in conn.execute(select(Position))
        ]
        tags = [(str(r.id), str(r.user_id), r.name) for r in conn.execute(select(Tag))]
        links = [(str(r.position_id), str(r.tag_id)) for r in conn.execute(select(PositionTag))]
    return {"users": sorted(users), "portfolios": sorted(portfolios), "positions": sorted(positions),
            "tags": sorted(tags), "position_tags": sorted(links)}


def table_counts(url: str) -> dict[str, int]:
    engine = get_engine(url)
    with engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in Base.metadata.sorted_tables}


def audit_count(url: str) -> int:
    with get_engine(url).connect() as conn:
        return conn.execute(select(func.count()).select_from(OnboardingAuditLog)).scalar_one()


def active_positions(url: str) -> int:
    with get_engine(url).connect() as conn:
        return conn.execute(select(func.count()).select_from(Position).where(Position.deleted_at.is_(None))).scalar_one()


def check_price_cache(url: str, reference: dict) -> int:
    """Rows present are unique, complete (adj_close), 'file', equal to the real data; per symbol
    none or all of the clean onboarding's sessions; the backfill (one transaction) none or all.
    Returns the number of rows."""
    engine = get_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(MarketDataCache.symbol, MarketDataCache.date, MarketDataCache.adj_close,
                                   MarketDataCache.data_source)).all()
    frame = pd.DataFrame(rows, columns=["symbol", "date", "adj_close", "data_source"])
    if frame.empty:
        return 0
    assert not frame.duplicated(["symbol", "date"]).any(), "duplicate (symbol, date) in market_data_cache"
    assert frame["adj_close"].notna().all(), "market_data_cache row without adj_close"
    assert set(frame["data_source"]) == {"file"}, set(frame["data_source"])
    per_symbol = frame.groupby("symbol").size().to_dict()
    assert per_symbol == reference["prices_per_symbol"], "partial price backfill survived a crash"
    truth = pd.read_parquet(SHIPPED_MARKET_DATA, filters=[("symbol", "in", sorted(per_symbol))])
    merged = frame.merge(truth, on=["symbol", "date"], how="left", suffixes=("", "_truth"))
    assert (merged["adj_close"] - merged["adj_close_truth"]).abs().max() < 1e-9, "stored price differs from the file"
    return len(frame)


# --- the clean reference --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """A clean, uninterrupted onboarding of the same previous and new drops (fresh SQLite)."""
    tmp = tmp_path_factory.mktemp("crash_reference")
    url = f"sqlite:///{(tmp / 'reference.db').as_posix()}"
    with pytest.MonkeyPatch.context() as mp:
        for var in ("SIGMASIGHT_ENV", "DAGSTER_HOME", "SIGMASIGHT_ALLOW_SYNTHETIC"):
            mp.delenv(var, raising=False)
        mp.setenv("SIGMASIGHT_DATABASE_URL", url)
        mp.setenv("SIGMASIGHT_IMPORTS_DIR", str(tmp / "imports"))
        mp.setenv("SIGMASIGHT_STATE_DIR", str(tmp / "state"))
        mp.setenv("SIGMASIGHT_BCRYPT_ROUNDS", "4")
        folder = write_drop(tmp / "imports", EMAIL, "")
        empty_counts = table_counts(url)
        write_previous_state(url, folder)
        previous = projection(url)
        result = run_onboarding(EMAIL, ephemeral_instance())
        assert result.success
        assert all(c.passed for c in result.get_asset_check_evaluations())
        with get_engine(url).connect() as conn:
            per_symbol = dict(conn.execute(select(MarketDataCache.symbol, func.count()).group_by(MarketDataCache.symbol)).all())
        counts = table_counts(url)
    written = {t for t, n in counts.items() if n != empty_counts[t] and t != "onb_audit_log"}
    return {"previous": previous, "new": projection(url), "counts": counts, "written_tables": written,
            "prices_per_symbol": per_symbol, "n_active": active_positions(url)}


# --- running and killing the CLI ------------------------------------------------------------------


@dataclass
class Kill:
    observed: str  # what the poller saw when it pulled the trigger
    waited: float  # seconds from start to the kill


def start_cli(folder: Path, tmp: Path, app: str) -> subprocess.Popen:
    env = {**os.environ, "PGAPPNAME": app, "SIGMASIGHT_BCRYPT_ROUNDS": "4"}
    with open(tmp / f"{app}.out", "w") as out, open(tmp / f"{app}.err", "w") as err:  # the child keeps its own copies
        return subprocess.Popen(
            [sys.executable, "-m", "sigmasight_onboarding.cli", "onboard", str(folder), "--sessions", "0"],
            cwd=REPO, env=env, stdout=out, stderr=err,
        )


def _output(tmp: Path, app: str) -> str:
    return (tmp / f"{app}.out").read_text()[-3000:] + (tmp / f"{app}.err").read_text()[-3000:]


class PgWatch:
    def __init__(self, url: str):
        import psycopg2

        u = make_url(url)
        self.conn = psycopg2.connect(host=u.host, port=u.port or 5432, user=u.username, password=u.password or None,
                                     dbname=u.database)
        self.conn.autocommit = True

    def statements(self, app: str) -> list[tuple[str, str]]:
        with self.conn.cursor() as cur:
            cur.execute("SELECT state, left(query, 60) FROM pg_stat_activity WHERE application_name = %s", (app,))
            return cur.fetchall()

    def wait_gone(self, app: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.statements(app):
            assert time.monotonic() < deadline, f"backend of the killed process still alive: {self.statements(app)}"
            time.sleep(0.05)

    def close(self) -> None:
        self.conn.close()


def sqlite_write_locked(path: str) -> bool:
    """True while another connection holds the write lock (probe without waiting)."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return True
        raise
    else:
        conn.execute("ROLLBACK")
        return False
    finally:
        conn.close()


def sqlite_active_positions(path: str) -> int:
    """Committed active positions, read with a plain autocommit connection (the engine's
    connections open every transaction with BEGIN IMMEDIATE, which would queue behind the writer)."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        return conn.execute("SELECT count(*) FROM positions WHERE deleted_at IS NULL").fetchone()[0]
    except sqlite3.OperationalError:
        return -1
    finally:
        conn.close()


# Statements of the client transaction from the positions INSERT on (its later statements are
# still inside the same transaction: a kill there must roll the positions back too).
POSITIONS_WINDOW = ("INSERT INTO positions", "UPDATE positions", "INSERT INTO tags", "INSERT INTO position_tags",
                    "DELETE FROM position_tags")
# The price write is one transaction: COPY straight into onb_prices (or into a temporary table, then INSERT … ON CONFLICT).
PRICES_WINDOW = ("INSERT INTO onb_prices", 'INSERT INTO "onb_prices"', 'COPY "onb_prices"', "COPY tmp_onb_prices_load",
                 "TRUNCATE tmp_market_data_cache_load", "CREATE TEMP TABLE IF NOT EXISTS tmp_market_data_cache_load")
# SQLite: the engine opens even read transactions with BEGIN IMMEDIATE, so short reads hold the
# write lock for a millisecond or so; only a lock held this long is a write transaction at work. The
# price write (34,000 rows in one bulk executemany) lasts well under 100 ms on a fast box, so a 50 ms
# threshold let its commit win the race; 10 ms is still ten times a read's hold.
SUSTAINED_LOCK = {"positions": 0.02, "prices": 0.01}


def run_and_kill(url: str, folder: Path, tmp: Path, window: str, delay: float, n_new: int) -> Kill:
    """Start the CLI, wait for `window` ('positions' or 'prices') to be in progress, SIGKILL."""
    app = f"crash-{window}-{uuid.uuid4().hex[:8]}"
    pg = url.startswith("postgresql")
    watch = PgWatch(url) if pg else None
    db_path = None if pg else make_url(url).database
    targets = POSITIONS_WINDOW if window == "positions" else PRICES_WINDOW
    t0 = time.monotonic()
    proc = start_cli(folder, tmp, app)
    observed = None
    locked_since = None
    try:
        while observed is None:
            if proc.poll() is not None:
                pytest.fail(f"the onboarding finished (exit {proc.returncode}) before the {window} write was seen:\n"
                            + _output(tmp, app))
            if time.monotonic() - t0 > WINDOW_TIMEOUT:
                proc.kill()
                pytest.fail(f"the {window} write was not seen within {WINDOW_TIMEOUT:.0f} s:\n" + _output(tmp, app))
            if pg:
                hits = [(st, q) for st, q in watch.statements(app) if q.upper().startswith(tuple(t.upper() for t in targets))]
                if hits:
                    observed = f"pg_stat_activity: {hits[0][0]}: {hits[0][1][:45]}…"
            else:
                ready = window == "positions" or sqlite_active_positions(db_path) == n_new
                if ready and sqlite_write_locked(db_path):
                    now = time.monotonic()
                    locked_since = locked_since or now
                    if now - locked_since >= SUSTAINED_LOCK[window]:
                        what = "client transaction" if window == "positions" else \
                            "after the new positions were committed: the price backfill"
                        observed = f"sqlite: write lock held ≥ {SUSTAINED_LOCK[window] * 1000:.0f} ms ({what})"
                else:
                    locked_since = None
            if observed is None:
                time.sleep(0.002)
        if delay:
            time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, f"process exited {proc.returncode} before the kill"
        if pg:
            watch.wait_gone(app)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if watch is not None:
            watch.close()
    return Kill(observed=observed, waited=time.monotonic() - t0)


def reset_to_previous(url: str, folder: Path) -> None:
    """Back to the previous state (the real offboarding + writer) with an empty price cache."""
    engine = get_engine(url)
    with engine.connect() as conn:
        exists = conn.execute(select(User.id).where(User.email == EMAIL)).first() is not None
    if exists:
        offboard_client(engine, EMAIL, actor="crash-test setup")
    with engine.begin() as conn:
        conn.execute(delete(MarketDataCache))
        conn.execute(delete(MarketDataGap))
    write_previous_state(url, folder)


# --- the test -------------------------------------------------------------------------------------


def test_sigkill_during_positions_write_and_price_backfill(env, reference, capsys):
    url = env["db_url"]
    tmp = env["tmp"]
    dialect = "postgresql" if url.startswith("postgresql") else "sqlite"
    folder = write_drop(env["imports"], EMAIL, "")
    write_previous_state(url, folder)
    assert projection(url) == reference["previous"]
    n_new = reference["n_active"]
    report = []

    # (a) SIGKILL while the client's transaction writes the positions
    outcomes_a = []
    for delay in KILL_DELAYS_A:
        if projection(url) != reference["previous"]:
            reset_to_previous(url, folder)
        audits = audit_count(url)
        kill = run_and_kill(url, folder, tmp, "positions", delay, n_new)
        state = projection(url)
        if state == reference["previous"]:
            outcome = "rolled back"
            assert audit_count(url) == audits, "an audit row survived a rolled-back transaction"
        else:
            assert state == reference["new"], _diff(state, reference)
            outcome = "committed"
            assert audit_count(url) == audits + 1
        assert check_price_cache(url, reference) == 0  # the kill came before any price was written
        outcomes_a.append(outcome)
        report.append(f"(a) +{delay * 1000:.0f} ms after [{kill.observed}] at {kill.waited:.1f} s → {outcome}")
    # the kill must really have landed inside the transaction at least once
    assert "rolled back" in outcomes_a, report

    # (b) SIGKILL while the price backfill writes market_data_cache
    outcomes_b = []
    for delay in [d for d in KILL_DELAYS_B for _ in range(ATTEMPTS_B)]:
        if "rolled back" in outcomes_b:
            break
        reset_to_previous(url, folder)
        kill = run_and_kill(url, folder, tmp, "prices", delay, n_new)
        state = projection(url)
        assert state == reference["new"], _diff(state, reference)  # the client write committed before
        n_prices = check_price_cache(url, reference)
        outcome = "rolled back" if n_prices == 0 else "committed"
        outcomes_b.append(outcome)
        report.append(f"(b) +{delay * 1000:.0f} ms after [{kill.observed}] at {kill.waited:.1f} s → prices {outcome} "
                      f"({n_prices} rows)")
    assert "rolled back" in outcomes_b, report

    # a re-run completes and leaves exactly what a clean onboarding leaves
    app = f"crash-rerun-{uuid.uuid4().hex[:8]}"
    proc = start_cli(folder, tmp, app)
    assert proc.wait(timeout=600) == 0, _output(tmp, app)
    assert f"positions:     {n_new} " in (tmp / f"{app}.out").read_text()
    assert projection(url) == reference["new"]
    check_price_cache(url, reference)
    counts = table_counts(url)
    written = reference["written_tables"]
    assert {t: counts[t] for t in written} == {t: reference["counts"][t] for t in written}
    _assert_no_duplicate_natural_keys(url)

    with capsys.disabled():
        print(f"\n[crash safety {dialect}] {len(outcomes_a) + len(outcomes_b)} SIGKILLs survived:")
        for line in report:
            print("   ", line)
        print(f"    re-run: exit 0, {n_new} active positions, counts equal a clean onboarding "
              f"({', '.join(f'{t} {counts[t]}' for t in sorted(written))})")


def _assert_no_duplicate_natural_keys(url: str) -> None:
    checks = {
        "users": "email",
        "positions": "portfolio_id, symbol",
        "tags": "user_id, name",
        "position_tags": "position_id, tag_id",
        "onb_prices": "symbol, date",
    }
    with get_engine(url).connect() as conn:
        for table, cols in checks.items():
            dups = conn.execute(text(f"SELECT {cols}, count(*) FROM {table} GROUP BY {cols} HAVING count(*) > 1")).all()
            assert dups == [], (table, dups[:5])


def _diff(state: dict, reference: dict) -> str:
    """Which client tables are neither the previous nor the new state (a partial write)."""
    out = []
    for table in CLIENT_TABLES:
        prev, new, got = set(reference["previous"][table]), set(reference["new"][table]), set(state[table])
        if got != prev and got != new:
            out.append(f"{table}: {len(got)} rows; {len(got - new)} not in the new state, {len(new - got)} missing "
                       f"from it (previous {len(prev)}, new {len(new)})")
    return "PARTIAL WRITE: " + "; ".join(out)
