"""`finite_float`: a value as a plain float when it is a finite number, else None.

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
