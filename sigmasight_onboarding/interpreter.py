"""Garbage-collector settings for the processes that load this code location (run workers, the code
server, Celery workers, the CLI, the test session): `configure_interpreter`, called once per process.

A process that imported Dagster, pandas, SQLAlchemy and pandera holds millions of long-lived objects,
and CPython's collector, tuned for small programs, keeps scanning them:

* **During a run.** With the default thresholds (700, 10, 10) a new object generation is collected every
  700 net allocations, and every 100th of those collections is a full one over the whole heap. A daily
  refresh of 200 clients (scenario E) made 2,519 young, 228 middle and 9 full collections: 2.3 s of
  collector time, 1.7 s of it in the full ones. With a young generation of `YOUNG_GENERATION_THRESHOLD`
  (10,000) objects it made 122, 11 and 1: 0.9 s. Garbage in reference cycles lives a little longer (at most
  10,000 allocations); memory use does not change measurably.
* **At exit.** CPython runs a last full collection over everything still alive before it tears the modules
  down: 0.7 s for a bare import of the code location, 1–2 s for the CLI after an onboarding — CPU spent
  freeing memory the operating system takes back anyway. An `atexit` handler closes the pooled database
  connections (`db.engine.dispose_all`: PostgreSQL sees each session end cleanly, a SQLite database is left
  checkpointed) and then calls `gc.freeze()`, which moves every object to the permanent generation, so that
  last collection has nothing to scan. atexit is last-in, first-out: the handlers registered later
  (Dagster's, logging's, tempfile's clean-ups) run first. Objects are still released by reference counting
  as the modules are cleared; only reference cycles are left to the operating system.

`python -m bench.interpreter` measures both against a process without them.
"""

from __future__ import annotations

import atexit
import gc
import sys

#: Net allocations between two collections of the youngest generation (CPython's default: 700).
YOUNG_GENERATION_THRESHOLD = 10_000

_configured = False


def configure_interpreter() -> None:
    """Raise the young generation's threshold and register the quick exit; once per process (idempotent)."""
    global _configured
    if _configured:
        return
    _configured = True
    young, middle, old = gc.get_threshold()
    if young:  # 0: the collector was switched off on purpose; leave it so
        gc.set_threshold(max(young, YOUNG_GENERATION_THRESHOLD), middle, old)
    atexit.register(_before_interpreter_teardown)


def _before_interpreter_teardown() -> None:
    engine_module = sys.modules.get("sigmasight_onboarding.db.engine")  # never imported at exit
    if engine_module is not None:
        try:
            engine_module.dispose_all()
        except Exception:  # noqa: BLE001 - a connection that cannot close cleanly is closed by the OS
            pass
    gc.freeze()
