"""HTML and Markdown rendering of the onboarding report.

Every piece of client or stored text goes through `esc` (HTML) or `md` (Markdown) — names, tags,
scenario and cluster names may contain `<script>` or `=HYPERLINK(...)`. The HTML is
self-contained (inline CSS, charts as PNG data URIs) and carries a Content-Security-Policy that
allows no script and no external resource, as a second line of defence.
"""

from __future__ import annotations

import base64
import html
import re
from datetime import datetime, timezone
from typing import Any

import numpy as np

from sigmasight_onboarding.report.analysis import QUESTIONS, TYPE_NAMES, Analysis
from sigmasight_onboarding.domain import CALL_TYPES, COVERAGE_SESSIONS, MIN_COVERAGE, OPTION_TYPES
from sigmasight_onboarding.finite import finite_float as _finite
from sigmasight_onboarding.report.data import ReportData

MARKDOWN_BUDGET = 1_400_000  # characters; Dagster metadata should stay well under ~1.5 MB

SECTIONS = [
    ("summary", "Summary"),
    ("holdings", "Holdings"),
    ("exposure", "Exposure"),
    ("factors", "Factor exposures"),
    ("correlation", "Correlation"),
    ("performance", "Value and daily P&L"),
    ("pnl-explain", "P&L explanation"),
    ("var", "Value at Risk"),
    ("stress", "Stress tests"),
    ("data-quality", "Data quality"),
    ("chat-answers", "Chat verification answers"),
]


# --------------------------------------------------------------------------------- formatting


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~#])")


def md(value: Any) -> str:
    """Markdown-safe inline text on one line: `<`, `>`, `&` HTML-escaped (no raw HTML reaches the
    renderer) and the characters that start emphasis, code, links, tables or headings backslash-escaped."""
    text = " ".join(str("" if value is None else value).split())
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def usd(x: Any, decimals: int = 0) -> str:
    v = _finite(x)
    if v is None:
        return "n/a"
    return f"{'-' if v < 0 else ''}${abs(v):,.{decimals}f}"


def pct(x: Any, decimals: int = 1, signed: bool = False) -> str:
    v = _finite(x)
    if v is None:
        return "n/a"
    return f"{v:+.{decimals}%}" if signed else f"{v:.{decimals}%}"


def num(x: Any, decimals: int = 2) -> str:
    v = _finite(x)
    if v is None:
        return "n/a"
    return f"{v:,.{decimals}f}"


def qty(x: Any) -> str:
    v = _finite(x)
    if v is None:
        return "n/a"
    return f"{v:,.0f}" if v == int(v) else f"{v:,.4f}".rstrip("0")


def signed_cls(x: Any) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return ""
    return "neg" if v < 0 else ("pos" if v > 0 else "")


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# --------------------------------------------------------------------------------- HTML

CSS = """
:root{--ink:#111827;--muted:#6b7280;--line:#e5e7eb;--bg:#f3f4f6;--card:#fff;--accent:#1e3a8a;--neg:#b91c1c;--pos:#15803d}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1320px;margin:0 auto;padding:24px 28px 40px}
.hero{background:linear-gradient(120deg,#0f172a,#1e3a8a);color:#fff;border-radius:14px;padding:22px 28px;display:flex;justify-content:space-between;align-items:flex-end;gap:24px}
.hero .brand{font-size:12px;letter-spacing:.12em;text-transform:uppercase;opacity:.75}
.hero h1{margin:4px 0 2px;font-size:26px;font-weight:650}
.hero .sub{opacity:.85}
.hero .meta{text-align:right;font-size:13px;opacity:.9;white-space:nowrap}
.hero .meta b{font-size:18px}
section{background:var(--card);border-radius:12px;padding:18px 22px;margin-top:18px;box-shadow:0 1px 2px rgba(0,0,0,.05)}
h2{font-size:17px;margin:0 0 12px;color:var(--accent);display:flex;align-items:baseline;gap:10px}
h2 .num{font-size:12px;color:#fff;background:var(--accent);border-radius:10px;padding:1px 8px}
h3{font-size:14px;margin:14px 0 6px}
.kpis{display:grid;grid-template-columns:repeat(6,1fr);gap:12px}
.kpi{border:1px solid var(--line);border-radius:10px;padding:10px 14px}
.kpi .l{font-size:11px;color:var(--muted);text-transform:uppercase;letter-spacing:.05em}
.kpi .v{font-size:20px;font-weight:650;margin-top:2px}
.kpi .s{font-size:12px;color:var(--muted)}
.chips{margin-top:12px;display:flex;flex-wrap:wrap;gap:6px}
.chip{display:inline-block;background:#eef2ff;color:#3730a3;border-radius:999px;padding:1px 9px;font-size:12px;margin:1px 2px 1px 0;white-space:nowrap}
.chip.t{background:#f1f5f9;color:#334155}
table{border-collapse:collapse;width:100%;font-size:12.5px}
th{text-align:left;font-weight:600;color:#374151;background:#f9fafb;border-bottom:1px solid var(--line);padding:6px 8px;position:sticky;top:0}
td{border-bottom:1px solid #f1f5f9;padding:5px 8px;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr:hover td{background:#fafafa}
.neg{color:var(--neg)}.pos{color:var(--pos)}
.small{font-size:12px;color:var(--muted)}
.opt{display:block;font-size:11px;color:var(--muted)}
.grid2{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:18px;align-items:start}
.grid-chart{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:18px;align-items:start}
figure{margin:0}
figure img{max-width:100%;height:auto;display:block;margin:0 auto;border:1px solid var(--line);border-radius:8px}
figcaption{font-size:12px;color:var(--muted);margin-top:6px}
.missing{border:1px dashed #d1d5db;border-radius:8px;padding:14px 16px;color:var(--muted);background:#fafafa}
.warnings{background:#fffbeb;border:1px solid #fcd34d}
.warnings h2{color:#92400e}
.warnings li{margin:2px 0}
.alarm{background:#fef2f2;border:2px solid #dc2626;color:#7f1d1d;font-weight:600}
.badge{display:inline-block;font-size:11px;font-weight:700;border-radius:4px;padding:0 6px}
.badge.syn{background:#dc2626;color:#fff}.badge.ok{background:#dcfce7;color:#166534}.badge.warn{background:#fef3c7;color:#92400e}
tr.syn td{background:#fef2f2}
.qa{border:1px solid var(--line);border-radius:10px;padding:12px 16px;margin-top:12px}
.qa .q{font-weight:650;margin-bottom:6px;color:var(--accent)}
.qa .a{font-size:13px}
.stat{display:flex;flex-wrap:wrap;gap:8px 22px;margin:4px 0 10px}
.stat div{font-size:12px;color:var(--muted)}.stat b{color:var(--ink);font-size:14px}
nav{margin-top:12px;display:flex;flex-wrap:wrap;gap:6px}
nav a{font-size:12px;color:#c7d2fe;text-decoration:none;border:1px solid rgba(255,255,255,.25);border-radius:999px;padding:1px 9px}
footer{font-size:11.5px;color:var(--muted);margin-top:16px;text-align:center}
"""


def _missing(text: str) -> str:
    return f'<div class="missing">{esc(text)}</div>'


def _figure(png: bytes | None, alt: str, caption: str = "", missing: str = "") -> str:
    if not png:
        return _missing(missing or f"{alt}: nothing to draw.")
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{data_uri(png)}" alt="{esc(alt)}">{cap}</figure>'


def _section(sid: str, body: str, extra_class: str = "") -> str:
    idx = [s for s, _t in SECTIONS].index(sid) + 1
    title = dict(SECTIONS)[sid]
    cls = f' class="{extra_class}"' if extra_class else ""
    return f'<section id="{sid}"{cls}><h2><span class="num">{idx}</span>{esc(title)}</h2>{body}</section>'


def _table(headers: list[tuple[str, bool]], rows: list[list[str]], row_classes: list[str] | None = None) -> str:
    """headers: (label, numeric); cells are already-escaped HTML."""
    head = "".join(f'<th class="n">{esc(h)}</th>' if n else f"<th>{esc(h)}</th>" for h, n in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        cells = "".join(f'<td class="n">{c}</td>' if headers[j][1] else f"<td>{c}</td>" for j, c in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _money_cell(x: Any) -> str:
    return f'<span class="{signed_cls(x)}">{esc(usd(x))}</span>'


def _summary(d: ReportData, a: Analysis) -> str:
    t = a.totals
    tiles = [
        ("Net value", usd(t.get("net_value")), "long + short market value"),
        ("Gross exposure", usd(t.get("gross_exposure")), "long + |short|"),
        ("Long", usd(t.get("long_value")), ""),
        ("Short", usd(t.get("short_value")), ""),
        ("Unrealized P&L", usd(t.get("unrealized_pnl")), "vs entry prices"),
        ("Positions", str(t.get("positions", 0)), f"{len(d.positions['tags'].explode().dropna().unique()) if len(d.positions) else 0} tags"),
    ]
    risk = d.risk or {}
    if risk.get("quality_flag") == "ok":
        tiles += [
            ("VaR 95 % (1 day)", usd(risk.get("var_95_historical")), "historical, full revaluation"),
            ("VaR 99 % (1 day)", usd(risk.get("var_99_historical")), "historical, full revaluation"),
            ("ES 97.5 %", usd(risk.get("es_975_historical")), "historical"),
            ("Beta to SPY", num(risk.get("beta_spy")), "252 sessions"),
            ("Volatility", pct(risk.get("annualised_volatility")), "annualised, vs gross"),
            ("Max drawdown", pct(risk.get("max_drawdown")), "constant-gross book, 252 sessions"),
        ]
    html_tiles = "".join(
        f'<div class="kpi"><div class="l">{esc(label)}</div><div class="v{" neg" if value.startswith("-") else ""}">'
        f'{esc(value)}</div><div class="s">{esc(sub)}</div></div>' for label, value, sub in tiles
    )
    chips = "".join(f'<span class="chip">{esc(TYPE_NAMES.get(k, k))} ({esc(k)}): {n}</span>' for k, n in t.get("by_type", {}).items())
    desc = f'<p class="small">{esc(d.portfolio_description)}</p>' if d.portfolio_description else ""
    return _section("summary", f'<div class="kpis">{html_tiles}</div><div class="chips">{chips}</div>{desc}')


def _warnings(a: Analysis) -> str:
    if not a.warnings:
        return ""
    alarm = ""
    if a.synthetic:
        alarm = (f'<p class="alarm">⚠ SYNTHETIC PRICES: {esc(", ".join(a.synthetic))} — generated data, not market prices. '
                 "Every number that depends on these symbols is illustrative only.</p>")
    items = "".join(f"<li>{esc(w)}</li>" for w in a.warnings)
    return (f'<section id="warnings" class="warnings"><h2>Warnings ({len(a.warnings)})</h2>{alarm}<ul>{items}</ul></section>')


def _option_note(r) -> str:
    if r.position_type not in OPTION_TYPES:
        return ""
    kind = "call" if r.position_type in CALL_TYPES else "put"
    exp = r.expiration_date.isoformat() if hasattr(r.expiration_date, "isoformat") else esc(r.expiration_date)
    return f'<span class="opt">{esc(r.underlying_symbol)} {esc(num(r.strike_price, 2))} {kind} · exp {esc(exp)}</span>'


def _holdings(d: ReportData, a: Analysis) -> str:
    if d.positions.empty:
        return _section("holdings", _missing("No active positions."))
    gross = a.totals.get("gross_exposure") or 0.0
    pos = d.positions.assign(_abs=d.positions["market_value"].abs()).sort_values(["_abs", "symbol"], ascending=[False, True],
                                                                                  na_position="last")
    rows = []
    for r in pos.itertuples():
        tags = "".join(f'<span class="chip t">{esc(t)}</span>' for t in r.tags) or '<span class="small">—</span>'
        rows.append([
            f"<b>{esc(r.symbol)}</b>{_option_note(r)}", esc(r.position_type), esc(qty(r.quantity)),
            esc(usd(r.last_price, 2)), _money_cell(r.market_value),
            esc(pct(abs(r.market_value) / gross)) if gross and np.isfinite(r.market_value) else "n/a",
            _money_cell(r.unrealized_pnl), tags,
        ])
    table = _table([("Symbol", False), ("Type", False), ("Quantity", True), ("Price", True), ("Market value", True),
                    ("% of gross", True), ("Unrealized P&L", True), ("Tags", False)], rows)
    note = ('<p class="small">All active positions, largest |market value| first. Quantities are shares or option contracts '
            "(× 100 shares); option prices are per share.</p>")
    return _section("holdings", note + table)


def _exposure(a: Analysis, charts: dict) -> str:
    tag = _figure(charts.get("exposure_tag"), "Long vs short market value by tag",
                  "A position with several tags is counted in each of its tags, so the tag totals overlap and add up to "
                  "more than the portfolio.", "No positions to chart.")
    typ = _figure(charts.get("exposure_type"), "Market value by position type",
                  "Long = positive market value, short = negative; options at their (model) market value.",
                  "No positions to chart.")
    return _section("exposure", f'<div class="grid2">{tag}{typ}</div>')


def _factors(d: ReportData, charts: dict) -> str:
    if d.factor_exposures.empty:
        return _section("factors", _missing("Factor exposures have not been computed yet for this client."))
    fe = d.factor_exposures
    rows = []
    for factor, grp in fe.sort_values("display_order").groupby("factor", sort=False):
        by = {r.model: r for r in grp.itertuples()}
        s, m = by.get("single"), by.get("multivariate")
        rows.append([esc(factor), esc(grp["etf_proxy"].iloc[0]),
                     _money_cell(s.dollars) if s else "n/a", esc(num(s.beta_gross)) if s else "n/a",
                     _money_cell(m.dollars) if m else "n/a", esc(num(m.beta_gross)) if m else "n/a",
                     esc(num(m.beta_net)) if m else "n/a"])
    table = _table([("Factor", False), ("ETF", False), ("Single $", True), ("β gross", True), ("Multivariate $", True),
                    ("β gross", True), ("β net", True)], rows)
    fig = _figure(charts.get("factors"), "Factor exposures, single-factor and multivariate",
                  "Dollar exposure = Σ position exposure × beta (options delta-adjusted). Single-factor betas regress each "
                  "position on one ETF; the multivariate model regresses jointly on SPY and orthogonalised styles (each style "
                  "ETF's return net of SPY and of the styles before it, order Value → Growth → Momentum → Quality → Size → "
                  "Low Volatility), so its style betas are pure style loadings and its regressors are uncorrelated (VIF 1).")
    mk = fe[fe["factor"] == "Market"].set_index("model")
    recon = ""
    if {"single", "multivariate"} <= set(mk.index):
        s_d, m_d = float(mk.at["single", "dollars"]), float(mk.at["multivariate", "dollars"])
        recon = (f'<p class="small">Market beta reconciliation: single-factor {esc(usd(s_d))}, multivariate '
                 f'{esc(usd(m_d))}, difference {esc(usd(m_d - s_d))}. The styles are orthogonal to SPY, so for every '
                 f'position with a full estimation window the two market betas are identical; any difference comes from '
                 f'positions with limited history (their own window).</p>')
    desk = ""
    if d.desk_exposure:
        x = d.desk_exposure
        desk = _table([("Desk exposure (delta-adjusted)", False), ("USD", True)], [
            ["Long dollar delta", _money_cell(x["long_dollar_delta"])], ["Short dollar delta", _money_cell(x["short_dollar_delta"])],
            ["Delta-adjusted gross (Σ|dollar delta|)", _money_cell(x["delta_adjusted_gross"])],
            ["Delta-adjusted net (Σ dollar delta)", _money_cell(x["delta_adjusted_net"])],
            ["Beta-adjusted net (SPY-equivalent $)", _money_cell(x["beta_adjusted_net"])],
            ["Beta-adjusted gross", _money_cell(x["beta_adjusted_gross"])]])
        desk += (f'<p class="small">Dollar delta = share delta × underlying price (options: BSM delta × contracts × 100); '
                 f'beta-adjusted with the single-factor SPY beta; {int(x["n_positions_missing_beta"])} position(s) without a beta '
                 f'count 0. Share deltas are added only within one underlying.</p>')
    return _section("factors", f'<div class="grid-chart">{fig}<div>{table}<p class="small">Betas as of '
                               f'{esc(d.factor_date)}; β gross = $ / gross exposure, β net = $ / net value.</p>{recon}{desk}</div></div>')


def _correlation(d: ReportData, charts: dict) -> str:
    c = d.correlation
    if c is None:
        return _section("correlation", _missing("Correlations have not been computed yet for this client."))
    stats = (f'<div class="stat"><div>Average pairwise ρ<br><b>{esc(num(c.get("overall_correlation")))}</b></div>'
             f'<div>Concentration score<br><b>{esc(num(c.get("correlation_concentration_score"), 3))}</b></div>'
             f'<div>Effective positions<br><b>{esc(num(c.get("effective_positions"), 1))}</b></div>'
             f'<div>Included / excluded<br><b>{c.get("positions_included")} / {c.get("positions_excluded")}</b></div></div>')
    clusters = c.get("clusters") or []
    crow = [[esc(cl["nickname"]), esc(", ".join(cl["symbols"])), esc(num(cl["avg_correlation"])),
             esc(usd(cl["total_value"])), esc(pct(cl["portfolio_percentage"]))] for cl in clusters]
    ctable = _table([("Cluster", False), ("Members", False), ("Avg ρ", True), ("|Value|", True), ("% gross", True)], crow) \
        if crow else '<p class="small">No cluster: no pair of included positions has |ρ| ≥ 0.7.</p>'
    excluded = c.get("excluded") or {}
    reasons: dict[str, list[str]] = {}
    for sym, why in excluded.items():
        reasons.setdefault(str(why), []).append(str(sym))
    ex = "".join(f"<li><b>{esc(why)}</b>: {esc(', '.join(sorted(syms)))}</li>" for why, syms in sorted(reasons.items()))
    fig = _figure(charts.get("correlation"), "Correlation heat map",
                  f"Pearson correlation of daily log returns over {c.get('duration_days')} sessions to "
                  f"{c.get('calculation_date')}, positions sorted by cluster (outlined, coloured labels), the rest ordered by "
                  "similarity.", "Fewer than two positions have correlations.")
    side = f"{stats}<h3>Clusters</h3>{ctable}" + (f"<h3>Not in the matrix</h3><ul class='small'>{ex}</ul>" if ex else "")
    return _section("correlation", f'<div class="grid-chart">{fig}<div>{side}</div></div>')


def _performance(d: ReportData, a: Analysis, charts: dict) -> str:
    s = d.snapshots
    if s.empty:
        return _section("performance", _missing("No portfolio snapshots yet (the time series has not been materialised "
                                                "for this client, e.g. onboarded with --sessions 0)."))
    p = a.pnl
    pnl = s["daily_pnl"].dropna()
    best = s.loc[s["daily_pnl"].idxmax()] if len(pnl) else None
    worst = s.loc[s["daily_pnl"].idxmin()] if len(pnl) else None
    n_window = max(len(s) - 1, 0)
    stats = (f'<div class="stat"><div>Sessions<br><b>{len(s)}</b></div>'
             f'<div>Net value, first → last<br><b>{esc(usd(s["total_value"].iloc[0]))} → {esc(usd(s["total_value"].iloc[-1]))}</b></div>'
             f'<div>Value change<br><b class="{signed_cls(p.get("value_change"))}">{esc(usd(p.get("value_change")))}</b></div>'
             f'<div>Sum of daily P&L, sessions 2–{len(s)}<br><b class="{signed_cls(p.get("window_pnl"))}">'
             f'{esc(usd(p.get("window_pnl")))}</b></div>'
             + (f'<div>Best day<br><b class="pos">{esc(usd(best["daily_pnl"]))}</b> {esc(best["snapshot_date"])}</div>'
                f'<div>Worst day<br><b class="neg">{esc(usd(worst["daily_pnl"]))}</b> {esc(worst["snapshot_date"])}</div>'
                if best is not None else "")
             + f'<div>Latest gross exposure<br><b>{esc(usd(s["gross_exposure"].iloc[-1]))}</b></div></div>')
    capital = p.get("entry_capital") or 0.0
    entered = p.get("entered") or []
    recon = (f'<p class="small"><b>Reconciliation.</b> Value change {esc(usd(p.get("value_change"), 2))} = Σ daily P&L of '
             f'sessions 2–{len(s)} ({n_window} sessions) {esc(usd(p.get("window_pnl"), 2))} + capital of the positions '
             f'entered in the window {esc(usd(capital, 2))}'
             + (f' ({esc(", ".join(entered))}: quantity × multiplier × entry price; a short receives premium)' if entered else "")
             + (f'; difference {esc(usd(p.get("reconciliation_gap"), 2))}' if p.get("reconciliation_gap") is not None else "")
             + f'. The first session’s stored daily P&L ({esc(usd(p.get("first_day_pnl"), 2))} on {esc(p.get("first_date"))}) '
             'is its move from the session BEFORE the window, so it is not part of the value change shown and is left out '
             'of the sum. Every session is valued with its own marks (prices, realised vol, rate, time to expiry), so a '
             'session’s daily P&L equals its change in value; on the day a position enters, its daily P&L also holds the '
             'position’s P&L since its entry price (a trade, not a market move of the book).</p>') if len(s) > 1 else ""
    fig = _figure(charts.get("performance"), "Portfolio value and daily P&L",
                  "Net value (total_value) and daily P&L of the stored end-of-day snapshots (point in time: the positions "
                  "held on each date, options revalued with Black–Scholes).")
    return _section("performance", stats + recon + fig)


def _pnl_explain(d: ReportData, a: Analysis, charts: dict) -> str:
    p = a.pnl
    if not p.get("explain_window") and not p.get("explain_last"):
        return _section("pnl-explain", _missing("No P&L explanation yet (onb_position_pnl_explain has no row for the "
                                                "snapshot sessions: materialise portfolio_snapshots)."))
    labels = [("delta_pnl", "Delta (δ₀ × ΔS)"), ("gamma_pnl", "Gamma (½ Γ₀ × ΔS²)"), ("vega_pnl", "Vega (ν₀ × Δσ)"),
              ("theta_pnl", "Theta (θ₀ × calendar days)"), ("rates_pnl", "Rates (ρ₀ × Δr)"), ("residual", "Residual")]
    cols = [(k, t) for k, t in (("explain_window", f"Sessions 2–{p.get('sessions')}"), ("explain_last", f"Last session {p.get('last_date')}"))
            if p.get(k)]
    rows = [[esc(lab)] + [_money_cell(p[k][key]) for k, _t in cols] for key, lab in labels]
    rows.append(["<b>Explained P&L = Δ value of the positions held over the night (window: Σ over the nights)</b>"] + [_money_cell(p[k]["pnl"]) for k, _t in cols])
    rows.append(["|Residual| as % of |Δ value|"] + [esc(f"{p[k]['residual_pct']:.2f} %" if p[k].get("residual_pct") is not None
                                                         else "n/a") for k, _t in cols])
    table = _table([("Term", False)] + [(t, True) for _k, t in cols], rows)
    notes = []
    if p.get("entry_pnl") is not None:
        notes.append(f"Σ daily P&L of sessions 2–{p.get('sessions')} {usd(p.get('window_pnl'), 2)} = explained P&L "
                     f"{usd(p['explain_window']['pnl'], 2)} + P&L of positions on their entry day (since the entry price, a "
                     f"trade, not explained by Greeks) {usd(p['entry_pnl'], 2)}.")
    text = ('<p class="small">Each position’s daily P&L — exactly its change in value, both sessions at their own marks — '
            "split with the PREVIOUS session’s Greeks: delta, gamma, vega (vol points), theta (calendar days, so a weekend "
            "is 3 days), rates (ρ per 1 %); the residual is what they do not explain (cross and higher-order effects, "
            "jumps, expiries). Σ terms + residual = P&L to the cent. " + esc(" ".join(notes)) + "</p>")
    fig = _figure(charts.get("pnl_explain"), "P&L explanation waterfall",
                  "Waterfall of the explanation terms up to the P&L (Δ value) of the positions held over the night: the "
                  "window (sessions 2–N) and the last session; |residual| as a share of |Δ value| in each title.")
    return _section("pnl-explain", table + text + fig)


def _var(d: ReportData, a: Analysis, charts: dict) -> str:
    r = d.risk
    if r is None:
        return _section("var", _missing("Risk metrics have not been computed yet for this client."))
    if r.get("quality_flag") != "ok":
        return _section("var", _missing(f"Risk metrics are flagged {r.get('quality_flag')} ({r.get('n_observations')} "
                                        "observations): no VaR."))
    rows = [
        ["Historical (full revaluation)", esc(usd(r.get("var_95_historical"))), esc(usd(r.get("var_99_historical"))),
         esc(usd(r.get("es_975_historical"))), esc(usd(r.get("var_99_historical_10d")))],
        ["Parametric (delta-normal)", esc(usd(r.get("var_95_parametric"))), esc(usd(r.get("var_99_parametric"))),
         esc(usd(r.get("es_975_parametric"))), esc(usd((r.get("var_99_parametric") or np.nan) * np.sqrt(10)))],
        ["Monte Carlo (10,000 paths)", esc(usd(r.get("var_95_monte_carlo"))), esc(usd(r.get("var_99_monte_carlo"))),
         esc(usd(r.get("es_975_monte_carlo"))), esc(usd((r.get("var_99_monte_carlo") or np.nan) * np.sqrt(10)))],
    ]
    table = _table([("Method (1 day)", False), ("VaR 95 %", True), ("VaR 99 %", True), ("ES 97.5 %", True),
                    ("VaR 99 % 10 d", True)], rows)
    bt = (f'<p class="small">Back-test over {r.get("backtest_sessions")} sessions: {r.get("backtest_exceedances_95")} '
          f'exceedances at 95 % (Kupiec p {esc(num(r.get("kupiec_p_95"), 2))}), {r.get("backtest_exceedances_99")} at 99 % '
          f'(p {esc(num(r.get("kupiec_p_99"), 2))}). Volatility {esc(pct(r.get("annualised_volatility")))}, '
          f'Sharpe {esc(num(r.get("sharpe_ratio")))}, Sortino {esc(num(r.get("sortino_ratio")))}, '
          f'max drawdown {esc(pct(r.get("max_drawdown")))}. As of {esc(r.get("calculation_date"))}, '
          f'{r.get("n_observations")} observations.</p>')
    caption = ("The histogram is the delta approximation of the stored full-revaluation VaR: P&L_t = Σ_i exposure_i × r_i,t "
               "with the stored dollar delta per underlying and daily simple returns of the cached prices "
               f"({a.var_note}). The dashed lines are the stored historical VaR (options fully repriced).")
    if a.var_pnl is not None:
        q95, q99 = -float(np.quantile(a.var_pnl, 0.05)), -float(np.quantile(a.var_pnl, 0.01))
        caption += f" Delta-approximation VaR: 95 % {usd(q95)}, 99 % {usd(q99)}."
    fig = _figure(charts.get("var"), "Historical P&L distribution with VaR lines", caption,
                  f"Histogram not drawn: {a.var_note or 'no exposures stored'}.")
    return _section("var", f'<div class="grid-chart">{fig}<div>{table}{bt}{_contributors(r)}</div></div>')


def _contributors(r: dict) -> str:
    """Largest Euler contributions to the parametric VaR 99 % (details JSON), and the biggest hedges."""
    details = r.get("details") if isinstance(r.get("details"), dict) else {}
    comp = {k: v for k, v in (details.get("component_var_99_parametric") or {}).items() if v is not None}
    total = r.get("var_99_parametric")
    if not comp or not total:
        return ""
    ranked = sorted(comp.items(), key=lambda kv: -kv[1])
    top = ranked[:5]
    hedges = [kv for kv in ranked[::-1] if kv[1] < 0][:3]
    rows = [[f"<b>{esc(k)}</b>", esc(usd(v)), esc(pct(v / total))] for k, v in top]
    rows += [[f"<b>{esc(k)}</b> <span class='small'>hedge</span>", esc(usd(v)), esc(pct(v / total))] for k, v in hedges]
    return ("<h3>VaR 99 % contributions (parametric, Euler)</h3>"
            + _table([("Underlying", False), ("Contribution", True), ("Share", True)], rows)
            + '<p class="small">Contributions sum to the parametric VaR; negative = the position reduces the risk.</p>')


def _stress(d: ReportData, charts: dict) -> str:
    if d.stress.empty:
        return _section("stress", _missing("Stress tests have not been computed yet for this client."))
    worst, best = d.stress.iloc[0], d.stress.iloc[-1]
    stats = (f'<div class="stat"><div>Scenarios<br><b>{len(d.stress)}</b></div>'
             f'<div>Worst<br><b class="{signed_cls(worst["pnl"])}">{esc(usd(worst["pnl"]))}</b> {esc(worst["name"])}</div>'
             f'<div>Best<br><b class="{signed_cls(best["pnl"])}">{esc(usd(best["pnl"]))}</b> {esc(best["name"])}</div>'
             f'<div>As of<br><b>{esc(d.stress_date)}</b></div></div>')
    fig = _figure(charts.get("stress"), "Stress test P&L per scenario",
                  "Scenario P&L from the multivariate factor betas and rate betas, options repriced with Black–Scholes, "
                  "no loss caps; historical replays apply the returns of the stated window.")
    return _section("stress", stats + fig)


def _quality(d: ReportData, a: Analysis) -> str:
    q = a.quality
    if q.empty:
        return _section("data-quality", _missing("No price symbols to check."))
    rows, classes = [], []
    clean_refs = q[(q["role"] == "reference") & (q["coverage_90"] >= MIN_COVERAGE) & (q["gaps"] == 0) & ~q["synthetic"]]
    shown = q.drop(index=clean_refs.index)
    for r in shown.itertuples():
        src = esc(r.sources) + (' <span class="badge syn">SYNTHETIC</span>' if r.synthetic else "")
        cov_badge = "ok" if r.coverage_90 >= MIN_COVERAGE else "warn"
        flags = ('<span class="badge ok">ok</span>' if r.flags == "ok" else f'<span class="badge warn">{esc(r.flags)}</span>')
        gaps = f"{r.gaps}" + (f' <span class="small">{esc(r.gap_dates)}</span>' if r.gaps else "")
        rows.append([f"<b>{esc(r.symbol)}</b>", esc(r.role), src,
                     f'<span class="badge {cov_badge}">{esc(pct(r.coverage_90, 0))}</span>', gaps, flags,
                     esc(r.extreme_betas) or '<span class="small">—</span>'])
        classes.append("syn" if r.synthetic else "")
    greeks = ""
    if len(d.greeks):
        srcs = ", ".join(f"{k} {v}" for k, v in d.greeks["price_source"].value_counts().items())
        greeks = (f"<li>Options: {len(d.greeks)} priced ({esc(srcs)}; volatility "
                  f"{esc(', '.join(sorted(set(map(str, d.greeks['volatility_source'])))))}).</li>")
    risk_flag = f"<li>Risk metrics quality flag: <b>{esc((d.risk or {}).get('quality_flag', 'not computed'))}</b>.</li>"
    notes = (f'<ul class="small"><li>Sources = cached price rows per provider over the last {len(d.prices)} sessions; '
             f"coverage = share of the last {min(COVERAGE_SESSIONS, len(d.prices))} NYSE sessions with a price; gaps = sessions "
             "recorded in market_data_gaps (no provider had them).</li><li>Flags: factor/rate regression history "
             "(limited_history = fewer than 252 observations, insufficient_history/degenerate = no estimate); extreme "
             "betas = |β| &gt; 3, kept unclipped.</li>" + greeks + risk_flag + "</ul>")
    table = _table([("Symbol", False), ("Role", False), ("Price sources (rows)", False), (f"Coverage {COVERAGE_SESSIONS} s", True),
                    ("Gaps", False), ("Quality flags", False), ("Extreme betas", False)], rows, classes)
    if len(clean_refs):
        srcs = sorted({x.split(" ")[0] for v in clean_refs["sources"] for x in v.split(", ")})
        table += (f'<p class="small">Reference series (factor ETFs, rates) with complete {COVERAGE_SESSIONS}-session coverage, '
                  f'no gaps and no synthetic rows: {esc(", ".join(clean_refs["symbol"]))} (sources: {esc(", ".join(srcs))}).</p>')
    return _section("data-quality", notes + table)


def _answers_html(a: Analysis) -> str:
    ans = a.answers
    parts = []
    th = ans["top_holdings"]
    if th["holdings"]:
        body = _table([("#", True), ("Symbol", False), ("Type", False), ("Market value", True), ("Share of gross", True)],
                      [[str(i), f"<b>{esc(h['symbol'])}</b>", esc(h["position_type"]), _money_cell(h["market_value"]),
                        esc(pct(h["share_of_gross"]))] for i, h in enumerate(th["holdings"], 1)])
        body += f'<p class="small">{esc(th["ranking"])}.</p>'
    else:
        body = _missing(th.get("note", "no holdings"))
    parts.append(("top_holdings", body))

    fa = ans["factor_exposures"]
    if fa["multivariate"] or fa["single"]:
        factors = list(dict.fromkeys(list(fa["multivariate"]) + list(fa["single"])))
        body = _table([("Factor", False), ("Multivariate $", True), ("β", True), ("Single-factor $", True), ("β", True)],
                      [[esc(f), _money_cell((fa["multivariate"].get(f) or {}).get("dollars")),
                        esc(num((fa["multivariate"].get(f) or {}).get("beta"))),
                        _money_cell((fa["single"].get(f) or {}).get("dollars")),
                        esc(num((fa["single"].get(f) or {}).get("beta")))] for f in factors])
        body += f'<p class="small">{esc(fa["note"])}.</p>'
    else:
        body = _missing(fa.get("note", "not computed"))
    parts.append(("factor_exposures", body))

    sc = ans["spy_correlation"]
    if sc["correlation"] is not None:
        body = (f'<p>Correlation with the S&amp;P 500 (SPY): <b>{esc(num(sc["correlation"], 3))}</b> over '
                f'{sc["n_observations"]} sessions ({esc(sc["start"])} to {esc(sc["end"])}); beta to SPY '
                f'<b>{esc(num(sc["beta_spy"]))}</b>.</p><p class="small">Source: {esc(sc["source"])} — {esc(sc["note"])}. '
                f'Beta: {esc(sc["beta_spy_source"])}.</p>')
    else:
        body = _missing(f"Not available: {sc.get('note')}")
    parts.append(("spy_correlation", body))

    st = ans["stress_test"]
    if st["scenarios"]:
        body = _table([("Scenario", False), ("Category", False), ("P&L", True), ("% of gross", True)],
                      [[esc(v["name"]), esc(v["category"]), _money_cell(v["pnl"]), esc(pct(v["pct_gross"], 2, signed=True))]
                       for v in st["scenarios"].values()])
        body += f'<p class="small">{esc(st["note"])}; as of {esc(st["as_of"])}.</p>'
    else:
        body = _missing(st.get("note", "not computed"))
    parts.append(("stress_test", body))
    card = {k: f'<div class="qa" id="answer-{k}"><div class="q">{i}. “{esc(QUESTIONS[k])}”</div><div class="a">{b}</div></div>'
            for i, (k, b) in enumerate(parts, 1)}
    cards = (f'<div class="grid2"><div>{card["top_holdings"]}{card["factor_exposures"]}{card["spy_correlation"]}</div>'
             f'<div>{card["stress_test"]}</div></div>')
    intro = ('<p class="small">The runbook\'s four AI-chat verification questions, answered from the database: the chat\'s '
             "answers for this client should match these.</p>")
    return _section("chat-answers", intro + cards)


def render_html(d: ReportData, a: Analysis, charts: dict[str, bytes | None]) -> str:
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    nav = "".join(f'<a href="#{sid}">{esc(title)}</a>' for sid, title in SECTIONS)
    hero = (f'<div class="hero"><div><div class="brand">SigmaSight · client onboarding report</div>'
            f"<h1>{esc(d.full_name or d.email)}</h1><div class=\"sub\">{esc(d.portfolio_name)} · {esc(d.email)} · "
            f"{esc(d.currency)}</div><nav>{nav}</nav></div>"
            f'<div class="meta">as of<br><b>{esc(d.as_of)}</b><br>generated {esc(generated)}</div></div>')
    body = "".join([
        hero, _summary(d, a), _warnings(a), _holdings(d, a), _exposure(a, charts), _factors(d, charts),
        _correlation(d, charts), _performance(d, a, charts), _pnl_explain(d, a, charts), _var(d, a, charts), _stress(d, charts), _quality(d, a),
        _answers_html(a),
    ])
    footer = ("<footer>Generated by sigmasight-onboarding from the SigmaSight database (SQL reads only). Dollars in "
              f"{esc(d.currency)}; VaR and ES are positive 1-day losses unless stated.</footer>")
    csp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Onboarding report — {esc(d.full_name or d.email)} — {esc(d.as_of)}</title>"
            f"<style>{CSS}</style></head><body><main>{body}{footer}</main></body></html>\n")


# --------------------------------------------------------------------------------- Markdown


def render_markdown(d: ReportData, a: Analysis, charts: dict[str, bytes | None]) -> str:
    t = a.totals
    risk = d.risk or {}
    lines = [
        f"# Onboarding report — {md(d.full_name or d.email)}",
        f"**{md(d.portfolio_name)}** · {md(d.email)} · as of **{d.as_of}**",
        "",
        "| Net value | Gross | Long | Short | Unrealized P&L | Positions |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {usd(t.get('net_value'))} | {usd(t.get('gross_exposure'))} | {usd(t.get('long_value'))} | "
        f"{usd(t.get('short_value'))} | {usd(t.get('unrealized_pnl'))} | {t.get('positions', 0)} |",
        "",
        "Positions by type: " + (", ".join(f"{TYPE_NAMES.get(k, k)} {n}" for k, n in t.get("by_type", {}).items()) or "none"),
    ]
    if risk.get("quality_flag") == "ok":
        lines += ["", f"1-day VaR 95 % **{usd(risk.get('var_95_historical'))}**, 99 % **{usd(risk.get('var_99_historical'))}** "
                      f"(historical); ES 97.5 % {usd(risk.get('es_975_historical'))}; beta to SPY {num(risk.get('beta_spy'))}; "
                      f"volatility {pct(risk.get('annualised_volatility'))}."]
    if a.warnings:
        lines += ["", f"## Warnings ({len(a.warnings)})"] + [f"- {md(w)}" for w in a.warnings]
    lines += ["", "## Top 10 holdings", "", "| Symbol | Type | Quantity | Market value | % of gross | Unrealized P&L | Tags |",
              "|---|---|---:|---:|---:|---:|---|"]
    gross = t.get("gross_exposure") or 0.0
    if len(d.positions):
        top = d.positions.assign(_abs=d.positions["market_value"].abs()).sort_values(["_abs", "symbol"], ascending=[False, True],
                                                                                      na_position="last").head(10)
        for r in top.itertuples():
            share = pct(abs(r.market_value) / gross) if gross and np.isfinite(r.market_value) else "n/a"
            lines.append(f"| {md(r.symbol)} | {md(r.position_type)} | {qty(r.quantity)} | {usd(r.market_value)} | {share} | "
                         f"{usd(r.unrealized_pnl)} | {md(', '.join(r.tags))} |")
    lines += ["", "## Chat verification answers"]
    ans = a.answers
    th = ans["top_holdings"]
    lines += ["", f"**1. “{md(QUESTIONS['top_holdings'])}”**", ""]
    lines += [f"{i}. {md(h['symbol'])}: {usd(h['market_value'])} ({pct(h['share_of_gross'])} of gross)"
              for i, h in enumerate(th["holdings"], 1)] or [f"_{md(th.get('note'))}_"]
    fa = ans["factor_exposures"]
    lines += ["", f"**2. “{md(QUESTIONS['factor_exposures'])}”**", ""]
    if fa["multivariate"] or fa["single"]:
        lines += ["| Factor | Multivariate $ | β | Single-factor $ | β |", "|---|---:|---:|---:|---:|"]
        for f in dict.fromkeys(list(fa["multivariate"]) + list(fa["single"])):
            mv, sg = fa["multivariate"].get(f) or {}, fa["single"].get(f) or {}
            lines.append(f"| {md(f)} | {usd(mv.get('dollars'))} | {num(mv.get('beta'))} | {usd(sg.get('dollars'))} | "
                         f"{num(sg.get('beta'))} |")
        rec = fa.get("market_reconciliation")
        if rec:
            lines += ["", f"Market: multivariate {usd(rec['multivariate_dollars'])} vs single-factor {usd(rec['single_dollars'])} "
                          f"(difference {usd(rec['difference'])}; the styles are orthogonal to SPY, so they agree for every "
                          f"position with a full window)."]
    else:
        lines.append(f"_{md(fa.get('note'))}_")
    if d.desk_exposure:
        x = d.desk_exposure
        lines += ["", f"Desk exposure: delta-adjusted gross {usd(x['delta_adjusted_gross'])}, net {usd(x['delta_adjusted_net'])}; "
                      f"beta-adjusted net {usd(x['beta_adjusted_net'])} (SPY-equivalent)."]
    sc = ans["spy_correlation"]
    lines += ["", f"**3. “{md(QUESTIONS['spy_correlation'])}”**", ""]
    if sc["correlation"] is not None:
        lines.append(f"Correlation **{num(sc['correlation'], 3)}** over {sc['n_observations']} sessions "
                     f"({sc['start']} to {sc['end']}; source {md(sc['source'])}); beta to SPY **{num(sc['beta_spy'])}**.")
    else:
        lines.append(f"_Not available: {md(sc.get('note'))}_")
    st = ans["stress_test"]
    lines += ["", f"**4. “{md(QUESTIONS['stress_test'])}”**", ""]
    if st["scenarios"]:
        lines += ["| Scenario | P&L | % of gross |", "|---|---:|---:|"]
        lines += [f"| {md(v['name'])} | {usd(v['pnl'])} | {pct(v['pct_gross'], 2, signed=True)} |" for v in st["scenarios"].values()]
    else:
        lines.append(f"_{md(st.get('note'))}_")
    p = a.pnl
    if p.get("value_change") is not None:
        lines += ["", "## P&L", "",
                  f"Value change {p.get('first_date')} → {p.get('last_date')}: {usd(p.get('value_change'), 2)} = Σ daily P&L of "
                  f"sessions 2–{p.get('sessions')} {usd(p.get('window_pnl'), 2)} + capital of positions entered "
                  f"{usd(p.get('entry_capital'), 2)}; first session's daily P&L (from the session before the window, not in "
                  f"the value change): {usd(p.get('first_day_pnl'), 2)}."]
        for key, title in (("explain_window", "window"), ("explain_last", f"last session {p.get('last_date')}")):
            e = p.get(key)
            if e:
                res = f"{e['residual_pct']:.2f} %" if e.get("residual_pct") is not None else "n/a"
                lines.append(f"- Explain, {title}: delta {usd(e['delta_pnl'])}, gamma {usd(e['gamma_pnl'])}, vega "
                             f"{usd(e['vega_pnl'])}, theta {usd(e['theta_pnl'])}, rates {usd(e['rates_pnl'])}, residual "
                             f"{usd(e['residual'])} = {usd(e['pnl'])} (|residual| {res} of |Δ value|)")
    text = "\n".join(lines) + "\n"

    titles = {"exposure_tag": "Exposure by tag", "exposure_type": "Exposure by position type", "factors": "Factor exposures",
              "correlation": "Correlation heat map", "performance": "Value and daily P&L (30 sessions)",
              "pnl_explain": "P&L explanation (delta, gamma, vega, theta, rates, residual)",
              "var": "VaR: P&L distribution", "stress": "Stress tests"}
    images = [(titles[k], charts[k]) for k in titles if charts.get(k)]
    if images:
        text += "\n## Charts\n"
        skipped = []
        for title, png in images:
            block = f"\n**{title}**\n\n![{title}]({data_uri(png)})\n"
            if len(text) + len(block) > MARKDOWN_BUDGET:
                skipped.append(title)
                continue
            text += block
        if skipped:
            text += f"\n_Left out to keep this metadata small (see the HTML report): {', '.join(skipped)}._\n"
    return text


__all__ = ["SECTIONS", "esc", "md", "render_html", "render_markdown"]
