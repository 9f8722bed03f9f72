"""Pre-flight of a validated drop: everything that would make the onboarding fail *after* the write.

`read_drop` checks a drop on its own; the pre-flight checks it against the world it is about to
enter — the market data the provider chain can serve, the database's column limits, Dagster's
partition keys, bcrypt, the as-of date of the analytics. It runs before any client row is written
(asset `client_onboarding` and `sigmasight onboard`), and its problems go into the same problem
table as the reader's (file, line, column, value, rule).

Pure: no database, no Dagster, no provider call. The market-data facts come in as a
`MarketFacts` (built by `sigmasight_onboarding.drops.market_facts`).

Rules (each one names the rows it applies to):

- symbols: no index or yield (`^GSPC`, `^TNX`) as a holding; no OCC option symbol on a LONG/SHORT
  row; no separator at either end of a ticker (`SPY.`); class-share spellings `BRK.B`, `BRK-B` and
  `BRK/B` are one listing — two of them in one drop are an error; every held symbol and option
  underlying must be served by the provider chain on >= 95 % of the last 90 sessions (a spelling
  the market data has under another separator is stored under that spelling, with a warning).
- numbers: quantity, entry_price and strike_price must come back from the database exactly
  (SQLite stores NUMERIC as a 64-bit float: 15 significant digits); the market value of each
  position (NUMERIC(16,2)), the portfolio's gross exposure (snapshots, NUMERIC(16,2)) and its
  share-equivalent delta (NUMERIC(12,2)) must fit their columns.
- the email (the Dagster partition key) must not contain '|' (Dagster's multi-partition
  separator) or '...'.
- password_hash: bcrypt must accept it (valid salt, cost 4..MAX_BCRYPT_COST).
- dates: no entry_date after the as-of date; option expiry is judged against the as-of date.
- a provider outage (every symbol failed with a transport/provider error) is one problem naming
  the cause, reported before anything is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

import bcrypt
import pandas as pd

from sigmasight_onboarding.drops.problems import DropProblem
from sigmasight_onboarding.domain import COVERAGE_SESSIONS, MIN_COVERAGE  # noqa: F401  (market_facts)
from sigmasight_onboarding.drops.reader import CLIENT_FILE, PORTFOLIO_FILE, ClientDrop
from sigmasight_onboarding.drops.schemas import OCC_RE, OPTION_TYPES

MARKET_DATA = "market data"  # DropProblem.file of problems about the provider chain itself
MAX_BCRYPT_COST = 15  # cost 16 takes ~4 s per login
# Column limits of the backend's schema (db/contract.py): NUMERIC(p, s) holds |x| < 10^(p-s).
MAX_MARKET_VALUE = Decimal(10) ** 14  # positions.market_value / unrealized_pnl NUMERIC(16,2)
MAX_GROSS_EXPOSURE = Decimal(10) ** 14  # portfolio_snapshots.gross_exposure NUMERIC(16,2)
MAX_PORTFOLIO_DELTA = Decimal(10) ** 10  # portfolio_snapshots.portfolio_delta NUMERIC(12,2)
EXACT_COLUMNS = {"quantity": 4, "entry_price": 4, "strike_price": 4}  # column -> scale
PARTITION_SEPARATORS = ("|", "...")
SEPARATORS = "./-"
_SEPARATOR_RE = re.compile(r"[./\-]")
# Words in a failure reason that mean the provider itself could not be reached or answered.
_OUTAGE_WORDS = ("provider error", "connect", "timed out", "timeout", "unreachable", "HTTP 5", "transport",
                 "does not exist", "Name or service not known")


@dataclass(frozen=True)
class MarketFacts:
    """What the provider chain (through the shared cache) has for the symbols a drop needs.

    coverage: symbol -> share of the last COVERAGE_SESSIONS sessions with a price (0.0 when none);
    last_price: symbol -> newest price at or before the as-of date; failures: symbol -> reason;
    aliases: spelling in the drop -> spelling the market data has (`BRK/B` -> `BRK-B`);
    providers: the chain's names, for messages.
    """

    as_of: date
    coverage: dict[str, float]
    last_price: dict[str, float] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    providers: tuple[str, ...] = ()

    def outage(self) -> str | None:
        """The cause when every symbol failed for a provider-wide reason, else None."""
        if not self.coverage or any(v > 0 for v in self.coverage.values()):
            return None
        reasons = [self.failures.get(s, "") for s in self.coverage]
        if reasons and all(any(w.lower() in r.lower() for w in _OUTAGE_WORDS) for r in reasons):
            return reasons[0]
        return None


@dataclass(frozen=True)
class PreflightResult:
    problems: list[DropProblem]
    drop: ClientDrop  # with symbols renamed to the market data's spelling and as-of warnings

    @property
    def ok(self) -> bool:
        return not self.problems


def canonical_symbol(symbol: str) -> str:
    """One spelling per listing: class-share separators '.', '/' and '-' all become '-'."""
    return _SEPARATOR_RE.sub("-", symbol)


def alias_spellings(symbol: str) -> list[str]:
    """Other spellings of the same listing the market data may use (BRK/B -> BRK-B, BRK.B)."""
    out = []
    for sep in "-.":
        alt = _SEPARATOR_RE.sub(sep, symbol)
        if alt != symbol and alt not in out:
            out.append(alt)
    return out


def needed_symbols(positions: pd.DataFrame) -> list[str]:
    """Symbols whose prices the onboarding needs: equities and option underlyings (pre-flight-clean ones)."""
    is_option = positions["position_type"].isin(OPTION_TYPES)
    syms = set(positions.loc[~is_option, "symbol"]) | set(positions.loc[is_option, "underlying_symbol"].dropna())
    return sorted(s for s in syms if s and not s.startswith("^"))


def _problem(line, column, value, rule, file=PORTFOLIO_FILE) -> DropProblem:
    return DropProblem(file=file, line=None if line is None else int(line), column=column,
                       value=None if value is None else str(value)[:80], rule=rule)


def partition_key_problems(key: str) -> list[DropProblem]:
    bad = [s for s in PARTITION_SEPARATORS if s in key]
    if not bad:
        return []
    return [_problem(None, "email", key, "must not contain " + " or ".join(repr(s) for s in bad)
                     + ": Dagster uses it to separate partition keys, so the client could never be scheduled",
                     file=CLIENT_FILE)]


def password_hash_problems(password_hash: str | None) -> list[DropProblem]:
    """bcrypt must accept the hash, or the user could never log in."""
    if not password_hash:
        return []
    rule = None
    match = re.match(r"^\$2[aby]\$([0-9]{2})\$", password_hash)
    cost = int(match.group(1)) if match else None
    if cost is None or not 4 <= cost <= 31:
        rule = "bcrypt refuses this hash: the cost must be 04..31"
    elif cost > MAX_BCRYPT_COST:
        rule = f"bcrypt cost {cost} is above {MAX_BCRYPT_COST}: every login would take many seconds"
    else:
        try:
            bcrypt.checkpw(b"sigmasight-preflight", password_hash.encode())
        except ValueError as exc:
            rule = f"bcrypt refuses this hash ({exc}): the salt or hash part is not valid bcrypt base64"
    if rule is None:
        return []
    return [_problem(None, "password_hash", "<redacted>", rule, file=CLIENT_FILE)]


def _exact(value: Decimal | None, scale: int) -> bool:
    """True when `value` comes back unchanged from SQLite's float NUMERIC (and PostgreSQL's)."""
    if value is None:
        return True
    return Decimal(f"{float(value):.{scale}f}") == value.quantize(Decimal(1).scaleb(-scale))


def static_problems(drop: ClientDrop, as_of: date) -> list[DropProblem]:
    """Every rule that needs no market data (vectorised: masks first, problems for flagged rows only)."""
    problems = partition_key_problems(drop.client.key) + password_hash_problems(drop.client.password_hash)
    pos = drop.positions
    sym = pos["symbol"].astype(str)
    stock = pos["position_type"].isin(("LONG", "SHORT"))
    index = stock & sym.str.startswith("^")
    occ = stock & ~index & sym.str.match(OCC_RE.pattern)
    edge = stock & ~index & ~occ & (sym.str[0].isin(list(SEPARATORS)) | sym.str[-1].isin(list(SEPARATORS)))
    for line in pos.index[index]:
        problems.append(_problem(line, "symbol", sym[line], "is an index or a yield, not a holding; "
                                 "hold an ETF or future that tracks it instead"))
    for line in pos.index[occ]:
        problems.append(_problem(line, "symbol", sym[line], "is an OCC option symbol on a "
                                 f"{pos.at[line, 'position_type']} row; options need position_type LC, LP, SC or SP"))
    for line in pos.index[edge]:
        problems.append(_problem(line, "symbol", sym[line], "a ticker cannot start or end with '.', '-' or '/'"))
    for col, scale in EXACT_COLUMNS.items():
        inexact = ~pos[col].map(lambda v, s=scale: _exact(v, s)).astype(bool)
        for line in pos.index[inexact]:
            problems.append(_problem(line, col, pos.at[line, col], "has more significant digits than the database "
                                     "stores exactly (15; SQLite keeps NUMERIC as a 64-bit float)"))
    late = pos["entry_date"].map(lambda d: d > as_of).astype(bool)
    for line in pos.index[late]:
        problems.append(_problem(line, "entry_date", pos.at[line, "entry_date"].isoformat(),
                                 f"is after the as-of date {as_of} of the analytics (newest market data or "
                                 "SIGMASIGHT_AS_OF): the position would be counted before it was held"))
    # one listing, two spellings: BRK.B and BRK-B
    equities = sym[stock]
    canon = equities.map(canonical_symbol)
    twins = canon[canon.duplicated(keep=False)]
    for key, lines in twins.groupby(twins).groups.items():
        group = equities[lines]
        if group.nunique() > 1:
            first = lines[0]
            for line in lines[1:]:
                problems.append(_problem(line, "symbol", group[line],
                                         f"is the same listing as {group[first]!r} on line {first} "
                                         f"(class-share spellings with '.', '-' or '/' are one symbol, {key})"))
    return problems


def market_problems(drop: ClientDrop, facts: MarketFacts) -> tuple[list[DropProblem], ClientDrop]:
    """Symbols the provider chain cannot price, and values too large for their columns.

    Returns the problems and the drop with symbols renamed to the spelling the market data has.
    """
    cause = facts.outage()
    if cause is not None:
        chain = " -> ".join(facts.providers) or "the provider chain"
        return [_problem(None, None, None, f"market data provider(s) {chain} unavailable, so no symbol could be "
                         f"checked; nothing was written. Cause: {cause}", file=MARKET_DATA)], drop
    pos = drop.positions.copy()
    is_option = pos["position_type"].isin(OPTION_TYPES)
    problems: list[DropProblem] = []
    warnings = list(drop.warnings)

    priced_sym = pos["underlying_symbol"].where(is_option, pos["symbol"]).fillna("").astype(str)
    resolved = priced_sym.map(lambda s: facts.aliases.get(s, s))
    cov = resolved.map(lambda s: facts.coverage.get(s, 0.0)).astype(float)
    unpriced = (priced_sym != "") & ~priced_sym.str.startswith("^") & (cov < MIN_COVERAGE)
    for line in pos.index[unpriced]:
        option = bool(is_option[line])
        sym, c = priced_sym[line], float(cov[line])
        why = facts.failures.get(resolved[line]) or facts.failures.get(sym)
        what = f"the option's underlying {sym!r}" if option else f"{sym!r}"
        if c > 0:
            detail = f"has prices on only {c:.0%} of the last {COVERAGE_SESSIONS} sessions up to {facts.as_of} (needs {MIN_COVERAGE:.0%})"
        else:
            detail = "has no prices from the provider chain" + (f" ({why})" if why else "")
        problems.append(_problem(line, "underlying_symbol" if option else "symbol", sym, f"{what} {detail}"))
    # spellings the market data has under another separator: stored under that spelling
    renames = {s: a for s, a in facts.aliases.items() if s != a}
    if renames:
        stocks = ~is_option & pos["symbol"].isin(renames)
        for line in pos.index[stocks]:
            old = pos.at[line, "symbol"]
            warnings.append(f"line {line}: {old} is stored as {renames[old]}, the spelling of the market data")
        pos.loc[stocks, "symbol"] = pos.loc[stocks, "symbol"].map(renames)
    # values that must fit their columns: screened in float, flagged rows computed exactly
    mult = is_option.map({True: 100.0, False: 1.0}).astype(float)
    qty = pos["quantity"].map(float).abs()
    last = resolved.map(lambda s: facts.last_price.get(s, float("nan"))).astype(float)
    price = pos["entry_price"].map(float)
    price = price.where(is_option | last.isna(), pd.concat([price, last], axis=1).max(axis=1))
    value = qty * price * mult
    for line in pos.index[value >= float(MAX_MARKET_VALUE) * 0.999]:
        exact = abs(pos.at[line, "quantity"]) * Decimal(str(round(float(price[line]), 4))) * Decimal(int(mult[line]))
        if exact >= MAX_MARKET_VALUE:
            problems.append(_problem(line, "quantity", pos.at[line, "quantity"],
                                     f"market value {exact:,.0f} $ does not fit the database (positions.market_value "
                                     f"holds less than {MAX_MARKET_VALUE:,.0f})"))
    gross, shares = float(value.sum()), float((qty * mult).sum())
    if gross >= float(MAX_GROSS_EXPOSURE) and not any(p.column == "quantity" for p in problems):
        problems.append(_problem(None, "quantity", None, f"the portfolio's gross exposure {gross:,.0f} $ does not fit "
                                 f"the database (snapshots hold less than {MAX_GROSS_EXPOSURE:,.0f})"))
    if shares >= float(MAX_PORTFOLIO_DELTA):
        problems.append(_problem(None, "quantity", None, f"the portfolio holds {shares:,.0f} shares (options × 100); "
                                 f"its delta would not fit the database (less than {MAX_PORTFOLIO_DELTA:,.0f})"))
    return problems, replace(drop, positions=pos, warnings=warnings)


def expiry_warnings(drop: ClientDrop, as_of: date, today: date) -> list[str]:
    """Option expiry judged against the as-of date of the analytics, not the wall clock."""
    pos = drop.positions
    expiry = pos["expiration_date"]
    has = expiry.notna()
    before = has & expiry.map(lambda d: d is not None and d == d and d < as_of).astype(bool)
    between = has & ~before & expiry.map(lambda d: d is not None and d == d and d < today).astype(bool)
    out = [f"line {line}: option {pos.at[line, 'symbol']} expired on {expiry[line]}, before the as-of date {as_of}; "
           "it is valued at intrinsic value with zero Greeks" for line in pos.index[before]]
    out += [f"line {line}: option {pos.at[line, 'symbol']} expires on {expiry[line]}, after the as-of date {as_of} "
            "but before today: the analytics as of that date price it as a live option with Greeks"
            for line in pos.index[between]]
    return out


def preflight(drop: ClientDrop, facts: MarketFacts, today: date | None = None) -> PreflightResult:
    """All pre-flight problems of `drop` (empty when it can be written) and the drop to write."""
    today = today or date.today()
    problems = static_problems(drop, facts.as_of)
    market, drop = market_problems(drop, facts)
    # the reader judged expiry against today; the analytics judge it against the as-of date
    kept = [w for w in drop.warnings if " expired on " not in w or not w.startswith("line ")]
    drop = replace(drop, warnings=kept + expiry_warnings(drop, facts.as_of, today))
    flagged = {(p.line, "symbol") for p in problems if p.column == "symbol"}
    problems = problems + [p for p in market if (p.line, "symbol") not in flagged]
    problems.sort(key=lambda p: (p.file != MARKET_DATA, p.file, p.line or 0))
    return PreflightResult(problems=problems, drop=drop)
