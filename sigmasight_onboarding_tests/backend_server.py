"""The real SigmaSight backend as a test fixture (never imported: run in its own virtualenv).

`../shared/reference/sigmasight-backend` (beside the repository) is copied to a writable folder
in the user's cache (`$XDG_CACHE_HOME`, else `~/.cache`, `/sigmasight-onboarding/sigmasight-backend`)
and installed once from its `requirements.lock.txt` into a virtualenv there — re-installed when the
lock file or the source tree (names and sizes) changes, so every checkout and every CI clone on the
machine shares one ~700 MB install instead of paying ~80 s each. The install holds a file lock:
pytest-xdist workers (the two contract tests can land on two) and other checkouts install one at a
time instead of deleting each other's half-built folder. Its Alembic migrations and factor seed run
against a throw-away PostgreSQL database; uvicorn serves it on a free local port; `stop()` ends it by PID.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
BACKEND_SOURCE = REPO.parent / "shared" / "reference" / "sigmasight-backend"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sigmasight-onboarding"
STATE = CACHE / "sigmasight-backend"


def backend_available() -> bool:
    return (BACKEND_SOURCE / "requirements.lock.txt").is_file()


def _lock_digest() -> str:
    """Digest of the lock file and of the source tree's file names and sizes: what the install depends on."""
    digest = hashlib.sha256((BACKEND_SOURCE / "requirements.lock.txt").read_bytes())
    for path in sorted(BACKEND_SOURCE.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(f"{path.relative_to(BACKEND_SOURCE)}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


def install() -> tuple[Path, Path]:
    """(source copy, virtualenv python), installing on first use or when the lock changed."""
    src, venv = STATE / "src", STATE / "venv"
    stamp = STATE / f"installed-{_lock_digest()}"
    python = venv / "bin" / "python"
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / "sigmasight-backend.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes (also if this process dies)
        if stamp.exists() and python.exists() and src.is_dir():
            return src, python
        if STATE.exists():
            shutil.rmtree(STATE)
        STATE.mkdir(parents=True)
        shutil.copytree(BACKEND_SOURCE, src, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for path in [src, *src.rglob("*")]:  # the shared copy is read-only; pip -e . writes egg-info
            path.chmod(path.stat().st_mode | 0o200)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r", "requirements.lock.txt"],
                       cwd=src, check=True, stdout=subprocess.DEVNULL)
        stamp.write_text("ok\n")
        return src, python


def _env(db_name: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGMASIGHT_", "DAGSTER_", "PYTHON"))}
    env.update(DATABASE_URL=f"postgresql+asyncpg://postgres@127.0.0.1:5432/{db_name}",
               SECRET_KEY="contract-test-secret", POLYGON_API_KEY="unused", OPENAI_API_KEY="unused")
    return env


def migrate_and_seed(db_name: str) -> None:
    """The backend's own `alembic upgrade head` and factor seed (production shape a)."""
    src, python = install()
    env = _env(db_name)
    subprocess.run([str(python), "-m", "alembic", "upgrade", "head"], cwd=src, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run([str(python), "-c", "import asyncio\nfrom app.db.seed_factors import main\nasyncio.run(main())"],
                   cwd=src, env=env, check=True, stdout=subprocess.DEVNULL)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now (this fixture's server, the scale-out harness's code server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningBackend:
    url: str
    process: subprocess.Popen
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def start(db_name: str, log_dir: Path) -> RunningBackend:
    """uvicorn app.main:app on a free port; waits until it answers (≤ 60 s)."""
    src, python = install()
    port = free_port()
    log = log_dir / "sigmasight-backend.log"
    with log.open("wb") as handle:  # the child keeps its own copy of the file descriptor
        process = subprocess.Popen(
            [str(python), "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)],
            cwd=src, env=_env(db_name), stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    backend = RunningBackend(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the backend exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(backend.url + "/docs", timeout=2).status_code == 200:
                return backend
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    backend.stop()
    raise RuntimeError(f"the backend did not answer within 60 s:\n{log.read_text()[-3000:]}")
