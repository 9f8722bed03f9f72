"""The drop sensor: new, unchanged, changed, half-written, settling and bad drops."""

from __future__ import annotations

import os
import time

import pytest

from dagster import build_sensor_context

from sigmasight_onboarding.cli import run_onboarding
from sigmasight_onboarding.definitions import defs
from sigmasight_onboarding.sensors import client_drop_sensor
from sigmasight_onboarding.ephemeral_instance import ephemeral_instance

from .conftest import client_tables, copy_demo, write_drop

JOHN = "john.smith@example.com"


def tick(instance, cursor=None):
    context = build_sensor_context(instance=instance, cursor=cursor, definitions=defs, resources=defs.resources)
    result = client_drop_sensor(context)
    return result, context


def apply(instance, result):
    for req in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))


def test_new_unchanged_changed(env):
    instance = ephemeral_instance()
    copy_demo(env["imports"], JOHN)
    result, _ = tick(instance)
    assert [r.partition_key for r in result.run_requests] == [JOHN]
    assert list(result.dynamic_partitions_requests[0].partition_keys) == [JOHN]
    apply(instance, result)
    cursor = result.cursor
    # unchanged: nothing requested
    result2, _ = tick(instance, cursor)
    assert not result2.run_requests
    # changed content: a new run with a new run key, no new partition
    csv = env["imports"] / JOHN / "portfolio.csv"
    csv.write_text(csv.read_text() + "NVDA,10,100,LONG,2024-03-01,,,,\n")
    result3, _ = tick(instance, result2.cursor)
    assert [r.partition_key for r in result3.run_requests] == [JOHN]
    assert result3.run_requests[0].run_key != result.run_requests[0].run_key
    assert not result3.dynamic_partitions_requests


def test_half_written_and_settling_drops_wait(env, monkeypatch):
    instance = ephemeral_instance()
    folder = env["imports"] / "half@example.com"
    folder.mkdir()
    (folder / "client.json").write_text("{}")
    result, _ = tick(instance)
    assert not result.run_requests
    monkeypatch.setenv("SIGMASIGHT_DROP_SETTLE_SECONDS", "60")
    write_drop(env["imports"], "fresh@example.com", "AAPL,10,150,LONG,2024-01-15,,,,\n")
    result, _ = tick(instance)
    assert not result.run_requests  # written just now: still settling
    old = time.time() - 120
    for f in (env["imports"] / "fresh@example.com").iterdir():
        os.utime(f, (old, old))
    result, _ = tick(instance)
    assert [r.partition_key for r in result.run_requests] == ["fresh@example.com"]


def test_bad_drops_beside_good_ones(env, tmp_path_factory):
    instance = ephemeral_instance()
    copy_demo(env["imports"], JOHN)
    write_drop(env["imports"], "broken@example.com", "AAPL,10,-1,LONGG,2024-01-15,,,,\n")
    (env["imports"] / "not-an-email").mkdir()
    outside = tmp_path_factory.mktemp("outside")
    write_drop(outside, "evil@example.com", "AAPL,10,150,LONG,2024-01-15,,,,\n")
    (env["imports"] / "evil@example.com").symlink_to(outside / "evil@example.com")
    result, _ = tick(instance)
    keys = sorted(r.partition_key for r in result.run_requests)
    assert keys == ["broken@example.com", JOHN]  # symlink and non-email folders skipped, logged
    apply(instance, result)
    outcomes = {key: run_onboarding(key, instance).success for key in keys}
    assert outcomes == {"broken@example.com": False, JOHN: True}
    # the rejected drop leaves no partition behind (the audit row keeps the record); the good one stays
    assert not instance.has_dynamic_partition("clients", "broken@example.com")
    assert instance.has_dynamic_partition("clients", JOHN)
    from sqlalchemy import text

    from sigmasight_onboarding.db.engine import get_engine
    with get_engine(env["db_url"]).connect() as conn:
        outcome = conn.execute(text("SELECT outcome FROM onb_audit_log WHERE client_email = 'broken@example.com'")).scalars().all()
    assert outcome == ["rejected"]
    assert client_tables(env["db_url"])["users"] == 1


def test_case_twin_folders_give_one_deterministic_request_and_a_logged_conflict(env, capsys):
    """`TWIN@x.com` and `twin@x.com` are one client: one request per tick (same run key on every
    tick), the conflict logged, and the run rejects the drop naming both folders; nothing written."""
    instance = ephemeral_instance()
    write_drop(env["imports"], "TWIN@example.com", "AAPL,10,150,LONG,2024-01-15,,,,\n", {"email": "TWIN@example.com"})
    write_drop(env["imports"], "twin@example.com", "MSFT,10,300,LONG,2024-01-15,,,,\n")
    first, _ = tick(instance)
    again, _ = tick(instance)
    assert [r.partition_key for r in first.run_requests] == ["twin@example.com"]
    assert [r.run_key for r in again.run_requests] == [first.run_requests[0].run_key]
    logged = capsys.readouterr().err  # the sensor's log (Dagster's console logger)
    assert "conflict" in logged and "'TWIN@example.com', 'twin@example.com'" in logged
    apply(instance, first)
    result = run_onboarding("twin@example.com", instance)
    assert not result.success
    (check,) = [c for c in result.get_asset_check_evaluations() if c.check_name == "drop_passes_schema"]
    assert any("several folders match" in r.data["rule"] for r in check.metadata["problems"].value.records)
    assert client_tables(env["db_url"])["users"] == 0


def test_cli_tags_its_run_with_the_sensors_key_and_hash(env, monkeypatch, capsys):
    """`sigmasight onboard` derives the client key and `sigmasight/drop_hash` with the sensor's own
    helpers (`drop_key`, `drop_hash`), case twins included, without reading the drop; the run then
    rejects the twins (exit 1, printed from the run's check)."""
    from sigmasight_onboarding.cli import main
    from sigmasight_onboarding.sensors import drop_hash, drop_key

    instance = ephemeral_instance()
    copy_demo(env["imports"], JOHN)
    upper = write_drop(env["imports"], "TWIN@example.com", "AAPL,10,150,LONG,2024-01-15,,,,\n", {"email": "TWIN@example.com"})
    write_drop(env["imports"], "twin@example.com", "MSFT,10,300,LONG,2024-01-15,,,,\n")
    result, _ = tick(instance)
    tags = {r.partition_key: r.tags["sigmasight/drop_hash"] for r in result.run_requests}
    assert drop_key(upper) == "twin@example.com"
    assert {key: drop_hash(env["imports"], key) for key in tags} == tags
    assert drop_hash(env["imports"], "nobody@example.com") is None
    capsys.readouterr()
    monkeypatch.setattr("sigmasight_onboarding.cli.get_instance", lambda: instance)
    assert main(["onboard", str(upper), "--sessions", "0"]) == 1
    assert "several folders match" in capsys.readouterr().err
    (run,) = instance.get_runs()
    assert run.tags["sigmasight/drop_hash"] == tags["twin@example.com"] and run.tags["sigmasight/client"] == "twin@example.com"


def test_sensor_waits_for_the_declared_row_count_and_checksum(env):
    """A CSV cut off at a line boundary (older than the settle time) is taken only once it has the
    rows / bytes client.json declares; the reader refuses a mismatch too."""
    import hashlib
    import json

    from sigmasight_onboarding.config import get_settings
    from sigmasight_onboarding.drops.problems import DropValidationError
    from sigmasight_onboarding.drops.reader import read_drop

    instance = ephemeral_instance()
    full = "AAPL,10,150,LONG,2024-01-15,,,,\nMSFT,10,300,LONG,2024-01-15,,,,\nNVDA,5,100,LONG,2024-01-15,,,,\n"
    folder = write_drop(env["imports"], "declared@example.com", full, {"portfolio_rows": 3})
    csv_path = folder / "portfolio.csv"
    complete = csv_path.read_bytes()
    csv_path.write_bytes(complete[: complete.index(b"NVDA")])  # truncated at a line boundary
    result, _ = tick(instance)
    assert not result.run_requests  # 2 of 3 declared rows: still arriving
    with pytest.raises(DropValidationError, match="declares portfolio_rows = 3"):
        read_drop(folder, get_settings())
    csv_path.write_bytes(complete)
    result, _ = tick(instance)
    assert [r.partition_key for r in result.run_requests] == ["declared@example.com"]
    assert len(read_drop(folder, get_settings()).positions) == 3

    # the same with a checksum
    data = json.loads((folder / "client.json").read_text())
    data.pop("portfolio_rows")
    data["portfolio_sha256"] = hashlib.sha256(complete).hexdigest()
    (folder / "client.json").write_text(json.dumps(data))
    csv_path.write_bytes(complete[:-5])
    result, _ = tick(instance, result.cursor)
    assert not result.run_requests
    csv_path.write_bytes(complete)
    result, _ = tick(instance, result.cursor)
    assert [r.partition_key for r in result.run_requests] == ["declared@example.com"]
