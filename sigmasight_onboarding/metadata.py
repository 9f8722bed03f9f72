"""Readable Dagster metadata: rounded numbers, dates as text, paths and links typed, no empty entries.

`readable(meta)` is applied to every asset's metadata dict before it is handed to Dagster:

* floats — money (keys naming usd / value / exposure / pnl / notional / var / es) to cents, other
  numbers to 4 decimals (so 265239.345703125 shows as 265239.35); NaN/inf dropped. They stay
  numeric MetadataValues, so the UI can plot them across materialisations.
* dates — `YYYY-MM-DD` text; `Path` — a path value.
* empty entries — None, "", "none", {} and [] (also inside MetadataValue.json/md/text) — are left
  out: an absent key says "nothing to report" better than `{}` or `note: none`.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from pathlib import Path
from typing import Any

from dagster import MetadataValue

MONEY_HINTS = ("usd", "value", "exposure", "pnl", "notional", "var_", "es_", "dollars")
EMPTY_TEXT = {"", "none", "n/a"}


def is_money(key: str) -> bool:
    k = key.lower()
    return any(h in k for h in MONEY_HINTS) and "vol" not in k


def round_number(key: str, value: float) -> float:
    if is_money(key):
        return round(value, 2)
    return round(value, 4) if abs(value) < 1e6 else round(value, 2)


def _round_json(key: str, value: Any) -> Any:
    if isinstance(value, float):
        return round_number(key, value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _round_json(f"{key}.{k}", v) for k, v in value.items()}
    if isinstance(value, list):
        return [_round_json(key, v) for v in value]
    return value


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip().lower() in EMPTY_TEXT
    if isinstance(value, (dict, list, tuple, set)):
        return len(value) == 0
    if isinstance(value, float):
        return not math.isfinite(value)
    return False


def readable_value(key: str, value: Any) -> Any:
    """One metadata value made readable, or None when it should be left out."""
    if isinstance(value, MetadataValue):
        inner = getattr(value, "value", None)
        if type(value).__name__ in ("JsonMetadataValue",):
            return None if _is_empty(inner) else MetadataValue.json(_round_json(key, inner))
        if type(value).__name__ in ("MarkdownMetadataValue", "TextMetadataValue"):
            return None if _is_empty(inner) else value
        if type(value).__name__ == "FloatMetadataValue":
            return None if inner is None or not math.isfinite(inner) else MetadataValue.float(round_number(key, inner))
        if type(value).__name__ == "TableMetadataValue":
            return None if not value.records else value
        return value
    if _is_empty(value):
        return None
    if isinstance(value, bool):
        return MetadataValue.bool(value)
    if isinstance(value, int):
        return MetadataValue.int(value)
    if isinstance(value, float):
        return MetadataValue.float(round_number(key, value))
    if isinstance(value, datetime):
        return MetadataValue.text(value.isoformat(timespec="seconds"))
    if isinstance(value, date):
        return MetadataValue.text(value.isoformat())
    if isinstance(value, Path):
        return MetadataValue.path(str(value))
    if isinstance(value, (dict, list)):
        return MetadataValue.json(_round_json(key, value))
    try:  # numpy scalars
        import numpy as np

        if isinstance(value, np.integer):
            return MetadataValue.int(int(value))
        if isinstance(value, np.floating):
            return readable_value(key, float(value))
    except ImportError:  # pragma: no cover
        pass
    return value


MONEY_OVERVIEW_KEY = "in_dollars"


def readable(meta: dict[str, Any], money_overview: bool = True) -> dict[str, Any]:
    """The metadata dict with every value made readable and empty entries left out.

    Money figures stay numeric (the UI plots them across materialisations); with ``money_overview``
    and at least one money figure, a short markdown table ``in_dollars`` comes first with each one
    formatted as ``$1,234,567.89`` — short enough for the UI to render it inline, without a click.
    """
    out = {}
    for key, value in meta.items():
        nice = readable_value(key, value)
        if nice is not None:
            out[key] = nice
    money = {k: v.value for k, v in out.items() if type(v).__name__ == "FloatMetadataValue" and is_money(k)}
    if money_overview and money:
        table = "\n".join(["| figure | USD |", "|---|---:|", *(f"| {k} | {usd_text(v)} |" for k, v in money.items())])
        if len(table) < 1000:  # longer markdown is collapsed behind "[Show Markdown]" in the UI
            out = {MONEY_OVERVIEW_KEY: MetadataValue.md(table), **out}
    return out


def usd_text(value: float | None) -> str:
    """'$1,234,567.89' / '−$12.30' for inline text entries."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{'−' if value < 0 else ''}${abs(value):,.2f}"
