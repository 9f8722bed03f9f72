"""Every bad-input rule of the drop format, on the reader (no database needed here).

Each case asserts the problem names the right line, column and rule; the database-level
"nothing written" guarantee is tested in test_onboarding.py.
"""

from __future__ import annotations

import json

import pytest

from sigmasight_onboarding.config import Settings
from sigmasight_onboarding.drops.problems import DropValidationError
from sigmasight_onboarding.drops.reader import read_drop
from sigmasight_onboarding.drops.schemas import parse_occ

from .conftest import CSV_HEADER, write_drop

EMAIL = "client@example.com"
GOOD = "AAPL,100,150.25,LONG,2024-01-15,\"Core Holdings,Tech Growth\",,,\n"


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGMASIGHT_IMPORTS_DIR", str(tmp_path))
    monkeypatch.delenv("SIGMASIGHT_ENV", raising=False)
    return Settings.from_env()


def problems_for(settings, csv_body=GOOD, client=None, header=CSV_HEADER, email=EMAIL):
    folder = write_drop(settings.imports_dir, email, csv_body, client, header=header)
    with pytest.raises(DropValidationError) as info:
        read_drop(folder, settings)
    return info.value.problems


def test_runbook_example_is_valid(settings):
    body = (
        'AAPL,1000,150.25,LONG,2024-01-15,"Core Holdings,Tech Growth",,,\n'
        "SPY250919C00460000,200,7.00,LC,2024-01-10,\"Options Overlay\",SPY,460.00,2025-09-19\n"
        'TSLA,-300,250.00,SHORT,2024-02-01,"Short Value Traps",,,\n'
    )
    drop = read_drop(write_drop(settings.imports_dir, EMAIL, body), settings)
    assert list(drop.positions["symbol"]) == ["AAPL", "SPY250919C00460000", "TSLA"]
    option = drop.positions.iloc[1]
    assert option["underlying_symbol"] == "SPY" and str(option["strike_price"]) == "460.00"
    assert str(option["expiration_date"]) == "2025-09-19"
    assert drop.positions.iloc[0]["tags"] == ["Core Holdings", "Tech Growth"]
    assert any("expired" in w for w in drop.warnings)
    assert any("plaintext password" in w for w in drop.warnings)


def test_tolerates_bom_crlf_whitespace_and_case(settings):
    folder = write_drop(settings.imports_dir, EMAIL, "")
    content = (CSV_HEADER + "  aapl , 100 , 150.25 , long ,2024-01-15, Core ,,,\n"
               + "spy250919p00460000,-2,7,sp,2024-01-10,,spy,460,2025-09-19\n")
    (folder / "portfolio.csv").write_bytes(b"\xef\xbb\xbf" + content.replace("\n", "\r\n").encode())
    drop = read_drop(folder, settings)
    assert list(drop.positions["symbol"]) == ["AAPL", "SPY250919P00460000"]
    assert list(drop.positions["position_type"]) == ["LONG", "SP"]
    assert drop.positions.iloc[0]["tags"] == ["Core"]


# (csv body, expected line, expected column, expected words in the rule)
CSV_CASES = {
    "unknown type": ("AAPL,100,150,LONGG,2024-01-15,,,,\n", 2, "position_type", "must be one of"),
    "bad number": ("AAPL,1o0,150,LONG,2024-01-15,,,,\n", 2, "quantity", "plain number"),
    "thousands separator": ('AAPL,"1,000",150,LONG,2024-01-15,,,,\n', 2, "quantity", "plain number"),
    "zero quantity": ("AAPL,0,150,LONG,2024-01-15,,,,\n", 2, "quantity", "zero"),
    "too many decimals": ("AAPL,1.123456,150,LONG,2024-01-15,,,,\n", 2, "quantity", "decimal places"),
    "nan quantity": ("AAPL,nan,150,LONG,2024-01-15,,,,\n", 2, "quantity", "plain number"),
    "inf price": ("AAPL,10,inf,LONG,2024-01-15,,,,\n", 2, "entry_price", "plain number"),
    "negative price": ("AAPL,10,-150,LONG,2024-01-15,,,,\n", 2, "entry_price", "greater than 0"),
    "zero price": ("AAPL,10,0,LONG,2024-01-15,,,,\n", 2, "entry_price", "greater than 0"),
    "bad date format": ("AAPL,10,150,LONG,01/15/2024,,,,\n", 2, "entry_date", "YYYY-MM-DD"),
    "impossible date": ("AAPL,10,150,LONG,2024-02-30,,,,\n", 2, "entry_date", "YYYY-MM-DD"),
    "year 1900": ("AAPL,10,150,LONG,1900-01-02,,,,\n", 2, "entry_date", "1970-01-01"),
    "future date": ("AAPL,10,150,LONG,2999-01-02,,,,\n", 2, "entry_date", "future"),
    "short with positive qty": ("TSLA,300,250,SHORT,2024-02-01,,,,\n", 2, "quantity", "sign"),
    "long with negative qty": ("AAPL,-10,150,LONG,2024-01-15,,,,\n", 2, "quantity", "sign"),
    "short call positive": ("SPY250919C00460000,2,7,SC,2024-01-10,,SPY,460,2025-09-19\n", 2, "quantity", "sign"),
    "option fields on equity": ("AAPL,10,150,LONG,2024-01-15,,AAPL,,\n", 2, "underlying_symbol", "blank for LONG/SHORT"),
    "option missing fields": ("SPY250919C00460000,2,7,LC,2024-01-10,,SPY,,2025-09-19\n", 2, "underlying_symbol", "need underlying_symbol"),
    "occ strike mismatch": ("SPY250919C00460000,2,7,LC,2024-01-10,,SPY,470,2025-09-19\n", 2, "symbol", "OCC"),
    "occ expiry mismatch": ("SPY250919C00460000,2,7,LC,2024-01-10,,SPY,460,2025-09-26\n", 2, "symbol", "OCC"),
    "occ underlying mismatch": ("SPY250919C00460000,2,7,LC,2024-01-10,,QQQ,460,2025-09-19\n", 2, "symbol", "OCC"),
    "occ call vs put type": ("SPY250919C00460000,2,7,LP,2024-01-10,,SPY,460,2025-09-19\n", 2, "symbol", "OCC"),
    "option symbol not occ": ("SPYCALL,2,7,LC,2024-01-10,,SPY,460,2025-09-19\n", 2, "symbol", "OCC"),
    "expiry before entry": ("SPY230915C00460000,2,7,LC,2024-01-10,,SPY,460,2023-09-15\n", 2, "expiration_date", "before its entry_date"),
    "bad symbol chars": ("AA PL,10,150,LONG,2024-01-15,,,,\n", 2, "symbol", "ticker"),
    "formula in symbol": ("=HYPERLINK(1),10,150,LONG,2024-01-15,,,,\n", 2, "symbol", "ticker"),
    "conflicting duplicate": (GOOD + "AAPL,200,150.25,LONG,2024-01-15,,,,\n", 2, "symbol", "conflicting"),
    "wrong field count": ("AAPL,10,150,LONG,2024-01-15,,,\n", 2, None, "fields"),
    "bad strike": ("SPY250919C00460000,2,7,LC,2024-01-10,,SPY,abc,2025-09-19\n", 2, "strike_price", "number > 0"),
    "long tag": ("AAPL,10,150,LONG,2024-01-15," + "x" * 51 + ",,,\n", 2, "tags", "at most 50"),
}


@pytest.mark.parametrize("case", sorted(CSV_CASES))
def test_bad_csv_rows_are_named(settings, case):
    body, line, column, words = CSV_CASES[case]
    problems = problems_for(settings, body)
    matching = [p for p in problems if p.line == line and p.column == column and words in p.rule]
    assert matching, f"{case}: no problem at line {line} column {column} mentioning {words!r}: {problems}"


def test_every_bad_row_is_listed_at_once(settings):
    body = (
        GOOD
        + "MSFT,abc,150,LONG,2024-01-15,,,,\n"  # line 3
        + "TSLA,300,250,SHORT,2024-02-01,,,,\n"  # line 4
        + "NVDA,10,0,FOO,2024-13-01,,,,\n"  # line 5: three problems
    )
    problems = problems_for(settings, body)
    found = {(p.line, p.column) for p in problems}
    assert {(3, "quantity"), (4, "quantity"), (5, "entry_price"), (5, "position_type"), (5, "entry_date")} <= found
    assert all(p.line != 2 for p in problems)


@pytest.mark.parametrize(
    "header, words",
    [
        ("symbol,quantity,entry_price,position_type,entry_date,tags,underlying_symbol,strike_price\n", "missing"),
        (CSV_HEADER.strip() + ",notes\n", "unexpected column"),
        (CSV_HEADER.strip() + ",symbol\n", "duplicate column"),
    ],
)
def test_bad_headers(settings, header, words):
    problems = problems_for(settings, GOOD if "notes" not in header and header.count("symbol") == 1 else GOOD, header=header)
    assert any(words in p.rule and p.line == 1 for p in problems), problems


def test_empty_and_header_only_files(settings):
    folder = write_drop(settings.imports_dir, EMAIL, "")
    (folder / "portfolio.csv").write_text("")
    with pytest.raises(DropValidationError, match="is empty"):
        read_drop(folder, settings)
    (folder / "portfolio.csv").write_text(CSV_HEADER)
    with pytest.raises(DropValidationError, match="no positions"):
        read_drop(folder, settings)


def test_not_utf8_and_binary(settings):
    folder = write_drop(settings.imports_dir, EMAIL, "")
    (folder / "portfolio.csv").write_bytes(CSV_HEADER.encode() + "AAPL,10,150,LONG,2024-01-15,Caf\xe9,,,\n".encode("latin-1"))
    with pytest.raises(DropValidationError, match="not valid UTF-8"):
        read_drop(folder, settings)
    (folder / "portfolio.csv").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0")
    with pytest.raises(DropValidationError, match="binary"):
        read_drop(folder, settings)


def test_identical_duplicates_are_collapsed_with_a_warning(settings):
    drop = read_drop(write_drop(settings.imports_dir, EMAIL, GOOD + GOOD), settings)
    assert len(drop.positions) == 1
    assert any("identical duplicate" in w for w in drop.warnings)


# --- client.json ------------------------------------------------------------------------

CLIENT_CASES = {
    "missing full_name": ({"full_name": ...}, "full_name", "required"),
    "empty portfolio_name": ({"portfolio_name": " "}, "portfolio_name", "required"),
    "bad email": ({"email": "not-an-email"}, "email", "not a valid email"),
    "folder mismatch": ({"email": "other@example.com"}, "email", "drop folder name"),
    "bad currency": ({"currency": "XXX1"}, "currency", "ISO 4217"),
    "unknown currency": ({"currency": "ABC"}, "currency", "ISO 4217"),
    "no password": ({"password": ...}, "password", "exactly one"),
    "both passwords": ({"password_hash": "$2b$12$" + "a" * 53}, "password", "exactly one"),
    "bad hash": ({"password": ..., "password_hash": "md5:abc"}, "password_hash", "bcrypt"),
    "long password": ({"password": "x" * 73}, "password", "72 bytes"),
    "unknown key": ({"passwrod": "x"}, "passwrod", "unknown key"),
    "number name": ({"full_name": 42}, "full_name", "non-empty string"),
}


@pytest.mark.parametrize("case", sorted(CLIENT_CASES))
def test_bad_client_json(settings, case):
    overrides, column, words = CLIENT_CASES[case]
    problems = problems_for(settings, GOOD, client=overrides)
    assert any(p.file == "client.json" and p.column == column and words in p.rule for p in problems), problems
    assert all("x" * 73 not in str(p) for p in problems), "password echoed in a problem"


def test_client_json_not_json_or_not_object(settings):
    folder = write_drop(settings.imports_dir, EMAIL, GOOD)
    (folder / "client.json").write_text("{'email': 'x'}")
    with pytest.raises(DropValidationError, match="not valid JSON"):
        read_drop(folder, settings)
    (folder / "client.json").write_text(json.dumps(["a"]))
    with pytest.raises(DropValidationError, match="JSON object"):
        read_drop(folder, settings)


def test_email_folder_case_insensitive(settings):
    drop = read_drop(write_drop(settings.imports_dir, "Client@Example.com", GOOD, {"email": "client@example.COM"}), settings)
    assert drop.client.email == "client@example.com"


def test_production_password_policy(settings, monkeypatch):
    monkeypatch.setenv("SIGMASIGHT_ENV", "production")
    prod = Settings.from_env()
    problems = problems_for(prod, GOOD, client={"password": "password123"})
    assert any("password policy" in p.rule and p.value == "<redacted>" for p in problems)
    assert all("password123" not in str(p) for p in problems)
    drop = read_drop(write_drop(prod.imports_dir, EMAIL, GOOD, {"password": "Str0ng!Passphrase-x"}), prod)
    assert drop.client.password is not None
    assert "Str0ng" not in repr(drop.client)


def test_missing_file_and_symlinked_folder(settings, tmp_path_factory):
    folder = write_drop(settings.imports_dir, EMAIL, GOOD)
    (folder / "portfolio.csv").unlink()
    with pytest.raises(DropValidationError, match="missing"):
        read_drop(folder, settings)
    outside = tmp_path_factory.mktemp("outside")
    write_drop(outside, "evil@example.com", GOOD)
    (settings.imports_dir / "evil@example.com").symlink_to(outside / "evil@example.com")
    with pytest.raises(DropValidationError, match="symbolic link"):
        read_drop(settings.imports_dir / "evil@example.com", settings)


def test_occ_parser_against_hand_decoded_symbols():
    occ = parse_occ("SPY250919C00460000")
    assert (occ["root"], str(occ["expiration_date"]), occ["is_call"], occ["strike"]) == ("SPY", "2025-09-19", True, 460)
    occ = parse_occ("BRKB261218P00412500")
    assert (occ["root"], str(occ["expiration_date"]), occ["is_call"], float(occ["strike"])) == ("BRKB", "2026-12-18", False, 412.5)
    assert parse_occ("SPY251319C00460000") is None  # month 13
