"""Desk exposures on a hand-built book: every figure written out by hand."""

import numpy as np
import pandas as pd
import pytest

from sigmasight_onboarding.analytics.exposures import desk_exposures


def test_hand_book_dollar_delta_beta_adjusted_gross_net():
    pos = pd.DataFrame({
        "underlying_symbol": ["AAPL", "AAPL", "KO", "SPY", "ZZZ"],
        "quantity": [1000.0, -10.0, -500.0, 5.0, 100.0],  # shares, contracts (short 10 AAPL calls), shares, 5 SPY puts, shares
        "spot": [200.0, 200.0, 70.0, 600.0, 10.0],
        "is_option": [False, True, False, True, False],
        "option_delta": [np.nan, 0.6, np.nan, -0.3, np.nan],
    }, index=["a", "b", "c", "d", "e"])
    beta = pd.Series({"AAPL": 1.2, "KO": -0.3, "SPY": 1.0})  # ZZZ: no beta
    per, port, by = desk_exposures(pos, beta)
    # share deltas: 1000; 0.6 × −10 × 100 = −600; −500; −0.3 × 5 × 100 = −150; 100
    np.testing.assert_allclose(per["share_delta"], [1000, -600, -500, -150, 100])
    dd = np.array([200_000, -120_000, -35_000, -90_000, 1_000], dtype=float)
    np.testing.assert_allclose(per["dollar_delta"], dd)
    adj = np.array([240_000, -144_000, 10_500, -90_000, np.nan])
    np.testing.assert_allclose(per["beta_adjusted_dollar_delta"], adj)
    assert port.long_dollar_delta == pytest.approx(201_000)
    assert port.short_dollar_delta == pytest.approx(-245_000)
    assert port.delta_adjusted_gross == pytest.approx(446_000)
    assert port.delta_adjusted_net == pytest.approx(-44_000)
    assert port.beta_adjusted_net == pytest.approx(240_000 - 144_000 + 10_500 - 90_000)
    assert port.beta_adjusted_gross == pytest.approx(240_000 + 144_000 + 10_500 + 90_000)
    assert port.n_positions_missing_beta == 1
    # share delta only per underlying: AAPL stock + short calls = 400 shares
    assert by.loc["AAPL", "share_delta"] == pytest.approx(400) and by.loc["AAPL", "dollar_delta"] == pytest.approx(80_000)
