"""One configuration path: settings are read when used (never frozen at import), the sensors and
verification agree on the sessions to verify, and the resources carry the same settings."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

from dagster import build_sensor_context

from sigmasight_onboarding.definitions import defs
from sigmasight_onboarding.ephemeral_instance import ephemeral_instance
from sigmasight_onboarding.resources.market_data_resource import resolve_as_of
from sigmasight_onboarding.sensors import onboarding_session_keys, verification_sensor
from sigmasight_onboarding.verification_rules import expected_sessions

PACKAGE = Path(__file__).resolve().parents[1] / "sigmasight_onboarding"
REPO = PACKAGE.parent


def test_sessions_to_verify_read_when_used_and_the_same_for_sensor_and_verification(env, monkeypatch):
    """SIGMASIGHT_ONBOARD_SESSIONS set after the package (and the Definitions) were imported is
    what the time-series sensor, the verification sensor, verification and the resource all use."""
    monkeypatch.setenv("SIGMASIGHT_ONBOARD_SESSIONS", "7")
    as_of = resolve_as_of(defs.resources["market_data"].settings())
    assert expected_sessions() == 7
    assert len(onboarding_session_keys("x@example.com", as_of)) == 7
    assert defs.resources["onboarding"].settings().onboard_sessions == 7
    skipped = verification_sensor(build_sensor_context(instance=ephemeral_instance(), definitions=defs,
                                                       resources=defs.resources))
    assert "no client with all 7 sessions" in skipped.skip_message
    monkeypatch.setenv("SIGMASIGHT_ONBOARD_SESSIONS", "12")
    assert expected_sessions() == 12 == len(onboarding_session_keys("x@example.com", as_of))


def test_importing_with_unusual_values_freezes_nothing(tmp_path):
    """Import every module with unusual values set, change them, and the new values are used."""
    code = """
import datetime, importlib, json, os, pkgutil
os.environ.update(SIGMASIGHT_ONBOARD_SESSIONS="3", SIGMASIGHT_RISK_LOOKBACK="17", SIGMASIGHT_JUMP_BOUND="0.01",
                  SIGMASIGHT_API_URL="http://import-time.invalid", SIGMASIGHT_TIMESERIES_START="2025-03-03")
import sigmasight_onboarding
for m in pkgutil.walk_packages(sigmasight_onboarding.__path__, "sigmasight_onboarding."):
    if ".migrations" not in m.name and m.name != "sigmasight_onboarding.definitions":
        importlib.import_module(m.name)
os.environ.update(SIGMASIGHT_ONBOARD_SESSIONS="9", SIGMASIGHT_RISK_LOOKBACK="99", SIGMASIGHT_JUMP_BOUND="0.25",
                  SIGMASIGHT_API_URL="http://run-time.invalid", SIGMASIGHT_TIMESERIES_START="2025-06-02")
from sigmasight_onboarding.partitions import date_partitions
from sigmasight_onboarding.config import get_settings
from sigmasight_onboarding.resources.market_data_resource import MarketDataResource
from sigmasight_onboarding.resources.onboarding import OnboardingResource
from sigmasight_onboarding.sensors import onboarding_session_keys
from sigmasight_onboarding.verification_rules import expected_sessions
s = MarketDataResource().settings()
print(json.dumps([expected_sessions(), len(onboarding_session_keys("x@example.com", datetime.date(2026, 8, 3))),
                  OnboardingResource().settings().onboard_sessions, s.risk_lookback, s.jump_bound,
                  OnboardingResource().settings().api_url, date_partitions().get_first_partition_key()]))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGMASIGHT_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["SIGMASIGHT_STATE_DIR"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [9, 9, 9, 99, 0.25, "http://run-time.invalid", "2025-06-02"]


def _module_level_nodes(tree: ast.Module):
    """Nodes evaluated at import: everything except function bodies (decorators, default
    arguments and class bodies are evaluated at import, so they are included)."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stack.extend(node.decorator_list)
            stack.extend(d for d in node.args.defaults + node.args.kw_defaults if d is not None)
            continue
        if isinstance(node, ast.Lambda):
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def test_no_environment_read_at_import_anywhere_in_the_package():
    """No module reads the environment (os.environ, os.getenv, get_settings, Settings.from_env)
    at import; only definitions.py reads it, when it builds the Definitions."""
    readers = {"environ", "getenv", "get_settings", "from_env"}
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts or path.name == "definitions.py":
            continue
        for node in _module_level_nodes(ast.parse(path.read_text())):
            name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
            if name in readers and not isinstance(getattr(node, "ctx", None), ast.Store):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: {name}")
    assert not offenders, offenders
