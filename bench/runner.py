"""``python -m bench``: plan the scenarios, run each in a fresh worker process, report.

See bench/README.md for what each scenario measures. Every measurement runs in its own process
(``bench.worker``); its peak RSS comes from ``os.wait4`` on that child. Databases: a SQLite file
or a fresh PostgreSQL database per (scenario, size), created here and dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from bench import portfolios as pf

REPO = pf.REPO
RESULTS = REPO / "bench" / "results"
TMP = RESULTS / "tmp"  # git-ignored
PG_ADMIN_URL = os.environ.get("SIGMASIGHT_BENCH_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
GB = 1024.0  # MB

FULL = {
    "A": [30, 100, 1_000, 10_000],
    "B": [10, 100, 1_000, 5_000],
    "C": 10_000,
    "P": 100_000,
    "F": 50,
    "M": 500,
    "D_sessions": 250,
    "E_clients": 200,
    "D_budget_s": 20.0,
    "cold_cap_s": 60.0,
}
QUICK = {
    "A": [30, 100, 1_000],
    "B": [10, 100, 1_000],
    "C": 1_000,
    "P": 10_000,
    "F": 10,
    "M": 100,
    "D_sessions": 20,
    "E_clients": 20,
    "D_budget_s": 8.0,
    "cold_cap_s": 30.0,
}
A_TARGETS = {30: 10.0, 10_000: 60.0}  # warm cache, seconds
B_TARGET_SIZE, B_SPEEDUP, B_ABS = 1_000, 100.0, 1.0
C_TARGET_PG = 5.0
D_TARGET, E_TARGET = 5.0, 30.0  # issue #11: one in-process range run; 200 clients refreshed
P_TARGET = 15.0  # issue 12: a 100,000-row drop validated, pre-flighted and stored
Q_WRITE_TARGET = {"sqlite": 300_000.0, "postgresql": 500_000.0}  # issue 17: rows/s, file provider -> stored
Q_READ_TARGET = 2.0  # s, the 4.2 M-cell matrix read
A10K_TARGET = {"cold": 30.0, "warm": 15.0}  # issue 17: 10,000 positions, client assets; peak RSS ≤ A10K_RSS_MB
A10K_RSS_MB = 1_536.0
MEM_TARGET_MB = 2 * GB


# ------------------------------------------------------------------------------------------------
@dataclass
class Row:
    scenario: str
    db: str
    size: int | None
    seconds: float | None
    rate: str = ""
    rss_mb: float | None = None
    target: str = ""
    met: str = ""
    note: str = ""
    series: str = ""  # rows of one series (same scenario+variant+db) get a growth figure
    extrapolated: bool = False
    growth: float | None = None
    plot: bool = False
    cpu: float | None = None  # CPU seconds of the worker process in the timed section (DB server excluded)

    def cells(self) -> list[str]:
        secs = "—" if self.seconds is None else (f"~{self.seconds:,.1f}" if self.extrapolated else _fmt_s(self.seconds))
        if self.extrapolated and self.seconds is not None:
            secs += " (extrap.)"
        return [
            self.scenario, self.db, "—" if self.size is None else f"{self.size:,}", secs,
            "—" if self.cpu is None else _fmt_s(self.cpu), self.rate or "—",
            "—" if self.growth is None else f"{self.growth:.2f}",
            "—" if self.rss_mb is None else f"{self.rss_mb:,.0f}", self.target or "—", self.met or "—", self.note,
        ]


HEADERS = ["scenario", "db", "size", "seconds", "CPU s", "per-unit rate", "growth (t ratio / size ratio)", "peak RSS MB",
           "target", "met?", "notes"]


def _fmt_s(s: float) -> str:
    if s < 0.01:
        return f"{s * 1000:.2f} ms"
    if s < 1:
        return f"{s:.3f}"
    return f"{s:,.2f}"


def _rate(n: float, seconds: float | None, unit: str) -> str:
    if not seconds:
        return ""
    r = n / seconds
    return f"{r:,.0f} {unit}/s" if r >= 10 else f"{r:,.2f} {unit}/s"


def _met(time_ok: bool | None, rss_mb: float | None) -> str:
    mem_ok = rss_mb is None or rss_mb <= MEM_TARGET_MB
    if time_ok is None:
        return "yes" if mem_ok else "NO (memory)"
    if time_ok and mem_ok:
        return "yes"
    if not time_ok and not mem_ok:
        return "NO (time, memory)"
    return "NO (time)" if not time_ok else "NO (memory)"


def markdown_table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "|".join("---" for _ in HEADERS) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in r.cells()) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
class Databases:
    """SQLite files under the run folder; PostgreSQL databases created fresh and dropped at the end."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.pg_created: list[str] = []
        self._admin = None
        self.pg_error: str | None = None

    def pg_available(self) -> bool:
        if self._admin is not None:
            return True
        if self.pg_error is not None:
            return False
        try:
            from sqlalchemy import create_engine, text

            admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text("SELECT 1"))
            self._admin = admin
            return True
        except Exception as exc:
            self.pg_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            return False

    def fresh(self, db: str, label: str) -> str:
        if db == "sqlite":
            path = self.run_dir / "db" / f"{label}.sqlite"
            path.parent.mkdir(parents=True, exist_ok=True)
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            return f"sqlite:///{path.as_posix()}"
        from sqlalchemy import text
        from sqlalchemy.engine import make_url

        name = f"sigmasight_bench_{label.replace('-', '_')}_{uuid.uuid4().hex[:6]}"
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.pg_created.append(name)
        return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        import shutil

        shutil.rmtree(self.run_dir / "db", ignore_errors=True)  # SQLite files (GBs at 10,000 positions)
        if self._admin is None:
            return
        from sqlalchemy import text

        for name in self.pg_created:
            try:
                with self._admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            except Exception as exc:  # pragma: no cover
                print(f"  warning: could not drop {name}: {exc}")
        self.pg_created.clear()
        self._admin.dispose()
        self._admin = None


class Zygote:
    """The pre-imported forking worker (``python -m bench.worker --zygote``), restarted if it dies."""

    def __init__(self, env: dict, log_path: Path):
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.log = self.log_path.open("a")
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.worker", "--zygote"], cwd=str(REPO), env=self.env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, bufsize=1)
        ready = self.proc.stdout.readline()
        if not ready or not json.loads(ready).get("ready"):
            raise RuntimeError(f"bench zygote did not start (see {self.log_path})")

    def run(self, spec: str, out: str, log: str, env: dict, timeout: float, kill) -> tuple[int | None, int]:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        self.proc.stdin.write(json.dumps({"spec": spec, "out": out, "log": log, "env": env}) + "\n")
        self.proc.stdin.flush()
        started = self.proc.stdout.readline()
        if not started:
            self.proc = None
            return None, 0
        pid = json.loads(started)["pid"]
        timer = threading.Timer(timeout, kill, args=(pid,))
        timer.start()
        try:
            ended = self.proc.stdout.readline()
        except BaseException:  # interrupted: do not leave the scenario process running
            kill(pid)
            raise
        finally:
            timer.cancel()
        if not ended:
            self.proc = None
            return None, 0
        msg = json.loads(ended)
        return msg["status"], msg["maxrss_kb"]

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:  # pragma: no cover
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@dataclass
class Outcome:
    ok: bool
    result: dict = field(default_factory=dict)
    error: str = ""
    rss_mb: float | None = None
    wall: float = 0.0
    timed_out: bool = False
    log: str = ""


class Bench:
    def __init__(self, args):
        self.args = args
        self.plan = QUICK if args.quick else FULL
        if getattr(args, "a_sizes", None):
            self.plan = dict(self.plan, A=[int(x) for x in args.a_sizes.split(",") if x.strip()])
        if args.cold_cap is not None:
            self.plan = dict(self.plan, cold_cap_s=args.cold_cap)
        self.t_start = time.perf_counter()
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        self.run_dir = TMP / f"run-{stamp}-{os.getpid()}"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        _prune_old_runs(keep=self.run_dir)
        self.dbs = Databases(self.run_dir)
        self.rows: list[Row] = []
        self.details: list[str] = []
        self.notes: list[str] = []
        self.profiles: list[dict] = []
        self.pending_cold: list[dict] = []
        self.market_file, self.full_dataset = pf.market_data_file()
        self.universe = None
        self._n = 0
        self.loads: list[float] = [os.getloadavg()[0]]
        self.zygote = None if args.no_fork else Zygote(self.env("sqlite:///:memory:", "zygote"), self.run_dir / "zygote.log")

    # -- process plumbing ------------------------------------------------------------------------
    def env(self, db_url: str, label: str) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME",)}
        state = self.run_dir / "state" / label
        env.update(
            SIGMASIGHT_DATABASE_URL=db_url,
            SIGMASIGHT_IMPORTS_DIR=str(self.run_dir / "imports"),
            SIGMASIGHT_STATE_DIR=str(state),
            SIGMASIGHT_BCRYPT_ROUNDS="4",
            SIGMASIGHT_PROVIDERS="file",
            SIGMASIGHT_MARKET_DATA_FILE=str(self.market_file),
            SIGMASIGHT_AS_OF=pf.AS_OF.isoformat(),
            SIGMASIGHT_ENV="development",
            PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
            PYTHONWARNINGS="ignore",
        )
        env.pop("SIGMASIGHT_ALLOW_SYNTHETIC", None)
        return env

    def spawn(self, kind: str, spec: dict, env: dict, timeout: float, label: str) -> Outcome:
        """Run one scenario in a fresh process (forked from the zygote, or a new interpreter with
        --no-fork); kill it after ``timeout`` s; its peak RSS comes from wait4 on that child."""
        self._n += 1
        self.loads.append(os.getloadavg()[0])
        base = self.run_dir / "work" / f"{self._n:03d}-{label}"
        base.parent.mkdir(parents=True, exist_ok=True)
        spec = dict(spec, kind=kind)
        spec_path, out_path, log_path = base.with_suffix(".spec.json"), base.with_suffix(".out.json"), base.with_suffix(".log")
        spec_path.write_text(json.dumps(spec, default=str))
        t0 = time.perf_counter()
        killed = threading.Event()

        def _kill(pid: int) -> None:
            killed.set()
            for fn, target in ((os.killpg, pid), (os.kill, pid)):  # our own child (own session)
                try:
                    fn(target, signal.SIGKILL)
                    break
                except (ProcessLookupError, PermissionError):
                    continue

        if self.zygote is not None and self.zygote.proc is None:
            try:
                self.zygote.start()
            except Exception as exc:
                self.notes.append(f"forking worker unavailable ({exc}); scenarios ran as new interpreters")
                self.zygote = None
        if self.zygote is not None:
            status, maxrss_kb = self.zygote.run(str(spec_path), str(out_path), str(log_path), env, timeout, _kill)
        else:
            with log_path.open("w") as log:
                proc = subprocess.Popen([sys.executable, "-m", "bench.worker", str(spec_path), str(out_path)],
                                        cwd=str(REPO), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
                timer = threading.Timer(timeout, _kill, args=(proc.pid,))
                timer.start()
                try:
                    _pid, status, usage = os.wait4(proc.pid, 0)
                except BaseException:
                    _kill(proc.pid)
                    raise
                finally:
                    timer.cancel()
                proc.returncode = os.waitstatus_to_exitcode(status)
                maxrss_kb = usage.ru_maxrss
        wall = time.perf_counter() - t0
        rss = maxrss_kb / 1024.0  # Linux: KiB
        code = os.waitstatus_to_exitcode(status) if status is not None else None
        if killed.is_set():
            return Outcome(False, error=f"timed out after {timeout:.0f} s (killed)", rss_mb=rss, wall=wall, timed_out=True, log=str(log_path))
        try:
            payload = json.loads(out_path.read_text())
        except Exception:
            tail = log_path.read_text()[-1500:] if log_path.exists() else ""
            return Outcome(False, error=f"worker exited {code} without a result: {tail.strip()[-400:]}", rss_mb=rss, wall=wall, log=str(log_path))
        if not payload.get("ok"):
            return Outcome(False, error=payload.get("error", "?"), rss_mb=rss, wall=wall, log=str(log_path),
                           result={"traceback": payload.get("traceback", "")})
        return Outcome(True, result=payload["result"], rss_mb=rss, wall=wall, log=str(log_path))

    def say(self, text: str) -> None:
        print(f"[{time.perf_counter() - self.t_start:6.0f}s] {text}", flush=True)

    def selected_dbs(self) -> list[str]:
        wanted = ["sqlite", "postgresql"] if self.args.db == "both" else [self.args.db]
        out = []
        for db in wanted:
            if db == "postgresql" and not self.dbs.pg_available():
                msg = f"PostgreSQL unavailable ({self.dbs.pg_error}); PostgreSQL rows skipped"
                if msg not in self.notes:
                    self.notes.append(msg)
                    self.say(msg)
                continue
            out.append(db)
        return out

    # -- inputs ------------------------------------------------------------------------------------
    def load_universe(self):
        if self.universe is None:
            t0 = time.perf_counter()
            self.universe = pf.load_universe()
            self.say(f"universe: {len(self.universe.symbols):,} symbols with full coverage {pf.WINDOW_START}..{pf.AS_OF} "
                     f"from {self.market_file.name} ({time.perf_counter() - t0:.1f} s)")
            if not self.full_dataset:
                msg = (f"WARNING: the full dataset {pf.FULL_MARKET_FILE} is missing — using the shipped extract "
                       f"{self.market_file.name} ({len(self.universe.symbols)} symbols); sizes are capped")
                self.notes.append(msg)
                self.say(msg)
        return self.universe

    def cap_size(self, n: int, option_room: bool = True) -> int:
        """n when the universe can hold n distinct positions (options may fill up to 25 % of a
        book when equities run out; engines need n distinct symbols), else -1."""
        avail = len(self.load_universe().symbols)
        return n if n <= (avail / 0.75 if option_room else avail) else -1

    def make_drop(self, label: str, n: int, seed: int = 7) -> tuple[Path, str, dict]:
        frame, info = pf.generate_positions(self.load_universe(), n, seed=seed)
        email = pf.client_email(label)
        folder = pf.write_drop(self.run_dir / "imports", email, frame, self._hash())
        return folder, email, info

    def _hash(self) -> str:
        if not hasattr(self, "_pw_hash"):
            self._pw_hash = pf.bcrypt_hash()
        return self._pw_hash

    # ------------------------------------------------------------------------------------------------
    # scenarios
    # ------------------------------------------------------------------------------------------------
    def scenario_a(self) -> None:
        """Per size and database: a fresh database; the cold run (client X, empty price cache), then
        the warm run (client Y holding the same positions, so every price is cached).

        A cold run predicted above the cold cap is not run: the cache is filled by the bench loader
        instead and the cold time is ESTIMATED (marked) as
            warm(n) + [cold(m) − warm(m)] × symbols(n) / symbols(m)
        from the largest measured size m (the cold/warm difference is the price backfill, which
        scales with the number of symbols to fetch)."""
        sizes = [n for n in self.plan["A"] if self.cap_size(n) > 0]
        if len(sizes) < len(self.plan["A"]):
            self.notes.append(f"A sizes {[n for n in self.plan['A'] if n not in sizes]} skipped: the universe "
                              f"({len(self.universe.symbols)} symbols) cannot hold that many distinct positions")
        drops = {}
        for n in sizes:  # cold and warm clients hold the same positions (same seed)
            drops[n] = (self.make_drop(f"a{n}-cold", n), self.make_drop(f"a{n}-warm", n))
        cold_cap = self.plan["cold_cap_s"]
        for db in self.selected_dbs():
            ref: dict | None = None  # largest size with both cold and warm measured
            for n in sizes:
                (folder_c, key_c, info), (_folder_w, key_w, _) = drops[n]
                syms = len(set(info["price_symbols"]) | set(pf.REFERENCE_SYMBOLS))
                url = self.dbs.fresh(db, f"a{n}")
                env = self.env(url, f"a{n}-{db}")
                mix = f"{info['equities']:,} eq ({info['shorts']:,} short) + {info['options']:,} opt"
                predicted = None
                if ref is not None:  # upper bound before the warm run: warm scaled linearly too
                    predicted = (ref["cold"] - ref["warm"]) * syms / ref["syms"] + ref["warm"] * n / ref["n"]
                cold = None
                if predicted is not None and predicted > cold_cap:
                    self.say(f"A {db} {n:,}: cold run skipped (predicted ~{predicted:,.0f} s > cap {cold_cap:.0f} s); "
                             "filling the price cache with the bench loader")
                    w = self.spawn("warm_cache", {"folder": str(folder_c)}, env, 900, f"a{n}-{db}-warmcache")
                    warm_how = ("cache pre-filled by bench/cache_warm.py "
                                + (f"({w.result.get('rows', 0):,} rows, {w.result.get('seconds', 0):.0f} s)" if w.ok else f"FAILED: {w.error}"))
                else:
                    self.say(f"A {db} {n:,}: cold run ({mix}; {syms:,} symbols to fetch)")
                    cold = self.spawn("onboard", {"key": key_c}, env, max(600.0, cold_cap * 3), f"a{n}-{db}-cold")
                    self._a_row(cold, "A onboard, cold cache", db, n, None, mix)
                    warm_how = "warm = 2nd client holding the same symbols, after the cold run"
                self.say(f"A {db} {n:,}: warm run")
                warm = self.spawn("onboard", {"key": key_w}, env, 900, f"a{n}-{db}-warm")
                if cold is None:
                    warm_s = warm.result["seconds"] if warm.ok else ref["warm"] * n / ref["n"]
                    est = (ref["cold"] - ref["warm"]) * syms / ref["syms"] + warm_s
                    row = Row(
                        "A onboard, cold cache", db, n, est, _rate(n, est, "pos"), None, "≤ 2 GB", "—",
                        f"NOT RUN (predicted > {cold_cap:.0f} s cap and no time left in the run's budget): estimate = "
                        f"warm {warm_s:.1f} s + price backfill of {syms:,} symbols at the {ref['n']:,}-position rate "
                        f"({ref['cold'] - ref['warm']:.1f} s for {ref['syms']:,}); {mix}",
                        series=f"A-cold-{db}", extrapolated=True, plot=True)
                    self.rows.append(row)
                    self.pending_cold.append({"row": row, "db": db, "n": n, "key": key_c, "estimate": est, "mix": mix})
                self._a_row(warm, "A onboard, warm cache", db, n, A_TARGETS.get(n), warm_how)
                if cold is not None and cold.ok and warm.ok:
                    ref = {"n": n, "syms": syms, "cold": cold.result["seconds"], "warm": warm.result["seconds"]}

    def deferred_cold_runs(self) -> None:
        """Cold runs skipped by the cap, run at the end (fresh database each) while the run's time
        budget allows: elapsed + 1.3 × estimate ≤ --budget-min. A measured run replaces the estimate."""
        budget = self.args.budget_min if self.args.budget_min is not None else (2.5 if self.args.quick else 13.5)
        deadline = budget * 60.0
        for job in sorted(self.pending_cold, key=lambda j: j["estimate"]):
            elapsed = time.perf_counter() - self.t_start
            if elapsed + 1.3 * job["estimate"] > deadline:
                self.say(f"A {job['db']} {job['n']:,}: cold run stays estimated (~{job['estimate']:.0f} s; "
                         f"{elapsed / 60:.1f} of {budget:.1f} min used)")
                continue
            db, n = job["db"], job["n"]
            self.say(f"A {db} {n:,}: deferred cold run on a fresh database (estimate ~{job['estimate']:.0f} s)")
            url = self.dbs.fresh(db, f"a{n}cold")
            out = self.spawn("onboard", {"key": job["key"]}, self.env(url, f"a{n}cold-{db}"), 1200, f"a{n}-{db}-cold-deferred")
            idx = self.rows.index(job["row"])
            before = len(self.rows)
            self._a_row(out, "A onboard, cold cache", db, n, None, job["mix"] + "; run at the end of the benchmark on a fresh database")
            if len(self.rows) > before:
                self.rows[idx] = self.rows.pop()

    def _a_row(self, out: Outcome, scenario: str, db: str, n: int, target: float | None, note: str) -> None:
        variant = "cold" if "cold" in scenario else "warm"
        tgt = (f"≤ {target:.0f} s" if target else "") + (", " if target else "") + "≤ 2 GB"
        if not out.ok:
            self.rows.append(Row(scenario, db, n, None, "", out.rss_mb, tgt, "NO (failed)", f"FAILED: {out.error[:300]}",
                                 series=f"A-{variant}-{db}"))
            self.say(f"   failed: {out.error[:300]}")
            return
        r = out.result
        s = r["seconds"]
        ok = r["success"] and not r["blocking_failed"]
        time_ok = None if target is None else (s <= target and ok)
        warn = [f["check"].split(":")[-1] for f in r["checks_failed"] if f not in r["blocking_failed"]]
        status = ("ok" if r["success"] else "RUN FAILED") + f", checks {r['checks_passed']}/{r['checks_total']}"
        if warn:
            status += f" ({len(warn)} warn: {', '.join(warn)})"
        if r["blocking_failed"]:
            status += " BLOCKING: " + ", ".join(f["check"] for f in r["blocking_failed"])
        if r["failures"]:
            status += " — " + "; ".join(r["failures"])[:300]
        slow = sorted(r["steps"].items(), key=lambda kv: -kv[1] if isinstance(kv[1], (int, float)) else 0)[:2]
        steps = ", ".join(f"{k} {v:.1f}s" for k, v in slow if isinstance(v, (int, float)))
        met = _met(time_ok, out.rss_mb)
        if n == 10_000:  # issue 17's targets for the big client
            limit = A10K_TARGET[variant]
            tgt += f"; issue 17: ≤ {limit:.0f} s, ≤ 1.5 GB"
            fast, small = s <= limit and ok, out.rss_mb is not None and out.rss_mb <= A10K_RSS_MB
            met += "; issue 17: " + ("yes" if fast and small else "NO (" + ", ".join(
                w for w, bad in (("time", not fast), ("memory", not small)) if bad) + ")")
        self.rows.append(Row(scenario, db, n, s, _rate(n, s, "pos"), out.rss_mb, tgt, met,
                             f"{status}; slowest: {steps}; {note}", series=f"A-{variant}-{db}", plot=True,
                             cpu=r.get("cpu_s")))
        self.details.append(f"- **{scenario}, {db}, {n:,} positions** — {s:.2f} s (imports {r['import_s']} s, "
                            f"migration {r['migrate_s']} s excluded); steps: "
                            + ", ".join(f"`{k}` {v:.2f} s" for k, v in r["steps"].items() if isinstance(v, (int, float)))
                            + ("; " + ", ".join(f"{k}={v}" for k, v in r["metadata"].items() if "price_history" in k) if r["metadata"] else ""))
        self.say(f"   {s:.2f} s, {status[:160]}, RSS {out.rss_mb:,.0f} MB")

    def scenario_b(self) -> None:
        sizes = [n for n in self.plan["B"] if self.cap_size(n, option_room=False) > 0]
        if len(sizes) < len(self.plan["B"]):
            self.notes.append(f"B sizes {[n for n in self.plan['B'] if n not in sizes]} skipped: the universe "
                              f"has only {len(self.universe.symbols)} symbols")
        for n in sizes:
            self.say(f"B engines {n:,} positions")
            env = self.env("sqlite:///:memory:", f"b{n}")
            out = self.spawn("engines", {"positions": n, "budget": 60}, env, 900, f"b{n}")
            if not out.ok:
                self.rows.append(Row("B engines", "—", n, None, "", out.rss_mb, "", "NO (failed)", f"FAILED: {out.error[:300]}"))
                self.say(f"   failed: {out.error[:300]}")
                continue
            r = out.result
            at_target = n == B_TARGET_SIZE
            sp = r["speedup_single"]
            self.rows.append(Row(
                "B single_factor_betas (vectorised)", "—", n, r["engine_seconds"]["single_factor_betas"],
                _rate(n, r["engine_seconds"]["single_factor_betas"], "pos"), out.rss_mb,
                f"≥ {B_SPEEDUP:.0f}× baseline" if at_target else "",
                (_met(None, out.rss_mb) if sp >= B_SPEEDUP else f"NO (×{sp:,.0f} < ×{B_SPEEDUP:.0f})") if at_target else _met(None, out.rss_mb),
                f"speed-up ×{sp:,.0f} vs statsmodels loop (CPU-time ratio ×{r['speedup_single_cpu']:,.0f}); "
                f"max |Δβ| {r['max_abs_beta_diff']:.1e} over {r['compared_rows']:,} rows",
                series="B-single", plot=True, cpu=r["engine_cpu_seconds"]["single_factor_betas"]))
            total = r["engines_total"]
            self.rows.append(Row(
                "B all engines (5, summed)", "—", n, total, _rate(n, total, "pos"), out.rss_mb,
                f"≤ {B_ABS:.0f} s" if at_target else "", _met(total <= B_ABS, out.rss_mb) if at_target else _met(None, out.rss_mb),
                ", ".join(f"{k.split('_')[0] if k != 'compute_option_greeks' else 'greeks'} {_fmt_s(v)}" for k, v in r["engine_seconds"].items())
                + f" ({r['options']} options); ×{r['speedup_all_engines']:,.1f} vs baseline",
                series="B-all", plot=True, cpu=r["engines_total_cpu"]))
            ext = r["baseline_extrapolated"]
            self.rows.append(Row(
                "B baseline: statsmodels OLS loop", "—", n, r["baseline_seconds"], _rate(n, r["baseline_seconds"], "pos"),
                out.rss_mb, "", "",
                (f"EXTRAPOLATED linearly from {r['baseline_timed_positions']:,} positions timed" if ext
                 else f"timed on all {n:,} positions") + f"; {7 * n:,} OLS fits",
                series="B-base", extrapolated=ext, plot=True, cpu=r["baseline_cpu_seconds"]))
            self.details.append(f"- **B {n:,} positions**: " + ", ".join(f"`{k}` {_fmt_s(v)}" for k, v in r["engine_seconds"].items())
                                + f"; baseline {r['baseline_seconds']:.2f} s{' (extrapolated)' if ext else ''}; "
                                f"speed-up single-factor ×{sp:,.1f}, all engines ×{r['speedup_all_engines']:,.1f}")
            self.say(f"   single {r['engine_seconds']['single_factor_betas']:.3f} s, all {total:.3f} s, baseline "
                     f"{r['baseline_seconds']:.2f} s{' (extrap.)' if ext else ''} → ×{sp:,.0f}; RSS {out.rss_mb:,.0f} MB")

    def scenario_c(self) -> None:
        n = self.plan["C"]
        if self.cap_size(n) < 0:
            self.notes.append(f"C skipped: the universe ({len(self.universe.symbols)} symbols) cannot hold {n:,} distinct positions")
            return
        folder, _key, info = self.make_drop(f"c{n}", n)
        for db in self.selected_dbs():
            self.say(f"C ingest {n:,} positions, {db}")
            url = self.dbs.fresh(db, f"c{n}")
            out = self.spawn("ingest", {"folder": str(folder)}, self.env(url, f"c{n}-{db}"), 600, f"c{n}-{db}")
            if not out.ok:
                self.rows.append(Row("C ingest total", db, n, None, "", out.rss_mb, "", "NO (failed)", f"FAILED: {out.error[:300]}"))
                self.say(f"   failed: {out.error[:300]}")
                continue
            r = out.result
            tgt = f"≤ {C_TARGET_PG:.0f} s" if db == "postgresql" else ""
            self.rows.append(Row("C validate (read_drop)", db, n, r["validate_s"], _rate(n, r["validate_s"], "rows"), out.rss_mb, "", _met(None, out.rss_mb), "pandera schema, every cell", cpu=r["validate_cpu_s"]))
            self.rows.append(Row("C write (write_client)", db, n, r["write_s"], _rate(n, r["write_s"], "rows"), out.rss_mb, "", _met(None, out.rss_mb),
                                 f"{r['inserted']:,} positions inserted in one transaction", cpu=r["write_cpu_s"]))
            self.rows.append(Row("C ingest total", db, n, r["seconds"], _rate(n, r["seconds"], "rows"), out.rss_mb,
                                 (tgt + ", ≤ 2 GB") if tgt else "≤ 2 GB",
                                 _met(r["seconds"] <= C_TARGET_PG if db == "postgresql" else None, out.rss_mb),
                                 f"unchanged re-write {r['rewrite_unchanged_s']:.2f} s (changed anything: {r['rewrite_changed_anything']})",
                                 plot=True, series=f"C-{db}", cpu=r["validate_cpu_s"] + r["write_cpu_s"]))
            self.say(f"   validate {r['validate_s']:.2f} s, write {r['write_s']:.2f} s, re-write {r['rewrite_unchanged_s']:.2f} s, RSS {out.rss_mb:,.0f} MB")

    def scenario_p(self) -> None:
        """A 100,000-row drop (every priceable equity + listed options, bench/big_drop.py) through
        read_drop, the pre-flight (cold price cache: market facts of every symbol) and write_client."""
        from bench.big_drop import big_positions

        n = self.plan["P"]
        try:
            frame = big_positions(self.load_universe(), n)
        except ValueError as exc:
            self.notes.append(f"P skipped: {exc}")
            return
        email = pf.client_email(f"p{n}")
        folder = pf.write_drop(self.run_dir / "imports", email, frame, self._hash())
        for db in self.selected_dbs():
            self.say(f"P pre-flight + ingest {n:,} rows, {db}")
            url = self.dbs.fresh(db, f"p{n}")
            out = self.spawn("preflight_ingest", {"folder": str(folder)}, self.env(url, f"p{n}-{db}"), 900, f"p{n}-{db}")
            if not out.ok:
                self.rows.append(Row("P drop to stored positions", db, n, None, "", out.rss_mb, "", "NO (failed)", f"FAILED: {out.error[:300]}"))
                self.say(f"   failed: {out.error[:300]}")
                continue
            r = out.result
            self.rows.append(Row("P drop to stored positions", db, n, r["seconds"], _rate(n, r["seconds"], "rows"), out.rss_mb,
                                 f"≤ {P_TARGET:.0f} s", _met(r["seconds"] <= P_TARGET, out.rss_mb),
                                 f"read_drop {r['validate_s']:.1f} s, pre-flight {r['preflight_s']:.1f} s (cold cache), "
                                 f"write {r['write_s']:.1f} s; {r['warnings']:,} warnings summarised", plot=False))
            self.say(f"   validate {r['validate_s']:.1f} s, pre-flight {r['preflight_s']:.1f} s, write {r['write_s']:.1f} s")

    def scenario_f(self) -> None:
        """F (issue 14): N clients end to end through dagster-daemon + Celery workers (deploy/), with 1
        and with 2 workers; clients/min, the ratio, a projection for 10,000 clients. Writes
        bench/results/issue14_F.md. PostgreSQL, RabbitMQ and Redis must be up."""
        from bench.scale_out import report, run_f
        from sigmasight_onboarding_tests.scale_out_cluster import reachable

        n = self.args.f_clients or self.plan["F"]
        problems = [p for p in (reachable(PG_ADMIN_URL, 5432), reachable("amqp://127.0.0.1:5672", 5672),
                                reachable("redis://127.0.0.1:6379", 6379)) if p]
        if problems:
            self.notes.append("F skipped: " + "; ".join(problems))
            return
        positions, sessions = self.args.f_positions, self.args.f_sessions
        symbols = None
        if positions > 4:  # a bigger book per client: symbols of the bench universe, priced by the same file
            symbols = list(self.load_universe().symbols)
            os.environ["SIGMASIGHT_MARKET_DATA_FILE"] = str(self.market_file)  # the cluster's processes inherit it
        results = []
        for workers in (1, 2):
            self.say(f"F {n} clients × {positions} positions × {sessions} sessions through the daemon on {workers} Celery worker(s)")
            try:
                r = run_f(n, workers, sessions=sessions, say=self.say, positions=positions, symbols=symbols)
            except Exception as exc:
                self.rows.append(Row(f"F daemon + {workers} Celery worker(s)", "postgresql", n, None, "", None, "", "NO (failed)",
                                     f"FAILED: {str(exc)[:300]}"))
                self.say(f"   failed: {str(exc)[:300]}")
                continue
            results.append(r)
            self.rows.append(Row(f"F daemon + {workers} Celery worker(s)", "postgresql", n, r["seconds"],
                                 f"{r['per_min']:.2f} clients/min", None, "2 w ≥ 1.6× 1 w" if workers == 2 else "", "",
                                 f"{r['runs']} runs ({r['failed_runs']} failed); first READY {r['first_ready_s']:.0f} s", plot=False))
            self.say(f"   {r['seconds']:.0f} s, {r['per_min']:.2f} clients/min")
        if results:
            text = report(results, f"{os.getloadavg()[0]:.1f}", os.cpu_count() or 0)
            name = "issue14_F.md" if (positions, sessions) == (4, 3) else f"issue14_F_{positions}p_{sessions}s.md"
            append_run(RESULTS / name, text, f"python -m bench --only F --f-clients {n} --f-positions {positions} "
                                             f"--f-sessions {sessions}")
            print(text)
            by_w = {r["workers"]: r for r in results}
            if 1 in by_w and 2 in by_w:
                ratio = by_w[2]["per_min"] / by_w[1]["per_min"]
                self.rows[-1].met = "yes" if ratio >= 1.6 else f"NO (×{ratio:.2f})"
                self.rows[-1].note += f"; ratio 2 w / 1 w = {ratio:.2f}×"

    def scenario_q(self) -> None:
        """Q: full-size price path — file provider -> stored, then the matrix read (issue 17 targets)."""
        uni = self.load_universe()
        symbols = list(uni.symbols)
        for db in self.selected_dbs():
            self.say(f"Q price path {len(symbols):,} symbols × 730 days, {db}")
            url = self.dbs.fresh(db, "q")
            out = self.spawn("price_path", {"symbols": symbols, "as_of": pf.AS_OF.isoformat(), "days": 730},
                             self.env(url, f"q-{db}"), 1200, f"q-{db}")
            if not out.ok:
                self.rows.append(Row("Q price cache write (file provider → stored)", db, len(symbols), None, "", out.rss_mb, "",
                                     "NO (failed)", f"FAILED: {out.error[:300]}"))
                self.say(f"   failed: {out.error[:300]}")
                continue
            r = out.result
            n = r["rows_added"]
            goal = Q_WRITE_TARGET[db]
            rate = n / r["write_s"] if r["write_s"] else 0.0
            self.rows.append(Row("Q price cache write (file provider → stored)", db, r["symbols"], r["write_s"],
                                 f"{rate:,.0f} rows/s", out.rss_mb, f"≥ {goal:,.0f} rows/s", _met(rate >= goal, out.rss_mb),
                                 f"{n:,} rows, {r['provider_calls']} provider call(s), {r['failures']} failures; "
                                 f"store_prices {r['store_s']:.2f} s ({n / r['store_s']:,.0f} rows/s, CPU {r['store_cpu_s']:.2f} s); "
                                 f"provider + validation {r['write_s'] - r['store_s']:.2f} s", cpu=r["write_cpu_s"]))
            self.rows.append(Row("Q matrix read (columnar)", db, r["cells"], r["read_s"], _rate(r["cells"], r["read_s"], "rows"),
                                 out.rss_mb, f"≤ {Q_READ_TARGET:.0f} s", _met(r["read_s"] <= Q_READ_TARGET, out.rss_mb),
                                 f"{r['sessions']} sessions × {r['symbols']:,} symbols; second read {r['read2_s']:.2f} s "
                                 f"(CPU {r['read2_cpu_s']:.2f} s)", cpu=r["read_cpu_s"]))
            self.say(f"   write {r['write_s']:.2f} s ({rate:,.0f} rows/s; store {r['store_s']:.2f} s), read {r['read_s']:.2f} s / "
                     f"{r['read2_s']:.2f} s; RSS {out.rss_mb:,.0f} MB")

    def scenario_m(self) -> None:
        uni = self.load_universe()
        n = min(self.plan["M"], len(uni.symbols))
        import numpy as np

        rng = np.random.default_rng(500)
        symbols = sorted(rng.choice(uni.symbols, size=n, replace=False).tolist())
        for db in self.selected_dbs():
            self.say(f"M backfill {n} symbols × 730 days, {db}")
            url = self.dbs.fresh(db, f"m{n}")
            out = self.spawn("market", {"symbols": symbols, "as_of": pf.AS_OF.isoformat(), "days": 730},
                             self.env(url, f"m{n}-{db}"), 900, f"m{n}-{db}")
            if not out.ok:
                self.rows.append(Row("M backfill (file provider)", db, n, None, "", out.rss_mb, "", "NO (failed)", f"FAILED: {out.error[:300]}"))
                self.say(f"   failed: {out.error[:300]}")
                continue
            r = out.result
            s = r["seconds"]
            self.rows.append(Row("M backfill (file provider)", db, n, s,
                                 f"{n / s:,.1f} sym/s, {r['rows_added'] / s:,.0f} rows/s", out.rss_mb, "≤ 2 GB", _met(None, out.rss_mb),
                                 f"{r['rows_added']:,} rows over {r['sessions']} sessions, {r['provider_calls']} provider call(s), "
                                 f"{r['failures']} failures, {r['gaps_recorded']} gaps", cpu=r["cpu_s"]))
            self.rows.append(Row("M no-op re-run", db, n, r["second_run_s"], "", out.rss_mb, "0 provider calls",
                                 "yes" if r["second_run_provider_calls"] == 0 else "NO",
                                 f"{r['second_run_provider_calls']} provider calls, {r['second_run_rows_added']} rows added"))
            self.say(f"   {s:.2f} s ({r['rows_added']:,} rows), no-op {r['second_run_s']:.2f} s with "
                     f"{r['second_run_provider_calls']} provider calls; RSS {out.rss_mb:,.0f} MB")

    def _timeseries_available(self) -> tuple[bool, str]:
        if not hasattr(self, "_ts"):
            out = self.spawn("probe_timeseries", {}, self.env("sqlite:///:memory:", "probe"), 300, "probe-timeseries")
            self._ts = (out.ok and out.result["available"], out.result.get("reason", "") if out.ok else out.error)
        return self._ts

    def scenario_d(self) -> None:
        available, reason = self._timeseries_available()
        if not available:
            self.say(f"D backfill: not available yet ({reason})")
            self.rows.append(Row("D backfill 250 sessions × 1 client", "—", self.plan["D_sessions"], None, "", None,
                                 f"≤ {D_TARGET:.0f} s", "—", f"not available yet: {reason}"))
            return
        folder, _key, _ = self.make_drop("d100", 100)
        for db in self.selected_dbs():
            self.say(f"D backfill {self.plan['D_sessions']} sessions, {db}")
            url = self.dbs.fresh(db, "d100")
            out = self.spawn("backfill_timeseries", {"folder": str(folder), "as_of": pf.AS_OF.isoformat(),
                                                     "sessions": self.plan["D_sessions"], "budget": self.plan["D_budget_s"]},
                             self.env(url, f"d-{db}"), 900, f"d-{db}")
            self._ts_row(out, "D backfill (100 positions)", db, self.plan["D_sessions"], D_TARGET, "sessions")
            if db == "sqlite":
                # the same range run with its events in Dagster's on-disk storage, as the project's dagster.yaml
                # configures it for dagster dev / the daemon (the row above: an in-memory instance, like the CLI)
                self.say(f"D backfill {self.plan['D_sessions']} sessions, {db}, on-disk Dagster instance")
                url = self.dbs.fresh(db, "d100-disk")
                out = self.spawn("backfill_timeseries", {"folder": str(folder), "as_of": pf.AS_OF.isoformat(),
                                                         "sessions": self.plan["D_sessions"], "budget": self.plan["D_budget_s"],
                                                         "dagster_home": str(self.run_dir / "state" / "d-dagster-home")},
                                 self.env(url, f"d-{db}-disk"), 900, f"d-{db}-disk")
                self._ts_row(out, "D backfill (100 positions), events on disk (dagster.yaml)", db, self.plan["D_sessions"],
                             D_TARGET, "sessions")

    def scenario_e(self) -> None:
        available, reason = self._timeseries_available()
        if not available:
            self.say(f"E daily refresh: not available yet ({reason})")
            self.rows.append(Row("E daily refresh 200 clients × 30", "—", self.plan["E_clients"], None, "", None,
                                 f"≤ {E_TARGET:.0f} s", "—", f"not available yet: {reason}"))
            return
        uni = self.load_universe()
        folders, symbols = [], set()
        for i in range(self.plan["E_clients"]):
            frame = pf.pool_client(uni, 30, seed=1000 + i)
            folders.append(str(pf.write_drop(self.run_dir / "imports", pf.client_email(f"e{i:03d}"), frame, self._hash())))
            symbols |= pf.price_symbols(frame)
        spec = {"folders": folders, "symbols": sorted(symbols), "as_of": pf.AS_OF.isoformat()}
        from sigmasight_onboarding.config import get_settings

        runs = get_settings().parallel_runs  # what the schedule uses here: SIGMASIGHT_PARALLEL_RUNS, or this box's CPUs
        for db in self.selected_dbs():
            self.say(f"E daily refresh {len(folders)} clients, {db}, one process")
            url = self.dbs.fresh(db, "e")
            env = dict(self.env(url, f"e-{db}"), SIGMASIGHT_PARALLEL_RUNS="1")  # the whole refresh as one run, in process
            out = self.spawn("daily_refresh", spec, env, 1200, f"e-{db}")
            self._ts_row(out, "E daily refresh (30 positions each), one run in one process", db, len(folders), E_TARGET,
                         "clients")
            self.say(f"E daily refresh {len(folders)} clients, {db}, {runs} runs side by side")
            url = self.dbs.fresh(db, "e-par")
            env = self.env(url, f"e-par-{db}")
            out = self.spawn("daily_refresh_parallel", dict(spec, dagster_home=str(self.run_dir / "state" / f"e-par-{db}-home")),
                             env, 1200, f"e-par-{db}")
            self._ts_row(out, f"E daily refresh (30 positions each), {runs} run processes side by side (the run queue; "
                              "events on disk)", db, len(folders), E_TARGET, "clients")

    def _ts_row(self, out: Outcome, scenario: str, db: str, n: int, target: float, unit: str) -> None:
        if not out.ok:
            self.rows.append(Row(scenario, db, n, None, "", out.rss_mb, "", "NO (failed)", f"FAILED: {out.error[:300]}"))
            return
        r = out.result
        if not r.get("available"):
            self.rows.append(Row(scenario, db, n, None, "", out.rss_mb, "", "—", f"not available yet: {r.get('reason')}"))
            return
        s = r["seconds"]
        note = f"{r['how']}; {r['done']}/{r['planned']} runs measured in {r['measured_s']:.1f} s"
        if r.get("first_run_s") is not None:
            note += f" (first {r['first_run_s']:.2f} s"
            note += f", then {r['later_mean_s']:.2f} s/run)" if r.get("later_mean_s") is not None else ")"
        if r.get("extrapolated"):
            note += f"; EXTRAPOLATED to {r['planned']}: first + {r['planned'] - 1} × mean(later)"
        if r.get("refresh_s") is not None:
            note += f"; daily_refresh {r['refresh_s']:.1f} s + time series {r['timeseries_s']:.1f} s"
        if r.get("setup_s") is not None:
            note += f"; setup {r['setup_s']:.0f} s untimed"
        note += f"; {r['failed_runs']} failed run(s)"
        if r.get("first_failure"):
            note += f"; first failure: {str(r['first_failure'])[:200]}"
        self.rows.append(Row(scenario, db, n, s, _rate(n, s, unit), out.rss_mb, f"≤ {target:.0f} s, ≤ 2 GB",
                             _met(s <= target and not r["failed_runs"], out.rss_mb), note,
                             extrapolated=bool(r.get("extrapolated")),
                             cpu=(r["cpu_s"] * s / r["measured_s"]) if r.get("measured_s") else None))
        self.say(f"   {s:.1f} s{' (extrapolated)' if r.get('extrapolated') else ''}; {note[:200]}")

    # -- profile -------------------------------------------------------------------------------------
    def profile(self) -> None:
        """pyinstrument profiles of scenario A at the largest size: the warm run (the spec target,
        cache pre-filled by the bench loader) and the cold run at the largest size that fits the
        cold cap (1,000 positions in the full plan)."""
        db = self.selected_dbs()[0]
        sizes = [n for n in self.plan["A"] if self.cap_size(n) > 0]
        largest = sizes[-1]
        cold_n = max(n for n in sizes if n <= 1_000) if any(n <= 1_000 for n in sizes) else sizes[0]
        for n, variant in ((largest, "warm"), (cold_n, "cold")):
            folder, key, _ = self.make_drop(f"p{n}-{variant}", n)
            url = self.dbs.fresh(db, f"p{n}{variant}")
            env = self.env(url, f"p{n}-{variant}-{db}")
            if variant == "warm":
                self.say(f"profile: pre-filling the price cache for {n:,} positions ({db})")
                w = self.spawn("warm_cache", {"folder": str(folder)}, env, 900, f"p{n}-warmcache")
                if not w.ok:
                    self.say(f"   cache warm-up failed: {w.error}")
            stem = RESULTS / f"profile_A_{variant}_{n}_{db}"
            self.say(f"profile: A {variant} {n:,} positions ({db}) under pyinstrument")
            out = self.spawn("onboard", {"key": key, "profile": str(stem), "profile_interval": 0.005}, env, 1800, f"p{n}-{variant}")
            if not out.ok:
                self.say(f"   profile run failed: {out.error}")
                continue
            prof = out.result["profile"]
            prof.update(variant=variant, size=n, db=db, seconds=out.result["seconds"], steps=out.result["steps"])
            self.rows.append(Row(f"A onboard, {variant} cache, UNDER PROFILER", db, n, out.result["seconds"],
                                 _rate(n, out.result["seconds"], "pos"), out.rss_mb, "", "—",
                                 f"pyinstrument 5 ms sampling; {Path(prof['html']).name}; steps: "
                                 + ", ".join(f"{k} {v:.1f}s" for k, v in out.result["steps"].items() if isinstance(v, (int, float))),
                                 cpu=out.result.get("cpu_s")))
            self.profiles.append(prof)
            print(f"\n--- profile: A {variant} cache, {n:,} positions, {db}: {out.result['seconds']:.1f} s under the "
                  f"profiler ({prof['html']}) ---")
            print("top functions by self time:")
            for line in prof["flat_top"][:15]:
                print("   " + line)
            print("call tree (head):")
            for line in prof["tree_head"][8:40]:
                print("   " + line)

    # -- report --------------------------------------------------------------------------------------
    def finish_rows(self) -> None:
        last: dict[str, Row] = {}
        for row in self.rows:
            if row.series and row.seconds and row.size:
                prev = last.get(row.series)
                if prev is not None and prev.seconds and prev.size and row.size != prev.size:
                    row.growth = (row.seconds / prev.seconds) / (row.size / prev.size)
                last[row.series] = row

    def write_report(self, total: float) -> Path:
        import dagster

        full_run = not self.args.quick and not self.args.only_given and self.args.db == "both"
        suffix = "" if full_run else ("_quick" if self.args.quick else ("_profile" if not self.args.scenarios else "_partial"))
        md_path = RESULTS / f"results{suffix}.md"
        png_path = RESULTS / f"timing{suffix}.png"
        peak = max((r.rss_mb for r in self.rows if r.rss_mb), default=None)
        lines = [
            "# SigmaSight onboarding benchmarks",
            "",
            f"Run {datetime.now():%Y-%m-%d %H:%M} — `python -m bench{' ' + ' '.join(sys.argv[1:]) if sys.argv[1:] else ''}` — "
            f"total {total / 60:.1f} min; peak RSS of any scenario {peak:,.0f} MB." if peak else f"total {total / 60:.1f} min.",
            "",
            f"Machine: {os.cpu_count()} CPU(s), {_mem_gb():.0f} GB RAM, {platform.platform()}; Python {platform.python_version()}, "
            f"Dagster {dagster.__version__}. 1-minute load average seen when scenarios started: "
            f"{min(self.loads):.1f} – {max(self.loads):.1f} (median {sorted(self.loads)[len(self.loads) // 2]:.1f}) on "
            f"{os.cpu_count()} CPUs{' — the machine was shared with other work, so wall times are inflated; CPU s is the worker process CPU time of the timed section (excludes the PostgreSQL server)' if max(self.loads) > (os.cpu_count() or 1) else ''}.",
            f"Market data: `{self.market_file}` ({'full real dataset' if self.full_dataset else 'SHIPPED EXTRACT — full dataset missing'}); "
            f"as-of {pf.AS_OF}; universe {len(self.universe.symbols) if self.universe else '?'} symbols with full coverage "
            f"{pf.WINDOW_START}..{pf.AS_OF}.",
            "",
            markdown_table(self.rows),
            "",
            "Growth = (time ratio) / (size ratio) against the previous size of the same series: 1.0 is linear, "
            "< 1 sub-linear, > 1 super-linear. `~… (extrap.)` marks figures that were extrapolated, not measured. "
            "Peak RSS is the worker process's `ru_maxrss` (one fresh process per measurement).",
            "",
        ]
        if self.notes:
            lines += ["## Notes", ""] + [f"- {n}" for n in self.notes] + [""]
        if self.details:
            lines += ["## Details", ""] + self.details + [""]
        if self.profiles:
            lines += ["## Profiles (pyinstrument)", ""]
            for p in self.profiles:
                lines += [f"### A {p['variant']} cache, {p['size']:,} positions, {p['db']} — {p['seconds']:.1f} s under the profiler",
                          "", f"HTML: `{Path(p['html']).relative_to(REPO)}`, text: `{Path(p['text']).relative_to(REPO)}`", "",
                          "Top functions by self time:", "", "```"] + p["flat_top"][:20] + ["```", ""]
        md_path.write_text("\n".join(lines))
        if full_run:
            update_readme("\n".join(lines))
        md_path.with_suffix(".json").write_text(json.dumps({"rows": [asdict(r) for r in self.rows], "notes": self.notes,
                                                            "total_s": total, "loads": self.loads}, indent=1, default=str))
        self.plot(png_path)
        return md_path

    def plot(self, path: Path) -> None:
        plot_rows([asdict(r) for r in self.rows], path)


def plot_rows(rows: list[dict], path: Path) -> None:
    """Log-log time vs positions: onboarding (A) and ingest (C) left, engines (B) right.
    Hollow markers = extrapolated/estimated points. Nothing is written without plottable rows."""
    if not any(r["plot"] and r["seconds"] and r["size"] for r in rows):
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = {"onboarding (A) and ingest (C)": ("A", "C"), "analytics engines (B)": ("B",)}
    targets = {"A": [(10, "A: 30 pos warm ≤ 10 s"), (60, "A: 10k pos warm ≤ 60 s")], "B": [(1, "B: 1,000 pos ≤ 1 s")]}
    fig, axes = plt.subplots(1, 2, figsize=(14, 6))
    for ax, (title, prefixes) in zip(axes, panels.items()):
        series: dict[str, list[dict]] = {}
        for r in rows:
            if r["plot"] and r["seconds"] and r["size"] and r["scenario"][0] in prefixes:
                label = f"{r['scenario']} [{r['db']}]" if r["db"] != "—" else r["scenario"]
                series.setdefault(label, []).append(r)
        for label, rs in series.items():
            xs, ys = [r["size"] for r in rs], [r["seconds"] for r in rs]
            style = "--" if ("cold" in label or "baseline" in label) else "-"
            marker = "s" if "postgresql" in label else "o"
            (line,) = ax.plot(xs, ys, style, marker=marker, label=label)
            ext = [(r["size"], r["seconds"]) for r in rs if r["extrapolated"]]
            if ext:
                ax.scatter(*zip(*ext), s=110, facecolors="white", edgecolors=line.get_color(), zorder=5, marker=marker)
        for p in prefixes:
            for y, txt in targets.get(p, []):
                ax.axhline(y, color="grey", lw=0.7, ls=":")
                ax.text(0.01, y * 1.07, txt, fontsize=7, color="grey", transform=ax.get_yaxis_transform())
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("positions")
        ax.set_ylabel("seconds (wall)")
        ax.set_title(title)
        ax.grid(True, which="both", lw=0.3)
        if series:
            ax.legend(fontsize=7, loc="upper left")
    fig.suptitle("SigmaSight onboarding benchmarks — time vs positions (log-log; hollow = extrapolated/estimated)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def append_run(path: Path, text: str, command: str) -> None:
    """Add a run's report to `path` as a dated section; the file's earlier runs and notes stay (a new file starts
    with the report's own heading)."""
    lines = text.rstrip("\n").splitlines()
    heading, body = (lines[0], lines[1:]) if lines and lines[0].startswith("# ") else ("", lines)
    stamp = time.strftime("%Y-%m-%d %H:%M")
    section = "\n".join([f"## Run of {stamp} (`{command}`)", *body]).rstrip("\n") + "\n"
    if path.exists():
        path.write_text(path.read_text().rstrip("\n") + "\n\n" + section)
    else:
        path.write_text((heading + "\n\n" if heading else "") + section)


def _prune_old_runs(keep: Path, runs_kept: int = 5) -> None:
    """Scratch space: drop SQLite files left by interrupted runs and all but the newest run folders."""
    import shutil

    runs = sorted((p for p in TMP.glob("run-*") if p.is_dir() and p != keep), key=lambda p: p.stat().st_mtime)
    for old in runs:
        shutil.rmtree(old / "db", ignore_errors=True)
    for old in runs[: max(0, len(runs) - (runs_kept - 1))]:
        shutil.rmtree(old, ignore_errors=True)


README = REPO / "bench" / "README.md"
README_START, README_END = "<!-- results:start -->", "<!-- results:end -->"


def update_readme(results_md: str) -> None:
    """Copy a full run's results.md into bench/README.md between the results markers."""
    if not README.exists():
        return
    text = README.read_text()
    if README_START not in text or README_END not in text:
        return
    body = results_md.replace("# SigmaSight onboarding benchmarks", "").strip()
    body = body.replace("\n## ", "\n### ")  # nest under the README's section
    head, rest = text.split(README_START, 1)
    _old, tail = rest.split(README_END, 1)
    README.write_text(f"{head}{README_START}\n_Copied from `bench/results/results.md` by the last full run._\n\n"
                      f"{body}\n{README_END}{tail}")


def _mem_gb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    except (ValueError, OSError):  # pragma: no cover
        return float("nan")


SCENARIOS = ("A", "B", "C", "P", "Q", "M", "D", "E", "F")


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller sizes (smoke run, ~2-3 min)")
    p.add_argument("--only", help="comma-separated scenarios: " + ",".join(SCENARIOS))
    p.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--profile", action="store_true",
                   help="pyinstrument profile of scenario A at the largest size (+ a cold run); "
                        "alone it runs only the profile, add --only to run scenarios too")
    p.add_argument("--budget-min", type=float, default=None,
                   help="cold runs skipped by --cold-cap are run at the end while the total stays within this many "
                        "minutes (default 13.5, quick 2.5; 0 disables)")
    p.add_argument("--no-fork", action="store_true",
                   help="start every scenario as a new interpreter instead of forking a pre-imported worker")
    p.add_argument("--cold-cap", type=float, default=None,
                   help="skip (and extrapolate) a cold onboarding run predicted longer than this many seconds")
    p.add_argument("--f-clients", type=int, default=None,
                   help="clients of scenario F (default 50, quick 10)")
    p.add_argument("--f-positions", type=int, default=4,
                   help="positions per client in scenario F (default 4: the e2e test's book; more: CPU-bound steps)")
    p.add_argument("--f-sessions", type=int, default=3,
                   help="sessions of time series per client in scenario F (SIGMASIGHT_ONBOARD_SESSIONS, default 3)")
    p.add_argument("--a-sizes", help="comma-separated sizes for scenario A (default the plan's)")
    args = p.parse_args(argv)
    args.only_given = bool(args.only) or args.profile
    if args.only:
        chosen = [s.strip().upper() for s in args.only.split(",") if s.strip()]
        bad = [s for s in chosen if s not in SCENARIOS]
        if bad:
            p.error(f"unknown scenario(s) {bad}; choose from {','.join(SCENARIOS)}")
        args.scenarios = chosen
    else:
        # P (a 100,000-row drop, minutes) and F (a daemon + Celery workers, many minutes) run only
        # when asked for: --only P / --only F
        args.scenarios = [] if args.profile else [s for s in SCENARIOS if s not in ("P", "F")]
    return args


def _terminate(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)  # clean up (scenario process, PostgreSQL databases) on kill
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # started in the background by a shell
        signal.signal(signal.SIGINT, _terminate)
    bench = Bench(args)
    order = [s for s in ("B", "M", "Q", "C", "P", "D", "E", "A", "F") if s in args.scenarios]  # cheap first, A (longest) last
    bench.say(f"plan: {'quick' if args.quick else 'full'}; scenarios {','.join(order) or '-'}"
              f"{' + profile' if args.profile else ''}; db {args.db}; work dir {bench.run_dir.relative_to(REPO)}")
    bench.load_universe()
    try:
        for s in order:
            getattr(bench, f"scenario_{s.lower()}")()
        bench.deferred_cold_runs()
        if args.profile:
            bench.profile()
    except KeyboardInterrupt:
        bench.notes.append("interrupted: partial results")
        print("interrupted — writing partial results")
    finally:
        if bench.zygote is not None:
            bench.zygote.close()
        bench.dbs.drop_all()
    total = time.perf_counter() - bench.t_start
    bench.finish_rows()
    print()
    print(markdown_table(bench.rows))
    for n in bench.notes:
        print(f"note: {n}")
    path = bench.write_report(total)
    peak = max((r.rss_mb for r in bench.rows if r.rss_mb), default=0)
    print(f"\ntotal runtime {total:,.0f} s ({total / 60:.1f} min); peak RSS of any scenario {peak:,.0f} MB; "
          f"1-min load average {min(bench.loads):.1f}-{max(bench.loads):.1f} on {os.cpu_count()} CPUs")
    print(f"written: {path.relative_to(REPO)} and {path.with_name(path.name.replace('results', 'timing')).with_suffix('.png').relative_to(REPO)}")
    return 0
