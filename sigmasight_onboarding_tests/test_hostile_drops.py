"""Hostile and malformed drops (reliability, part 1): the reader, the database and the sensor.

1. Reader: every case of `hostile_corpus.CORPUS` (~490 drops) through `read_drop` -> the expected
   `DropValidationError` problems, or (hostile-looking but valid text) acceptance with the text
   verbatim. Any other exception is a crash, i.e. a bug.
2. Properties (hypothesis): arbitrary bytes never crash the reader; generated valid drops are
   accepted with exact values; one corrupted cell is reported on its own line.
3. Database (SQLite and PostgreSQL): a sample of the corpus, one per category, onboarded through
   the real job beside a good drop -> rejected, audited, nothing written; the sensor survives an
   imports folder full of hostile drops and still requests the good one.
4. Formula-like and HTML text is stored verbatim; `exports.to_safe_csv` neutralises it on the way out.

Fuzzing longer (the property tests scale, the rest is unchanged):

    SIGMASIGHT_FUZZ_EXAMPLES=5000 python -m pytest sigmasight_onboarding_tests/test_hostile_drops.py
    HYPOTHESIS_PROFILE=fuzz python -m pytest sigmasight_onboarding_tests/test_hostile_drops.py -k property
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from dagster import build_sensor_context
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from sigmasight_onboarding.cli import run_onboarding
from sigmasight_onboarding.config import Settings
from sigmasight_onboarding.db.engine import get_engine
from sigmasight_onboarding.db.models import OnboardingAuditLog, Portfolio, Tag, User
from sigmasight_onboarding.definitions import defs
from sigmasight_onboarding.drops.problems import DropValidationError
from sigmasight_onboarding.drops.reader import ClientDrop, read_drop
from sigmasight_onboarding.exports import neutralise_cell, to_safe_csv
from sigmasight_onboarding.sensors import client_drop_sensor
from sigmasight_onboarding.ephemeral_instance import ephemeral_instance

from .conftest import client_tables, copy_demo, table_snapshot
from .hostile_corpus import (
    CLIENT,
    COLUMNS,
    CORPUS,
    CSV,
    EMAIL,
    GOOD_CLIENT,
    GOOD_CLIENT_JSON,
    GOOD_CSV,
    HEADER,
    LIMITS,
    HostileCase,
    by_category,
    client,
    remove_drop,
)

JOHN = "john.smith@example.com"
REQUIRED_CATEGORIES = {
    "columns", "numbers", "zero quantity", "dates", "types", "symbols", "formula injection", "html", "options",
    "expired options", "signs", "duplicates", "path traversal", "oversize", "encoding", "nan/inf", "client.json",
    "combined", "declared size", "preflight",
}

# --- hypothesis budget: modest by default, long with SIGMASIGHT_FUZZ_EXAMPLES or HYPOTHESIS_PROFILE=fuzz ----------
FUZZ_EXAMPLES = int(os.environ.get("SIGMASIGHT_FUZZ_EXAMPLES", "0") or 0)
LONG_FUZZ = FUZZ_EXAMPLES > 0 or os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"
_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
           HealthCheck.function_scoped_fixture]


def fuzz(default: int):
    """Hypothesis settings: `default` examples; SIGMASIGHT_FUZZ_EXAMPLES (or 5000 with HYPOTHESIS_PROFILE=fuzz) when set."""
    return settings(max_examples=(FUZZ_EXAMPLES or 5000) if LONG_FUZZ else default, deadline=None,
                    suppress_health_check=_HEALTH, print_blob=True)


def reader_settings(imports: Path, env: tuple[tuple[str, str], ...] = ()) -> Settings:
    """Settings as the tests' environment would give them: small limits, development unless `env` says otherwise."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("SIGMASIGHT_ENV", raising=False)
        for name, value in {**LIMITS, "SIGMASIGHT_IMPORTS_DIR": str(imports), **dict(env)}.items():
            mp.setenv(name, value)
        return Settings.from_env()


def secrets_of(case: HostileCase) -> list[str]:
    try:
        data = json.loads(case.client_json)
    except Exception:
        return []
    value = data.get("password") if isinstance(data, dict) else None
    return [value] if isinstance(value, str) and len(value) >= 8 and value.isprintable() else []


def check_verbatim(case: HostileCase, drop: ClientDrop) -> None:
    assert case.verbatim, f"{case.name}: an accepted case must check something"
    for key, expected in case.verbatim:
        if key == "warning":
            assert any(expected in w for w in drop.warnings), (case.name, drop.warnings)
        elif key == "rows":
            assert len(drop.positions) == expected, case.name
        elif ":" in key:
            column, symbol = key.split(":", 1)
            matches = drop.positions[drop.positions["symbol"] == symbol]
            assert len(matches) == 1, (case.name, list(drop.positions["symbol"]))
            actual = matches.iloc[0][column]
            if isinstance(actual, Decimal):
                actual = str(actual)
            assert actual == expected, (case.name, column, actual, expected)
        else:
            assert getattr(drop.client, key) == expected, (case.name, key, getattr(drop.client, key), expected)


# === 1. the corpus through the reader ===========================================================

def test_corpus_is_large_distinct_and_covers_every_category():
    names = [c.name for c in CORPUS]
    assert len(CORPUS) >= 200
    assert len(set(names)) == len(names), [n for n, k in Counter(names).items() if k > 1]
    fingerprints = Counter(c.fingerprint() for c in CORPUS)
    assert len(fingerprints) == len(CORPUS), [c.name for c in CORPUS if fingerprints[c.fingerprint()] > 1]
    categories = by_category()
    assert REQUIRED_CATEGORIES <= set(categories), REQUIRED_CATEGORIES - set(categories)
    assert all(len(v) >= 3 for v in categories.values()), {k: len(v) for k, v in categories.items()}
    assert sum(c.accepted for c in CORPUS) >= 30  # formula / HTML text, tolerated spellings
    assert all(c.expected or c.verbatim for c in CORPUS)


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_corpus_case_through_reader(case: HostileCase, tmp_path):
    imports, scratch = tmp_path / "imports", tmp_path / "scratch"
    imports.mkdir()
    scratch.mkdir()
    folder = case.materialise(imports, scratch)
    try:
        drop = read_drop(folder, reader_settings(imports, case.env))
    except DropValidationError as err:
        assert not case.accepted, f"{case.name}: a valid drop was rejected:\n{err}"
        missing = [x for x in case.expected if not any(x.matches(p, folder.name) for p in err.problems)]
        assert not missing, f"{case.name}: expected {missing}, got:\n" + "\n".join(map(repr, err.problems))
        message = str(err)
        message.encode("utf-8")  # printable by the CLI, storable in the audit log
        for secret in secrets_of(case):
            assert secret not in message, f"{case.name}: password echoed"
        return
    except Exception as exc:  # a crash is a bug
        pytest.fail(f"{case.name}: read_drop crashed with {type(exc).__name__}: {exc}")
    assert case.accepted, f"{case.name}: accepted a drop that should be rejected with {case.expected}"
    check_verbatim(case, drop)


# === 2. properties ================================================================================

@pytest.fixture(scope="module")
def fuzz_imports(tmp_path_factory):
    imports = tmp_path_factory.mktemp("fuzz") / "imports"
    imports.mkdir()
    return imports


def _write(imports: Path, client_json: bytes, portfolio_csv: bytes) -> Path:
    folder = imports / EMAIL
    folder.mkdir(exist_ok=True)
    (folder / CLIENT).write_bytes(client_json)
    (folder / CSV).write_bytes(portfolio_csv)
    return folder


def _splice(base: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    out = bytearray(base)
    for at, drop, insert in edits:
        at = min(at, len(out))
        out[at:at + drop] = insert
    return bytes(out)


def mutations(base: bytes) -> st.SearchStrategy[bytes]:
    edit = st.tuples(st.integers(0, len(base)), st.integers(0, 8), st.binary(max_size=8))
    return st.lists(edit, min_size=1, max_size=6).map(lambda edits: _splice(base, edits))


def _csv_text(rows: list[list[str]], header: str = HEADER, eol: str = "\n") -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator=eol).writerows(rows)
    return header + eol + out.getvalue()


# arbitrary text in CSV cells, including numbers-, dates- and formula-like text
cell_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "0", "-1", "1e3", "NaN", "inf", "2024-01-15", "2999-01-01", "LONG", "SHORT", "LC", "SP",
                     "SPY250919C00460000", "SPY", "460", "=1+1", "@A1", "１０", "½", " AAPL "]),
    st.from_regex(r"-?[0-9]{1,14}(\.[0-9]{0,6})?", fullmatch=True),
)
random_csv = st.lists(st.lists(cell_text, min_size=7, max_size=10), min_size=1, max_size=6).map(
    lambda rows: _csv_text(rows).encode("utf-8", "surrogatepass"))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
random_client = st.dictionaries(
    st.sampled_from(sorted(GOOD_CLIENT) + ["password_hash", "extra"]) | st.text(max_size=8), json_values, max_size=8,
).map(lambda d: json.dumps({**GOOD_CLIENT, **d}).encode())


@fuzz(100)
@given(which=st.sampled_from([CLIENT, CSV]),
       data=st.one_of(st.binary(max_size=2000), mutations(GOOD_CSV), mutations(GOOD_CLIENT_JSON), random_csv, random_client))
def test_property_arbitrary_bytes_never_crash(fuzz_imports, which, data):
    files = {CLIENT: GOOD_CLIENT_JSON, CSV: GOOD_CSV, which: data}
    folder = _write(fuzz_imports, files[CLIENT], files[CSV])
    try:
        read_drop(folder, reader_settings(fuzz_imports))
    except DropValidationError as err:
        assert err.problems and all(p.rule for p in err.problems)
        str(err).encode("utf-8")


# --- generated valid drops ----------------------------------------------------------------------

def _decimal(max_value: int, max_places: int = 4) -> st.SearchStrategy[Decimal]:
    """Positive Decimals < max_value with 0..max_places decimal places, exactly as written."""
    return st.integers(0, max_places).flatmap(
        lambda k: st.integers(1, max_value * 10**k - 1).map(lambda n: Decimal(n).scaleb(-k)))


plain_text = st.characters(blacklist_categories=("Cc", "Cs"))
tag_text = st.one_of(
    st.text(plain_text.filter(lambda ch: ch != ","), min_size=1, max_size=30),
    st.sampled_from(["=SUM(A1)", "+1", "-2", "@x", '=HYPERLINK("http://evil.example")', "<b>x</b>", "Core Holdings"]),
).filter(lambda t: t == " ".join(t.split()))
name_text = st.one_of(
    st.text(plain_text, min_size=1, max_size=80),
    st.tuples(st.sampled_from("=+-@"), st.text(plain_text, max_size=40)).map("".join),
    st.just("<script>alert(1)</script>"),
).filter(lambda t: t == t.strip() and t != "")
TODAY = date.today()


@st.composite
def positions(draw):
    """One valid position as the reader must parse it (`expected`) and as it is written (`cells`)."""
    entry = draw(st.dates(min_value=date(1970, 1, 1), max_value=TODAY))
    tags = draw(st.lists(tag_text, max_size=4, unique=True))
    quantity = draw(_decimal(999_999_999_999))
    price = draw(_decimal(99_999_999))
    if draw(st.booleans()):
        kind = draw(st.sampled_from(["LONG", "SHORT"]))
        symbol = draw(st.from_regex(r"[A-Z]{1,5}(\.[A-Z])?", fullmatch=True))
        underlying, strike, expiry = None, None, None
    else:
        kind = draw(st.sampled_from(["LC", "LP", "SC", "SP"]))
        underlying = draw(st.from_regex(r"[A-Z]{1,5}", fullmatch=True))
        expiry = draw(st.dates(min_value=max(entry, date(2000, 1, 1)), max_value=date(2099, 12, 31)))
        strike = draw(_decimal(100_000, 3))
        symbol = f"{underlying}{expiry:%y%m%d}{'C' if kind in ('LC', 'SC') else 'P'}{int(strike * 1000):08d}"
    if kind in ("SHORT", "SC", "SP"):
        quantity = -quantity
    expected = dict(symbol=symbol, quantity=quantity, entry_price=price, position_type=kind, entry_date=entry, tags=tags,
                    underlying_symbol=underlying, strike_price=strike, expiration_date=expiry)
    shout = draw(st.booleans())  # symbols and types are case-insensitive and trimmed
    pad = draw(st.sampled_from(["", " ", "  "]))
    cells = [pad + (symbol if shout else symbol.lower()) + pad, format(quantity, "f"), format(price, "f"),
             kind if shout else kind.lower(), entry.isoformat(), ",".join(tags), underlying or "",
             "" if strike is None else format(strike, "f"), "" if expiry is None else expiry.isoformat()]
    return expected, cells


valid_drops = st.fixed_dictionaries({
    "positions": st.lists(positions(), min_size=1, max_size=8, unique_by=lambda p: p[0]["symbol"]),
    "blank_before": st.lists(st.booleans(), min_size=8, max_size=8),
    "eol": st.sampled_from(["\n", "\r\n"]),
    "bom": st.booleans(),
    "full_name": name_text,
    "portfolio_name": name_text,
})


def render(drop: dict) -> tuple[bytes, list[int]]:
    """portfolio.csv bytes of a generated drop and the line number of each position."""
    eol, lines, out = drop["eol"], [], [HEADER]
    for (_expected, cells), blank in zip(drop["positions"], drop["blank_before"]):
        if blank:
            out.append("")
        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow(cells)
        out.append(buf.getvalue())
        lines.append(len(out))
    text = eol.join(out) + eol
    return (b"\xef\xbb\xbf" if drop["bom"] else b"") + text.encode(), lines


@fuzz(100)
@given(drop=valid_drops)
def test_property_valid_drops_are_accepted_exactly(fuzz_imports, drop):
    portfolio_csv, _lines = render(drop)
    client_json = client(full_name=drop["full_name"], portfolio_name=drop["portfolio_name"])
    parsed = read_drop(_write(fuzz_imports, client_json, portfolio_csv), reader_settings(fuzz_imports))
    assert parsed.client.full_name == drop["full_name"]
    assert parsed.client.portfolio_name == drop["portfolio_name"]
    assert len(parsed.positions) == len(drop["positions"])
    for (expected, _cells), (_line, got) in zip(drop["positions"], parsed.positions.iterrows()):
        for column, value in expected.items():
            actual = got[column]
            if isinstance(value, Decimal):
                assert isinstance(actual, Decimal) and actual == value and str(actual) == str(value), (column, actual, value)
            else:
                assert actual == value, (column, actual, value)


CORRUPTIONS = {
    "symbol": ["", "A B", "=X", "+X", "-X", "@X", "ÄX", "X;", "ﬀ"],
    "quantity": ["", "1,000", "1e3", "NaN", "inf", "0", "-0", "１", "abc", "0x10", "½", "1.00001", "FLIP"],
    "entry_price": ["0", "-1", "", "NaN", "1e3", "1.00001", "100000000", "٣"],
    "position_type": ["", "XX", "BUY", "ſhort", "LONG SHORT"],
    "entry_date": ["2024-02-30", "1900-01-01", "2999-01-01", "24-01-15", "", "2024/01/15",
                   (TODAY + timedelta(days=1)).isoformat()],
}


@fuzz(100)
@given(drop=valid_drops, data=st.data())
def test_property_one_corrupted_cell_is_named_on_its_line(fuzz_imports, drop, data):
    index = data.draw(st.integers(0, len(drop["positions"]) - 1))
    column = data.draw(st.sampled_from(sorted(CORRUPTIONS)))
    bad = data.draw(st.sampled_from(CORRUPTIONS[column]))
    expected, cells = drop["positions"][index]
    cells = list(cells)
    position = COLUMNS.index(column)
    cells[position] = format(-expected["quantity"], "f") if bad == "FLIP" else bad
    drop["positions"][index] = (expected, cells)
    portfolio_csv, lines = render(drop)
    with pytest.raises(DropValidationError) as info:
        read_drop(_write(fuzz_imports, GOOD_CLIENT_JSON, portfolio_csv), reader_settings(fuzz_imports))
    problems = info.value.problems
    assert problems
    assert {p.line for p in problems} == {lines[index]}, (column, bad, lines[index], problems)
    assert all(p.file == CSV for p in problems)


# === 3. database and sensor =========================================================================

def _db_sample() -> list[HostileCase]:
    """One rejected case per category (plus a few that once crashed or slipped through), ~25 in all."""
    skip = {"client_symlink_etc_passwd", "portfolio_symlink_dev_zero"}
    sample = []
    for items in by_category().values():  # html has only valid cases: see test_formula_and_html_text_is_stored_verbatim
        sample += [c for c in items if not c.accepted and not c.env and c.setup not in skip and c.key == EMAIL][:1]
    extras = ["client.json: lone surrogate in full_name", "client.json: password with NUL", "numbers: quantity '１００'",
              "client.json: duplicate email key", "path traversal: folder symlink outside", "path traversal: portfolio fifo",
              "types: position_type 'ſhort'", "encoding: portfolio.csv PNG"]
    names = {c.name: c for c in CORPUS}
    sample += [names[n] for n in extras if names[n] not in sample]
    return sample


DB_SAMPLE = _db_sample()


def _without_audit(url: str) -> dict:
    snapshot = table_snapshot(url)
    snapshot.pop("onb_audit_log")
    return snapshot


def _audit_rows(url: str, key: str) -> list[tuple[str, dict]]:
    with get_engine(url).connect() as conn:
        rows = conn.execute(select(OnboardingAuditLog.outcome, OnboardingAuditLog.details)
                            .where(OnboardingAuditLog.client_email == key).order_by(OnboardingAuditLog.id)).all()
    return [(r.outcome, r.details) for r in rows]


def test_db_sample_covers_every_category():
    assert 20 <= len(DB_SAMPLE) <= 30
    assert {c.category for c in DB_SAMPLE} == {c.category for c in CORPUS if not c.accepted}


def test_hostile_drops_are_rejected_and_write_nothing(env, monkeypatch):
    for name, value in LIMITS.items():
        monkeypatch.setenv(name, value)
    imports, url = env["imports"], env["db_url"]
    instance = ephemeral_instance()
    copy_demo(imports, JOHN)
    assert run_onboarding(JOHN, instance).success
    baseline, counts = _without_audit(url), client_tables(url)
    for i, case in enumerate(DB_SAMPLE):
        remove_drop(imports, keep={JOHN})
        scratch = env["tmp"] / f"scratch-{i}"
        scratch.mkdir()
        case.materialise(imports, scratch)
        audits = _audit_rows(url, case.key)
        result = run_onboarding(case.key, instance)
        assert not result.success, case.name
        assert _without_audit(url) == baseline, f"{case.name}: something was written"
        new = _audit_rows(url, case.key)[len(audits):]
        assert [outcome for outcome, _ in new] == ["rejected"], (case.name, new)
        if case.setup == "plain":
            rules = [p["rule"] for p in new[0][1]["problems"]]
            assert any(x.words in rule for x in case.expected for rule in rules), (case.name, rules)
    remove_drop(imports, keep={JOHN})
    assert run_onboarding(JOHN, instance).success  # the good drop beside them: still fine
    assert client_tables(url) == counts  # (analytics are recomputed on a re-run; the client's rows are not)


SENSOR_NEVER_REQUESTS = {"folder_symlink_outside", "folder_symlink_inside", "client_symlink", "portfolio_symlink",
                         "both_symlinks", "client_symlink_etc_passwd", "portfolio_symlink_dev_zero", "dangling_symlink",
                         "symlink_loop", "client_is_directory", "portfolio_is_directory", "portfolio_fifo",
                         "folder_is_file", "missing_client", "missing_portfolio", "missing_both"}


def test_sensor_survives_an_imports_folder_full_of_hostile_drops(env, monkeypatch):
    for name, value in LIMITS.items():
        monkeypatch.setenv(name, value)
    imports = env["imports"]
    copy_demo(imports, JOHN)
    skipped = set()
    for i, case in enumerate(CORPUS):
        name = f"hostile-{i:03d}@example.com"
        case.materialise(imports, env["tmp"] / "scratch", folder_name=name)
        if case.setup in SENSOR_NEVER_REQUESTS:
            skipped.add(name)
    raw = os.fsencode(imports)
    for weird in (b"bad\xff\xfe@example.com", b"line\nbreak@example.com", b"trail@example.com\n", b" space@example.com",
                  b"-rf@example.com", b"a" * 200 + b"@example.com", b".hidden@example.com", b"..@example.com",
                  b"%2e%2e%2f@example.com", b"<script>@example.com", b"CON", b"nul"):
        os.mkdir(raw + b"/" + weird)
        (Path(os.fsdecode(raw + b"/" + weird)) / CLIENT).write_bytes(GOOD_CLIENT_JSON)
        (Path(os.fsdecode(raw + b"/" + weird)) / CSV).write_bytes(GOOD_CSV)
    (imports / "plain-file@example.com").write_text("not a folder")
    (imports / "empty@example.com").mkdir()

    instance = ephemeral_instance()
    result = client_drop_sensor(build_sensor_context(instance=instance, cursor=None, definitions=defs, resources=defs.resources))
    requested = {r.partition_key for r in result.run_requests}
    assert JOHN in requested
    assert not requested & skipped, sorted(requested & skipped)
    assert all(key.isascii() and key == key.strip() and "\n" not in key for key in requested)
    for req in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
    again = client_drop_sensor(build_sensor_context(instance=instance, cursor=result.cursor, definitions=defs, resources=defs.resources))
    assert not getattr(again, "run_requests", None)  # nothing changed: nothing re-requested
    assert run_onboarding(JOHN, instance).success


# === 4. formula-like and HTML text: stored verbatim, neutralised on export ==========================

FORMULA_CLIENT = {"full_name": '=HYPERLINK("http://evil.example","click")<script>alert(1)</script>',
                  "portfolio_name": "@SUM(A1)", "portfolio_description": "-2+3 <img src=x onerror=alert(1)>"}
FORMULA_TAGS = ["=SUM(A1)", "+1", "-2", "@x", '=HYPERLINK("http://x")', "<script>alert(1)</script>"]


def test_formula_and_html_text_is_stored_verbatim(env):
    imports, url, email = env["imports"], env["db_url"], "formula@example.com"
    folder = imports / email
    folder.mkdir()
    (folder / CLIENT).write_bytes(client(email=email, **FORMULA_CLIENT))
    (folder / CSV).write_text(_csv_text([["AAPL", "100", "150.25", "LONG", "2024-01-15", ",".join(FORMULA_TAGS), "", "", ""]]))
    assert run_onboarding(email, ephemeral_instance()).success
    with get_engine(url).connect() as conn:
        full_name = conn.execute(select(User.full_name).where(User.email == email)).scalar_one()
        portfolio = conn.execute(select(Portfolio.name, Portfolio.description).join(User, User.id == Portfolio.user_id)
                                 .where(User.email == email)).one()
        tags = sorted(conn.execute(select(Tag.name).join(User, User.id == Tag.user_id).where(User.email == email)).scalars())
    assert full_name == FORMULA_CLIENT["full_name"]
    assert tuple(portfolio) == (FORMULA_CLIENT["portfolio_name"], FORMULA_CLIENT["portfolio_description"])
    assert tags == sorted(FORMULA_TAGS)
    # on the way out (the report's CSV), formulas are neutralised; plain numbers and HTML are left to their writers
    exported = list(csv.reader(io.StringIO(to_safe_csv(pd.DataFrame({"full_name": [full_name] * len(tags), "tag": tags})))))
    assert exported[0] == ["full_name", "tag"]
    assert {r[0] for r in exported[1:]} == {"'" + full_name}
    assert sorted(r[1] for r in exported[1:]) == sorted(["'=SUM(A1)", "+1", "-2", "'@x", "'=HYPERLINK(\"http://x\")",
                                                         "<script>alert(1)</script>"])


@pytest.mark.parametrize("value, expected", [
    ("=1+1", "'=1+1"), ("+CMD", "'+CMD"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\r=1", "'\r=1"),
    ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'), ("-", "'-"), ("+", "'+"), ("-1e3", "'-1e3"),
    ("-300", "-300"), ("+1.5", "+1.5"), ("-.5", "-.5"), ("300", "300"), ("AAPL", "AAPL"), ("", ""),
    (" =1+1", " =1+1"), ("a=b", "a=b"), ("<script>alert(1)</script>", "<script>alert(1)</script>"), ("'=x", "'=x"),
])
def test_neutralise_cell(value, expected):
    assert neutralise_cell(value) == expected


@fuzz(200)
@given(st.text(max_size=30))
def test_property_neutralised_cells_never_start_a_formula(value):
    safe = neutralise_cell(value)
    assert safe in (value, "'" + value)
    if safe.startswith(("=", "+", "-", "@", "\t", "\r")):
        assert safe == value and re.fullmatch(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)", value)  # plain numbers only


def test_to_safe_csv_neutralises_text_cells_and_headers_only():
    frame = pd.DataFrame({
        "symbol": ["AAPL", "TSLA", "=EVIL"],
        "quantity": [1000, -300, 5],
        "price": [Decimal("150.25"), Decimal("-1.5"), Decimal("2")],
        "tags": ["Core Holdings,Tech", "-2+3", "@SUM(A1)"],
        "note": ["-300", None, "\t=1"],
        "=cmd": ["x", "y", "z"],
    })
    rows = list(csv.reader(io.StringIO(to_safe_csv(frame))))
    assert rows[0] == ["symbol", "quantity", "price", "tags", "note", "'=cmd"]
    assert rows[1] == ["AAPL", "1000", "150.25", "Core Holdings,Tech", "-300", "x"]
    assert rows[2] == ["TSLA", "-300", "-1.5", "'-2+3", "", "y"]
    assert rows[3] == ["'=EVIL", "5", "2", "'@SUM(A1)", "'\t=1", "z"]
    assert list(frame["symbol"]) == ["AAPL", "TSLA", "=EVIL"]  # the input frame is not modified
