"""Progress of long CLI work (backfills, big onboardings): sessions done, rate and ETA.

    with session_progress(len(days), "alice@example.com") as tick:
        run_timeseries(key, days, instance, progress=tick)

`tick(i, n, day, result)` matches `run_timeseries`'s progress hook. A tqdm bar on stderr when
stderr is a terminal; nothing at all otherwise (logs, pipes, CI), unless `force=True`.
`SIGMASIGHT_PROGRESS=0` switches it off, `=1` forces it on.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

Tick = Callable[[int, int, Any, Any], None]


def progress_enabled(stream: TextIO | None = None) -> bool:
    setting = os.environ.get("SIGMASIGHT_PROGRESS", "").strip().lower()
    if setting in {"0", "false", "no", "off"}:
        return False
    if setting in {"1", "true", "yes", "on"}:
        return True
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


@contextmanager
def session_progress(total: int, label: str, *, stream: TextIO | None = None, force: bool | None = None) -> Iterator[Tick]:
    """A progress hook for `total` sessions; a no-op when progress is off."""
    stream = stream or sys.stderr
    enabled = progress_enabled(stream) if force is None else force
    if not enabled or total <= 0:
        yield lambda i, n, day, result: None
        return
    import shutil

    from tqdm import tqdm

    failed = 0
    size = shutil.get_terminal_size((100, 24))  # a fresh pty may report 0×0: tqdm would then print nothing
    bar = tqdm(total=total, desc=label, unit="session", file=stream, ncols=max(size.columns, 60), nrows=max(size.lines, 5),
               leave=True, mininterval=0.5,
               bar_format="{desc}: {n_fmt}/{total_fmt} sessions |{bar}| {rate_fmt} · ETA {remaining}{postfix}")

    def tick(i: int, n: int, day, result) -> None:
        nonlocal failed
        if result is not None and not getattr(result, "success", True):
            failed += 1
        bar.set_postfix_str(f"{day}" + (f" · {failed} failed" if failed else ""), refresh=False)
        bar.update(i - bar.n)

    try:
        yield tick
    finally:
        bar.close()
