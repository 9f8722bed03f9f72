"""Stress scenarios: the `Scenario` type and a validating YAML loader.

The default file is ``stress_scenarios.yaml`` next to this module (schema ``version: 1``,
documented at the top of that file). Users may pass another file with the same schema.

Shock conventions
-----------------
* factor shocks: decimal TOTAL returns of the factor's long-only ETF proxy (Market=SPY, Value=VTV,
  Growth=VUG, Momentum=MTUM, Quality=QUAL, Size=IWM, Low Volatility=USMV); −0.10 = proxy −10 %.
* ``rates_bp``: parallel change of the 10-year yield in basis points (+ = yields up).
* ``volatility_multiplier``: multiplier on option implied vols when repricing (1 = unchanged).
* ``symbol_returns`` (not in the YAML; built by ``analytics.stress.historical_replay_scenarios``):
  realised decimal returns per symbol, used instead of the factor model for those symbols.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import yaml

SCHEMA_VERSION = 1
DEFAULT_SCENARIO_FILE = Path(__file__).with_name("stress_scenarios.yaml")

FACTOR_NAMES: tuple[str, ...] = ("Market", "Value", "Growth", "Momentum", "Quality", "Size", "Low Volatility")
MARKET_FACTOR = "Market"
RATES_KEY = "rates_bp"
VOL_KEY = "volatility_multiplier"
_ALLOWED_SCENARIO_KEYS = {"id", "name", "category", "description", "shocks"}


class ScenarioFileError(ValueError):
    """A scenario file does not follow the schema (message names the offending scenario)."""


@dataclass(frozen=True)
class Scenario:
    """One stress scenario.

    factor_shocks: factor name → decimal total return of its ETF proxy (see module docstring).
    rates_bp: 10y yield change in basis points. volatility_multiplier: option vol multiplier.
    symbol_returns: symbol → realised decimal return (historical replays; overrides the factor model).
    """

    id: str
    name: str
    category: str
    factor_shocks: Mapping[str, float] = field(default_factory=dict)
    rates_bp: float = 0.0
    volatility_multiplier: float = 1.0
    description: str = ""
    symbol_returns: Mapping[str, float] = field(default_factory=dict)


def _number(value: Any, what: str, scenario_id: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise ScenarioFileError(f"scenario {scenario_id!r}: {what} must be a finite number, got {value!r}")
    return float(value)


def parse_scenarios(document: Mapping[str, Any], source: str = "<document>") -> list[Scenario]:
    """Validate a parsed scenario document (dict from YAML) and build `Scenario`s.

    Errors (ScenarioFileError, naming the scenario): wrong/missing version, missing id/name/category,
    duplicate ids, unknown keys, unknown factor names, factor shocks ≤ −1 (a long-only proxy cannot
    lose more than 100 %), non-positive volatility_multiplier, non-numeric values.
    """
    if not isinstance(document, Mapping):
        raise ScenarioFileError(f"{source}: top level must be a mapping with 'version' and 'scenarios'")
    version = document.get("version")
    if version != SCHEMA_VERSION:
        raise ScenarioFileError(f"{source}: unsupported scenario file version {version!r} (expected {SCHEMA_VERSION})")
    raw = document.get("scenarios")
    if not isinstance(raw, list) or not raw:
        raise ScenarioFileError(f"{source}: 'scenarios' must be a non-empty list")

    out: list[Scenario] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise ScenarioFileError(f"{source}: scenario #{i} is not a mapping")
        sid = item.get("id")
        if not isinstance(sid, str) or not sid:
            raise ScenarioFileError(f"{source}: scenario #{i} has no string 'id'")
        if sid in seen:
            raise ScenarioFileError(f"{source}: duplicate scenario id {sid!r}")
        seen.add(sid)
        unknown_keys = set(item) - _ALLOWED_SCENARIO_KEYS
        if unknown_keys:
            raise ScenarioFileError(f"scenario {sid!r}: unknown keys {sorted(unknown_keys)}")
        for key in ("name", "category"):
            if not isinstance(item.get(key), str) or not item.get(key):
                raise ScenarioFileError(f"scenario {sid!r}: missing string {key!r}")
        shocks = item.get("shocks")
        if not isinstance(shocks, Mapping) or not shocks:
            raise ScenarioFileError(f"scenario {sid!r}: 'shocks' must be a non-empty mapping")

        factor_shocks: dict[str, float] = {}
        rates_bp = 0.0
        vol_mult = 1.0
        for key, value in shocks.items():
            if key == RATES_KEY:
                rates_bp = _number(value, RATES_KEY, sid)
            elif key == VOL_KEY:
                vol_mult = _number(value, VOL_KEY, sid)
                if vol_mult <= 0:
                    raise ScenarioFileError(f"scenario {sid!r}: volatility_multiplier must be > 0, got {vol_mult}")
            elif key in FACTOR_NAMES:
                shock = _number(value, f"shock on {key}", sid)
                if shock <= -1.0:
                    raise ScenarioFileError(f"scenario {sid!r}: shock on {key} = {shock} is a loss of 100 % or more")
                factor_shocks[key] = shock
            else:
                raise ScenarioFileError(
                    f"scenario {sid!r}: unknown factor {key!r} (known: {', '.join(FACTOR_NAMES)}, {RATES_KEY}, {VOL_KEY})"
                )
        out.append(
            Scenario(
                id=sid,
                name=item["name"],
                category=item["category"],
                factor_shocks=factor_shocks,
                rates_bp=rates_bp,
                volatility_multiplier=vol_mult,
                description=str(item.get("description") or ""),
            )
        )
    return out


_CACHE_SIZE = 16
# (resolved path, st_mtime_ns, st_size, st_ino) → parsed scenarios of that exact file version
_cache: dict[tuple[str, int, int, int], tuple[Scenario, ...]] = {}
_cache_lock = threading.Lock()


def _fresh_copy(sc: Scenario) -> Scenario:
    """A new Scenario with its own dicts, so a caller mutating one cannot alter the cache."""
    return replace(sc, factor_shocks=dict(sc.factor_shocks), symbol_returns=dict(sc.symbol_returns))


def load_scenarios(path: str | Path | None = None) -> list[Scenario]:
    """Load and validate a scenario YAML file (default: the packaged ``stress_scenarios.yaml``).

    The parsed scenarios are cached per file version — keyed by the resolved path and the file's
    modification time (ns), size and inode, so an edited or replaced file is re-read — and every call
    returns a new list of new `Scenario` objects (own dicts): callers may mutate the result freely.
    Invalid files are never cached (each call raises).
    """
    p = Path(path) if path is not None else DEFAULT_SCENARIO_FILE
    try:
        st = p.stat()
        key: tuple[str, int, int, int] | None = (str(p.resolve()), st.st_mtime_ns, st.st_size, st.st_ino)
    except OSError:
        key = None  # let open() raise the usual error below
    if key is not None:
        cached = _cache.get(key)
        if cached is not None:
            return [_fresh_copy(sc) for sc in cached]
    with p.open("r", encoding="utf-8") as fh:
        document = yaml.safe_load(fh)
    scenarios = parse_scenarios(document, source=str(p))
    if key is not None:
        with _cache_lock:
            if len(_cache) >= _CACHE_SIZE:
                _cache.clear()
            _cache[key] = tuple(_fresh_copy(sc) for sc in scenarios)
    return scenarios


__all__ = [
    "DEFAULT_SCENARIO_FILE",
    "FACTOR_NAMES",
    "MARKET_FACTOR",
    "SCHEMA_VERSION",
    "Scenario",
    "ScenarioFileError",
    "load_scenarios",
    "parse_scenarios",
]
