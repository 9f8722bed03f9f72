"""`calendar.py` answers from a cached array of sessions; `exchange_calendars` itself is the reference, day by day."""

from __future__ import annotations

from datetime import date, timedelta

import exchange_calendars as xcals
import numpy as np
import pandas as pd
import pytest

from sigmasight_onboarding import calendar


@pytest.fixture
def fresh_calendar(monkeypatch, tmp_path):
    """The module's sessions forgotten and its state folder a new one (forgotten again afterwards); yields the
    cache folder."""
    monkeypatch.setenv("SIGMASIGHT_STATE_DIR", str(tmp_path / "state"))
    calendar._sessions.cache_clear()
    yield tmp_path / "state" / "cache"
    calendar._sessions.cache_clear()


REFERENCE = xcals.get_calendar("XNYS", start="2000-01-01")


def _days(start: date, end: date):
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def test_every_answer_is_the_one_exchange_calendars_gives(fresh_calendar):
    days = _days(date(2000, 3, 1), date(2000, 4, 1)) + _days(date(2019, 12, 1), date(2027, 1, 15))
    for day in days:
        ts = pd.Timestamp(day)
        session = REFERENCE.is_session(ts)
        assert calendar.is_session(day) == session, day
        previous = REFERENCE.previous_session(ts) if session else REFERENCE.date_to_session(ts, direction="previous")
        assert calendar.previous_session(day) == previous.date(), day
        last = ts if session else REFERENCE.date_to_session(ts, direction="previous")
        for count in (1, 2, 30):
            assert calendar.last_sessions(day, count) == [s.date() for s in REFERENCE.sessions_window(last, -count)], (day, count)
    assert calendar.last_sessions(date(2026, 8, 3), 250) == [s.date() for s in REFERENCE.sessions_window(pd.Timestamp("2026-08-03"), -250)]
    for start, end in [(date(2026, 7, 1), date(2026, 7, 10)), (date(2026, 7, 4), date(2026, 7, 4)), (date(2022, 1, 1), date(2026, 8, 3)),
                       (date(1990, 1, 1), date(2000, 1, 10)), (date(2026, 12, 1), date(2040, 1, 1)), (date(2026, 7, 10), date(2026, 7, 1))]:
        lo, hi = max(pd.Timestamp(start), REFERENCE.first_session), min(pd.Timestamp(end), REFERENCE.last_session)
        expected = [s.date() for s in REFERENCE.sessions_in_range(lo, hi)] if lo <= hi else []
        assert calendar.sessions_between(start, end) == expected, (start, end)
    assert all(type(d) is date for d in calendar.sessions_between(date(2026, 7, 1), date(2026, 7, 10)))


def _raised(call) -> tuple[type, str]:
    with pytest.raises(Exception) as caught:
        call()
    return caught.type, str(caught.value)


def test_days_at_or_beyond_the_calendar_s_ends_raise_what_exchange_calendars_raises(fresh_calendar):
    assert _raised(lambda: calendar.is_session(date(1999, 6, 1))) == _raised(lambda: REFERENCE.is_session(pd.Timestamp("1999-06-01")))
    assert _raised(lambda: calendar.previous_session(date(2000, 1, 3))) == _raised(
        lambda: REFERENCE.previous_session(pd.Timestamp("2000-01-03")))
    assert _raised(lambda: calendar.last_sessions(date(2000, 1, 10), 30)) == _raised(
        lambda: REFERENCE.sessions_window(pd.Timestamp("2000-01-10"), -30))
    beyond = REFERENCE.last_session + pd.Timedelta(days=30)
    assert _raised(lambda: calendar.is_session(beyond.date())) == _raised(lambda: REFERENCE.is_session(beyond))


def test_the_sessions_are_kept_in_one_file_of_the_day_and_a_bad_file_is_replaced(fresh_calendar):
    first = calendar.sessions_between(date(2026, 1, 1), date(2026, 12, 31))
    files = list(fresh_calendar.glob("xnys-sessions-*.npy"))
    assert len(files) == 1 and date.today().isoformat() in files[0].name
    assert np.load(files[0]).dtype == np.dtype("datetime64[D]")
    # an older day's file is removed when today's is written; a damaged one is rebuilt
    old = fresh_calendar / "xnys-sessions-0.0-2000-01-01-1999-01-01.npy"
    old.write_bytes(b"old")
    files[0].write_bytes(b"not an array")
    calendar._sessions.cache_clear()
    assert calendar.sessions_between(date(2026, 1, 1), date(2026, 12, 31)) == first
    assert [f.name for f in fresh_calendar.glob("xnys-sessions-*.npy")] == [files[0].name]
    assert np.load(files[0]).dtype == np.dtype("datetime64[D]")
    # read back from the file (the library's calendar is not consulted)
    calendar._sessions.cache_clear()
    assert calendar.sessions_between(date(2026, 1, 1), date(2026, 12, 31)) == first
