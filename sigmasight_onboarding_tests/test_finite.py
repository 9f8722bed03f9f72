"""`finite.cents` against Python's own ``round(x, 2)``, element by element, exactly."""

from __future__ import annotations

import math

import numpy as np

from sigmasight_onboarding.finite import cents


def test_cents_equals_pythons_round_to_the_cent():
    rng = np.random.default_rng(3)
    awkward = [2.675, 1.005, 0.125, 0.375, -2.675, -0.005, 0.015, 1e13 + 0.005, 123456789.125, 5e-324, -0.0, 0.0, 1e300]
    values = np.concatenate([
        rng.normal(0.0, 1e6, 20_000),  # P&L-sized dollars
        (rng.integers(-10**9, 10**9, 20_000) + 0.5) / 100.0,  # decimal half cents: the binary value decides the side
        (rng.integers(10**9, 10**15, 20_000) + 0.5) / 100.0,  # the same up to 1e13 $, where x × 100 is coarser
        np.array(awkward),
    ])
    got = cents(values)
    assert [math.copysign(1.0, g) for g in got.tolist()] == [math.copysign(1.0, round(float(v), 2)) for v in values]
    assert got.tolist() == [round(float(v), 2) for v in values]


def test_cents_keeps_shape_and_non_finite_values():
    grid = np.array([[1.234, np.nan], [np.inf, -np.inf]])
    got = cents(grid)
    assert got.shape == (2, 2) and got[0, 0] == 1.23
    assert math.isnan(got[0, 1]) and got[1, 0] == math.inf and got[1, 1] == -math.inf
