"""Price matrices loaded in a run, kept for the other assets of the same run (one read per run).

Keyed by (run id, database URL, client, as-of date); a handful of entries at most.
"""

from collections import OrderedDict
from datetime import date

import pandas as pd

_MATRICES: "OrderedDict[tuple, tuple[list[date], pd.DataFrame]]" = OrderedDict()
_SIZE = 4


def remember_prices(run_id: str, engine, client_key: str, as_of: date, sessions: list[date], matrix: pd.DataFrame) -> None:
    """Keep the session × symbol matrix `price_history` loaded for the later assets of this run."""
    _MATRICES[(run_id, str(engine.url), client_key, as_of)] = (list(sessions), matrix)
    while len(_MATRICES) > _SIZE:
        _MATRICES.popitem(last=False)


def recall_prices(run_id: str, engine, client_key: str, as_of: date, sessions: list[date], symbols: list[str]) -> pd.DataFrame | None:
    """The remembered matrix when it covers exactly these sessions and every symbol, else None."""
    hit = _MATRICES.get((run_id, str(engine.url), client_key, as_of))
    if hit is None or hit[0] != list(sessions) or not set(symbols) <= set(hit[1].columns):
        return None
    return hit[1][list(symbols)]
