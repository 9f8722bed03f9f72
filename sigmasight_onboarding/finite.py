"""`finite_float`: a value as a plain float when it is a finite number, else None; `cents`: dollars to the cent.

The one JSON/DB-friendly conversion the assets' metadata and the report share: NULL, NaN, ±inf
and anything `float()` rejects all become None (stored as NULL, shown as "n/a"). Pure Python +
numpy, so every layer may import it.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def finite_float(x: Any) -> float | None:
    """float(x) when it is a finite number; None for None, NaN, ±inf and non-numbers."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def cents(dollars: np.ndarray) -> np.ndarray:
    """Python's ``round(x, 2)`` of every element (dollars to the cent), vectorised and exact: x × 100 is rounded
    to an integer n by ``np.round`` and n / 100 is the float nearest to n/100, as Python's result is. The product
    x × 100 is itself rounded, but that cannot carry it across a half (n + ½ is a float below 2⁵², and rounding is
    monotonic); it can only land on one, where the tie needs x's exact value. So the elements within 1e-6 of a
    half, and any of 1e13 or more, are rounded by Python. NaN and ±inf pass through."""
    dollars = np.asarray(dollars, dtype=float)
    with np.errstate(all="ignore"):
        scaled = dollars * 100.0
        out = np.round(scaled) / 100.0
        fraction = np.abs(scaled - np.floor(scaled) - 0.5)
        near = np.isfinite(dollars) & ((fraction < 1e-6) | (np.abs(dollars) >= 1e13))
    for index in zip(*np.nonzero(near)):
        out[index] = round(float(dollars[index]), 2)
    return out
