"""Scenario P (issue 12): a 100,000-row drop through read_drop + pre-flight + write_client.

The book: every equity of the universe the pre-flight can price (8,368 in the full real file) plus
listed options on the largest of them (OCC symbols, integer strikes 50 %..150 % of the spot, third
Fridays after the as-of date, calls and puts) up to `n` rows. Timed: validation (read_drop),
pre-flight (market facts through the shared cache from a cold cache, then the rules) and the write
of positions — "to stored positions". Used by `python -m bench --only P`; never part of the tests.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from bench import portfolios as pf

EXPIRIES = [date(2026, 8, 21), date(2026, 9, 18), date(2026, 10, 16), date(2026, 11, 20), date(2026, 12, 18),
            date(2027, 1, 15), date(2027, 3, 19), date(2027, 6, 17)]


def big_positions(universe: pf.Universe, n: int = 100_000) -> pd.DataFrame:
    """n distinct rows (equities first, then options), as CSV text cells."""
    px = universe.prices
    spot = px.iloc[-1]
    equities = [s for s in universe.symbols][: min(n, len(universe.symbols))]
    eq = pd.DataFrame({
        "symbol": equities,
        "quantity": "100",
        "entry_price": [f"{max(spot[s], 0.01):.2f}" for s in equities],
        "position_type": "LONG",
        "entry_date": "2026-07-01",
        "tags": "Core Holdings",
        "underlying_symbol": "", "strike_price": "", "expiration_date": "",
    })
    need = n - len(eq)
    frames = []
    roots = [s for s in spot.sort_values(ascending=False).index if pf.re.match(r"^[A-Z]{1,6}$", s) and spot[s] >= 20]
    for root in roots:
        if need <= 0:
            break
        s0 = float(spot[root])
        strikes = np.unique(np.round(np.linspace(0.5 * s0, 1.5 * s0, 40)).astype(int))
        strikes = strikes[strikes > 0]
        grid = [(e, k, cp) for e in EXPIRIES for k in strikes for cp in "CP"][:need]
        if not grid:
            continue
        exp, strike, cp = zip(*grid)
        frames.append(pd.DataFrame({
            "symbol": [f"{root}{e:%y%m%d}{c}{int(k) * 1000:08d}" for e, k, c in grid],
            "quantity": "2",
            "entry_price": "1.25",
            "position_type": ["LC" if c == "C" else "LP" for c in cp],
            "entry_date": "2026-07-01",
            "tags": "Options Overlay",
            "underlying_symbol": root,
            "strike_price": [str(int(k)) for k in strike],
            "expiration_date": [e.isoformat() for e in exp],
        }))
        need -= len(grid)
    frame = pd.concat([eq, *frames], ignore_index=True)[pf.CSV_HEADER]
    if len(frame) != n:
        raise ValueError(f"could build only {len(frame)} rows")
    return frame


def preflight_ingest(spec: dict) -> dict:
    """read_drop → pre-flight (cold price cache) → write_client; seconds of each and in total."""
    from sigmasight_onboarding.config import get_settings
    from sigmasight_onboarding.db.engine import get_engine
    from sigmasight_onboarding.db.onboarding_writer import write_client
    from sigmasight_onboarding.drops.market_facts import preflight_drop
    from sigmasight_onboarding.drops.reader import read_drop
    from sigmasight_onboarding.resources.price_providers import build_provider_chain

    settings = get_settings()
    engine = get_engine(settings.database_url)
    t0 = time.perf_counter()
    drop = read_drop(Path(spec["folder"]), settings)
    t1 = time.perf_counter()
    drop = preflight_drop(drop, engine, build_provider_chain(settings), settings, pf.AS_OF)
    t2 = time.perf_counter()
    result = write_client(engine, drop, settings, actor="bench")
    t3 = time.perf_counter()
    return {"rows": int(len(drop.positions)), "validate_s": t1 - t0, "preflight_s": t2 - t1, "write_s": t3 - t2,
            "seconds": t3 - t0, "inserted": result.positions_inserted, "warnings": len(drop.warnings)}


if __name__ == "__main__":  # pragma: no cover - python -m bench.big_drop N OUTDIR
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else pf.REPO / "bench" / "results" / "tmp" / "imports"
    frame = big_positions(pf.load_universe(), n)
    print(pf.write_drop(out, pf.client_email(f"p{n}"), frame))
