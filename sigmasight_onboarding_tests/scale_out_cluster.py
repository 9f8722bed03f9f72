"""A real scale-out deployment on one machine, for the end-to-end test and `python -m bench` (F).

`ScaleOutCluster` uses the files in `deploy/` as they are — `deploy/dagster.yaml` (PostgreSQL
storage, queued runs with one run per client, run monitoring, run retries), `deploy/dagster.env`
(the environment of every Dagster process: batched event writes, the code server's address),
`deploy/celery.yaml` (RabbitMQ broker, Redis results, late acks) and `deploy/workspace.yaml` (the
code location as its own `dagster code-server start` process) — with only the queue name made
unique per run (so stray workers elsewhere can never take its tasks), the code server on a free
port and, when asked, the broker and backend URLs replaced. It creates two throw-away PostgreSQL
databases (Dagster storage, the SigmaSight database), starts N `dagster-celery worker start`
processes, the code server and `dagster-daemon run` on a temporary DAGSTER_HOME, switches the
three sensors on with `dagster sensor start`, and stops every process it started by PID (process
group) on exit, then drops the databases. Nothing is purged on the broker: its own queue is
deleted at the end, other queues are never touched.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from sigmasight_onboarding_tests.backend_server import free_port

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent
SENSORS = ("client_drop_sensor", "onboarding_timeseries_sensor", "verification_sensor")
PG_ADMIN_URL = os.environ.get("SIGMASIGHT_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
STOCKS = ("AAPL", "MSFT", "GOOGL", "AMZN", "JPM", "JNJ", "XOM", "PG", "KO", "PEP", "WMT", "HD", "V", "MA", "NVDA",
          "LLY", "CVX", "MRK", "ABBV", "COST", "DIS", "CSCO", "INTC", "ORCL", "IBM", "MCD", "NKE", "SPY", "QQQ", "T")


def reachable(url: str, default_port: int) -> str | None:
    """None when host:port of `url` accepts a TCP connection, else the problem."""
    parsed = make_url(url.replace("amqp://", "postgresql://").replace("redis://", "postgresql://"))
    host, port = parsed.host or "127.0.0.1", parsed.port or default_port
    try:
        socket.create_connection((host, port), timeout=3).close()
        return None
    except OSError as exc:
        return f"{host}:{port} not reachable ({exc})"


def deploy_env(path: Path = DEPLOY / "dagster.env") -> dict[str, str]:
    """The variables of deploy/dagster.env (python-dotenv, which Dagster itself depends on, parses
    it as a shell would source it): the environment the deployment gives every Dagster process."""
    from dotenv import dotenv_values

    return {key: value for key, value in dotenv_values(path).items() if value is not None}


def client_email(i: int, prefix: str = "scale") -> str:
    return f"{prefix}{i:03d}@example.com"


def small_book(i: int, positions: int = 4) -> list[tuple[str, int, str]]:
    """(symbol, quantity, entry price) rows of client i: `positions` stocks, quantities unique per client."""
    picks = [STOCKS[(i * 3 + k) % len(STOCKS)] for k in range(positions)]
    return [(sym, 100 + 10 * i + k, f"{50 + k * 25}.{i % 100:02d}") for k, sym in enumerate(picks)]


def write_small_drop(imports: Path, email: str, book) -> Path:
    """A drop folder: client.json + portfolio.csv, written into a dot-folder then renamed (atomic)."""
    staging = imports / f".staging-{email}"
    staging.mkdir(parents=True)
    client = {"email": email, "full_name": f"Client {email.split('@')[0]}", "password": "Correct-Horse-Battery-9",
              "portfolio_name": "Scale-out Portfolio", "portfolio_description": "scale-out test", "currency": "USD"}
    (staging / "client.json").write_text(json.dumps(client))
    header = "symbol,quantity,entry_price,position_type,entry_date,tags,underlying_symbol,strike_price,expiration_date\n"
    rows = "".join(f"{sym},{qty},{price},LONG,2024-01-15,Core,,,\n" for sym, qty, price in book)
    (staging / "portfolio.csv").write_text(header + rows)
    target = imports / email
    staging.rename(target)
    return target


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def stop_process(proc: Proc, timeout: float = 30) -> None:
    """SIGTERM to the process group the harness created for `proc` (its own session), then SIGKILL."""
    if proc.popen.poll() is None:
        try:
            os.killpg(proc.popen.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    try:  # the group may outlive its leader (celery's pool children): make sure it is gone
        os.killpg(proc.popen.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if proc.popen.poll() is None:
        proc.popen.wait(timeout=10)


@dataclass
class ScaleOutCluster:
    root: Path
    workers: int = 2
    sessions: int = 3
    worker_concurrency: int = 1
    broker_url: str | None = None   # None: deploy/celery.yaml's
    backend_url: str | None = None
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    procs: list[Proc] = field(default_factory=list)
    worker_procs: list[Proc] = field(default_factory=list)
    killed: list[Proc] = field(default_factory=list)

    # -------------------------------------------------------------------------------- set-up
    def __post_init__(self):
        self.root = Path(self.root)
        self.home = self.root / "dagster_home"
        self.imports = self.root / "imports"
        self.queue = f"sigmasight-test-{self.tag}"
        self.admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        self.databases: list[str] = []

    def _create_database(self, suffix: str) -> str:
        name = f"sigmasight_scale_{self.tag}_{suffix}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.databases.append(name)
        return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def celery_config(self) -> dict:
        """deploy/celery.yaml with this cluster's queue (and broker/backend when given)."""
        parsed = yaml.safe_load((DEPLOY / "celery.yaml").read_text())
        config = parsed["execution"]["config"]
        config["config_source"]["task_default_queue"] = self.queue
        if self.broker_url:
            config["broker"] = self.broker_url
        if self.backend_url:
            config["backend"] = self.backend_url
        return parsed

    def config_urls(self) -> tuple[str, str]:
        """(broker, result backend) this cluster uses."""
        config = self.celery_config()["execution"]["config"]
        return config["broker"], config["backend"]

    def start(self) -> "ScaleOutCluster":
        from sigmasight_onboarding.db import engine as db_engine

        self.home.mkdir(parents=True)
        self.imports.mkdir(parents=True)
        (self.home / "dagster.yaml").write_text((DEPLOY / "dagster.yaml").read_text())  # unchanged
        self.celery_yaml = self.root / "celery.yaml"
        self.celery_yaml.write_text(yaml.safe_dump(self.celery_config(), sort_keys=False))
        self.config = self.celery_config()["execution"]["config"]
        self.dagster_pg_url = self._create_database("dagster")
        self.db_url = self._create_database("app")
        db_engine.get_engine(self.db_url)  # migrate once, before any step runs
        db_engine.dispose_all()
        self.workspace = self.root / "workspace.yaml"
        self.workspace.write_text((DEPLOY / "workspace.yaml").read_text())  # unchanged: the code location's own server
        self.env = {
            **os.environ,
            **deploy_env(),  # deploy/dagster.env, as every host of the deployment loads it
            "DAGSTER_HOME": str(self.home),
            "DAGSTER_PG_URL": self.dagster_pg_url,
            "PYTHONPATH": str(REPO),
            # dagster-celery execs `celery` from PATH: the venv's, also when it is not activated
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "SIGMASIGHT_EXECUTOR": "celery",
            "SIGMASIGHT_CELERY_CONFIG": str(self.celery_yaml),
            "SIGMASIGHT_DATABASE_URL": self.db_url,
            "SIGMASIGHT_IMPORTS_DIR": str(self.imports),
            "SIGMASIGHT_STATE_DIR": str(self.root / "state"),
            "SIGMASIGHT_BCRYPT_ROUNDS": "4",
            "SIGMASIGHT_DROP_SETTLE_SECONDS": "0",
            "SIGMASIGHT_ONBOARD_SESSIONS": str(self.sessions),
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            # deploy/dagster.env's host, on a port of its own (clusters of parallel tests never share a server)
            "SIGMASIGHT_CODE_SERVER_PORT": str(free_port()),
        }
        self.env.pop("SIGMASIGHT_ENV", None)
        # Dagster's storage is created once, before any process opens the instance: workers, daemon and
        # `dagster sensor start` started together on an empty database race to CREATE TABLE and one dies
        # with "relation instance_info already exists" (seen in CI). The README's deploy steps do the same.
        subprocess.run([str(BIN / "dagster"), "instance", "migrate"], env=self.env, cwd=str(REPO), check=True,
                       capture_output=True, text=True, timeout=240)
        for i in range(self.workers):
            self.start_worker(i + 1)
        self.start_code_server()
        return self

    def start_code_server(self, timeout: float = 180, attempts: int = 3) -> Proc:
        """The standard command (deploy/workspace.yaml): `dagster code-server start -m sigmasight_onboarding.definitions
        --location-name sigmasight_onboarding -h HOST -p PORT`; returns once it answers a health check. The daemon and
        every `dagster` CLI call of the cluster load the code location from it (deploy/workspace.yaml) and never start
        a code server of their own. A server that exits while starting (its free port taken in the meantime) is
        started again on another free port."""
        host = self.env["SIGMASIGHT_CODE_SERVER_HOST"]
        for attempt in range(1, attempts + 1):
            port = self.env["SIGMASIGHT_CODE_SERVER_PORT"]
            self.code_server = self._spawn("code_server", [
                str(BIN / "dagster"), "code-server", "start", "-m", "sigmasight_onboarding.definitions",
                "--location-name", "sigmasight_onboarding", "-h", host, "-p", port])
            deadline = time.monotonic() + timeout
            while self.code_server.alive():
                healthy = subprocess.run([str(BIN / "dagster"), "api", "grpc-health-check", "-h", host, "-p", port],
                                         env=self.env, capture_output=True, timeout=60).returncode == 0
                if healthy:
                    time.sleep(1)  # answered: and still ours (a server that lost the port race has exited by now)
                    if self.code_server.alive():
                        return self.code_server
                if time.monotonic() > deadline:
                    raise TimeoutError(f"code server not serving after {timeout} s:\n{self.code_server.tail()}")
                time.sleep(1)
            stop_process(self.code_server)  # its process group: the server it had started, if any
            self.procs.remove(self.code_server)
            if attempt == attempts:
                raise RuntimeError(f"code server exited ({self.code_server.popen.returncode}):\n{self.code_server.tail()}")
            self.env["SIGMASIGHT_CODE_SERVER_PORT"] = str(free_port())
        raise AssertionError("unreachable")

    def _spawn(self, name: str, args: list[str]) -> Proc:
        log = self.root / f"{name}.log"
        with open(log, "w") as out:
            popen = subprocess.Popen(args, env=self.env, cwd=str(REPO), stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)  # own process group: stopped (or killed) as a whole
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def worker_name(self, i: int) -> str:
        """Worker i's Celery hostname (dagster-celery appends @host to -n)."""
        return f"w{i}-{self.tag}@{socket.gethostname()}"

    def start_worker(self, i: int) -> Proc:
        """The standard command: `dagster-celery worker start -A dagster_celery.app -y <celery.yaml> -q <queue>`."""
        proc = self._spawn(f"worker{i}", [
            str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app", "-y", str(self.celery_yaml),
            "-q", self.queue, "-n", f"w{i}-{self.tag}", "--", f"--concurrency={self.worker_concurrency}",
            "--without-gossip", "--without-mingle", "--without-heartbeat"])
        self.worker_procs.append(proc)
        return proc

    def dagster(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "dagster"), *args, "-w", str(self.workspace)], env=self.env, cwd=str(REPO),
                              check=True, capture_output=True, text=True, timeout=240)

    def start_daemon(self) -> Proc:
        self.daemon = self._spawn("daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(self.workspace)])
        return self.daemon

    def switch_automation_on(self) -> None:
        """Dagster's own machinery: `dagster sensor start NAME` for each sensor (in parallel)."""
        calls = [subprocess.Popen([str(BIN / "dagster"), "sensor", "start", name, "-w", str(self.workspace)],
                                  env=self.env, cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for name in SENSORS]
        for name, call in zip(SENSORS, calls):
            out, _ = call.communicate(timeout=240)
            if call.returncode:
                raise RuntimeError(f"dagster sensor start {name} failed ({call.returncode}):\n{out[-3000:]}")

    def wait_workers_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        for proc in self.worker_procs:
            while "ready." not in proc.tail(200_000):
                if not proc.alive():
                    raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.tail()}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{proc.name} not ready after {timeout} s:\n{proc.tail()}")
                time.sleep(0.5)

    # -------------------------------------------------------------------------------- tear-down
    def stop(self) -> None:
        errors = []
        for proc in reversed(self.procs):
            try:
                stop_process(proc)
            except Exception as exc:  # pragma: no cover - keep stopping the others
                errors.append(f"{proc.name}: {exc}")
        self._delete_queue()
        self._delete_results()
        from sigmasight_onboarding.db import engine as db_engine

        db_engine.dispose_all()
        for name in self.databases:
            with self.admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()
        if errors:
            raise RuntimeError("; ".join(errors))

    def _delete_queue(self) -> None:
        """Delete this cluster's own queue on the broker (and nothing else)."""
        try:
            from kombu import Connection

            with Connection(self.config["broker"], connect_timeout=5) as conn:
                channel = conn.channel()
                channel.queue_delete(self.queue)
        except Exception:
            pass

    def _delete_results(self) -> None:
        """Delete this cluster's task results from the Redis backend (they name its workers, w<i>-<tag>@host)."""
        backend = self.config.get("backend", "") if hasattr(self, "config") else ""
        if not backend.startswith("redis://"):
            return
        try:
            import redis

            client = redis.Redis.from_url(backend, socket_timeout=5)
            marker = f"-{self.tag}@".encode()
            for key in client.scan_iter(match="celery-task-meta-*", count=500):
                value = client.get(key)
                if value and marker in value:
                    client.delete(key)
            client.close()
        except Exception:
            pass

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()

    # -------------------------------------------------------------------------------- checks
    def group_commands(self, proc: Proc) -> list[str]:
        """Command lines of the processes in `proc`'s process group (Linux /proc)."""
        out = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                pgrp = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2])
                if pgrp == proc.popen.pid:
                    out.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip())
            except (OSError, IndexError, ValueError):
                continue
        return out

    def check_alive(self) -> None:
        for proc in self.procs:
            if proc in self.killed:
                continue
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.tail()}")


    def states(self, emails) -> dict[str, str]:
        from sigmasight_onboarding.db.engine import get_engine
        from sigmasight_onboarding.db.onboarding_state import onboarding_state

        engine = get_engine(self.db_url, migrate_schema=False)
        return {email: onboarding_state(engine, email).state for email in emails}

    def wait_ready(self, emails, timeout: float, on_poll=None) -> float:
        """Seconds until every client is READY; raises with the processes' logs on timeout."""
        start = time.monotonic()
        while True:
            states = self.states(emails)
            if all(s == "READY" for s in states.values()):
                return time.monotonic() - start
            rejected = sorted(e for e, s in states.items() if s == "REJECTED")
            if rejected:
                raise AssertionError(f"drops rejected: {rejected}\n" + self.diagnostics())
            self.check_alive()
            if on_poll is not None:
                on_poll()
            if time.monotonic() - start > timeout:
                waiting = {e: s for e, s in states.items() if s != "READY"}
                raise TimeoutError(f"not READY after {timeout:.0f} s: {waiting}\n" + self.diagnostics())
            time.sleep(1)

    def wait_runs_finished(self, instance, timeout: float = 120) -> None:
        """Until no run is queued or in flight (READY is written before the report step ends)."""
        from dagster import RunsFilter
        from dagster._core.storage.dagster_run import NOT_FINISHED_STATUSES

        deadline = time.monotonic() + timeout
        while instance.get_runs(filters=RunsFilter(statuses=NOT_FINISHED_STATUSES)):
            self.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"runs still in flight after {timeout:.0f} s\n" + self.diagnostics())
            time.sleep(1)

    def timeline(self, instance) -> str:
        """One line per run: job, client, status, start/end seconds from the first run's start."""
        records = sorted(instance.get_run_records(), key=lambda r: r.start_time or r.create_timestamp.timestamp())
        t0 = min((r.create_timestamp.timestamp() for r in records), default=0)
        lines = []
        for r in records:
            run = r.dagster_run
            client = run.tags.get("sigmasight/client") or run.tags.get("dagster/partition", "")
            start = f"{r.start_time - t0:6.1f}" if r.start_time else "     -"
            end = f"{r.end_time - t0:6.1f}" if r.end_time else "     -"
            lines.append(f"{r.create_timestamp.timestamp() - t0:6.1f} {start} {end}  {run.job_name:20s} {client:28s} {run.status.value}")
        return "created  start    end\n" + "\n".join(lines)

    def diagnostics(self) -> str:
        parts = []
        for proc in self.procs:
            parts.append(f"--- {proc.name} ({'alive' if proc.alive() else proc.popen.returncode})\n{proc.tail(2500)}")
        return "\n".join(parts)

