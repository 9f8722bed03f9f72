"""NYSE trading sessions (XNYS) from `exchange_calendars`: holidays are not data gaps.

Building the calendar costs ~0.4 s (importing the library and evaluating 27 years of holiday rules),
and every process that loads the code location needs it: the date partitions are built from it. Its
sessions (2000-01-01 to a year ahead, as `exchange_calendars` builds them) are therefore kept in
`<state dir>/cache/xnys-sessions-<exchange_calendars version>-<day built>.npy`, an array of days read in a
millisecond: built again each day (the library's calendar ends a year after the day it is built) and
with each version of the library (holiday rules change only with it). A file that cannot be read or
written is ignored: the calendar is then built as before. The answers come from that sorted array; a
day outside it is answered by `exchange_calendars` itself (same results, same errors).
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from sigmasight_onboarding.files import atomic_write

CALENDAR_START = "2000-01-01"
_CACHE_PREFIX = "xnys-sessions-"


@lru_cache(maxsize=1)
def _xnys():
    import exchange_calendars as xcals

    return xcals.get_calendar("XNYS", start=CALENDAR_START)


def _cache_file() -> Path | None:
    """The sessions file of today and the installed `exchange_calendars`, under the state folder; None when
    the settings cannot say where that is."""
    from importlib.metadata import version

    try:
        from sigmasight_onboarding.config import get_settings

        folder = get_settings().state_dir / "cache"
        library = version("exchange_calendars")
    except Exception:  # noqa: BLE001 - no usable settings: no file, built in memory
        return None
    return folder / f"{_CACHE_PREFIX}{library}-{CALENDAR_START}-{date.today().isoformat()}.npy"


@lru_cache(maxsize=1)
def _sessions() -> np.ndarray:
    """Every session of the calendar, sorted, as ``datetime64[D]``."""
    path = _cache_file()
    if path is not None and path.is_file():
        try:
            days = np.load(path, allow_pickle=False)
            if days.dtype == np.dtype("datetime64[D]") and days.ndim == 1 and len(days):
                return days
        except (OSError, ValueError):
            pass  # unreadable or foreign: built again below
    days = _xnys().sessions.to_numpy().astype("datetime64[D]")
    if path is not None:
        _store(path, days)
    return days


def _store(path: Path, days: np.ndarray) -> None:
    """Write `days` to `path` atomically (a reader sees the old file or the whole new one) and remove the
    files of earlier days or versions; any OSError leaves things as they are."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda fh: np.save(fh, days, allow_pickle=False))
        for old in path.parent.glob(f"{_CACHE_PREFIX}*.npy"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:
        pass


def _index(day: date, side: str) -> int:
    return int(np.searchsorted(_sessions(), np.datetime64(day, "D"), side=side))


def _within(day: date) -> bool:
    days = _sessions()
    return days[0] <= np.datetime64(day, "D") <= days[-1]


def sessions_between(start: date, end: date) -> list[date]:
    """NYSE sessions in [start, end], inclusive, as `datetime.date`s (empty when start > end)."""
    if start > end:
        return []
    return _sessions()[_index(start, "left"):_index(end, "right")].astype(object).tolist()


def is_session(day: date) -> bool:
    """True when the NYSE is open on `day`."""
    if not _within(day):
        return bool(_xnys().is_session(pd.Timestamp(day)))
    i = _index(day, "left")
    return bool(_sessions()[i] == np.datetime64(day, "D"))


def previous_session(day: date) -> date:
    """The last NYSE session strictly before `day`."""
    i = _index(day, "left") - 1
    if not _within(day) or i < 0:
        cal, ts = _xnys(), pd.Timestamp(day)
        if cal.is_session(ts):
            return cal.previous_session(ts).date()
        return cal.date_to_session(ts, direction="previous").date()
    return _sessions()[i].astype(object)


def last_sessions(end: date, count: int) -> list[date]:
    """The `count` most recent sessions on or before `end`, oldest first."""
    stop = _index(end, "right")
    if not _within(end) or count < 1 or stop - count < 0:
        cal, ts = _xnys(), pd.Timestamp(end)
        if not cal.is_session(ts):
            ts = cal.date_to_session(ts, direction="previous")
        return [s.date() for s in cal.sessions_window(ts, -count)]
    return _sessions()[stop - count:stop].astype(object).tolist()
