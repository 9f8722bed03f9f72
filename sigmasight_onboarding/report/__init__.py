"""Per-client onboarding report: data gathering (SQL reads) and rendering (HTML, Markdown, charts).

    report = build_report(engine, "demo_hedgefundstyle@sigmasight.com", date(2026, 8, 3))
    path = write_report(report, Path(".local/reports"), "demo_hedgefundstyle@sigmasight.com")

`build_report` reads the SigmaSight tables with SQLAlchemy Core (SQLite and PostgreSQL), never
writes, and never fails because a piece is missing (not yet computed, no prices, ...): the section
says so and a warning is added. An unknown client raises `UnknownClient` (a LookupError).

Sections: 1 summary · 2 holdings · 3 exposure by tag and type · 4 factor exposures · 5 correlation
heat map · 6 30-session value and P&L (reconciled with the value change) · 7 P&L explanation
(waterfall) · 8 VaR histogram · 9 stress tests · 10 data quality · 11 chat-verification answers.
Eight charts (matplotlib, Agg), embedded as PNG data URIs.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from sigmasight_onboarding.exports import to_safe_csv
from sigmasight_onboarding.files import atomic_write
from sigmasight_onboarding.report import charts as _charts
from sigmasight_onboarding.report.analysis import QUESTIONS, TYPE_NAMES, Analysis, analyse
from sigmasight_onboarding.report.data import ReportData, UnknownClient, load_report_data
from sigmasight_onboarding.report.render import SECTIONS, render_html, render_markdown

REPORT_FILENAME = "onboarding_report.html"
HOLDINGS_FILENAME = "holdings.csv"
CHART_KEYS = ("exposure_tag", "exposure_type", "factors", "correlation", "performance", "pnl_explain", "var", "stress")

__all__ = [
    "CHART_KEYS", "QUESTIONS", "Report", "SECTIONS", "UnknownClient", "build_report", "report_dirname", "write_report",
]


@dataclass
class Report:
    html: str  # self-contained HTML (charts as base64 PNG data URIs, inline CSS, no external resources)
    markdown: str  # for Dagster MetadataValue.md: headline numbers, top 10, chat answers, charts (< ~1.5 MB)
    answers: dict[str, Any]  # the runbook's 4 chat verification questions answered from the data
    warnings: list[str]  # synthetic prices, limited_history flags, missing pieces, ...
    holdings: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)  # rows of holdings.csv
    charts: dict[str, bytes | None] = field(default_factory=dict, repr=False)  # PNG per chart key (None = not drawn)


def _render_charts(data: ReportData, a: Analysis) -> dict[str, bytes | None]:
    risk = data.risk or {}
    corr = data.correlation or {}
    jobs = {
        "exposure_tag": lambda: _charts.exposure_by_tag_chart(a.by_tag),
        "exposure_type": lambda: _charts.exposure_by_type_chart(a.by_type, TYPE_NAMES),
        "factors": lambda: _charts.factor_chart(data.factor_exposures, data.factor_date),
        "correlation": lambda: _charts.correlation_chart(corr.get("matrix"), corr.get("clusters") or [],
                                                         corr.get("duration_days"), corr.get("calculation_date")),
        "performance": lambda: _charts.performance_chart(data.snapshots),
        "pnl_explain": lambda: _charts.pnl_explain_chart(a.pnl),
        "var": lambda: _charts.var_chart(a.var_pnl, risk.get("var_95_historical"), risk.get("var_99_historical"),
                                         risk.get("es_975_historical")),
        "stress": lambda: _charts.stress_chart(data.stress),
    }
    out: dict[str, bytes | None] = {}
    for key, job in jobs.items():
        try:
            out[key] = job()
        except Exception as exc:  # noqa: BLE001 - one broken chart must not sink the report
            out[key] = None
            a.warnings.append(f"chart {key} could not be drawn: {type(exc).__name__}: {exc}")
    return out


def _holdings_frame(data: ReportData, a: Analysis) -> pd.DataFrame:
    cols = ["symbol", "position_type", "quantity", "last_price", "market_value", "share_of_gross", "unrealized_pnl",
            "tags", "underlying_symbol", "strike_price", "expiration_date", "entry_price", "entry_date"]
    pos = data.positions
    if pos.empty:
        return pd.DataFrame(columns=cols)
    gross = a.totals.get("gross_exposure") or 0.0
    frame = pos.assign(
        share_of_gross=(pos["market_value"].abs() / gross).round(6) if gross else np.nan,
        tags=pos["tags"].map(lambda t: ", ".join(t)),
        _abs=pos["market_value"].abs(),
    ).sort_values(["_abs", "symbol"], ascending=[False, True], na_position="last")
    return frame[cols].reset_index(drop=True)


def build_report(engine: Engine, email: str, as_of: date) -> Report:
    """The onboarding report of `email` as of `as_of` (an NYSE session; the newest rows ≤ as_of
    are used where a table has no row on the day itself, with a warning)."""
    data = load_report_data(engine, email, as_of)
    analysis = analyse(data)
    charts = _render_charts(data, analysis)
    html = render_html(data, analysis, charts)
    markdown = render_markdown(data, analysis, charts)
    return Report(html=html, markdown=markdown, answers=analysis.answers, warnings=list(analysis.warnings),
                  holdings=_holdings_frame(data, analysis), charts=charts)


_UNSAFE = re.compile(r"[^a-z0-9@._+-]")


def report_dirname(email: str) -> str:
    """A safe single path component for `email`: lower-case `[a-z0-9@._+-]` only, no leading dot,
    no `..`; when anything had to change, a short hash of the original keeps names distinct.
    Raises ValueError when nothing usable is left."""
    raw = str(email).strip().lower()
    name = _UNSAFE.sub("_", raw)
    name = re.sub(r"\.{2,}", "_", name).strip("._-+@")
    if not re.search(r"[a-z0-9]", name):
        raise ValueError(f"cannot derive a safe folder name from the email {email!r}")
    if name != raw:
        name = f"{name[:80]}-{hashlib.sha256(raw.encode('utf-8')).hexdigest()[:10]}"
    return name[:120]


def write_report(report: Report, reports_dir: Path, email: str) -> Path:
    """Write `<reports_dir>/<safe email>/onboarding_report.html` and `holdings.csv` (CSV-injection
    safe via `exports.to_safe_csv`); returns the HTML path. The folder name comes from
    `report_dirname` (no path traversal); a symlinked client folder is refused."""
    root = Path(reports_dir)
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()
    folder = root / report_dirname(email)
    if folder.is_symlink():
        raise ValueError(f"refusing to write into {folder}: it is a symbolic link")
    if folder.resolve().parent != root:  # belt and braces: report_dirname never yields a separator
        raise ValueError(f"refusing to write outside {root}")
    folder.mkdir(exist_ok=True)
    html_path = folder / REPORT_FILENAME
    atomic_write(html_path, lambda fh: fh.write(report.html.encode("utf-8")))
    holdings = to_safe_csv(report.holdings)
    atomic_write(folder / HOLDINGS_FILENAME, lambda fh: fh.write(holdings.encode("utf-8")))
    return html_path
