"""`sigmasight` CLI exit codes and output."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from sigmasight_onboarding.cli import main

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
