"""Secrets never leak; production mode is strict; every attempt is audited.

The main scenario drives the real CLI in subprocesses with DAGSTER_HOME set to a temporary folder
(so Dagster persists runs, event logs and anything else it writes on disk) and FMP_API_KEY set to
a recognisable fake key: onboard john.smith (plaintext password), onboard a drop carrying only a
password_hash, re-drop john (reconciliation), a rejected drop, `sigmasight offboard`. Then
everything is searched, as bytes where it is on disk: every table of the SigmaSight database
(and, on SQLite, the raw database, WAL and shm files), every file under DAGSTER_HOME, the state
and report folder, the CLI's stdout/stderr, and every run's config, tags and event records read
back through `DagsterInstance.get()`. The scenario runs on SQLite (whose raw files can be searched
as bytes too; the CLI runs cost ~5 s each); the production-mode and provider-key tests run on
both databases.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from dagster import DagsterInstance
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from sigmasight_onboarding.price_backfill import backfill_prices
from sigmasight_onboarding.calendar import sessions_between
from sigmasight_onboarding.cli import main
from sigmasight_onboarding.config import get_settings
from sigmasight_onboarding.db.engine import get_engine
from sigmasight_onboarding.db.models import Base, MarketDataCache, OnboardingAuditLog, Portfolio, Position, Tag, User
from sigmasight_onboarding.resources.price_providers import build_provider_chain
from sigmasight_onboarding.security import deterministic_uuid, hash_password
from sigmasight_onboarding.ephemeral_instance import ephemeral_instance

from .conftest import REPO, client_tables, copy_demo, write_drop

JOHN = "john.smith@example.com"
PASSWORD = "secure_client_password_123"  # john's plaintext password in the demo drop
API_KEY = "sk-test-SECRET-123"
HASHED = "hashed.client@example.com"
HASHED_PLAIN = "Only-The-Hash-Is-Dropped-77"  # never in any drop: only its bcrypt hash is
PLAINTEXT_WARNING = "carries a plaintext password; prefer 'password_hash'"


def cli(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "sigmasight_onboarding.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


def db_dump(url: str, skip: tuple[str, ...] = ()) -> str:
    """Every row of every SigmaSight table, as text."""
    engine = get_engine(url)
    parts = []
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name in skip:
                continue
            for row in conn.execute(table.select()):
                parts.append(f"{table.name}: " + " | ".join(str(v) for v in row))
    return "\n".join(parts)


def files_under(*folders: Path) -> dict[Path, bytes]:
    out = {}
    for folder in folders:
        if folder.exists():
            for path in folder.rglob("*"):
                if path.is_file():
                    out[path] = path.read_bytes()
    return out


def occurrences(secret: str, haystacks: dict[str, bytes | str]) -> dict[str, int]:
    """Where `secret` occurs (ignoring case), and how often."""
    needle = secret.encode().lower()
    found = {}
    for name, blob in haystacks.items():
        n = (blob.encode() if isinstance(blob, str) else blob).lower().count(needle)
        if n:
            found[name] = n
    return found


def audit_rows(url: str, email: str) -> list[dict]:
    with get_engine(url).connect() as conn:
        return [dict(r) for r in conn.execute(
            select(OnboardingAuditLog).where(OnboardingAuditLog.client_email == email).order_by(OnboardingAuditLog.id)
        ).mappings()]


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # SQLite: its raw files can be searched too
def test_no_secret_anywhere_and_a_complete_audit_trail(env, monkeypatch, capsys):
    url, imports, tmp = env["db_url"], env["imports"], env["tmp"]
    dagster_home = tmp / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPO / "dagster.yaml", dagster_home / "dagster.yaml")  # the project's instance, as scripts/dagster_dev.py installs it
    extra = {"DAGSTER_HOME": str(dagster_home), "FMP_API_KEY": API_KEY, "SIGMASIGHT_PROVIDERS": "file"}
    outputs: dict[str, str] = {}

    # 1. john.smith with a plaintext password
    john = copy_demo(imports, JOHN)
    r = cli("onboard", str(john), "--sessions", "0", env_extra=extra)
    outputs["1 onboard john"] = r.stdout + r.stderr
    assert r.returncode == 0, r.stdout + r.stderr
    assert PLAINTEXT_WARNING in r.stdout
    with get_engine(url).connect() as conn:
        john_hash = conn.execute(select(User.hashed_password).where(User.email == JOHN)).scalar_one()
    assert john_hash.startswith("$2b$")

    # 2. a drop with password_hash only: stored as given, no plaintext warning
    given_hash = hash_password(HASHED_PLAIN, 4)
    hashed = write_drop(imports, HASHED, "AAPL,10,150.25,LONG,2024-01-15,Core,,,\nMSFT,5,320.50,LONG,2024-01-10,Core,,,\n",
                        {"password": ..., "password_hash": given_hash})
    r = cli("onboard", str(hashed), "--sessions", "0", env_extra=extra)
    outputs["2 onboard hashed"] = r.stdout + r.stderr
    assert r.returncode == 0, r.stdout + r.stderr
    assert PLAINTEXT_WARNING not in r.stdout + r.stderr
    with get_engine(url).connect() as conn:
        assert conn.execute(select(User.hashed_password).where(User.email == HASHED)).scalar_one() == given_hash

    # 3. john re-drops: one quantity changed, one position gone -> reconciliation
    csv = (john / "portfolio.csv").read_text().replace("AAPL,1000,", "AAPL,1200,")
    csv = "".join(line + "\n" for line in csv.splitlines() if not line.startswith("GOOGL,"))
    (john / "portfolio.csv").write_text(csv)
    r = cli("onboard", str(john), "--sessions", "0", env_extra=extra)
    outputs["3 reconcile john"] = r.stdout + r.stderr
    assert r.returncode == 0, r.stdout + r.stderr
    assert "(inserted 0, updated 1, soft-deleted 1, unchanged 3)" in r.stdout

    # 4. a rejected drop: nothing written, every problem listed, audited
    good_csv = (john / "portfolio.csv").read_text()
    (john / "portfolio.csv").write_text(good_csv.replace(",LONG,", ",LONGG,", 1))
    r = cli("onboard", str(john), "--sessions", "0", env_extra=extra)
    outputs["4 rejected john"] = r.stdout + r.stderr
    assert r.returncode == 1, r.stdout + r.stderr
    assert "REJECTED" in r.stderr and "position_type" in r.stderr

    # 5. offboarding
    r = cli("offboard", JOHN, env_extra=extra)
    outputs["5 offboard john"] = r.stdout + r.stderr
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"offboarded {JOHN}" in r.stdout

    # --- the Dagster instance the CLI wrote to -------------------------------------------------
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    instance = DagsterInstance.get()
    try:
        runs = instance.get_runs()
        instance_text: dict[str, str] = {}
        warnings_logged = []
        for run in runs:
            records = instance.get_records_for_run(run.run_id, limit=100_000).records
            instance_text[f"run {run.run_id[:8]} {run.job_name}"] = "\n".join(
                [repr(run.run_config), repr(run.tags), repr(run)] + [repr(rec.event_log_entry) for rec in records]
            )
            warnings_logged += [rec.event_log_entry for rec in records
                                if rec.event_log_entry.level == logging.WARNING and PLAINTEXT_WARNING in rec.event_log_entry.user_message]
    finally:
        instance.dispose()
    # four onboard_client runs: the CLI runs the job for the rejected drop too (the run rejects it)
    assert sorted(r.job_name for r in runs) == ["offboard_client"] + ["onboard_client"] * 4
    # the plaintext-password warning is a Dagster WARNING log of john's two runs, not of the hashed one
    assert len(warnings_logged) == 2, [w.user_message for w in warnings_logged]

    # --- search everything -------------------------------------------------------------------------
    haystacks: dict[str, bytes | str] = {f"cli {k}": v for k, v in outputs.items()}
    haystacks.update({f"dagster instance {k}": v for k, v in instance_text.items()})
    haystacks["sigmasight db (all tables)"] = db_dump(url)
    haystacks.update({f"file {p.relative_to(tmp)}": b for p, b in files_under(dagster_home, tmp / "state").items()})
    if url.startswith("sqlite"):
        db_file = Path(make_url(url).database)
        for suffix in ("", "-wal", "-shm", "-journal"):
            f = db_file.with_name(db_file.name + suffix)
            if f.exists():
                haystacks[f"raw {f.name}"] = f.read_bytes()
    audit_text = json.dumps([{k: str(v) for k, v in row.items()} for e in (JOHN, HASHED) for row in audit_rows(url, e)])
    haystacks["audit log"] = audit_text
    on_disk = sum(1 for k in haystacks if k.startswith("file "))
    assert on_disk >= 3 and any("dagster_home" in k for k in haystacks), sorted(haystacks)

    leaks = {name: occurrences(secret, haystacks) for name, secret in
             {"password": PASSWORD, "api key": API_KEY, "hash-only plaintext": HASHED_PLAIN}.items()}
    assert leaks == {"password": {}, "api key": {}, "hash-only plaintext": {}}, leaks
    # password hashes belong in users.hashed_password only: not in logs, events, outputs or the audit
    not_users = {k: v for k, v in haystacks.items() if not k.startswith(("sigmasight db", "raw "))}
    not_users["sigmasight db (no users)"] = db_dump(url, skip=("users",))
    hash_leaks = {h[:12]: occurrences(h, not_users) for h in (john_hash, given_hash)}
    assert all(not v for v in hash_leaks.values()), hash_leaks

    # --- the audit trail -----------------------------------------------------------------------------
    trail = audit_rows(url, JOHN)
    assert [(r["action"], r["outcome"]) for r in trail] == [
        ("onboard", "success"), ("reconcile", "success"), ("onboard", "rejected"), ("offboard", "success")]
    assert [(r["action"], r["outcome"]) for r in audit_rows(url, HASHED)] == [("onboard", "success")]
    now = datetime.now(timezone.utc)
    for row in trail + audit_rows(url, HASHED):
        assert row["client_email"] in (JOHN, HASHED)
        assert row["actor"] and row["actor"].strip()
        at = row["at"] if row["at"].tzinfo else row["at"].replace(tzinfo=timezone.utc)
        assert now - timedelta(minutes=30) < at <= now + timedelta(seconds=5)
        assert row["details"], row
        details = json.dumps(row["details"])
        assert PASSWORD not in details and HASHED_PLAIN not in details and "$2b$" not in details
    # the rejection is audited once, by the asset of the CLI's run (the CLI does not validate)
    assert trail[2]["actor"].startswith("dagster run ") and trail[2]["details"]["problem_count"] == 1
    assert trail[3]["details"]["rows_deleted"]["users"] == 1
    assert [r["at"] for r in trail] == sorted(r["at"] for r in trail)

    with capsys.disabled():
        print(f"\n[secrets {url.split(':')[0]}] searched {len(haystacks)} places ({on_disk} files on disk, "
              f"{len(runs)} Dagster runs, {sum(len(v) for v in haystacks.values()) / 1e6:.1f} MB): "
              f"0 passwords, 0 API keys, 0 hashes outside users; audit trail {[(r['action'], r['outcome']) for r in trail]}")


def test_fmp_key_never_leaks_from_a_failing_provider(env, monkeypatch, caplog):
    """FMP echoing the key in error bodies, failing for good for a symbol no provider has: the
    failure reasons, the database (gaps, cache) and the logs never carry the key."""
    monkeypatch.setenv("SIGMASIGHT_PROVIDERS", "fmp,file")
    monkeypatch.setenv("FMP_API_KEY", API_KEY)
    url = env["db_url"]

    def handler(request: httpx.Request) -> httpx.Response:
        sym = request.url.params["symbol"]
        echo = f"Invalid API KEY {API_KEY} for {request.url}"
        if sym == "AAPL":
            return httpx.Response(401, json={"Error Message": echo})
        if sym == "MSFT":
            return httpx.Response(500, text=echo)
        if sym == "NVDA":
            return httpx.Response(200, content=("{" + echo).encode(), headers={"content-type": "application/json"})
        return httpx.Response(403, json={"Error Message": echo})  # NOTREAL: and the file lacks it too

    caplog.set_level(logging.DEBUG)
    chain = build_provider_chain(get_settings(), transport=httpx.MockTransport(handler), sleep=lambda s: None)
    sessions = sessions_between(date(2026, 7, 1), date(2026, 8, 3))
    summary = backfill_prices(get_engine(url), chain, ["AAPL", "MSFT", "NVDA", "NOTREAL"], sessions)
    assert set(summary["failures"]) == {"NOTREAL"}
    assert "fmp: " in summary["failures"]["NOTREAL"] and "file: " in summary["failures"]["NOTREAL"]
    with get_engine(url).connect() as conn:
        sources = dict(conn.execute(select(MarketDataCache.symbol, MarketDataCache.data_source).distinct()).all())
    assert sources == {"AAPL": "file", "MSFT": "file", "NVDA": "file"}
    haystacks = {"summary": repr(summary), "chain": repr(chain) + repr(chain.providers), "db": db_dump(url),
                 "logs": caplog.text + "\n".join(repr(r.args) for r in caplog.records)}
    assert occurrences(API_KEY, haystacks) == {}


# --- production mode ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "password", "rules"),
    [
        ("prod.weak@example.com", "short1", ["at least 12 characters", "at least 3 of: lower case, upper case, digit, symbol"]),
        ("prod.weak@example.com", "onlylowercaseletters", ["at least 3 of: lower case, upper case, digit, symbol"]),
        ("prod.user@example.com", "Prod.User-2026!x", ["must not contain the email's name part"]),
    ],
)
def test_production_password_policy_exit_1_naming_the_rule(env, monkeypatch, capsys, email, password, rules):
    monkeypatch.setenv("SIGMASIGHT_ENV", "production")
    folder = write_drop(env["imports"], email, "AAPL,10,150,LONG,2024-01-15,Core,,,\n", {"password": password})
    assert main(["onboard", str(folder), "--sessions", "0"]) == 1
    out = capsys.readouterr()
    assert "fails the production password policy" in out.err
    for rule in rules:
        assert rule in out.err
    assert password not in out.out + out.err
    assert client_tables(env["db_url"])["users"] == 0
    (row,) = audit_rows(env["db_url"], email)
    assert (row["action"], row["outcome"]) == ("onboard", "rejected") and row["actor"].startswith("dagster run ")
    assert password not in json.dumps(row["details"])


def test_production_refuses_synthetic_prices_with_a_clear_error(env, monkeypatch, capsys):
    monkeypatch.setenv("SIGMASIGHT_ENV", "production")
    monkeypatch.setenv("SIGMASIGHT_ALLOW_SYNTHETIC", "1")
    folder = write_drop(env["imports"], "prod.synth@example.com", "AAPL,10,150,LONG,2024-01-15,Core,,,\n",
                        {"password": "Str0ng!Passphrase-x"})
    assert main(["onboard", str(folder), "--sessions", "0"]) == 2
    err = capsys.readouterr().err
    assert "synthetic prices are refused in production (unset SIGMASIGHT_ALLOW_SYNTHETIC); nothing was written" in err
    assert "Stack Trace" not in err and "STEP_FAILURE" not in err  # the run's refusal, in the CLI's words only
    # audited once, by the run's asset; `status` names the refusal
    (row,) = audit_rows(env["db_url"], "prod.synth@example.com")
    assert (row["action"], row["outcome"]) == ("onboard", "rejected") and "synthetic" in row["details"]["configuration"]
    assert main(["status", "prod.synth@example.com"]) == 4
    assert "onboard: rejected (configuration refused: synthetic prices are refused" in capsys.readouterr().out
    # the same refusal inside the Dagster run (sensor/UI path): before anything is written, not retried
    from sigmasight_onboarding.cli import failure_reasons, run_onboarding

    result = run_onboarding("prod.synth@example.com", ephemeral_instance())
    assert not result.success
    assert any("configuration refused, nothing was written" in r for r in failure_reasons(result))
    with get_engine(env["db_url"]).connect() as conn:
        assert conn.execute(select(MarketDataCache.symbol).where(MarketDataCache.data_source == "synthetic")).first() is None
        assert conn.execute(text("SELECT COUNT(*) FROM users")).scalar_one() == 0
    # and the chain itself refuses, whatever asks for it
    from sigmasight_onboarding.resources.market_data_resource import MarketDataResource

    with pytest.raises(ValueError, match="refused in production"):
        MarketDataResource().chain()


def test_production_ids_are_random_uuid4(env, monkeypatch, capsys):
    monkeypatch.setenv("SIGMASIGHT_ENV", "production")
    email = "prod.ids@example.com"
    folder = write_drop(env["imports"], email, "AAPL,10,150,LONG,2024-01-15,Core,,,\nMSFT,5,300,LONG,2024-01-15,Core,,,\n",
                        {"password": "Str0ng!Passphrase-x"})
    assert main(["onboard", str(folder), "--sessions", "0"]) == 0, capsys.readouterr()
    with get_engine(env["db_url"]).connect() as conn:
        user_id = conn.execute(select(User.id)).scalar_one()
        portfolio_id = conn.execute(select(Portfolio.id)).scalar_one()
        positions = dict(conn.execute(select(Position.symbol, Position.id)).all())
        tag_id = conn.execute(select(Tag.id)).scalar_one()
    ids = [user_id, portfolio_id, tag_id, *positions.values()]
    assert all(uuid.UUID(str(i)).version == 4 for i in ids)
    assert len({str(i) for i in ids}) == len(ids)
    assert user_id != deterministic_uuid(f"{email}_user")
    assert portfolio_id != deterministic_uuid(f"{email}_portfolio")
    assert positions["AAPL"] != deterministic_uuid(f"{portfolio_id}_AAPL_position")
