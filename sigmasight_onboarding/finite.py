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
    """Python's ``round(x, 2)`` of every element (dollars to the cent, half to even on the exact decimal value),
    vectorised: ``np.round`` rounds x × 100, which can land on the other side of a half cent than x itself, so
    the elements whose x × 100 is within 1e-6 of a half (and any beyond 1e13) are rounded by Python."""
    dollars = np.asarray(dollars, dtype=float)
    with np.errstate(all="ignore"):  # NaN / ±inf pass through as they are
        scaled = dollars * 100.0
        out = np.round(scaled) / 100.0
        fraction = np.abs(scaled - np.floor(scaled) - 0.5)
        near = np.isfinite(dollars) & ((fraction < 1e-6) | (np.abs(dollars) >= 1e13))
    for index in zip(*np.nonzero(near)):
        out[index] = round(float(dollars[index]), 2)
    return out
