"""Read and validate one client drop folder: `<imports>/<email>/client.json` + `portfolio.csv`.

`read_drop` either returns a fully validated `ClientDrop` or raises `DropValidationError`
listing every problem (file, line, column, value, rule). It never writes anything.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import stat
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from sigmasight_onboarding.config import Settings
from sigmasight_onboarding.domain import CONTRACT_MULTIPLIER
from sigmasight_onboarding.drops.problems import DropProblem, DropValidationError
from sigmasight_onboarding.drops.schemas import (
    CSV_COLUMNS,
    CSV_SCHEMA,
    OPTION_TYPES,
    RULE_COLUMN,
    parse_decimal,
    parse_iso_date,
)

CLIENT_FILE = "client.json"
PORTFOLIO_FILE = "portfolio.csv"
# \Z, not $: '$' also matches before a trailing newline ('x@example.com\n' is no email).
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+\Z")
BCRYPT_RE = re.compile(r"^\$2[aby]\$[0-9]{2}\$[./A-Za-z0-9]{53}\Z")
CLIENT_KEYS_REQUIRED = ("email", "full_name", "portfolio_name")
CLIENT_KEYS_OPTIONAL = ("password", "password_hash", "portfolio_description", "currency", "portfolio_rows",
                        "portfolio_sha256")
SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}\Z")
# Active ISO 4217 codes.
ISO_4217 = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD
    CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF
    GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP
    LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB
    PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL
    THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL""".split()
)


class Secret(str):
    """A string that never shows itself in repr/str formatting of containers or logs."""

    def __repr__(self) -> str:  # pragma: no cover - trivial
        return "Secret('***')"

    @property
    def value(self) -> str:
        return str.__str__(self)


@dataclass(frozen=True)
class ClientInfo:
    email: str  # lower-cased
    full_name: str
    portfolio_name: str
    portfolio_description: str | None
    currency: str
    password: Secret | None = field(default=None, repr=False)
    password_hash: str | None = field(default=None, repr=False)

    @property
    def key(self) -> str:
        """Dynamic partition key of the client: the lower-case email."""
        return self.email


@dataclass(frozen=True)
class ClientDrop:
    folder: Path
    client: ClientInfo
    positions: pd.DataFrame  # parsed, one row per position, see `_parse_positions`
    content_hash: str
    warnings: list[str]


def drop_content_hash(folder: Path) -> str:
    """sha256 over both files' names and bytes: the sensor's cursor and the run's fingerprint."""
    digest = hashlib.sha256()
    for name in (CLIENT_FILE, PORTFOLIO_FILE):
        digest.update(name.encode())
        digest.update(b"\0")
        with (folder / name).open("rb") as fh:  # streamed: the size limit is checked later
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def find_drop_folder(imports_dir: Path, client_key: str) -> Path:
    """The folder of `client_key` under `imports_dir` (folder names compare case-insensitively)."""
    matches = [p for p in imports_dir.iterdir() if p.name.lower() == client_key.lower()] if imports_dir.is_dir() else []
    if not matches:
        raise DropValidationError(
            [DropProblem(file=str(imports_dir), rule=f"no drop folder named {client_key!r} in the imports folder")],
            client_key,
        )
    if len(matches) > 1:
        raise DropValidationError(
            [DropProblem(file=str(imports_dir), rule=f"several folders match {client_key!r} ignoring case: "
                         + ", ".join(sorted(p.name for p in matches)))],
            client_key,
        )
    return matches[0]


def declared_mismatch(folder: Path, client: dict | None = None) -> str | None:
    """How portfolio.csv differs from what client.json declares (`portfolio_rows`, `portfolio_sha256`);
    None when it matches or nothing is declared. A drop still being copied (or cut off at a line
    boundary) differs, so the sensor waits for it and the reader refuses it."""
    if client is None:
        try:
            client = json.loads((folder / CLIENT_FILE).read_text(encoding="utf-8-sig"))
        except (OSError, ValueError, RecursionError):  # unreadable client.json: the reader reports it
            return None
        if not isinstance(client, dict):
            return None
    rows, digest = client.get("portfolio_rows"), client.get("portfolio_sha256")
    if rows is None and digest is None:
        return None
    try:
        raw = (folder / PORTFOLIO_FILE).read_bytes()
    except OSError:
        return "portfolio.csv cannot be read"
    if isinstance(digest, str) and hashlib.sha256(raw).hexdigest() != digest.lower():
        return f"sha256 of portfolio.csv is {hashlib.sha256(raw).hexdigest()}; client.json declares {digest.lower()} (incomplete or changed file)"
    if isinstance(rows, int) and not isinstance(rows, bool):
        try:
            records = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
        except (UnicodeDecodeError, csv.Error):
            return None  # the reader reports the encoding / CSV problem itself
        found = sum(1 for r in records[1:] if any(cell.strip() for cell in r))
        if found != rows:
            return f"portfolio.csv has {found:,} position row(s); client.json declares portfolio_rows = {rows:,} (incomplete or changed file)"
    return None


def check_folder_safety(folder: Path, imports_dir: Path) -> list[DropProblem]:
    """The drop folder and its two files must be real (no symlinks) and inside the imports folder."""
    problems: list[DropProblem] = []
    try:
        imports_real = imports_dir.resolve(strict=True)
    except FileNotFoundError:
        return [DropProblem(file=str(imports_dir), rule="the imports folder does not exist")]
    if folder.is_symlink():
        return [DropProblem(file=folder.name, rule="the drop folder is a symbolic link; drops must be real folders")]
    try:
        real = folder.resolve(strict=True)
    except FileNotFoundError:
        return [DropProblem(file=folder.name, rule="the drop folder does not exist")]
    if real.parent != imports_real:
        problems.append(DropProblem(file=folder.name, rule="the drop folder must sit directly inside the imports folder"))
    for name in (CLIENT_FILE, PORTFOLIO_FILE):
        path = folder / name
        if path.is_symlink():
            problems.append(DropProblem(file=name, rule="is a symbolic link; drop files must be regular files"))
        elif not path.exists():
            problems.append(DropProblem(file=name, rule="is missing from the drop folder"))
        elif not stat.S_ISREG(path.lstat().st_mode):
            problems.append(DropProblem(file=name, rule="is not a regular file"))
    return problems


def _decode(path: Path, settings: Settings, problems: list[DropProblem]) -> str | None:
    size = path.stat().st_size
    if size > settings.max_drop_bytes:
        problems.append(DropProblem(file=path.name, rule=f"is {size:,} bytes; the limit is {settings.max_drop_bytes:,}"))
        return None
    raw = path.read_bytes()
    if b"\0" in raw:
        problems.append(DropProblem(file=path.name, rule="contains NUL bytes: binary content, not text"))
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(DropProblem(file=path.name, rule=f"is not valid UTF-8 (byte offset {exc.start})"))
        return None
    if not text.strip():
        problems.append(DropProblem(file=path.name, rule="is empty"))
        return None
    return text


CONTROL_EXCEPT_NEWLINES_RE = re.compile("[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # `_is_control` minus LF, CR


def _is_control(ch: str) -> bool:
    """C0 and C1 control characters and DEL (Unicode category Cc)."""
    return ord(ch) < 32 or 127 <= ord(ch) < 160


def _is_encodable(text: str) -> bool:
    """False for strings carrying lone surrogates (JSON '\\ud800' escapes): not storable text."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _upper_ascii(text: str) -> str:
    """Upper-case ASCII only: str.upper() maps 'ſ' to 'S' and 'ﬀ' to 'FF', turning junk into tickers."""
    return text.upper() if text.isascii() else text


def _password_policy(password: str, email: str) -> list[str]:
    """Production password policy; returns the rules broken (empty when acceptable)."""
    broken = []
    if len(password) < 12:
        broken.append("at least 12 characters")
    classes = sum(bool(re.search(p, password)) for p in (r"[a-z]", r"[A-Z]", r"\d", r"[^A-Za-z0-9]"))
    if classes < 3:
        broken.append("at least 3 of: lower case, upper case, digit, symbol")
    local = email.split("@")[0].lower()
    if len(local) >= 3 and local in password.lower():
        broken.append("must not contain the email's name part")
    return broken


def _read_client(folder: Path, settings: Settings, problems: list[DropProblem], warnings: list[str]) -> ClientInfo | None:
    f = CLIENT_FILE
    text = _decode(folder / f, settings, problems)
    if text is None:
        return None
    duplicate_keys: list[str] = []

    def _object(pairs: list[tuple[str, object]]) -> dict:
        obj: dict = {}
        for k, v in pairs:
            if k in obj and k not in duplicate_keys and _is_encodable(k):
                duplicate_keys.append(k)
            obj[k] = v
        return obj

    try:
        data = json.loads(text, object_pairs_hook=_object,
                          parse_constant=lambda c: (_ for _ in ()).throw(ValueError(f"{c} is not allowed")))
    except (json.JSONDecodeError, ValueError) as exc:
        problems.append(DropProblem(file=f, rule=f"is not valid JSON: {exc}"))
        return None
    except RecursionError:
        problems.append(DropProblem(file=f, rule="is not valid JSON: nested too deeply"))
        return None
    if not isinstance(data, dict):
        problems.append(DropProblem(file=f, rule="must be a JSON object"))
        return None
    if not all(_is_encodable(k) and (not isinstance(v, str) or _is_encodable(v)) for k, v in data.items()):
        problems.append(DropProblem(file=f, rule="contains invalid Unicode text (a lone surrogate \\uD800-\\uDFFF escape)"))
        return None
    before = len(problems)
    for key in duplicate_keys:
        problems.append(DropProblem(file=f, column=key[:60], rule="duplicate key; each key may appear once"))
    unknown = sorted(set(data) - set(CLIENT_KEYS_REQUIRED) - set(CLIENT_KEYS_OPTIONAL))
    for key in unknown:
        problems.append(DropProblem(file=f, column=str(key)[:60], rule="unknown key; allowed: "
                                    + ", ".join(CLIENT_KEYS_REQUIRED + CLIENT_KEYS_OPTIONAL)))
    for key in CLIENT_KEYS_REQUIRED:
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            problems.append(DropProblem(file=f, column=key, rule="is required and must be a non-empty string"))
    for key in ("portfolio_description", "currency", "password", "password_hash"):
        if key in data and data[key] is not None and not isinstance(data[key], str):
            problems.append(DropProblem(file=f, column=key, rule="must be a string"))
    for key in ("full_name", "portfolio_name", "portfolio_description"):
        value = data.get(key)
        if isinstance(value, str) and len(value) > settings.max_field_chars:
            problems.append(DropProblem(file=f, column=key, rule=f"is longer than {settings.max_field_chars} characters"))
        if isinstance(value, str) and any(_is_control(ch) and ch != "\t" for ch in value):
            problems.append(DropProblem(file=f, column=key, rule="contains control characters"))
    for key in ("full_name", "portfolio_name"):
        value = data.get(key)
        if isinstance(value, str) and len(value.strip()) > 255:
            problems.append(DropProblem(file=f, column=key, rule="is longer than 255 characters"))

    email = data.get("email") if isinstance(data.get("email"), str) else ""
    email = email.strip()
    if email and not EMAIL_RE.match(email):
        problems.append(DropProblem(file=f, column="email", value=email[:80], rule="is not a valid email address"))
    if email and (not folder.name.isascii() or folder.name.lower() != email.lower()):
        problems.append(DropProblem(file=f, column="email", value=email[:80],
                                    rule=f"must equal the drop folder name {folder.name!r} (case-insensitive)"))

    currency = data.get("currency") or "USD"
    if isinstance(currency, str):
        currency = currency.strip().upper()
        if currency not in ISO_4217:
            problems.append(DropProblem(file=f, column="currency", value=currency[:10], rule="is not an ISO 4217 currency code"))

    rows = data.get("portfolio_rows")
    if rows is not None and (isinstance(rows, bool) or not isinstance(rows, int) or rows < 1):
        problems.append(DropProblem(file=f, column="portfolio_rows", value=str(rows)[:20],
                                    rule="must be a whole number >= 1 (the positions in portfolio.csv, header excluded)"))
    digest = data.get("portfolio_sha256")
    if digest is not None and (not isinstance(digest, str) or not SHA256_RE.match(digest)):
        problems.append(DropProblem(file=f, column="portfolio_sha256", value=str(digest)[:80],
                                    rule="must be the 64 hex digits of the sha256 of portfolio.csv"))
    if not problems[before:]:
        mismatch = declared_mismatch(folder, data)
        if mismatch:
            problems.append(DropProblem(file=PORTFOLIO_FILE, rule=mismatch))

    password = data.get("password")
    password_hash = data.get("password_hash")
    has_pw = isinstance(password, str) and password != ""
    has_hash = isinstance(password_hash, str) and password_hash != ""
    if has_pw == has_hash:
        problems.append(DropProblem(file=f, column="password", rule="give exactly one of 'password' or 'password_hash'"))
    if has_hash and not BCRYPT_RE.match(password_hash):
        problems.append(DropProblem(file=f, column="password_hash", value="<redacted>",
                                    rule="must be a bcrypt hash ($2b$<cost>$<53 chars>)"))
    if has_pw:
        if any(_is_control(ch) for ch in password):
            problems.append(DropProblem(file=f, column="password", value="<redacted>",
                                        rule="must not contain control characters (they cannot be typed at login)"))
        if len(password.encode()) > 72:
            problems.append(DropProblem(file=f, column="password", value="<redacted>",
                                        rule="is longer than 72 bytes, the bcrypt limit"))
        if settings.is_production:
            broken = _password_policy(password, email)
            if broken:
                problems.append(DropProblem(file=f, column="password", value="<redacted>",
                                            rule="fails the production password policy: " + "; ".join(broken)))
        warnings.append("client.json carries a plaintext password; prefer 'password_hash' (a bcrypt hash) "
                        "so the password never sits in the drop folder")
    if len(problems) > before:
        return None
    description = data.get("portfolio_description")
    return ClientInfo(
        email=email.lower(),
        full_name=data["full_name"].strip(),
        portfolio_name=data["portfolio_name"].strip(),
        portfolio_description=description.strip() if isinstance(description, str) and description.strip() else None,
        currency=currency,
        password=Secret(password) if has_pw else None,
        password_hash=password_hash if has_hash else None,
    )


def _read_csv_text(text: str, settings: Settings, problems: list[DropProblem]) -> pd.DataFrame | None:
    f = PORTFOLIO_FILE
    # strict: an unbalanced quote is an error instead of silently swallowing the rest of the file
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows, starts = [], []  # starts: physical line on which each record begins (quoted fields may span lines)
    start = 1
    try:
        for row in reader:
            rows.append(row)
            starts.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        problems.append(DropProblem(file=f, line=start, rule=f"is not a readable CSV from this line on: {exc} "
                                    "(check for an unbalanced double quote)"))
        return None
    if not rows:
        problems.append(DropProblem(file=f, rule="is empty"))
        return None
    header = [h.strip().lower() for h in rows[0]]
    dup = sorted({h for h in header if header.count(h) > 1})
    for h in dup:
        problems.append(DropProblem(file=f, line=1, column=h, rule="duplicate column header"))
    missing = [c for c in CSV_COLUMNS if c not in header]
    extra = [h for h in header if h not in CSV_COLUMNS]
    for c in missing:
        problems.append(DropProblem(file=f, line=1, column=c, rule="required column is missing"))
    for c in extra:
        problems.append(DropProblem(file=f, line=1, column=c[:60], rule="unexpected column; expected: " + ",".join(CSV_COLUMNS)))
    if dup or missing or extra:
        return None
    body = [(line, r) for line, r in zip(starts[1:], rows[1:]) if any(cell.strip() for cell in r)]
    if not body:
        problems.append(DropProblem(file=f, rule="has a header but no positions"))
        return None
    if len(body) > settings.max_rows:
        problems.append(DropProblem(file=f, rule=f"has {len(body):,} rows; the limit is {settings.max_rows:,}"))
        return None
    # one scan of the whole text: most drops have no control character but the CR/LF that end lines;
    # then a cell can only hold CR/LF (inside quotes), tested by two substring checks
    check_control = CONTROL_EXCEPT_NEWLINES_RE.search(text) is not None
    records, index = [], []
    for line, r in body:
        if len(r) != len(header):
            problems.append(DropProblem(file=f, line=line, rule=f"has {len(r)} fields; the header has {len(header)}"))
            continue
        record = {}
        for col, cell in zip(header, r):
            cell = cell.strip()
            if len(cell) > settings.max_field_chars:
                problems.append(DropProblem(file=f, line=line, column=col, value=cell[:60],
                                            rule=f"is longer than {settings.max_field_chars} characters"))
                cell = cell[: settings.max_field_chars]
            if (any(_is_control(ch) for ch in cell) if check_control else ("\n" in cell or "\r" in cell)):
                problems.append(DropProblem(file=f, line=line, column=col, value=cell[:60].encode("unicode_escape").decode(),
                                            rule="contains control characters"))
            record[col] = cell
        for col in ("symbol", "position_type", "underlying_symbol"):
            record[col] = _upper_ascii(record[col])
        records.append(record)
        index.append(line)
    if not records:
        return None
    return pd.DataFrame.from_records(records, index=pd.Index(index, name="line"), columns=CSV_COLUMNS)


def _schema_problems(raw: pd.DataFrame) -> list[DropProblem]:
    try:
        CSV_SCHEMA.validate(raw, lazy=True)
        return []
    except pa.errors.SchemaErrors as err:
        problems: list[DropProblem] = []
        seen: set[tuple] = set()
        for case in err.failure_cases.itertuples(index=False):
            line = None if pd.isna(case.index) else int(case.index)
            check = str(case.check)
            column = case.column if isinstance(case.column, str) else None
            if check in RULE_COLUMN:  # cross-column rule: report once per row, on its column
                if column != RULE_COLUMN[check]:
                    continue
                rule = check
            else:
                rule = _describe_check(check)
            key = (line, column, rule)
            if key in seen:
                continue
            seen.add(key)
            value = None if case.failure_case is None or (isinstance(case.failure_case, float) and pd.isna(case.failure_case)) else str(case.failure_case)
            problems.append(DropProblem(file=PORTFOLIO_FILE, line=line, column=column, value=value, rule=rule))
        problems.sort(key=lambda p: (p.line or 0, CSV_COLUMNS.index(p.column) if p.column in CSV_COLUMNS else 99))
        return problems


def _describe_check(check: str) -> str:
    if check.startswith("isin("):
        return "must be one of LONG, SHORT, LC, LP, SC, SP"
    if check.startswith("str_matches("):
        return "must be a ticker (A-Z, 0-9, '.', '-', '/', '^') or an OCC option symbol"
    return check


def _parse_positions(raw: pd.DataFrame, warnings: list[str]) -> pd.DataFrame:
    """Typed positions: Decimal quantity/prices, dates, tag lists; identical duplicate rows collapsed."""
    dupes = raw[raw.duplicated(keep="first")]
    if len(dupes):
        warnings.append(
            "identical duplicate rows collapsed: " + ", ".join(f"line {i} ({s})" for i, s in zip(dupes.index, dupes["symbol"]))
        )
    raw = raw[~raw.duplicated(keep="first")]
    out = pd.DataFrame(index=raw.index)
    out["symbol"] = raw["symbol"]
    out["position_type"] = raw["position_type"]
    out["quantity"] = raw["quantity"].map(parse_decimal)
    out["entry_price"] = raw["entry_price"].map(parse_decimal)
    out["entry_date"] = raw["entry_date"].map(parse_iso_date)
    out["tags"] = raw["tags"].map(_split_tags)
    is_option = raw["position_type"].isin(OPTION_TYPES)
    out["underlying_symbol"] = raw["underlying_symbol"].where(is_option & (raw["underlying_symbol"] != ""), None)
    out["strike_price"] = raw["strike_price"].map(lambda t: parse_decimal(t) if t else None)
    out["expiration_date"] = raw["expiration_date"].map(lambda t: parse_iso_date(t) if t else None)
    return out


def _split_tags(text: str) -> list[str]:
    tags: list[str] = []
    for tag in text.split(","):
        tag = " ".join(tag.split())
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def read_drop(folder: Path, settings: Settings, *, check_location: bool = True) -> ClientDrop:
    """Read and validate a drop folder; raise `DropValidationError` with every problem found."""
    folder = Path(folder)
    key = folder.name.lower()
    problems: list[DropProblem] = []
    warnings: list[str] = []
    if check_location:
        problems += check_folder_safety(folder, settings.imports_dir)
    else:
        for name in (CLIENT_FILE, PORTFOLIO_FILE):
            if not (folder / name).is_file():
                problems.append(DropProblem(file=name, rule="is missing from the drop folder"))
    if problems:
        raise DropValidationError(problems, key)
    content_hash = drop_content_hash(folder)
    client = _read_client(folder, settings, problems, warnings)
    text = _decode(folder / PORTFOLIO_FILE, settings, problems)
    positions = None
    if text is not None:
        raw = _read_csv_text(text, settings, problems)
        if raw is not None and not problems_in_file(problems, PORTFOLIO_FILE):
            problems += _schema_problems(raw)
            if not problems_in_file(problems, PORTFOLIO_FILE):
                positions = _parse_positions(raw, warnings)
                today = date.today()
                for line, symbol, expiry in zip(positions.index, positions["symbol"].tolist(), positions["expiration_date"].tolist()):
                    if expiry is not None and expiry < today:
                        warnings.append(f"line {line}: option {symbol} expired on {expiry}; "
                                        "it is valued at intrinsic value with zero Greeks")
        elif raw is not None:
            problems += _schema_problems(raw)
    if problems or client is None or positions is None:
        raise DropValidationError(problems, key)
    return ClientDrop(folder=folder, client=client, positions=positions, content_hash=content_hash, warnings=warnings)


def problems_in_file(problems: list[DropProblem], name: str) -> bool:
    return any(p.file == name for p in problems)


def entry_notional(positions: pd.DataFrame) -> tuple[Decimal, Decimal]:
    """(gross, net) entry notional in dollars: Σ|q·p·m| and Σ q·p·m with m = 100 for options."""
    mult = positions["position_type"].isin(OPTION_TYPES).map({True: Decimal(CONTRACT_MULTIPLIER), False: Decimal(1)})
    notional = [q * p * m for q, p, m in zip(positions["quantity"], positions["entry_price"], mult)]
    return sum((abs(n) for n in notional), Decimal(0)), sum(notional, Decimal(0))
