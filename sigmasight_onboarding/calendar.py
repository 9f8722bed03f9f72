"""NYSE trading sessions (XNYS) from `exchange_calendars`: holidays are not data gaps."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import pandas as pd

import exchange_calendars as xcals


@lru_cache(maxsize=1)
def _xnys():
    return xcals.get_calendar("XNYS", start="2000-01-01")


def sessions_between(start: date, end: date) -> list[date]:
    """NYSE sessions in [start, end], inclusive, as `datetime.date`s (empty when start > end)."""
    if start > end:
        return []
    cal = _xnys()
    start = max(start, cal.first_session.date())
    end = min(end, cal.last_session.date())
    if start > end:
        return []
    return [ts.date() for ts in cal.sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))]


def is_session(day: date) -> bool:
    """True when the NYSE is open on `day`."""
    return _xnys().is_session(pd.Timestamp(day))


def previous_session(day: date) -> date:
    """The last NYSE session strictly before `day`."""
    cal = _xnys()
    ts = pd.Timestamp(day)
    if cal.is_session(ts):
        return cal.previous_session(ts).date()
    return cal.date_to_session(ts, direction="previous").date()


def last_sessions(end: date, count: int) -> list[date]:
    """The `count` most recent sessions on or before `end`, oldest first."""
    cal = _xnys()
    ts = pd.Timestamp(end)
    if not cal.is_session(ts):
        ts = cal.date_to_session(ts, direction="previous")
    return [s.date() for s in cal.sessions_window(ts, -count)]
