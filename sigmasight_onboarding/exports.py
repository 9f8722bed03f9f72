"""Safe CSV export: cells a spreadsheet would evaluate as formulas are neutralised (OWASP).

Client text (names, tags, descriptions) is stored verbatim, so `=HYPERLINK(...)` or `@SUM(...)`
in a tag is legitimate data. It only becomes dangerous when a CSV is opened in Excel, LibreOffice
or Google Sheets, which evaluate cells starting with `=`, `+`, `-`, `@`, tab or carriage return.
Following the OWASP "CSV Injection" guidance, such cells get a leading single quote, which the
spreadsheet shows as text. Plain numbers such as `-300` or `+1.5` are left alone, and non-text
values (ints, floats, Decimals, dates) are written unchanged.
"""

from __future__ import annotations

import csv
import re

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")


def neutralise_cell(value: str) -> str:
    """`value` with a leading `'` when a spreadsheet would treat it as a formula; else unchanged."""
    if value.startswith(FORMULA_PREFIXES) and not _PLAIN_NUMBER.match(value):
        return "'" + value
    return value


def to_safe_csv(frame: pd.DataFrame) -> str:
    """CSV text of `frame` (header + rows, no index) with every text cell and header neutralised."""
    safe = frame.astype(object).map(lambda v: neutralise_cell(v) if isinstance(v, str) else v)
    safe.columns = [neutralise_cell(c) if isinstance(c, str) else c for c in frame.columns]
    return safe.to_csv(index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
