"""`sigmasight` CLI exit codes and output."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from sigmasight_onboarding.cli import main
from sigmasight_onboarding.ephemeral_instance import ephemeral_instance

from .conftest import REPO, client_tables, copy_demo, write_drop

JOHN = "john.smith@example.com"


def test_onboard_success_then_status(env, capsys):
    folder = copy_demo(env["imports"], JOHN)
    assert main(["onboard", str(folder), "--sessions", "0"]) == 0
    out = capsys.readouterr().out
    assert "positions:     5" in out
    assert re.search(r"checks:\s+(\d+)/\1 passed", out), out
    assert main(["status", JOHN]) == 0
    out = capsys.readouterr().out
    assert "5 active" in out and "LC 1" in out and "SHORT 1" in out


def test_onboard_bad_input_exit_1_lists_every_problem(env, capsys):
    folder = write_drop(
        env["imports"], "bad@example.com",
        "AAPL,10,150,LONGG,2024-01-15,,,,\nTSLA,5,200,SHORT,2024-01-15,,,,\n", {"currency": "usd1"},
    )
    assert main(["onboard", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "line 2, column position_type" in err
    assert "line 3, column quantity" in err
    assert "currency" in err and "nothing was written" in err
    assert client_tables(env["db_url"])["users"] == 0


def test_usage_errors_exit_2(env, tmp_path, capsys):
    assert main(["onboard", str(tmp_path / "missing")]) == 2
    outside = write_drop(tmp_path / "elsewhere", JOHN, "AAPL,10,150,LONG,2024-01-15,,,,\n")
    assert main(["onboard", str(outside)]) == 2
    assert "imports folder" in capsys.readouterr().err
    assert main(["frobnicate"]) == 2


def test_status_unknown_client_exit_4(env):
    assert main(["status", "nobody@example.com"]) == 4


def test_console_script_end_to_end(env):
    """The installed `sigmasight` entry point, as a newcomer runs it."""
    copy_demo(env["imports"], JOHN)
    exe = os.path.join(os.path.dirname(sys.executable), "sigmasight")
    proc = subprocess.run([exe, "onboard", str(env["imports"] / JOHN)], capture_output=True, text=True,
                          cwd=REPO, env=os.environ.copy(), timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert re.search(r"checks:\s+(\d+)/\1 passed", proc.stdout), proc.stdout
    assert "30/30 sessions" in proc.stdout and "READY" in proc.stdout
    assert "secure_client_password_123" not in proc.stdout + proc.stderr


def test_sessions_n_below_30_verifies_against_n(env, capsys):
    """`--sessions 3` materialises 3 sessions and verifies that those 3 exist (was: always exit 3)."""
    folder = copy_demo(env["imports"], JOHN)
    assert main(["onboard", str(folder), "--sessions", "3"]) == 0
    out = capsys.readouterr().out
    assert "3/3 sessions" in out
    assert "verification:  READY (checks 7/7 passed, 1 skipped)" in out
    assert main(["verify", JOHN, "--sessions", "3"]) == 0
    out = capsys.readouterr().out
    assert "[PASS] snapshots_30_sessions: 3 sessions" in out and out.rstrip().endswith("READY")
    # the default expectation is still 30: the 27 older sessions are reported missing
    assert main(["verify", JOHN]) == 3
    out = capsys.readouterr().out
    assert "[FAIL] snapshots_30_sessions: 27 missing of the last 30 sessions" in out and "NOT READY" in out


# --- a thin CLI: `onboard` runs the onboard_client job and prints what the run reported ------------

def _shared_instance(monkeypatch):
    """One ephemeral Dagster instance for the CLI and the test, so the test reads the CLI's run."""

    import sigmasight_onboarding.cli as cli

    instance = ephemeral_instance()
    monkeypatch.setattr(cli, "get_instance", lambda: instance)
    return instance


def _no_validation_outside_the_run(monkeypatch):
    """The reader and the pre-flight fail loudly when called by anything but the asset (which holds
    its own references): the CLI must not validate the drop itself."""
    import sigmasight_onboarding.definitions  # noqa: F401  (the asset binds the real functions first)
    import sigmasight_onboarding.drops.market_facts as market_facts
    import sigmasight_onboarding.drops.reader as reader

    def refuse(*_args, **_kwargs):
        raise AssertionError("the drop was read outside the onboard_client run")

    monkeypatch.setattr(reader, "read_drop", refuse)
    monkeypatch.setattr(market_facts, "preflight_drop", refuse)


def _drop_check(instance, run_id: str):
    """The `drop_passes_schema` evaluation stored for the run."""
    from dagster import DagsterEventType

    (entry,) = [e for e in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
                if e.dagster_event.event_specific_data.asset_check_key.name == "drop_passes_schema"]
    return entry.dagster_event.event_specific_data


def _audit(url: str, email: str) -> list[tuple[str, str, str]]:
    from sqlalchemy import select

    from sigmasight_onboarding.db.engine import get_engine
    from sigmasight_onboarding.db.models import OnboardingAuditLog

    with get_engine(url).connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(OnboardingAuditLog.action, OnboardingAuditLog.outcome, OnboardingAuditLog.actor)
            .where(OnboardingAuditLog.client_email == email).order_by(OnboardingAuditLog.id))]


def test_rejection_is_reported_from_the_run_and_audited_once(env, monkeypatch, capsys):
    from sigmasight_onboarding.drops.reader import drop_content_hash
    from sigmasight_onboarding.partitions import CLIENTS_PARTITION

    email = "many.problems@example.com"
    rows = "".join(f"AAPL,{10 + i},150,LONGG,2024-01-15,,,,\n" for i in range(205))
    folder = write_drop(env["imports"], email, rows, {"currency": "usd1"})
    instance = _shared_instance(monkeypatch)
    _no_validation_outside_the_run(monkeypatch)
    assert main(["onboard", str(folder), "--sessions", "0"]) == 1
    out, err = capsys.readouterr()

    (run,) = instance.get_runs()
    assert run.job_name == "onboard_client" and run.tags["sigmasight/trigger"] == "cli"
    assert run.tags["dagster/partition"] == email
    assert run.tags["sigmasight/drop_hash"] == drop_content_hash(folder)  # the sensor's fingerprint
    check = _drop_check(instance, run.run_id)
    assert not check.passed
    count, lines = check.metadata["problem_count"].value, check.metadata["problem_lines"].value
    assert count > 205 and len(lines) == 200  # every row is wrong; the first 200 lines are kept
    # the CLI prints exactly what the run's check reported, and nothing else (no Dagster stack)
    assert err.splitlines() == [f"REJECTED: {count} problem(s); nothing was written.",
                                *(f"  - {line}" for line in lines), f"  … and {count - 200:,} more"]
    assert "currency" in err and "line 2, column position_type" in err
    assert out == ""
    # one audit row, written by the asset of that run; no client row, no partition left behind
    assert _audit(env["db_url"], email) == [("onboard", "rejected", f"dagster run {run.run_id[:8]}")]
    assert client_tables(env["db_url"])["users"] == 0
    assert not instance.has_dynamic_partition(CLIENTS_PARTITION, email)


def test_drop_warnings_are_printed_from_the_run(env, monkeypatch, capsys):
    folder = copy_demo(env["imports"], JOHN)
    instance = _shared_instance(monkeypatch)
    _no_validation_outside_the_run(monkeypatch)
    assert main(["onboard", str(folder), "--sessions", "0"]) == 0
    out = capsys.readouterr().out
    (run,) = instance.get_runs()
    check = _drop_check(instance, run.run_id)
    assert check.passed
    warnings = check.metadata["warning_lines"].value
    assert any("plaintext password" in w for w in warnings) and check.metadata["warnings"].value == len(warnings)
    assert [line for line in out.splitlines() if line.startswith("warning: ")] == [f"warning: {w}" for w in warnings]
    assert [a for a, _o, _actor in _audit(env["db_url"], JOHN)] == ["onboard"]


def test_warning_and_problem_caps(capsys):
    from sigmasight_onboarding.cli import _print_problems, _print_warnings

    _print_warnings(25, [f"w{i}" for i in range(20)])
    _print_problems(3, ["a", "b"], limit=1)
    out, err = capsys.readouterr()
    assert out.splitlines()[-1] == "warning: … and 5 more (the first 20 are in the audit log)"
    assert len(out.splitlines()) == 21
    assert err.splitlines() == ["REJECTED: 3 problem(s); nothing was written.", "  - a", "  … and 2 more"]
