"""Realistic benchmark portfolios built from the real market data, written as valid drop folders.

* Universe: symbols of the market-data file with a price on EVERY session of
  ``WINDOW_START .. AS_OF`` (2024-08-01 .. 2026-08-03), a plain ticker (no index ``^…``, nothing the
  drop validator would refuse) and a price ≥ $0.05 throughout (an entry price must have ≤ 4
  decimals and be > 0; sub-dollar names get 4-decimal entry prices).
* Equities/ETFs: distinct symbols, ~15 % of them SHORT (negative quantity), entry date a random
  session in the window, entry price = adj close on that date ± 0.5 %, quantity for a $5k–$250k
  position.
* Options (~10 % of the book; more only when the universe runs out of distinct equities): OCC
  symbols on liquid underlyings (SPY QQQ IWM AAPL MSFT NVDA AMZN META TSLA GOOGL), expiries
  2026-12-18 / 2027-01-15, strikes on the listed grid around the 2026-08-03 spot, LC/LP long
  (positive contracts) and SC/SP short (negative contracts), entry 2025-08-01 .. 2026-07-31 at a
  Black–Scholes premium (σ from the underlying's realised vol, r = 4 %) at the entry date's spot.
* Tags: 1–2 per position from a small vocabulary (plus "Short Book" / "Options Overlay").
* ``client.json`` carries a bcrypt ``password_hash`` (rounds 4), never a plaintext password.

Everything is seeded: the same arguments give byte-identical drops.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
FULL_MARKET_FILE = (REPO / ".." / "shared" / "data" / "market" / "daily_adj_close.parquet").resolve()
EXTRACT_MARKET_FILE = REPO / "data" / "market" / "daily_adj_close_extract.parquet"

WINDOW_START = date(2024, 8, 1)
AS_OF = date(2026, 8, 3)
OPTION_UNDERLYINGS = ("SPY", "QQQ", "IWM", "AAPL", "MSFT", "NVDA", "AMZN", "META", "TSLA", "GOOGL")
OPTION_EXPIRIES = (date(2026, 12, 18), date(2027, 1, 15))
OPTION_ENTRY_START = date(2025, 8, 1)
OPTION_ENTRY_END = date(2026, 7, 31)
SHORT_SHARE = 0.15
OPTION_SHARE = 0.10
CSV_HEADER = ["symbol", "quantity", "entry_price", "position_type", "entry_date", "tags",
              "underlying_symbol", "strike_price", "expiration_date"]
# Names a real book is likely to hold: placed first so small portfolios look familiar.
CORE_NAMES = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "JPM", "XOM", "JNJ", "PG", "V", "MA", "HD", "COST",
              "KO", "PEP", "WMT", "BAC", "CVX", "AVGO", "LLY", "ORCL", "CSCO", "ADBE", "CRM", "NFLX", "DIS", "MCD",
              "SPY", "QQQ", "IWM", "VTI", "XLK", "XLF", "XLE", "TLT", "GLD", "BRK-B")
STYLE_TAGS = ("Core Holdings", "Tech Growth", "Value", "Dividend Income", "Momentum", "Quality", "Small Caps",
              "International", "Thematic", "Tactical")
TICKER_OK = r"^[A-Z0-9][A-Z0-9.\-]{0,9}$"
MIN_PRICE = 0.05


def market_data_file() -> tuple[Path, bool]:
    """(path, is_full_dataset): the full real file when present, else the shipped 93-symbol extract.

    SIGMASIGHT_BENCH_MARKET_FILE overrides (for experiments)."""
    override = os.environ.get("SIGMASIGHT_BENCH_MARKET_FILE")
    if override:
        return Path(override).resolve(), Path(override).resolve() == FULL_MARKET_FILE
    if FULL_MARKET_FILE.exists():
        return FULL_MARKET_FILE, True
    return EXTRACT_MARKET_FILE, False


REFERENCE_SYMBOLS = ("^TNX", "^IRX", "TLT", "SPY", "VTV", "VUG", "MTUM", "QUAL", "IWM", "USMV")
CACHE_DIR = REPO / "bench" / "results" / "tmp"


@dataclass
class Universe:
    path: Path
    full_dataset: bool
    prices: pd.DataFrame  # session × symbol adj closes over WINDOW_START..AS_OF, every cell present
    reference: pd.DataFrame = field(repr=False)  # session × REFERENCE_SYMBOLS (^TNX/^IRX in percent)

    @property
    def symbols(self) -> list[str]:
        return list(self.prices.columns)


def _read_universe(p: Path, full: bool) -> Universe:
    import pyarrow.parquet as pq

    table = pq.read_table(str(p), columns=["date", "symbol", "adj_close"],
                          filters=[("date", ">=", WINDOW_START), ("date", "<=", AS_OF)])
    long = table.to_pandas()
    wide = long.pivot(index="date", columns="symbol", values="adj_close").sort_index()
    wide.index = pd.Index([d if isinstance(d, date) else pd.Timestamp(d).date() for d in wide.index], name="date")
    complete = wide.columns[wide.notna().all().to_numpy()]
    ok = [s for s in complete if re.match(TICKER_OK, s)]
    sub = wide[ok]
    sub = sub.loc[:, (sub.min() >= MIN_PRICE).to_numpy()]
    ref = wide.reindex(columns=list(REFERENCE_SYMBOLS))
    return Universe(path=p, full_dataset=full, prices=sub, reference=ref)


@lru_cache(maxsize=2)
def load_universe(path: str | None = None) -> Universe:
    """Read the window of the market-data file (only WINDOW_START ≤ date ≤ AS_OF) and keep the
    full-coverage symbols. Cached as a pickle under bench/results/tmp/ (keyed by file + mtime)."""
    if path is None:
        p, full = market_data_file()
    else:
        p, full = Path(path).resolve(), Path(path).resolve() == FULL_MARKET_FILE
    stat = p.stat()
    tag = hashlib.sha1(f"{p}|{stat.st_mtime_ns}|{stat.st_size}|{WINDOW_START}|{AS_OF}|{MIN_PRICE}|v2".encode()).hexdigest()[:12]
    cache = CACHE_DIR / f"universe-{tag}.pkl"
    if cache.exists():
        try:
            with cache.open("rb") as fh:
                return pickle.load(fh)
        except Exception:  # corrupt cache: rebuild
            pass
    uni = _read_universe(p, full)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        pickle.dump(uni, fh, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(cache)
    return uni


# ------------------------------------------------------------------------------------------------
def _strike_step(spot: float) -> float:
    if spot < 25:
        return 0.5
    if spot < 100:
        return 1.0
    if spot < 250:
        return 2.5
    return 5.0


def _bs_call_put(spot, strike, t, vol, rate=0.04):
    from sigmasight_onboarding.analytics.greeks import black_scholes

    call = black_scholes(spot, strike, t, rate, vol, 0.0, True)["price"]
    put = black_scholes(spot, strike, t, rate, vol, 0.0, False)["price"]
    return call, put


def _option_rows(universe: Universe, n: int, rng: np.random.Generator) -> list[dict]:
    """n distinct option positions on OPTION_UNDERLYINGS (those present in the universe)."""
    unds = [u for u in OPTION_UNDERLYINGS if u in universe.prices.columns]
    if not unds or n <= 0:
        return []
    px = universe.prices
    sessions = [d for d in px.index if OPTION_ENTRY_START <= d <= OPTION_ENTRY_END]
    logret = np.log(px[unds]).diff()
    vol = (logret.std() * math.sqrt(252)).clip(0.12, 0.9)
    series = [(u, e, cp) for u in unds for e in OPTION_EXPIRIES for cp in "CP"]
    per_series = math.ceil(n / len(series))
    candidates = []
    for u, expiry, cp in series:
        spot = float(px[u].iloc[-1])
        step = _strike_step(spot)
        atm = round(spot / step) * step
        # strikes nearest the money first: 0, +1, -1, +2, -2 ... steps
        offsets = [0] + [s * k for k in range(1, per_series + 1) for s in (1, -1)]
        for rank, off in enumerate(offsets[:per_series]):
            strike = round(atm + off * step, 3)
            if strike <= 0:
                continue
            candidates.append((rank, u, expiry, cp, strike))
    candidates.sort(key=lambda c: (c[0], OPTION_UNDERLYINGS.index(c[1]), c[2], c[3]))
    rows = []
    for _rank, u, expiry, cp, strike in candidates[:n]:
        entry = sessions[int(rng.integers(len(sessions)))]
        spot_entry = float(px.at[entry, u])
        t = (expiry - entry).days / 365.0
        call, put = _bs_call_put(spot_entry, strike, t, float(vol[u]))
        premium = max(float(call if cp == "C" else put), 0.05)
        premium = round(premium * float(rng.uniform(0.97, 1.03)), 2) or 0.05
        is_short = rng.random() < 0.30
        ptype = ("S" if is_short else "L") + cp
        contracts = int(rng.integers(1, 51))
        occ = f"{u}{expiry:%y%m%d}{cp}{int(round(strike * 1000)):08d}"
        rows.append({
            "symbol": occ,
            "quantity": str(-contracts if is_short else contracts),
            "entry_price": f"{premium:.2f}",
            "position_type": ptype,
            "entry_date": entry.isoformat(),
            "tags": "Options Overlay" if not is_short else "Options Overlay,Income",
            "underlying_symbol": u,
            "strike_price": f"{strike:.2f}",
            "expiration_date": expiry.isoformat(),
        })
    return rows


def _equity_symbols(universe: Universe, n: int, rng: np.random.Generator) -> list[str]:
    available = universe.symbols
    core = [s for s in CORE_NAMES if s in set(available)]
    rest = sorted(set(available) - set(core))
    rng.shuffle(rest)
    return (core + rest)[:n]


def generate_positions(universe: Universe, n: int, seed: int = 7) -> tuple[pd.DataFrame, dict]:
    """n positions as CSV text cells (one row per position) + a summary dict."""
    rng = np.random.default_rng(seed + n)
    n_opt_target = int(round(n * OPTION_SHARE)) if n >= 10 else 0
    n_eq = min(n - n_opt_target, len(universe.symbols))
    n_opt = n - n_eq
    px = universe.prices
    sessions = list(px.index)
    rows = []
    for sym in _equity_symbols(universe, n_eq, rng):
        entry = sessions[int(rng.integers(len(sessions)))]
        price = float(px.at[entry, sym]) * float(rng.uniform(0.995, 1.005))
        notional = float(np.exp(rng.uniform(np.log(5_000), np.log(250_000))))
        shares = max(1, int(round(notional / price)))
        is_short = rng.random() < SHORT_SHARE
        tags = list(rng.choice(STYLE_TAGS, size=int(rng.integers(1, 3)), replace=False))
        if is_short:
            tags = ["Short Book"] + tags[:1]
        rows.append({
            "symbol": sym,
            "quantity": str(-shares if is_short else shares),
            "entry_price": f"{price:.4f}".rstrip("0").rstrip(".") if price < 10 else f"{price:.2f}",
            "position_type": "SHORT" if is_short else "LONG",
            "entry_date": entry.isoformat(),
            "tags": ",".join(tags),
            "underlying_symbol": "", "strike_price": "", "expiration_date": "",
        })
    rows += _option_rows(universe, n_opt, rng)
    frame = pd.DataFrame(rows, columns=CSV_HEADER)
    if len(frame) != n:
        raise ValueError(f"could build only {len(frame)} distinct positions for n={n}")
    types = frame["position_type"].value_counts().to_dict()
    summary = {
        "positions": n,
        "equities": int(n_eq),
        "options": int(n_opt),
        "option_share": round(n_opt / n, 3),
        "shorts": int(types.get("SHORT", 0)),
        "by_type": {k: int(v) for k, v in sorted(types.items())},
        "price_symbols": sorted(set(frame.loc[frame["underlying_symbol"] == "", "symbol"])
                                | set(frame.loc[frame["underlying_symbol"] != "", "underlying_symbol"])),
    }
    return frame, summary


def price_symbols(frame: pd.DataFrame) -> set[str]:
    """Symbols a drop needs prices for: equities and option underlyings."""
    opt = frame["underlying_symbol"] != ""
    return set(frame.loc[~opt, "symbol"]) | set(frame.loc[opt, "underlying_symbol"])


def pool_client(universe: Universe, n: int = 30, seed: int = 0, pool_size: int = 300) -> pd.DataFrame:
    """A small client (scenario E): ~90 % equities drawn from the first ``pool_size`` universe
    symbols (familiar names first) so many clients share one price backfill, ~10 % options."""
    base, _ = generate_positions(universe, max(n, 100), seed=seed)
    equities = base[base["underlying_symbol"] == ""]
    options = base[base["underlying_symbol"] != ""]
    rng = np.random.default_rng(seed)
    pool = _equity_symbols(universe, pool_size, np.random.default_rng(0))
    n_opt = int(round(n * OPTION_SHARE))
    picks = list(rng.choice(pool, size=n - n_opt, replace=False))
    eq = equities.head(n - n_opt).copy()
    px = universe.prices
    eq["symbol"] = picks
    # re-price the entries for the new symbols (same entry dates / quantities' notional scale)
    prices = [float(px.at[date.fromisoformat(d), s]) for s, d in zip(eq["symbol"], eq["entry_date"])]
    eq["entry_price"] = [f"{p:.2f}" if p >= 10 else f"{p:.4f}" for p in prices]
    notionals = np.exp(rng.uniform(np.log(5_000), np.log(250_000), size=len(eq)))
    signs = np.where(eq["position_type"] == "SHORT", -1, 1)
    eq["quantity"] = [str(int(sg * max(1, round(nv / p)))) for sg, nv, p in zip(signs, notionals, prices)]
    return pd.concat([eq, options.head(n_opt)], ignore_index=True)[CSV_HEADER]


def bcrypt_hash(password: str = "Bench-Portfolio-Passw0rd!") -> str:
    import bcrypt

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


def client_email(label: str) -> str:
    return f"bench-{label}@bench.sigmasight.test"


def write_drop(imports_dir: Path, email: str, positions: pd.DataFrame, password_hash: str | None = None) -> Path:
    """Write ``<imports_dir>/<email>/client.json`` + ``portfolio.csv`` (README format)."""
    folder = Path(imports_dir) / email
    folder.mkdir(parents=True, exist_ok=True)
    client = {
        "email": email,
        "full_name": "Bench " + email.split("@")[0].replace("-", " ").title(),
        "password_hash": password_hash or bcrypt_hash(),
        "portfolio_name": f"Benchmark portfolio ({len(positions):,} positions)",
        "portfolio_description": "Generated by bench/portfolios.py from real market data",
        "currency": "USD",
    }
    (folder / "client.json").write_text(json.dumps(client, indent=2) + "\n")
    positions.to_csv(folder / "portfolio.csv", index=False, lineterminator="\n")
    return folder


if __name__ == "__main__":  # pragma: no cover - manual use: python -m bench.portfolios N OUTDIR
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else REPO / "bench" / "results" / "tmp" / "imports"
    uni = load_universe()
    frame, info = generate_positions(uni, n)
    print(write_drop(out, client_email(str(n)), frame), json.dumps({k: v for k, v in info.items() if k != "price_symbols"}))
