"""All-or-nothing from the user's side (issue 12): READY, or rejected with 0 client rows, or — only
for a fault after the write — visibly INCOMPLETE (stage + reason) in `sigmasight status` and the
audit log, resumed by the next run. WARN checks never fail the CLI or skip a stage."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import select

from sigmasight_onboarding.cli import main
from sigmasight_onboarding.db.engine import get_engine
from sigmasight_onboarding.db.models import OnboardingAuditLog
from sigmasight_onboarding.db.onboarding_state import INCOMPLETE, READY, REJECTED, onboarding_state
from sigmasight_onboarding.ephemeral_instance import ephemeral_instance

from .conftest import REPO, client_tables, copy_demo, write_drop

JOHN = "john.smith@example.com"
EXTRACT = REPO / "data" / "market" / "daily_adj_close_extract.parquet"


def _outcomes(url: str, email: str) -> list[tuple[str, str]]:
    with get_engine(url).connect() as conn:
        return [tuple(r) for r in conn.execute(select(OnboardingAuditLog.action, OnboardingAuditLog.outcome)
                                               .where(OnboardingAuditLog.client_email == email)
                                               .order_by(OnboardingAuditLog.id))]


def _market_data_without(tmp_path, symbol: str):
    """The real extract without one factor ETF: the client's own symbols all pass the pre-flight,
    and price_history's blocking factor_etfs_complete fails after the write — a fault the user
    cannot cause, fixed on the market-data side."""
    prices = pd.read_parquet(EXTRACT)
    path = tmp_path / f"prices_without_{symbol}.parquet"
    prices[prices["symbol"] != symbol].to_parquet(path, index=False)
    return path


def test_fault_after_the_write_is_incomplete_then_resumed(env, monkeypatch, tmp_path, capsys):
    url = env["db_url"]
    folder = copy_demo(env["imports"], JOHN)
    monkeypatch.setenv("SIGMASIGHT_MARKET_DATA_FILE", str(_market_data_without(tmp_path, "MTUM")))
    monkeypatch.setenv("SIGMASIGHT_AS_OF", "2026-08-03")
    assert main(["onboard", str(folder), "--sessions", "0"]) == 3
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert "[FAIL] price_history:factor_etfs_complete" in err  # the failed check, with its reason
    state = onboarding_state(get_engine(url), JOHN)
    assert state.state == INCOMPLETE and state.stage == "price_history", state
    assert "factor_etfs_complete" in state.reason
    assert _outcomes(url, JOHN)[-1] == ("onboarding", "incomplete")
    assert main(["status", JOHN]) == 0
    out = capsys.readouterr().out
    assert "state:         INCOMPLETE at stage price_history" in out and "resume" in out

    # the market data is complete again: the same command resumes the client to READY
    monkeypatch.delenv("SIGMASIGHT_MARKET_DATA_FILE")
    assert main(["onboard", str(folder), "--sessions", "30"]) == 0, capsys.readouterr()
    assert onboarding_state(get_engine(url), JOHN).state == READY
    assert _outcomes(url, JOHN)[-1] == ("onboarding", "ready")
    assert main(["status", JOHN]) == 0
    assert "state:         READY" in capsys.readouterr().out


def test_warn_check_never_fails_the_cli_or_skips_a_stage(env, monkeypatch, capsys):
    folder = copy_demo(env["imports"], JOHN)
    monkeypatch.setenv("SIGMASIGHT_JUMP_BOUND", "0.001")  # every daily move is 'a jump': the WARN check fails
    assert main(["onboard", str(folder), "--sessions", "30"]) == 0
    out = capsys.readouterr().out
    assert "[WARN] price_history:no_unflagged_jumps" in out
    assert "30/30 sessions" in out and "verification:  READY" in out


def test_rejected_drop_is_rejected_state_with_zero_rows(env, capsys):
    folder = write_drop(env["imports"], "zz@example.com", "ZZZZ,100,10.00,LONG,2025-06-02,Core,,,\n")
    assert main(["onboard", str(folder)]) == 1
    assert set(client_tables(env["db_url"]).values()) == {0}
    assert onboarding_state(get_engine(env["db_url"]), "zz@example.com").state == REJECTED
    capsys.readouterr()
    assert main(["status", "zz@example.com"]) == 4
    assert "REJECTED" in capsys.readouterr().out


# --- SIGTERM / SIGINT: the CLI stops at once with a consistent database ------------------------------

def _start_cli(args: list[str], env_vars: dict):
    import os
    import subprocess
    import sys

    exe = os.path.join(os.path.dirname(sys.executable), "sigmasight")
    return subprocess.Popen([exe, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env={**os.environ, **env_vars, "PYTHONUNBUFFERED": "1"})


def _wait_for_line(proc, words: str, seen: list[str]) -> None:
    for line in proc.stdout:
        seen.append(line)
        if words in line:
            return
    raise AssertionError(f"never printed {words!r}: {''.join(seen)}")


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(15, 143), (2, 130)], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_the_cli_with_a_message_and_128_plus_signal(env, signum, code):
    """Sent as the time series starts (one range run of 250 sessions, seconds long even on a fast box,
    so the signal lands inside it or just before it): the CLI stops, prints no time-series summary and
    leaves the client INCOMPLETE; the same command resumes it."""
    import os

    folder = copy_demo(env["imports"], JOHN)
    proc = _start_cli(["onboard", str(folder), "--sessions", "250", "--log-level", "CRITICAL"], {})
    seen: list[str] = []
    try:
        _wait_for_line(proc, "checks:", seen)  # the onboarding run is done; the time series starts
        os.kill(proc.pid, signum)
        out, err = proc.communicate(timeout=60)  # a hang guard, not a timing assertion
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err[-2000:]
    assert "interrupted by SIG" in err and "consistent" in err
    assert "Traceback" not in err
    assert "time series:" not in out  # stopped before the range run finished: no summary of its sessions
    # consistent: the account as written, the state visible, and the same command resumes it
    assert client_tables(env["db_url"])["positions"] == 5
    state = onboarding_state(get_engine(env["db_url"]), JOHN)
    assert state.state == INCOMPLETE, state
    assert main(["onboard", str(folder), "--sessions", "30"]) == 0
    assert onboarding_state(get_engine(env["db_url"]), JOHN).state == READY


def test_a_signal_landing_inside_dagster_still_stops_the_cli_cleanly(env, monkeypatch, capsys):
    """The signal can land while Dagster runs our code and wraps what it raised (resolving the time-series job:
    DagsterInvalidDefinitionError raised *from* our `Interrupted` — seen once in CI as exit 1 with a traceback).
    The CLI still stops with 128 + signal and its message, the client INCOMPLETE, and the same command resumes."""
    import signal

    from dagster import Definitions
    from dagster._core.errors import DagsterInvalidDefinitionError

    from sigmasight_onboarding.cli import Interrupted

    real = Definitions.resolve_job_def

    def resolve_interrupted(self, name):
        if name == "backfill_timeseries":  # as Dagster's resolve_unresolved_job_def wraps a callback's exception
            try:
                raise Interrupted(signal.SIGTERM)
            except Interrupted as exc:
                raise DagsterInvalidDefinitionError(f"Failed to resolve asset job {name}") from exc
        return real(self, name)

    folder = copy_demo(env["imports"], JOHN)
    monkeypatch.setattr(Definitions, "resolve_job_def", resolve_interrupted)
    assert main(["onboard", str(folder), "--sessions", "2", "--log-level", "CRITICAL"]) == 128 + signal.SIGTERM
    err = capsys.readouterr().err
    assert "interrupted by SIGTERM" in err and "consistent" in err
    assert onboarding_state(get_engine(env["db_url"]), JOHN).state == INCOMPLETE
    monkeypatch.setattr(Definitions, "resolve_job_def", real)
    assert main(["onboard", str(folder), "--sessions", "2"]) == 0
    assert onboarding_state(get_engine(env["db_url"]), JOHN).state == READY


def test_incomplete_and_ready_show_as_the_clients_check_in_the_ui(env, monkeypatch, tmp_path):
    """The state reaches Dagster as `client_account` → `onboarding_complete` for the client's
    partition: failed with stage and reason while INCOMPLETE, passed once READY."""
    from dagster import AssetCheckKey, AssetKey

    from sigmasight_onboarding.cli import run_client_job, run_onboarding, run_timeseries
    from sigmasight_onboarding.calendar import last_sessions

    copy_demo(env["imports"], JOHN)
    monkeypatch.setenv("SIGMASIGHT_MARKET_DATA_FILE", str(_market_data_without(tmp_path, "MTUM")))
    monkeypatch.setenv("SIGMASIGHT_AS_OF", "2026-08-03")
    instance = ephemeral_instance()
    key = AssetCheckKey(AssetKey("client_account"), "onboarding_complete")

    assert not run_onboarding(JOHN, instance).success
    record = instance.get_latest_asset_check_evaluation_record(key)
    evaluation = record.event.dagster_event.event_specific_data
    assert evaluation.passed is False and evaluation.partition == JOHN
    meta = {k: v.value for k, v in evaluation.metadata.items()}
    assert meta["state"] == "INCOMPLETE" and meta["stage"] == "price_history" and "factor_etfs_complete" in meta["reason"]

    monkeypatch.delenv("SIGMASIGHT_MARKET_DATA_FILE")
    assert run_onboarding(JOHN, instance).success
    import datetime as dt
    for _, result in run_timeseries(JOHN, last_sessions(dt.date(2026, 8, 3), 30), instance):
        assert result.success
    verified = run_client_job("verify_client", JOHN, instance)
    assert verified.success
    evaluation = instance.get_latest_asset_check_evaluation_record(key).event.dagster_event.event_specific_data
    assert evaluation.passed is True and evaluation.partition == JOHN
    assert evaluation.metadata["state"].value == "READY"


def test_time_series_fault_is_incomplete_with_the_reason_recorded_once(env, monkeypatch, tmp_path, capsys):
    """A price missing on one session inside the window (the provider has no AAPL close on 2026-07-15): the
    onboarding passes (coverage 89/90 sessions ≥ 95 %), the range run refuses to value that session with a
    stale price, and backfill_timeseries' failure hook — not the CLI — records INCOMPLETE at the time-series
    step with that reason, exactly once; `sigmasight status` says so."""
    url = env["db_url"]
    folder = copy_demo(env["imports"], JOHN)
    prices = pd.read_parquet(EXTRACT)
    hole = (prices["symbol"] == "AAPL") & (pd.to_datetime(prices["date"]) == pd.Timestamp("2026-07-15"))
    assert hole.sum() == 1
    path = tmp_path / "prices_without_one_aapl_close.parquet"
    prices[~hole].to_parquet(path, index=False)
    monkeypatch.setenv("SIGMASIGHT_MARKET_DATA_FILE", str(path))
    monkeypatch.setenv("SIGMASIGHT_AS_OF", "2026-08-03")
    assert main(["onboard", str(folder), "--sessions", "30"]) == 3
    capsys.readouterr()
    state = onboarding_state(get_engine(url), JOHN)
    assert state.state == INCOMPLETE and state.stage == "portfolio_timeseries", state
    assert "no price on 2026-07-15 for AAPL" in state.reason
    outcomes = _outcomes(url, JOHN)
    assert outcomes[-1] == ("onboarding", "incomplete") and outcomes.count(("onboarding", "incomplete")) == 1
    assert main(["status", JOHN]) == 0
    assert "state:         INCOMPLETE at stage portfolio_timeseries: " in capsys.readouterr().out


def test_a_signal_landing_inside_a_finalizer_prints_no_traceback_and_still_stops():
    """SIGTERM whose handler runs inside a weakref callback (as pandera's schema-registry cleanup did in CI):
    Python hands the `Interrupted` to `sys.unraisablehook`, whose default prints "Exception ignored in …" with a
    traceback. The CLI's watch keeps it from the hook it found (here a recorder standing in for the default)
    and the signal, still on the wakeup fd, stops the next `check()`."""
    import gc
    import os
    import signal
    import sys
    import weakref

    from sigmasight_onboarding import cli

    class Thing:
        pass

    reported = []
    outer_hook = sys.unraisablehook
    sys.unraisablehook = reported.append
    watch = cli._SignalWatch()
    try:
        thing = Thing()
        ref = weakref.ref(thing, lambda _ref: os.kill(os.getpid(), signal.SIGTERM))  # the handler runs in here
        del thing
        gc.collect()
        assert ref() is None
        with pytest.raises(cli.Interrupted) as stopped:
            watch.check()
        assert stopped.value.signum == signal.SIGTERM
    finally:
        watch.close()
        sys.unraisablehook = outer_hook
    assert not [r for r in reported if isinstance(r.exc_value, cli.Interrupted)], reported
