"""What the analytics assets of one client work on: positions, prices, as-of, rate.

The price matrix comes from the `price_history` asset through Dagster (resources/price_matrix_io.py);
only when it does not cover the window (e.g. the asset was materialised for another as-of date) is it
read from the database.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from sigmasight_onboarding.price_backfill import reference_symbols
from sigmasight_onboarding.calendar import sessions_between
from sigmasight_onboarding.config import get_settings
from sigmasight_onboarding.db.analytics_tables import (
    AsOfReplacements,
    replace_as_of_columns,
    replace_as_of_rows,
    replace_many_correlations,
)
from sigmasight_onboarding.db.onboarding_writer import PositionsChangedError, client_transaction, clients_transaction
from sigmasight_onboarding.db.price_cache import price_matrix, window_start
from sigmasight_onboarding.domain import RISK_FREE_RATE_FALLBACK
from sigmasight_onboarding.db.portfolio_reads import (
    ClientPortfolio,
    client_books,
    price_symbols,
)
from sigmasight_onboarding.resources.price_matrix_io import covers


@dataclass
class BatchMarket:
    """The clients of one multi-client run (the daily refresh): the union's price matrix and price symbols,
    a memo of per-symbol results computed once on it (`per_symbol`), the clients' writes waiting for the
    run's one transaction (`ClientMarket.write`, `store_batch_writes`) and their pandera checks waiting for one
    validation (`position_analytics.validate_batch_schema_checks`)."""
    prices: pd.DataFrame
    symbols: list[str]
    portfolio_ids: list = field(default_factory=list)  # every client's portfolio, for the reads of `per_client`
    memo: dict = field(default_factory=dict)
    pending: list = field(default_factory=list)  # (ClientMarket, store(conn)) in the order the clients computed
    schema_checks: list = field(default_factory=list)  # pandera checks waiting for one validation of the batch
    replacements: AsOfReplacements | None = None  # the clients' as-of rows, written together (`ClientMarket.replace_as_of`)


@dataclass
class ClientMarket:
    client: ClientPortfolio
    as_of: date
    sessions: list[date]
    positions: pd.DataFrame  # active positions + is_option, price_symbol, spot ($ at as_of)
    prices: pd.DataFrame  # session × symbol adjusted closes ($; ^TNX/^IRX in percent)
    rate: float  # risk-free rate, decimal annualised (^IRX / 100 at the as-of date)
    notes: list[str] = field(default_factory=list)
    batch: BatchMarket | None = None  # set when the client's prices are columns of a multi-client run's matrix
    positions_version: int | None = None  # `positions_versions` read before `positions`: the writes check it

    @property
    def price_symbols(self) -> list[str]:
        """Sorted symbols the positions' risk is measured on (equities; underlyings of options)."""
        return sorted(set(self.positions["price_symbol"].dropna()))

    def shared(self, name: str, read):
        """``read()`` — the same for every client of a multi-client run — once per run (memo ``name``); alone, read."""
        if self.batch is None:
            return read()
        if name not in self.batch.memo:
            self.batch.memo[name] = read()
        return self.batch.memo[name]

    def per_symbol(self, name: str, compute):
        """``compute(prices, symbols)`` — a per-symbol engine whose result for a symbol depends only on that
        symbol's column (betas, volatilities) — for this client's price symbols; in a multi-client run it is
        computed once on the union (memo ``name``) and every client reads its own symbols' part of it."""
        if self.batch is None:
            return compute(self.prices, self.price_symbols)
        return self.shared(name, lambda: compute(self.batch.prices, self.batch.symbols))

    def per_client(self, name: str, read):
        """``read(portfolio_ids)`` — {portfolio id: value}, e.g. rows stored for the as-of date — for this client; in a
        multi-client run ONE read for every client of the run (memo ``name``), each client taking its own value."""
        ids = [self.client.portfolio_id] if self.batch is None else self.batch.portfolio_ids
        return self.shared(name, lambda: read(ids))[self.client.portfolio_id]

    def write(self, engine, store: Callable) -> None:
        """Store this client's rows: ``store(conn)`` in the client's transaction (`client_transaction`: it raises
        `PositionsChangedError`, writing nothing, once the book was re-written since it was read). In a
        multi-client run the write waits for `store_batch_writes`: ONE transaction for every client of the
        run, which leaves out the clients whose book changed."""
        if self.batch is None:
            with client_transaction(engine, self.client.email, self.positions_version) as conn:
                store(conn)
        else:
            self.batch.pending.append((self, store))

    def replace_as_of(self, conn, table, rows: list[dict] | None = None, columns: dict[str, list] | None = None) -> None:
        """Inside a `write`'s ``store(conn)``: replace this client's rows of ``table`` on the as-of date by `rows` (or
        `columns`, {name: values}). In a multi-client run they are collected and written with every other client's
        rows of the table in one delete and one bulk insert (`AsOfReplacements`), at the end of the run's transaction."""
        if self.batch is None:
            if columns is not None:
                replace_as_of_columns(conn, table, self.client.portfolio_id, self.as_of, columns)
            else:
                replace_as_of_rows(conn, table, self.client.portfolio_id, self.as_of, rows or [])
            return
        if columns is not None:
            self._collected().columns(table, self.client.portfolio_id, columns)
        else:
            self._collected().rows(table, self.client.portfolio_id, rows or [])

    def replace_correlations(self, conn, calc: dict, pairs: list[dict], cluster_rows: list[dict], member_rows: list[dict]) -> None:
        """Inside a `write`'s ``store(conn)``: replace this client's correlation calculation of the as-of date with its
        children (`replace_many_correlations`); in a multi-client run collected and written with every other client's."""
        item = (self.client.portfolio_id, calc, pairs, cluster_rows, member_rows)
        if self.batch is None:
            replace_many_correlations(conn, self.as_of, [item])
            return
        self._collected().correlations(item)

    def _collected(self) -> AsOfReplacements:
        """The multi-client run's collection of replacements, written at the end of its transaction."""
        if self.batch.replacements is None:
            self.batch.replacements = AsOfReplacements(self.as_of)
        return self.batch.replacements

    @property
    def equities(self) -> pd.DataFrame:
        return self.positions[~self.positions["is_option"]]

    @property
    def options(self) -> pd.DataFrame:
        return self.positions[self.positions["is_option"]]


def batch_of(markets: dict[str, ClientMarket]) -> BatchMarket | None:
    """The `BatchMarket` the clients of one `load_client_markets` share (None: each client on its own)."""
    return next((m.batch for m in markets.values() if m.batch is not None), None)


def store_batch_writes(engine, markets: dict[str, ClientMarket]) -> dict[str, PositionsChangedError]:
    """The writes `ClientMarket.write` deferred for the clients of `markets` (one multi-client run): one
    transaction holding every client's lock (`clients_transaction`), each client's writes in the order they
    were made, none of a client whose book was re-written since it was read. Returns those clients' errors by
    the keys of `markets`."""
    batch = batch_of(markets)
    if batch is None or not batch.pending:
        return {}
    key_of = {m.client.email: key for key, m in markets.items()}
    try:
        with clients_transaction(engine, {m.client.email: m.positions_version for m, _store in batch.pending}) as (conn, changed):
            for market, store in batch.pending:
                if market.client.email not in changed:
                    store(conn)
            if batch.replacements is not None:  # the as-of rows the stores collected (`ClientMarket.replace_as_of`)
                batch.replacements.write(conn)
    finally:
        batch.pending.clear()
        batch.replacements = None
    return {key_of[email]: exc for email, exc in changed.items()}


def load_client_market(engine, client_key: str, as_of: date, prices: pd.DataFrame | None = None,
                       rate_fallback: float = RISK_FREE_RATE_FALLBACK, price_lookback_days: int | None = None) -> ClientMarket:
    """Positions (with spot at the as-of date) and the window's price matrix: `prices` (the
    `price_history` output) when it covers the window's sessions and every symbol, else the database."""
    return load_client_markets(engine, [client_key], as_of, prices, rate_fallback, price_lookback_days)[client_key]


def load_client_markets(engine, client_keys: list[str], as_of: date, prices: pd.DataFrame | None = None,
                        rate_fallback: float = RISK_FREE_RATE_FALLBACK,
                        price_lookback_days: int | None = None) -> dict[str, ClientMarket]:
    """`load_client_market` of several clients (a daily-refresh range run): their portfolios and positions in
    one query each; each client's matrix is its columns of `prices` (the union's matrix) when it covers them."""
    books = client_books(engine, client_keys)
    clients = [books.portfolios[k.lower()] for k in client_keys]
    frames = books.positions
    lookback = get_settings().price_lookback_days if price_lookback_days is None else price_lookback_days
    sessions = sessions_between(window_start(as_of, lookback), as_of)
    last_of_union = prices.ffill().iloc[-1] if prices is not None and len(clients) > 1 and len(prices) else None
    markets = {key: _client_market(client, frames[client.portfolio_id], as_of, sessions, prices, engine, rate_fallback,
                                   last_of_union)
               for key, client in zip(client_keys, clients)}
    for key, market in markets.items():
        market.positions_version = books.versions[key.lower()]
    if len(markets) > 1 and prices is not None and all(covers(prices, sessions, list(m.prices.columns)) for m in markets.values()):
        batch = BatchMarket(prices, sorted(set().union(*(m.price_symbols for m in markets.values()))),
                            [m.client.portfolio_id for m in markets.values()])
        for m in markets.values():
            m.batch = batch
    return markets


def _client_market(client: ClientPortfolio, positions: pd.DataFrame, as_of: date, sessions: list[date],
                   prices: pd.DataFrame | None, engine, rate_fallback: float,
                   last_of_union: pd.Series | None = None) -> ClientMarket:
    """`last_of_union`: the last (forward-filled) price of every column of `prices`, computed once for the clients
    of a multi-client run (a column's forward fill does not depend on the other columns)."""
    symbols = sorted(set(price_symbols(positions)) | set(reference_symbols()))
    if prices is not None and covers(prices, sessions, symbols):
        prices = prices[symbols]
        last = last_of_union[symbols] if last_of_union is not None else None
    else:
        prices, last = price_matrix(engine, symbols, sessions), None
    if last is None:
        last = prices.ffill().iloc[-1] if len(prices) else pd.Series(dtype=float)
    positions["spot"] = positions["price_symbol"].map(last.to_dict()).astype(float)
    notes = []
    irx = prices["^IRX"].dropna() if "^IRX" in prices else pd.Series(dtype=float)
    if len(irx) and irx.index[-1] == as_of:
        rate = float(irx.iloc[-1]) / 100.0
    elif len(irx):
        rate = float(irx.iloc[-1]) / 100.0
        notes.append(f"^IRX missing on {as_of}; used {irx.index[-1]}")
    else:
        rate = rate_fallback
        notes.append(f"^IRX unavailable; risk-free rate fallback {rate_fallback:.2%}")
    return ClientMarket(client, as_of, sessions, positions, prices, rate if np.isfinite(rate) else rate_fallback, notes)
