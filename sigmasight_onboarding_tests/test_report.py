"""The per-client onboarding report (`sigmasight_onboarding.report`), on SQLite and PostgreSQL.

The hedge-fund demo (30 sessions of time series) and a hostile client (HTML/formula injection in
name and tags, onboarded with `--sessions 0`, so snapshots/risk/stress are missing) are onboarded
ONCE per database by a module-scoped fixture; every test reads from it.
"""

from __future__ import annotations

import base64
import csv
from html import escape as html_escape
import io
import os
import re
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select, text

from sigmasight_onboarding.calendar import last_sessions
from sigmasight_onboarding.cli import main
from sigmasight_onboarding.config import get_settings
from sigmasight_onboarding.db.engine import get_engine
from sigmasight_onboarding.db.models import MarketDataCache, Portfolio, PortfolioRiskMetrics, PortfolioSnapshot, Position, User
from sigmasight_onboarding.report import (
    CHART_KEYS,
    SECTIONS,
    Report,
    UnknownClient,
    build_report,
    report_dirname,
    write_report,
)
from sigmasight_onboarding.report.analysis import spy_correlation
from sigmasight_onboarding.report.data import load_report_data
from sigmasight_onboarding.resources.market_data_resource import resolve_as_of

from .conftest import copy_demo, truncate_all, write_drop

HEDGE = "demo_hedgefundstyle@sigmasight.com"
HOSTILE = "hostile.client@example.com"
SCRIPT_NAME = "<script>alert(1)</script>"
FORMULA_TAG = '=HYPERLINK("http://x")'
MATH_TAG = "$\\frac{1$ <b>bold</b>"  # broken mathtext + markup: must neither crash a chart nor render
IMG = '<img src="data:image/png;base64,'


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def onboarded(request, tmp_path_factory):
    """Both clients onboarded into one database per backend, and their reports built."""
    tmp = tmp_path_factory.mktemp(f"report_{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{(tmp / 'sigmasight.db').as_posix()}"
    else:
        url = request.getfixturevalue("postgres_database")
        truncate_all(url)
    imports = tmp / "imports"
    imports.mkdir()
    with pytest.MonkeyPatch.context() as mp:  # what conftest's `env` does, for the whole module
        mp.setenv("SIGMASIGHT_DATABASE_URL", url)
        mp.setenv("SIGMASIGHT_IMPORTS_DIR", str(imports))
        mp.setenv("SIGMASIGHT_STATE_DIR", str(tmp / "state"))
        mp.setenv("SIGMASIGHT_BCRYPT_ROUNDS", "4")
        mp.setenv("SIGMASIGHT_DROP_SETTLE_SECONDS", "0")
        mp.delenv("SIGMASIGHT_ENV", raising=False)
        mp.delenv("DAGSTER_HOME", raising=False)
        assert main(["onboard", str(copy_demo(imports, HEDGE)), "--sessions", "30"]) == 0
        csv_body = (
            f'AAPL,100,150.25,LONG,2024-01-15,"{FORMULA_TAG.replace(chr(34), chr(34) * 2)}",,,\n'
            f'MSFT,-50,400,SHORT,2024-02-01,"{MATH_TAG},Core",,,\n'
        )
        folder = write_drop(imports, HOSTILE, csv_body,
                            {"full_name": SCRIPT_NAME, "portfolio_name": "<img src=x onerror=alert(2)> Book"})
        assert main(["onboard", str(folder), "--sessions", "0"]) == 0
        as_of = resolve_as_of(get_settings())
        engine = get_engine(url)
        reports = {email: build_report(engine, email, as_of) for email in (HEDGE, HOSTILE)}
        yield {"url": url, "engine": engine, "as_of": as_of, "tmp": tmp, "reports": reports}


def _pngs(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


def test_full_report_has_every_section_and_eight_charts(onboarded):
    report = onboarded["reports"][HEDGE]
    html = report.html
    for sid, title in SECTIONS:
        assert f'<section id="{sid}"' in html, sid
        assert html_escape(title) in html
    assert html.count(IMG) == 8
    assert all(p.startswith(b"\x89PNG\r\n\x1a\n") for p in _pngs(html))
    assert all(report.charts[k] for k in CHART_KEYS)
    # self-contained: no script, no external resource
    assert "<script" not in html.lower()
    assert not re.search(r'(src|href)="(?!data:|#)', html)
    assert "Content-Security-Policy" in html
    # nothing is missing for a fully onboarded client
    assert not any("not computed yet" in w or "could not" in w for w in report.warnings), report.warnings
    assert "delta approximation" in html and "full-revaluation" in html  # the VaR caption says what it is
    # markdown for Dagster: headline, top 10, answers and the charts, small enough for metadata
    md = report.markdown
    assert len(md.encode()) < 1_500_000
    assert "## Top 10 holdings" in md and "## Chat verification answers" in md
    assert md.count("](data:image/png;base64,") == 8
    assert set(report.answers) == {"top_holdings", "factor_exposures", "spy_correlation", "stress_test"}
    # factor answer: both models, every factor with dollars and beta
    fa = report.answers["factor_exposures"]
    assert set(fa["multivariate"]) == set(fa["single"]) and "Market" in fa["multivariate"]
    assert all(v["dollars"] is not None and v["beta"] is not None for v in fa["multivariate"].values())
    # stress answer: every stored scenario, worst first, % of gross consistent with dollars
    st = report.answers["stress_test"]["scenarios"]
    assert len(st) >= 18
    pnls = [v["pnl"] for v in st.values()]
    assert pnls == sorted(pnls)
    gross = report.answers["top_holdings"]["gross_exposure"]
    for v in st.values():
        assert v["pct_gross"] == pytest.approx(v["pnl"] / gross, rel=1e-3, abs=1e-6)


def test_top5_matches_independent_sql(onboarded):
    with onboarded["engine"].connect() as conn:
        rows = conn.execute(
            select(Position.symbol, Position.market_value)
            .join(Portfolio, Portfolio.id == Position.portfolio_id).join(User, User.id == Portfolio.user_id)
            .where(User.email == HEDGE, Position.deleted_at.is_(None))
            .order_by(func.abs(Position.market_value).desc(), Position.symbol).limit(5)
        ).all()
        gross = float(conn.execute(
            select(func.sum(func.abs(Position.market_value)))
            .join(Portfolio, Portfolio.id == Position.portfolio_id).join(User, User.id == Portfolio.user_id)
            .where(User.email == HEDGE, Position.deleted_at.is_(None))
        ).scalar_one())
    top = onboarded["reports"][HEDGE].answers["top_holdings"]["holdings"]
    assert [h["symbol"] for h in top] == [r[0] for r in rows]
    for h, (_sym, mv) in zip(top, rows):
        assert h["market_value"] == pytest.approx(float(mv), abs=0.01)
        assert h["share_of_gross"] == pytest.approx(abs(float(mv)) / gross, rel=1e-9)
    assert any(h["market_value"] < 0 for h in top)  # ranked by |value|: the big short is in


def _spy_returns(conn, as_of) -> dict:
    """SPY daily simple returns from market_data_cache, each close over the previous cached close."""
    rows = conn.execute(
        select(MarketDataCache.date, MarketDataCache.adj_close)
        .where(MarketDataCache.symbol == "SPY", MarketDataCache.date <= as_of).order_by(MarketDataCache.date)
    ).all()
    return {rows[i][0]: rows[i][1] / rows[i - 1][1] - 1.0 for i in range(1, len(rows))}


def test_spy_correlation_equals_numpy_on_the_same_inputs(onboarded):
    as_of, engine = onboarded["as_of"], onboarded["engine"]
    with engine.connect() as conn:
        pid = conn.execute(select(Portfolio.id).join(User, User.id == Portfolio.user_id).where(User.email == HEDGE)).scalar_one()
        snaps = conn.execute(
            select(PortfolioSnapshot.snapshot_date, PortfolioSnapshot.daily_return)
            .where(PortfolioSnapshot.portfolio_id == pid, PortfolioSnapshot.snapshot_date <= as_of)
            .order_by(PortfolioSnapshot.snapshot_date.desc()).limit(30)
        ).all()
        spy = _spy_returns(conn, as_of)
        beta = conn.execute(select(PortfolioRiskMetrics.beta_spy).where(
            PortfolioRiskMetrics.portfolio_id == pid, PortfolioRiskMetrics.calculation_date == as_of)).scalar_one()
    pairs = [(r, spy[d]) for d, r in snaps if r is not None and d in spy]
    expected = np.corrcoef(np.array(pairs).T)[0, 1]
    answer = onboarded["reports"][HEDGE].answers["spy_correlation"]
    assert answer["source"] == "portfolio_snapshots.daily_return"
    assert answer["n_observations"] == len(pairs) == 30
    assert -1.0 <= answer["correlation"] <= 1.0
    assert answer["correlation"] == pytest.approx(expected, abs=1e-9)
    assert answer["beta_spy"] == pytest.approx(beta)


def test_spy_correlation_falls_back_to_reconstructed_pnl(onboarded):
    """< 20 snapshot returns: the delta-approximate P&L of the stored exposures over 252 sessions."""
    as_of, engine = onboarded["as_of"], onboarded["engine"]
    data = load_report_data(engine, HEDGE, as_of)
    data.snapshots = data.snapshots.tail(5)
    exposures = data.risk["details"]["exposures"]
    from sigmasight_onboarding.report.analysis import reconstructed_pnl

    pnl, _note = reconstructed_pnl(data)
    answer = spy_correlation(data, pnl)
    assert answer["source"] == "reconstructed_pnl"
    # independent: closes from SQL, returns on the last 253 NYSE sessions, rows with any gap dropped
    sessions = last_sessions(as_of, 253)
    symbols = sorted(set(exposures) | {"SPY"})
    with engine.connect() as conn:
        rows = conn.execute(select(MarketDataCache.symbol, MarketDataCache.date, MarketDataCache.adj_close).where(
            MarketDataCache.symbol.in_(symbols), MarketDataCache.date >= sessions[0], MarketDataCache.date <= as_of)).all()
    closes = {(s, d): c for s, d, c in rows}
    px = np.array([[closes.get((s, d), np.nan) for s in symbols] for d in sessions])
    rets = px[1:] / px[:-1] - 1.0
    keep = np.isfinite(rets).all(axis=1)
    w = np.array([exposures.get(s, 0.0) for s in symbols])
    port = rets[keep] @ w
    expected = np.corrcoef(port, rets[keep][:, symbols.index("SPY")])[0, 1]
    assert answer["n_observations"] == int(keep.sum()) == 252
    assert -1.0 <= answer["correlation"] <= 1.0
    assert answer["correlation"] == pytest.approx(expected, abs=1e-9)
    assert np.allclose(np.sort(pnl.to_numpy()), np.sort(port))  # the VaR histogram's input


def test_injection_is_escaped_in_html_markdown_and_csv(onboarded, tmp_path):
    report = onboarded["reports"][HOSTILE]
    html, md = report.html, report.markdown
    assert "<script" not in html.lower() and "<script" not in md.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(2)&gt; Book" in html
    assert "=HYPERLINK(&quot;http://x&quot;)" in html
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert FORMULA_TAG not in html
    assert not any("could not be drawn" in w for w in report.warnings), report.warnings  # `$\frac{1$` tag drew fine
    assert report.charts["exposure_tag"]
    path = write_report(report, tmp_path / "reports", HOSTILE)
    assert path == (tmp_path / "reports" / HOSTILE / "onboarding_report.html").resolve()
    assert path.read_text(encoding="utf-8") == html
    rows = list(csv.DictReader(io.StringIO((path.parent / "holdings.csv").read_text(encoding="utf-8"))))
    tags = {r["symbol"]: r["tags"] for r in rows}
    assert tags["AAPL"] == "'" + FORMULA_TAG  # neutralised for spreadsheets (exports.to_safe_csv)
    assert tags["MSFT"] == f"{MATH_TAG}, Core"  # starts with `$`: not a formula, left alone
    assert {r["quantity"] for r in rows} == {"100.0", "-50.0"}  # plain numbers are not touched


def test_missing_pieces_give_warnings_not_a_crash(onboarded):
    report = onboarded["reports"][HOSTILE]  # onboarded with --sessions 0: no snapshots, risk or stress
    warnings = " | ".join(report.warnings)
    assert "no portfolio snapshots" in warnings
    assert "risk metrics not computed yet" in warnings
    assert "stress tests not computed yet" in warnings
    assert "S&P 500 correlation not available" in warnings
    for sid, _title in SECTIONS:  # every section is still there, saying what is missing
        assert f'<section id="{sid}"' in report.html
    assert "No portfolio snapshots yet" in report.html
    assert "Risk metrics have not been computed yet" in report.html
    assert "Stress tests have not been computed yet" in report.html
    assert report.charts["performance"] is None and report.charts["var"] is None and report.charts["stress"] is None
    assert report.charts["pnl_explain"] is None and "No P&amp;L explanation yet" in report.html
    assert report.html.count(IMG) == sum(1 for v in report.charts.values() if v)
    assert report.answers["stress_test"]["scenarios"] == {}
    assert report.answers["spy_correlation"]["correlation"] is None
    assert [h["symbol"] for h in report.answers["top_holdings"]["holdings"]] in (["AAPL", "MSFT"], ["MSFT", "AAPL"])


def test_unknown_client_raises(onboarded):
    with pytest.raises(UnknownClient):
        build_report(onboarded["engine"], "nobody@example.com", onboarded["as_of"])


def test_write_report_cannot_escape_the_reports_folder(tmp_path):
    report = Report(html="<p>ok</p>", markdown="", answers={}, warnings=[])
    reports = tmp_path / "reports"
    outside_before = set(tmp_path.iterdir())
    for email in ("../../etc/passwd", "/etc/passwd", "a/../../b@x.com", "..\\..\\evil@x.com", "x@y.com/../../z"):
        path = write_report(report, reports, email)
        assert path.parent.parent == reports.resolve(), email
        assert ".." not in path.parent.name and "/" not in path.parent.name and "\\" not in path.parent.name
        assert path.read_text() == "<p>ok</p>" and (path.parent / "holdings.csv").exists()
    assert set(tmp_path.iterdir()) == outside_before | {reports}
    assert report_dirname("John.Smith@Example.com") == "john.smith@example.com"
    assert report_dirname("../../etc/passwd") != report_dirname("__/__/etc/passwd")  # sanitised names stay distinct
    for bad in ("..", "", "...", "/", "  "):
        with pytest.raises(ValueError):
            write_report(report, reports, bad)
    # a client folder that is a symlink (e.g. planted to point elsewhere) is refused
    target = tmp_path / "elsewhere"
    target.mkdir()
    os.symlink(target, reports / "linked@example.com")
    with pytest.raises(ValueError, match="symbolic link"):
        write_report(report, reports, "linked@example.com")
    assert not any(Path(target).iterdir())


def test_desk_exposure_and_market_beta_reconcile_with_independent_sql(onboarded):
    """Issue 15: the report's delta-adjusted net = Σ stock market values + Σ option delta dollars (SQL on the
    stored positions and Greeks); the two market dollar exposures agree (orthogonal styles, full windows)."""
    report = onboarded["reports"][HEDGE]
    with onboarded["engine"].connect() as conn:
        pid = conn.execute(text("SELECT p.id FROM portfolios p JOIN users u ON u.id = p.user_id WHERE u.email = :e"),
                           {"e": HEDGE}).scalar_one()
        stock = conn.execute(text("SELECT SUM(market_value), SUM(ABS(market_value)) FROM positions WHERE portfolio_id = :p AND "
                                  "deleted_at IS NULL AND position_type IN ('LONG', 'SHORT')"), {"p": pid}).one()
        opt = conn.execute(text("SELECT delta_dollars FROM onb_position_greeks WHERE portfolio_id = :p AND calculation_date = "
                                "(SELECT MAX(calculation_date) FROM onb_position_greeks WHERE portfolio_id = :p)"), {"p": pid}).scalars().all()
    x = report.data.desk_exposure if hasattr(report, "data") else None
    html = report.html
    assert "Delta-adjusted net" in html and "Beta-adjusted net" in html and "Market beta reconciliation" in html
    net = float(stock[0]) + sum(opt)
    gross = float(stock[1]) + sum(abs(v) for v in opt)
    if x is not None:
        assert x["delta_adjusted_net"] == pytest.approx(net, abs=0.02)
        assert x["delta_adjusted_gross"] == pytest.approx(gross, abs=0.02)
    from sigmasight_onboarding.report.render import usd
    assert usd(net) in html and usd(gross) in html
    rec = report.answers["factor_exposures"]["market_reconciliation"]
    assert abs(rec["difference"]) <= 1e-6 * gross


def test_pnl_figures_reconcile_with_independent_sql(onboarded):
    """Issue 15 items 1, 2 and 7: the value change = Σ daily P&L of sessions 2..N + capital of the positions entered
    in the window (SQL on the stored rows), the first day's P&L is stated apart, the explanation shown is the stored
    one, and no share-equivalent sum across names (portfolio_delta) is shown."""
    from sigmasight_onboarding.report.render import usd

    report = onboarded["reports"][HEDGE]
    html = report.html
    with onboarded["engine"].connect() as conn:
        pid = conn.execute(text("SELECT p.id FROM portfolios p JOIN users u ON u.id = p.user_id WHERE u.email = :e"),
                           {"e": HEDGE}).scalar_one()
        snaps = conn.execute(text("SELECT snapshot_date, total_value, daily_pnl FROM onb_portfolio_snapshots WHERE portfolio_id = :p "
                                  "AND snapshot_date <= :d ORDER BY snapshot_date"), {"p": pid, "d": onboarded["as_of"]}).all()[-30:]
        first, last = snaps[0][0], snaps[-1][0]
        capital = conn.execute(text(
            "SELECT COALESCE(SUM(quantity * entry_price * CASE WHEN position_type IN ('LC', 'LP', 'SC', 'SP') THEN 100 ELSE 1 END), 0) "
            "FROM positions WHERE portfolio_id = :p AND deleted_at IS NULL AND entry_date > :a AND entry_date <= :b"),
            {"p": pid, "a": first, "b": last}).scalar_one()
        last_explain = conn.execute(text(
            "SELECT SUM(pnl), SUM(delta_pnl), SUM(gamma_pnl), SUM(vega_pnl), SUM(theta_pnl), SUM(rates_pnl), SUM(residual) "
            "FROM onb_position_pnl_explain WHERE portfolio_id = :p AND calculation_date = :d"), {"p": pid, "d": last}).one()
    value_change = float(snaps[-1][1]) - float(snaps[0][1])
    window = sum(float(r[2]) for r in snaps[1:])
    assert value_change == pytest.approx(window + float(capital), abs=0.01)  # reconciles to the cent
    assert float(capital) == pytest.approx(-99_200.0)  # META 650 call and AMZN 260 put sold on 2026-07-01
    for figure in (value_change, window, float(capital), float(snaps[0][2])):
        assert usd(figure, 2) in html
    assert "Sum of daily P&amp;L, sessions 2–30" in html or "Sum of daily P&L, sessions 2–30" in html
    assert "session BEFORE the window" in html
    # the last session: no entry, so the explained P&L is the daily P&L (Δ value); terms are the stored ones
    pnl, *terms, residual = (float(v) for v in last_explain)
    assert pnl == pytest.approx(float(snaps[-1][2]), abs=0.01)
    assert sum(terms) + residual == pytest.approx(pnl, abs=0.01)
    shown = f"{abs(residual) / abs(pnl) * 100:.2f} %"
    assert shown in html and abs(residual) < 0.05 * abs(pnl)
    assert report.charts["pnl_explain"] and 'id="pnl-explain"' in html
    # item 2: no share-equivalent total across names in the report (desk figures are dollar delta)
    assert "portfolio_delta" not in html and "Delta-adjusted net" in html
