"""Reference tests for analytics.correlations: numpy.corrcoef, pandas pairwise corr, scipy pearsonr."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sigmasight_onboarding.analytics.correlations import (
    concentration_metrics,
    correlation_matrix,
    filter_positions,
    find_clusters,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "market" / "daily_adj_close_extract.parquet"
SYMBOLS = ["AAPL", "MSFT", "NVDA", "GOOGL", "META", "XOM", "CVX", "JPM", "BAC", "TLT", "GLD", "KO"]


def load_prices(symbols: list[str]) -> pd.DataFrame:
    df = pd.read_parquet(DATA, filters=[("symbol", "in", list(symbols))])
    return df.pivot(index="date", columns="symbol", values="adj_close").sort_index()[list(symbols)]


@pytest.fixture(scope="module")
def logret() -> pd.DataFrame:
    px = load_prices(SYMBOLS)
    return np.log(px).diff().iloc[1:]


def test_full_data_matches_numpy_corrcoef(logret):
    corr, n, p = correlation_matrix(logret, window=90, min_overlap=20)
    ref = np.corrcoef(logret.iloc[-90:].to_numpy(), rowvar=False)
    np.testing.assert_allclose(corr.to_numpy(), ref, rtol=1e-12, atol=1e-14)
    assert (n.to_numpy() == 90).all()
    assert list(corr.columns) == SYMBOLS
    assert corr.loc["XOM", "CVX"] > 0.6  # same industry on real data


def test_pairwise_missing_matches_pandas_min_periods(logret):
    data = logret.iloc[-90:].copy()
    rng = np.random.default_rng(5)
    for sym in ["AAPL", "NVDA", "JPM", "TLT"]:
        data.loc[data.index[rng.choice(90, 25, replace=False)], sym] = np.nan
    data.loc[data.index[:75], "GLD"] = np.nan  # only 15 obs → NaN row/column
    data.loc[data.index[:60], "META"] = np.nan  # 30 obs; overlaps with the holey columns may be < 20
    frame = pd.concat([logret.iloc[:-90], data])  # the window must pick exactly `data`
    corr, n, p = correlation_matrix(frame, window=90, min_overlap=20)
    ref = data.corr(min_periods=20)
    pd.testing.assert_frame_equal(corr, ref, check_exact=False, rtol=1e-10, atol=1e-12, check_names=False)
    mask = data.notna().astype(int)
    np.testing.assert_array_equal(n.to_numpy(), (mask.T @ mask).to_numpy())
    assert corr["GLD"].isna().all()
    no_gld = corr.drop(index="GLD", columns="GLD")
    assert no_gld.isna().to_numpy().any()  # some META pairs fall below 20 common dates as well
    assert (n.drop(index="GLD", columns="GLD").to_numpy()[no_gld.isna().to_numpy()] < 20).all()

    # p-values vs scipy.stats.pearsonr on the pairwise-complete data.
    checked = 0
    for a in SYMBOLS:
        for b in SYMBOLS:
            if a == b:
                continue
            both = data[[a, b]].dropna()
            if len(both) < 20:
                assert np.isnan(p.loc[a, b])
                continue
            res = stats.pearsonr(both[a], both[b])
            assert corr.loc[a, b] == pytest.approx(res.statistic, rel=1e-10)
            assert p.loc[a, b] == pytest.approx(res.pvalue, rel=1e-7, abs=1e-300)
            checked += 1
    assert checked > 60


def test_filter_positions():
    mv = pd.Series({"AAPL": 500_000.0, "MSFT": -200_000.0, "TINY": 9_000.0, "SMALL": 12_000.0, "NOVAL": np.nan, "SPY": 300_000.0})
    mv = pd.concat([mv, pd.Series({"SMALL": 3_000.0})])  # a second lot of SMALL: 15 000 in total
    included, excluded = filter_positions(mv, min_abs_value=10_000, min_gross_share=0.02)
    # gross = 500k + 200k + 9k + 15k + 300k = 1 024 000; SMALL share 1.46 % < 2 %
    assert included == ["AAPL", "MSFT", "SPY"]
    assert excluded == {"TINY": "below_min_abs_value", "SMALL": "below_min_gross_share", "NOVAL": "missing_market_value"}
    included, _ = filter_positions(mv, min_abs_value=10_000, min_gross_share=0.01)
    assert "SMALL" in included


def test_find_clusters_hand_made_matrix():
    syms = ["A", "B", "C", "D", "E", "F", "G", "H"]
    c = np.eye(8)

    def put(i, j, v):
        c[syms.index(i), syms.index(j)] = c[syms.index(j), syms.index(i)] = v

    put("A", "B", 0.80)
    put("B", "C", 0.75)
    put("A", "C", 0.50)  # A–C below threshold, but chained through B
    put("D", "E", -0.85)  # strongly anti-correlated pair still clusters (|ρ|)
    put("F", "A", 0.69)  # just below the threshold
    put("G", "H", 0.90)
    corr = pd.DataFrame(c, index=syms, columns=syms)
    corr.loc["F", "G"] = corr.loc["G", "F"] = np.nan  # NaN = no edge
    tags = {"A": ["Tech", "Mega Cap"], "B": ["Tech"], "C": ["Semis", "Mega Cap", "Tech"], "D": ["Energy"], "E": ["Airlines"], "G": ["Banks"], "H": ["Banks"]}
    clusters = find_clusters(corr, threshold=0.7, tags=tags)
    assert [cl.symbols for cl in clusters] == [["A", "B", "C"], ["D", "E"], ["G", "H"]]
    assert [cl.cluster_id for cl in clusters] == [1, 2, 3]
    assert clusters[0].nickname == "Tech"  # 3 members vs Mega Cap's 2
    assert clusters[1].nickname == "Cluster 2"  # no tag shared by ≥ 2 members
    assert clusters[2].nickname == "Banks"
    assert clusters[0].avg_correlation == pytest.approx((0.80 + 0.75 + 0.50) / 3)
    assert clusters[1].avg_correlation == pytest.approx(-0.85)
    assert find_clusters(corr, threshold=0.95) == []
    assert find_clusters(corr, threshold=0.7)[0].nickname == "Cluster 1"


def test_concentration_metrics():
    syms = ["A", "B", "C", "D"]
    mv = pd.Series(25_000.0, index=syms)
    eye = pd.DataFrame(np.eye(4), index=syms, columns=syms)
    ones = pd.DataFrame(np.ones((4, 4)), index=syms, columns=syms)
    m = concentration_metrics(mv, eye)
    assert m.concentration_score == pytest.approx(0.25)
    assert m.effective_positions == pytest.approx(4.0)
    assert m.correlation_adjusted_effective_positions == pytest.approx(4.0)
    assert concentration_metrics(mv, ones).correlation_adjusted_effective_positions == pytest.approx(1.0)

    mv2 = pd.Series({"A": 60_000.0, "B": -20_000.0, "C": 20_000.0})
    rho = pd.DataFrame([[1.0, 0.5, 0.2], [0.5, 1.0, np.nan], [0.2, np.nan, 1.0]], index=["A", "B", "C"], columns=["A", "B", "C"])
    w = np.array([0.6, -0.2, 0.2])
    m2 = concentration_metrics(mv2, rho)
    assert m2.concentration_score == pytest.approx(0.36 + 0.04 + 0.04)
    assert m2.effective_positions == pytest.approx(1 / 0.44)
    quad = 0.36 + 0.04 + 0.04 + 2 * (0.6 * -0.2 * 0.5) + 2 * (0.6 * 0.2 * 0.2)  # NaN pair treated as 0
    assert m2.correlation_adjusted_effective_positions == pytest.approx(1 / quad)
    assert float(w @ w) == pytest.approx(m2.concentration_score)
