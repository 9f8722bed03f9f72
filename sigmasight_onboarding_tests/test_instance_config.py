"""The project's instance configuration (run queue) applies whether or not DAGSTER_HOME is set."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from dagster import DagsterInstance

from sigmasight_onboarding.cli import get_instance, main
from sigmasight_onboarding.instance_config import PROJECT_INSTANCE_YAML, ensure_instance_config, run_queue_warning

from .conftest import REPO


def test_ensure_instance_config_installs_the_project_file(tmp_path):
    home = tmp_path / "home"
    assert "installed" in ensure_instance_config(home)
    assert (home / "dagster.yaml").read_text() == PROJECT_INSTANCE_YAML.read_text()
    assert ensure_instance_config(home).startswith("using")
    older = PROJECT_INSTANCE_YAML.read_text().replace("PooledSqliteEventLogStorage", "X").replace("event_log_storage", "x")
    (home / "dagster.yaml").write_text(older)  # a copy from before the pooled event log: still used, with a note
    assert ensure_instance_config(home).startswith("using") and "predates the pooled event log" in ensure_instance_config(home)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    assert "no QueuedRunCoordinator" in ensure_instance_config(home)


def test_cli_warns_when_dagster_home_has_no_run_queue(env, monkeypatch, tmp_path, capsys):
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    instance = get_instance()
    assert "has no run queue of this project" in capsys.readouterr().err
    assert run_queue_warning(instance) is not None
    ensure_instance_config(home)
    instance = get_instance()
    assert capsys.readouterr().err == ""
    assert run_queue_warning(instance) is None
    assert instance.run_coordinator.__class__.__name__ == "QueuedRunCoordinator"
    assert run_queue_warning(DagsterInstance.ephemeral()) is None
    assert main(["status", "nobody@example.com"]) == 4  # commands still run after the check


def test_launcher_restores_sigint_ignored_by_a_background_shell(tmp_path):
    """`cmd &` in a script starts cmd with SIGINT ignored; the launcher resets it before exec."""
    probe = tmp_path / "dagster"
    probe.write_text(f"#!{sys.executable}\nimport signal\nprint(signal.getsignal(signal.SIGINT) is signal.default_int_handler, "
                     "signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)\n")
    probe.chmod(0o755)
    launcher = (
        "import signal, sys, runpy\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)  # what a non-interactive shell does to `cmd &`\n"
        f"sys.executable = {str(tmp_path / 'python')!r}  # the launcher looks for `dagster` next to the interpreter\n"
        f"sys.argv = ['dagster_dev.py', 'start', '--port', '3999']\n"
        f"runpy.run_path({str(REPO / 'scripts' / 'dagster_dev.py')!r}, run_name='__main__')\n"
    )
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO)}
    # this worker's own handler as it is now (an earlier in-process Dagster run in the same xdist worker may have
    # left it ignored): the launcher runs in a child and must not change it
    before = signal.getsignal(signal.SIGINT)
    out = subprocess.run([sys.executable, "-c", launcher], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "True True"
    assert (tmp_path / "home" / "dagster.yaml").read_text() == PROJECT_INSTANCE_YAML.read_text()
    assert signal.getsignal(signal.SIGINT) is before  # this process untouched
