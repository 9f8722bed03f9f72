"""The collector settings of processes that load the code location (`interpreter.py`), observed from a real
child interpreter: the young generation's threshold is raised; at exit the handler runs after every handler
registered later, closes the database connections (a SQLite database is left as one checkpointed file) and
freezes the heap."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sigmasight_onboarding.interpreter import YOUNG_GENERATION_THRESHOLD

# The probe is registered BEFORE the code location is imported: atexit runs handlers last-in first-out,
# so it runs after the project's handler and sees what that handler left.
CHILD = """
import atexit, gc, json, sys
def probe():
    from sigmasight_onboarding.db import engine
    print(json.dumps({"frozen": gc.get_freeze_count(), "engines_open": len(engine._engines),
                      "threshold": gc.get_threshold()}), flush=True)
atexit.register(probe)
import sigmasight_onboarding.definitions
from sqlalchemy import text
from sigmasight_onboarding.db.engine import get_engine
with get_engine(sys.argv[1]).begin() as conn:
    conn.execute(text("UPDATE onb_factor_definitions SET description = description"))
"""


def gc_defaults() -> list[int]:
    """The thresholds of a plain interpreter of this Python (700, 10, 10 on CPython 3.11)."""
    done = subprocess.run([sys.executable, "-c", "import gc; print(list(gc.get_threshold()))"], capture_output=True, text=True,
                          timeout=60, check=True)
    return json.loads(done.stdout)


def _child(url: str) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, url], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_process_that_loads_the_code_location_collects_less_often_and_closes_its_connections_and_freezes_the_heap_at_exit(db_url):
    seen = _child(db_url)
    assert seen["engines_open"] == 0  # dispose_all ran before the interpreter's teardown
    assert seen["frozen"] > 100_000  # the heap moved to the permanent generation: no final collection to run
    default = gc_defaults()
    assert seen["threshold"] == [max(default[0], YOUNG_GENERATION_THRESHOLD), *default[1:]]  # young raised, older kept


def test_the_sqlite_database_is_one_checkpointed_file_after_the_process_exits(tmp_path):
    path = tmp_path / "exit.db"
    _child(f"sqlite:///{path.as_posix()}")
    wal = Path(str(path) + "-wal")
    assert path.stat().st_size > 0
    assert not wal.exists() or wal.stat().st_size == 0  # the last connection closed cleanly and checkpointed
