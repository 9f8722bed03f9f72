"""Progress of long CLI work: a bar with sessions, rate and ETA on a terminal, silence otherwise."""

from __future__ import annotations

import io
from datetime import date
from types import SimpleNamespace

from sigmasight_onboarding.progress import progress_enabled, session_progress


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_shows_sessions_done_rate_eta_and_failures(monkeypatch):
    monkeypatch.delenv("SIGMASIGHT_PROGRESS", raising=False)
    monkeypatch.setenv("COLUMNS", "160")  # a wide terminal: the bar is cut to the terminal's width
    stream = FakeTty()
    days = [date(2026, 7, 30), date(2026, 7, 31), date(2026, 8, 3)]
    with session_progress(len(days), "alice@example.com", stream=stream) as tick:
        for i, day in enumerate(days, 1):
            tick(i, len(days), day, SimpleNamespace(success=i != 2))
    text = stream.getvalue()
    assert "alice@example.com: 3/3 sessions" in text
    assert "session/s" in text or "s/session" in text  # the rate
    assert "ETA" in text
    assert "2026-08-03 · 1 failed" in text


def test_silent_when_not_a_terminal(monkeypatch):
    monkeypatch.delenv("SIGMASIGHT_PROGRESS", raising=False)
    stream = io.StringIO()
    assert not progress_enabled(stream)
    with session_progress(5, "bob", stream=stream) as tick:
        for i in range(1, 6):
            tick(i, 5, date(2026, 8, 3), SimpleNamespace(success=True))
    assert stream.getvalue() == ""


def test_environment_switch(monkeypatch):
    monkeypatch.setenv("SIGMASIGHT_PROGRESS", "0")
    assert not progress_enabled(FakeTty())
    monkeypatch.setenv("SIGMASIGHT_PROGRESS", "1")
    assert progress_enabled(io.StringIO())
