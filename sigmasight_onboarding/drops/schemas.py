"""Pandera schemas for the portfolio CSV (raw text, as dropped) and for stored positions.

The CSV schema runs on the raw string frame (after trimming whitespace and upper-casing enum
values) with `lazy=True`, so one validation lists every bad cell. Cross-column rules are
DataFrame-level checks returning one boolean per row.
"""

from __future__ import annotations

import functools

import re
from datetime import date
from decimal import Decimal, InvalidOperation

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from sigmasight_onboarding.domain import CALL_TYPES, OPTION_TYPES, POSITION_TYPES, SHORT_TYPES  # noqa: F401  (re-exported)

CSV_COLUMNS = [
    "symbol",
    "quantity",
    "entry_price",
    "position_type",
    "entry_date",
    "tags",
    "underlying_symbol",
    "strike_price",
    "expiration_date",
]
OPTION_FIELDS = ("underlying_symbol", "strike_price", "expiration_date")

# At most 20 characters: `positions.symbol` is VARCHAR(20) in the backend's schema.
SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9.\-/^]{0,19}$|^\^[A-Z0-9]{1,10}$")
# `positions.underlying_symbol` is VARCHAR(10) in the backend's schema.
MAX_UNDERLYING_CHARS = 10
# ASCII digits only: `\d` would also match full-width (１０) and other Unicode digits, which
# Decimal() silently accepts.
NUMBER_RE = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")
DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
# OCC: root (1-6), YYMMDD, C/P, strike × 1000 as 8 digits.
OCC_RE = re.compile(r"^(?P<root>[A-Z][A-Z0-9.]{0,5})(?P<yymmdd>[0-9]{6})(?P<cp>[CP])(?P<strike>[0-9]{8})$")

MIN_ENTRY_DATE = date(1970, 1, 1)
MAX_QUANTITY = Decimal("999999999999")  # Numeric(16, 4)
MAX_PRICE = Decimal("99999999")  # Numeric(12, 4)
MAX_DECIMALS = 4
MAX_TAG_CHARS = 50  # tags.name is VARCHAR(50) in the backend's schema


@functools.lru_cache(maxsize=1 << 16)  # big drops repeat prices/quantities/dates; the results are immutable
def parse_decimal(text: str) -> Decimal | None:
    """Decimal for a plain number ('1,000' and '1e3' are refused); None when not a number."""
    if not NUMBER_RE.match(text or ""):
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


@functools.lru_cache(maxsize=1 << 16)
def parse_iso_date(text: str) -> date | None:
    if not DATE_RE.match(text or ""):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def decimal_places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def parse_occ(symbol: str) -> dict | None:
    """Parse an OCC option symbol, e.g. SPY250919C00460000 -> SPY, 2025-09-19, call, 460.0."""
    match = OCC_RE.match(symbol or "")
    if not match:
        return None
    yymmdd = match["yymmdd"]
    try:
        expiry = date(2000 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:]))
    except ValueError:
        return None
    return {
        "root": match["root"],
        "expiration_date": expiry,
        "is_call": match["cp"] == "C",
        "strike": Decimal(match["strike"]) / 1000,
    }


# --- element-wise rules -------------------------------------------------------------------

def _is_number(s: pd.Series) -> pd.Series:
    return s.map(lambda t: parse_decimal(t) is not None)


def _blank_or_number(s: pd.Series) -> pd.Series:
    return s.map(lambda t: t == "" or parse_decimal(t) is not None)


def _blank_or_date(s: pd.Series) -> pd.Series:
    return s.map(lambda t: t == "" or parse_iso_date(t) is not None)


def _at_most_4_decimals(s: pd.Series) -> pd.Series:
    return s.map(lambda t: (d := parse_decimal(t)) is None or decimal_places(d) <= MAX_DECIMALS)


def _tags_short_enough(s: pd.Series) -> pd.Series:
    return s.map(lambda t: all(len(tag.strip()) <= MAX_TAG_CHARS for tag in t.split(",")))


class PortfolioCsvSchema(pa.DataFrameModel):
    """The dropped `portfolio.csv`, one row per position, all cells as trimmed text."""

    symbol: Series[str] = pa.Field(
        str_matches=SYMBOL_RE.pattern,
        description="ticker (upper case) or OCC option symbol",
    )
    quantity: Series[str] = pa.Field(description="shares or contracts; negative for SHORT/SC/SP")
    entry_price: Series[str] = pa.Field(description="dollars per share / per option (premium), > 0")
    position_type: Series[str] = pa.Field(isin=list(POSITION_TYPES))
    entry_date: Series[str] = pa.Field(description="YYYY-MM-DD")
    tags: Series[str] = pa.Field(description="comma-separated tag names")
    underlying_symbol: Series[str] = pa.Field()
    strike_price: Series[str] = pa.Field()
    expiration_date: Series[str] = pa.Field()

    class Config:
        strict = True
        coerce = False

    @pa.check("quantity", name="must be a plain number (e.g. 100 or -12.5)")
    def _quantity_number(cls, s: Series[str]) -> Series[bool]:
        return _is_number(s)

    @pa.check("quantity", name="must not be zero")
    def _quantity_nonzero(cls, s: Series[str]) -> Series[bool]:
        return s.map(lambda t: (d := parse_decimal(t)) is None or d != 0)

    @pa.check("quantity", name=f"must have at most {MAX_DECIMALS} decimal places and |quantity| < 1e12")
    def _quantity_precision(cls, s: Series[str]) -> Series[bool]:
        return s.map(
            lambda t: (d := parse_decimal(t)) is None or (decimal_places(d) <= MAX_DECIMALS and abs(d) <= MAX_QUANTITY)
        )

    @pa.check("entry_price", name="must be a plain number (e.g. 150.25)")
    def _price_number(cls, s: Series[str]) -> Series[bool]:
        return _is_number(s)

    @pa.check("entry_price", name="must be greater than 0")
    def _price_positive(cls, s: Series[str]) -> Series[bool]:
        return s.map(lambda t: (d := parse_decimal(t)) is None or d > 0)

    @pa.check("entry_price", name=f"must have at most {MAX_DECIMALS} decimal places and be < 1e8")
    def _price_precision(cls, s: Series[str]) -> Series[bool]:
        return s.map(
            lambda t: (d := parse_decimal(t)) is None or (decimal_places(d) <= MAX_DECIMALS and d <= MAX_PRICE)
        )

    @pa.check("entry_date", name="must be a real date in YYYY-MM-DD format")
    def _entry_date_format(cls, s: Series[str]) -> Series[bool]:
        return s.map(lambda t: parse_iso_date(t) is not None)

    @pa.check("entry_date", name="must be between 1970-01-01 and today (no future entry dates)")
    def _entry_date_range(cls, s: Series[str]) -> Series[bool]:
        today = date.today()
        return s.map(lambda t: (d := parse_iso_date(t)) is None or MIN_ENTRY_DATE <= d <= today)

    @pa.check("tags", name=f"each tag must be at most {MAX_TAG_CHARS} characters")
    def _tag_length(cls, s: Series[str]) -> Series[bool]:
        return _tags_short_enough(s)

    @pa.check("underlying_symbol", name=f"must be blank or a ticker of at most {MAX_UNDERLYING_CHARS} characters")
    def _underlying_format(cls, s: Series[str]) -> Series[bool]:
        return s.map(lambda t: t == "" or (bool(SYMBOL_RE.match(t)) and len(t) <= MAX_UNDERLYING_CHARS))

    @pa.check("strike_price", name="must be blank or a number > 0")
    def _strike_format(cls, s: Series[str]) -> Series[bool]:
        return s.map(lambda t: t == "" or ((d := parse_decimal(t)) is not None and d > 0))

    @pa.check("expiration_date", name="must be blank or a real date in YYYY-MM-DD format")
    def _expiry_format(cls, s: Series[str]) -> Series[bool]:
        return _blank_or_date(s)


# --- cross-column rules: (name, column to report, function(df) -> bool Series) ---------------

def _row_rule(df: pd.DataFrame, columns: tuple[str, ...], ok) -> pd.Series:
    """ok(*cells) for every row, as a bool Series on df's index (a plain loop over the columns:
    DataFrame.apply(axis=1) builds a Series per row and costs ~10× more on a 100,000-row drop)."""
    return pd.Series([bool(ok(*cells)) for cells in zip(*(df[c].tolist() for c in columns))], index=df.index, dtype=bool)


def _sign_matches_type(df: pd.DataFrame) -> pd.Series:
    def ok(quantity, position_type) -> bool:
        q = parse_decimal(quantity)
        if q is None or position_type not in POSITION_TYPES or q == 0:
            return True  # reported by the element-wise rules
        return (q < 0) == (position_type in SHORT_TYPES)

    return _row_rule(df, ("quantity", "position_type"), ok)


def _option_fields_required(df: pd.DataFrame) -> pd.Series:
    is_option = df["position_type"].isin(OPTION_TYPES)
    complete = (df["underlying_symbol"] != "") & (df["strike_price"] != "") & (df["expiration_date"] != "")
    return ~is_option | complete


def _option_fields_blank_for_equities(df: pd.DataFrame) -> pd.Series:
    is_equity = df["position_type"].isin(("LONG", "SHORT"))
    blank = (df["underlying_symbol"] == "") & (df["strike_price"] == "") & (df["expiration_date"] == "")
    return ~is_equity | blank


def _occ_consistent(df: pd.DataFrame) -> pd.Series:
    def ok(position_type, symbol, underlying_symbol, strike_price, expiration_date) -> bool:
        if position_type not in OPTION_TYPES:
            return True
        occ = parse_occ(symbol)
        if occ is None:
            return False
        if underlying_symbol and occ["root"] != underlying_symbol:
            return False
        strike = parse_decimal(strike_price)
        if strike is not None and strike != occ["strike"]:
            return False
        expiry = parse_iso_date(expiration_date)
        if expiry is not None and expiry != occ["expiration_date"]:
            return False
        return occ["is_call"] == (position_type in CALL_TYPES)

    return _row_rule(df, ("position_type", "symbol", "underlying_symbol", "strike_price", "expiration_date"), ok)


def _expiry_after_entry(df: pd.DataFrame) -> pd.Series:
    def ok(expiration_date, entry_date) -> bool:
        expiry, entry = parse_iso_date(expiration_date), parse_iso_date(entry_date)
        return expiry is None or entry is None or expiry >= entry

    return _row_rule(df, ("expiration_date", "entry_date"), ok)


def _no_conflicting_duplicates(df: pd.DataFrame) -> pd.Series:
    dup_symbol = df["symbol"].duplicated(keep=False)
    distinct = df.drop_duplicates()
    conflicting = distinct["symbol"][distinct["symbol"].duplicated(keep=False)].unique()
    return ~(dup_symbol & df["symbol"].isin(conflicting))


CROSS_COLUMN_RULES = [
    ("quantity", "quantity sign must match position_type (negative exactly for SHORT, SC, SP)", _sign_matches_type),
    (
        "underlying_symbol",
        "options (LC/LP/SC/SP) need underlying_symbol, strike_price and expiration_date",
        _option_fields_required,
    ),
    (
        "underlying_symbol",
        "underlying_symbol, strike_price and expiration_date must be blank for LONG/SHORT",
        _option_fields_blank_for_equities,
    ),
    (
        "symbol",
        "option symbol must be OCC format (e.g. SPY250919C00460000) agreeing with underlying_symbol, "
        "strike_price, expiration_date and call/put of position_type",
        _occ_consistent,
    ),
    ("expiration_date", "option expiration_date is before its entry_date", _expiry_after_entry),
    ("symbol", "the same symbol appears on several rows with conflicting data", _no_conflicting_duplicates),
]


def build_csv_schema() -> pa.DataFrameSchema:
    """The CSV schema: the model's column rules plus the cross-column rules above."""
    schema = PortfolioCsvSchema.to_schema()
    checks = list(schema.checks) + [pa.Check(fn, name=rule) for _column, rule, fn in CROSS_COLUMN_RULES]
    return pa.DataFrameSchema(
        columns=schema.columns, checks=checks, strict=True, coerce=False, name="PortfolioCsvSchema"
    )


CSV_SCHEMA = build_csv_schema()
RULE_COLUMN = {rule: column for column, rule, _fn in CROSS_COLUMN_RULES}


class StoredPositionsSchema(pa.DataFrameModel):
    """Positions as stored in the `positions` table for one portfolio (active rows)."""

    symbol: Series[str] = pa.Field(str_matches=SYMBOL_RE.pattern, unique=True)
    position_type: Series[str] = pa.Field(isin=list(POSITION_TYPES))
    quantity: Series[float] = pa.Field(ne=0)
    entry_price: Series[float] = pa.Field(gt=0)
    entry_date: Series[pa.DateTime] = pa.Field()
    underlying_symbol: Series[str] = pa.Field(nullable=True)
    strike_price: Series[float] = pa.Field(nullable=True, gt=0)
    expiration_date: Series[pa.DateTime] = pa.Field(nullable=True)

    class Config:
        strict = False
        coerce = True

    @pa.dataframe_check(name="quantity sign matches position_type")
    def _sign(cls, df: pd.DataFrame) -> Series[bool]:
        return (df["quantity"] < 0) == df["position_type"].isin(SHORT_TYPES)

    @pa.dataframe_check(name="option fields present exactly for options")
    def _options(cls, df: pd.DataFrame) -> Series[bool]:
        is_option = df["position_type"].isin(OPTION_TYPES)
        has_fields = df["underlying_symbol"].notna() & df["strike_price"].notna() & df["expiration_date"].notna()
        return is_option == has_fields
