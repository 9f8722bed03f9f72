"""Group `analytics`: position Greeks, factor exposures, interest-rate betas, correlations.

Each asset computes all positions at once with the pure engines in `analytics/`, replaces its
rows for the as-of date in one transaction (idempotent re-runs; a multi-client run stores every client's
rows in one transaction, `ClientMarket.write`), and validates its output with
a pandera schema (blocking check). Options are priced by the Greeks engine and delta-adjusted in
the factor and rate exposures (exposure = delta dollars × underlying beta).
"""

import uuid
from dataclasses import asdict, dataclass
from collections.abc import Callable
from decimal import Decimal

import numpy as np
import pandas as pd
import pandera.pandas as pa
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableRecord,
    TableSchema,
    AssetOut,
    multi_asset,
)
from sqlalchemy import Engine

from sigmasight_onboarding.analytics.correlations import (
    concentration_metrics,
    correlation_matrix,
    filter_positions,
    find_clusters,
)
from sigmasight_onboarding.analytics.exposures import desk_exposures, grouped_desk_exposures
from sigmasight_onboarding.analytics.factors import (
    FACTOR_ETFS,
    betas_wide,
    grouped_factor_exposures,
    multivariate_betas,
    portfolio_factor_exposure,
    single_factor_betas,
)
from sigmasight_onboarding.analytics.greeks import (
    DIVIDEND_SOURCE_NONE,
    VOL_SOURCE_IMPLIED,
    black_scholes,
    compute_option_greeks,
    dividend_yields,
    realised_volatility,
)
from sigmasight_onboarding.analytics.rates import interest_rate_betas, portfolio_rate_shock_pnl, rate_shock_significance
from sigmasight_onboarding.analytics.returns import log_returns, simple_returns
from sigmasight_onboarding.assets.client_batch import batch_metadata, partition_evaluations, run_clients
from sigmasight_onboarding.assets.client_market import (
    ClientMarket,
    batch_of,
    load_client_market,
    load_client_markets,
    store_batch_writes,
)
from sigmasight_onboarding.db.analytics_tables import (
    factor_ids as _factor_ids,
    market_values_and_delta_dollars,
    option_deltas,
    option_pricing_inputs,
)
from sigmasight_onboarding.db.onboarding_writer import PositionsChangedError
from sigmasight_onboarding.db.position_values import mark_option_positions
from sigmasight_onboarding.domain import CALL_TYPES, CONTRACT_MULTIPLIER
from sigmasight_onboarding.db.models import (
    FactorExposure,
    PositionFactorExposure,
    PositionGreeks,
    PortfolioExposure,
    PositionExposure,
    PositionInterestRateBeta,
    utcnow,
)
from sigmasight_onboarding.partitions import clients_partitions
from sigmasight_onboarding.resources.database import SigmaSightDatabase
from sigmasight_onboarding.resources.market_data_resource import MarketDataResource, resolve_as_of
from sigmasight_onboarding.metadata import readable

GROUP = "analytics"
FACTOR_WINDOW = 252
CORRELATION_WINDOW = 90


def _analytics_asset(name: str, deps: list[str], description: str, checks: dict[str, str], summary: list[str],
                     batch: Callable[[Engine, dict[str, ClientMarket], MarketDataResource], dict[str, MaterializeResult]] | None = None):
    """`@asset` of one position-analytics engine: partitioned by client, group `analytics`, kinds
    numpy + sql, and its blocking checks {check name: description}. Each takes the `price_history`
    matrix as an input (through the price-matrix IO manager), besides `deps`; the decorated
    ``compute(engine, market, market_data)`` gets the database engine and one client's
    `ClientMarket` (positions and window on that matrix, `_market`). A range of clients (the daily
    refresh, `BackfillPolicy.single_run`) is one run: ``compute`` per client on the one matrix, then the
    `summary` metadata entries per client and each client's checks on its partition (`client_batch.py`). With
    ``batch(engine, markets, market_data)``, such a run computes every client at once instead (the same rows and check results as
    ``compute`` client by client; metadata only the `summary` entries, all a range run keeps)."""

    def build(compute: Callable[[Engine, ClientMarket, MarketDataResource], MaterializeResult]):
        # a one-output multi_asset rather than @asset only for can_subset: a range run reports its checks as
        # per-client evaluations, so the check outputs must be optional (@asset makes them required)
        @multi_asset(
            name=name, outs={name: AssetOut(group_name=GROUP, kinds={"numpy", "sql"}, description=description)},
            partitions_def=clients_partitions, deps=deps,
            check_specs=[AssetCheckSpec(check, partitions_def=clients_partitions, asset=name, blocking=True, description=text)
                         for check, text in checks.items()],
            backfill_policy=BackfillPolicy.single_run(), can_subset=True,
        )
        def analytics_asset(context: AssetExecutionContext, database: SigmaSightDatabase, market_data: MarketDataResource,
                            price_history: pd.DataFrame):
            clients = run_clients(context)

            def guarded(market: ClientMarket) -> MaterializeResult:
                """compute(), or — the client's book re-written while this run computed — nothing stored for it and
                no check result (its own onboarding run computes and checks the new book)."""
                try:
                    return compute(database.engine(), market, market_data)
                except PositionsChangedError as exc:
                    context.log.warning(str(exc))
                    return MaterializeResult(metadata=readable({"positions_changed_meanwhile": str(exc)}))

            if len(clients) == 1:
                yield guarded(_market(clients[0], database, market_data, price_history))
                return
            settings = market_data.settings()
            markets = load_client_markets(database.engine(), clients, resolve_as_of(settings), price_history,
                                          price_lookback_days=settings.price_lookback_days)
            if batch is not None and batch_of(markets) is not None:
                results = batch(database.engine(), markets, market_data)
            else:
                results = {c: guarded(markets[c]) for c in clients}
            for client, exc in store_batch_writes(database.engine(), markets).items():  # one transaction for the run
                context.log.warning(str(exc))
                results[client] = MaterializeResult(metadata=readable({"positions_changed_meanwhile": str(exc)}))
            changed = sorted(c for c, r in results.items() if "positions_changed_meanwhile" in (r.metadata or {}))
            yield MaterializeResult(metadata=batch_metadata(
                results, summary, extra={"positions_changed_meanwhile": ", ".join(changed)} if changed else None))
            validated = validate_batch_schema_checks(markets)  # the deferred pandera checks, one validation each
            for client, result in results.items():
                checks = [validated.get((client, c.check_name), c) for c in result.check_results or []]
                yield from partition_evaluations(name, client, checks)

        return analytics_asset

    return build


def _market(client_key: str, database: SigmaSightDatabase, market_data: MarketDataResource, prices: pd.DataFrame) -> ClientMarket:
    """The client's positions and window, on the matrix `price_history` handed over (resources/price_matrix_io.py)."""
    settings = market_data.settings()
    return load_client_market(database.engine(), client_key, resolve_as_of(settings), prices,
                              price_lookback_days=settings.price_lookback_days)


#: Rows of a per-position/per-underlying metadata table (largest first): Dagster stores the table with every
#: materialisation and reads it back for each check, so 8,000-row tables cost seconds and are unreadable anyway.
METADATA_TABLE_ROWS = 200


def _largest(records: list[dict], key: str) -> list[dict]:
    """The METADATA_TABLE_ROWS records with the largest |record[key]| (all of them when fewer)."""
    if len(records) <= METADATA_TABLE_ROWS:
        return records
    return sorted(records, key=lambda r: -abs(r[key] or 0.0))[:METADATA_TABLE_ROWS]


def _table(records: list[dict], columns: list[tuple[str, str]]) -> MetadataValue:
    return MetadataValue.table([TableRecord(r) for r in records], schema=TableSchema([TableColumn(n, t) for n, t in columns]))


def _clean(value):
    """None for non-finite floats (never store NaN/inf), plain float otherwise."""
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def _nullable(values: pd.Series) -> pd.Series:
    """Plain floats with None for non-finite values (NaN/inf are never stored)."""
    arr = np.asarray(values, dtype=float)
    out = arr.astype(object)  # Python floats
    out[~np.isfinite(arr)] = None
    return pd.Series(out, index=getattr(values, "index", None), dtype=object)


def _columns(frame: pd.DataFrame) -> dict[str, list]:
    """A frame's columns as lists of Python values (what ``to_dict("records")`` would hold), for the bulk writes."""
    return {c: frame[c].tolist() for c in frame.columns}


def _passes(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> bool:
    """Whether ``frame`` passes ``schema``. Every check of these schemas is per value or per row, so a frame of several
    clients' rows passes exactly when each client's part does."""
    try:
        schema.validate(frame, lazy=True)
        return True
    except pa.errors.SchemaErrors:
        return False


def _schema_passed(name: str, asset_key: str, rows: int) -> AssetCheckResult:
    """A passed pandera check of ``rows`` rows."""
    return AssetCheckResult(asset_key=asset_key, check_name=name, passed=True, metadata=readable({"rows": rows}))


def _schema_check(name: str, asset_key: str, schema: pa.DataFrameSchema, frame: pd.DataFrame,
                  market: ClientMarket | None = None) -> AssetCheckResult:
    """The pandera check of one client's output frame. In a multi-client run (``market.batch``) the validation waits
    for `validate_batch_schema_checks`, one validation of every client's frame at once; the result returned
    meanwhile is a FAILED placeholder, replaced by the real one before any result leaves the step."""
    if market is not None and market.batch is not None:
        market.batch.schema_checks.append((market.client.email, name, asset_key, schema, frame))
        return AssetCheckResult(asset_key=asset_key, check_name=name, passed=False,
                                metadata=readable({"pending": "batch validation"}))
    try:
        schema.validate(frame, lazy=True)
        return _schema_passed(name, asset_key, len(frame))
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases.head(50).astype(str).to_dict("records")
        return AssetCheckResult(asset_key=asset_key, check_name=name, passed=False,
                                metadata=readable({"rows": len(frame), "failures": MetadataValue.json(cases)}))


def validate_batch_schema_checks(markets: dict[str, ClientMarket]) -> dict[tuple[str, str], AssetCheckResult]:
    """The results of the pandera checks `_schema_check` deferred in a multi-client run, by (client key, check name).
    The clients' frames of one check, when their columns and dtypes agree, are validated as ONE frame (every check of
    these schemas is per value or per row, so the whole passes exactly when each part does): all pass, each with its
    own row count. Otherwise — a failure somewhere, or frames that differ in dtype — each frame is validated alone,
    as in a run of one client."""
    batch = batch_of(markets)
    if batch is None:
        return {}
    deferred, batch.schema_checks = batch.schema_checks, []
    key_of = {m.client.email: key for key, m in markets.items()}
    by_check: dict[str, list] = {}
    for item in deferred:
        by_check.setdefault(item[1], []).append(item)
    out: dict[tuple[str, str], AssetCheckResult] = {}
    for name, items in by_check.items():
        schema, first = items[0][3], items[0][4].dtypes
        together = (all(item_schema is schema and frame.dtypes.equals(first) for *_e, item_schema, frame in items)
                    and _passes(schema, pd.concat([frame for *_rest, frame in items], ignore_index=True)))
        for email, _name, asset_key, item_schema, frame in items:
            out[(key_of[email], name)] = (
                _schema_passed(name, asset_key, len(frame))
                if together else _schema_check(name, asset_key, item_schema, frame))
    return out


def _excluded_summary(excluded: dict[str, str]) -> MetadataValue:
    """{symbol: reason} for the UI: all of it up to METADATA_TABLE_ROWS symbols, else the count per reason and
    the first METADATA_TABLE_ROWS symbols (8,000 excluded small positions were stored twice per run otherwise)."""
    if len(excluded) <= METADATA_TABLE_ROWS:
        return MetadataValue.json(excluded)
    by_reason: dict[str, int] = {}
    for reason in excluded.values():
        by_reason[reason] = by_reason.get(reason, 0) + 1
    first = dict(sorted(excluded.items())[:METADATA_TABLE_ROWS])
    return MetadataValue.json({"count": len(excluded), "by_reason": by_reason, f"first {METADATA_TABLE_ROWS} by symbol": first})


def _position_coverage_check(asset_key: str, positions: pd.DataFrame, present: set, excluded: dict) -> AssetCheckResult:
    missing = [s for s in positions["symbol"] if s not in present and s not in excluded]
    return AssetCheckResult(
        asset_key=asset_key, check_name="every_position_accounted", passed=not missing,
        metadata=readable({"present": len(present), "excluded": _excluded_summary(excluded), "missing": ", ".join(missing) or "none"}),
    )


# --------------------------------------------------------------------------- position_greeks

GREEKS_SCHEMA = pa.DataFrameSchema(
    {
        "unit_price": pa.Column(float, pa.Check.ge(0)),
        "delta": pa.Column(float, pa.Check.in_range(-1, 1)),
        "gamma": pa.Column(float, pa.Check.ge(0)),
        "theta": pa.Column(float),
        "vega": pa.Column(float, pa.Check.ge(0)),
        "rho": pa.Column(float),
        "underlying_price": pa.Column(float, pa.Check.gt(0)),
        "implied_volatility": pa.Column(float, pa.Check.gt(0)),
    },
    checks=[pa.Check(lambda df: np.isfinite(df.select_dtypes("number")).all(axis=1), name="all values finite")],
)


def _greeks_frame(greeks: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """(the `GREEKS_SCHEMA` frame of `compute_option_greeks`' output, per row whether every Greek stored or summed
    is finite: the rows that are stored)."""
    frame = pd.DataFrame({
        "unit_price": greeks["price"], "delta": greeks["delta"], "gamma": greeks["gamma"], "theta": greeks["theta"],
        "vega": greeks["vega"], "rho": greeks["rho"], "underlying_price": greeks["spot"],
        "implied_volatility": greeks["implied_vol"],
    })
    checked = ["price", "delta", "gamma", "theta", "vega", "rho", "position_price", "position_delta", "delta_dollars", "gamma_dollars"]
    return frame, np.isfinite(greeks[checked].to_numpy(dtype=float)).all(axis=1)


def _position_greeks_batch(engine: Engine, markets: dict[str, ClientMarket], market_data: MarketDataResource) -> dict[str, MaterializeResult]:
    """`position_greeks` of every client of a multi-client run at once: the options of all clients in one frame,
    realised volatilities of the union's underlyings, ONE dividend and ONE quote request for the run (not one per
    client), one `compute_option_greeks`, one pandera validation of every client's Greeks. Each client's rows and
    option marks go through its own write; returns per client the `summary` metadata and the same check results."""
    ms = list(markets.values())
    first = ms[0]
    as_of = first.as_of
    options = pd.concat([m.options for m in ms])
    client = np.repeat(np.arange(len(ms)), [len(m.options) for m in ms])
    spot_known = options["spot"].notna().to_numpy()
    underlyings = sorted(set(options.loc[spot_known, "price_symbol"]))
    vols = realised_volatility(first.batch.prices[underlyings], window=63) if underlyings else pd.Series(dtype=float)
    vol_all = options["price_symbol"].map(vols.to_dict()).astype(float).to_numpy()
    priced_mask = spot_known & ~np.isnan(vol_all)
    priced, vol, priced_client = options[priced_mask], vol_all[priced_mask], client[priced_mask]
    greeks, schema_ok = None, True
    if len(priced):
        chain = market_data.chain()
        priced_underlyings = sorted(set(priced["price_symbol"]))
        served, _why = chain.dividends(priced_underlyings, as_of - pd.Timedelta(days=400).to_pytimedelta(), as_of)
        spot_by_sym = priced.groupby("price_symbol")["spot"].first()
        divs = dividend_yields(priced_underlyings, spot_by_sym.reindex(priced_underlyings).to_numpy(), as_of, served)
        q = priced["price_symbol"].map(divs["dividend_yield"].to_dict()).astype(float)
        q_source = priced["price_symbol"].map(divs["dividend_yield_source"].to_dict())
        quotes, _quote_fail = chain.option_quotes(list(dict.fromkeys(zip(priced["symbol"], priced["price_symbol"]))))
        mid = priced["symbol"].map({k: v.mid for k, v in quotes.items()}).astype(float)
        greeks = compute_option_greeks(
            quantity=priced["quantity"], strike=priced["strike"], expiry=priced["expiration_date"],
            is_call=priced["position_type"].isin(["LC", "SC"]), spot=priced["spot"], as_of=as_of,
            rate=np.array([ms[c].rate for c in priced_client]), vol=vol, dividend_yield=q.to_numpy(),
            market_price=mid.to_numpy(), index=priced.index,
        )
        frame, finite = _greeks_frame(greeks)
        schema_ok = _passes(GREEKS_SCHEMA, frame)
    table = PositionGreeks.__table__
    empty = pd.DataFrame({c: pd.Series(dtype=float) for c in GREEKS_SCHEMA.columns})
    results = {}
    for g, (key, m) in enumerate(markets.items()):
        mine = client == g
        excluded = {s: "underlying has no price on the as-of date" for s in options.loc[mine & ~spot_known, "symbol"]}
        for sym in options.loc[mine & spot_known & np.isnan(vol_all), "symbol"]:
            excluded[sym] = "not enough underlying history for a 63-session realised volatility"
        rows, client_priced, client_frame = [], priced.iloc[:0], empty
        if greeks is not None and (priced_client == g).any():
            at = np.flatnonzero(priced_client == g)
            client_priced, client_greeks, client_frame = priced.iloc[at], greeks.iloc[at], frame.iloc[at]
            for sym in client_priced.loc[~finite[at], "symbol"]:
                excluded[sym] = "non-finite Greeks (not stored)"
            rows = _greeks_rows(client_greeks[finite[at]], q, q_source, m)

        def store(conn, m=m, rows=rows, client_priced=client_priced):
            m.replace_as_of(conn, table, rows=rows)
            _value_options(conn, client_priced, rows)

        m.write(engine, store)
        if schema_ok:
            schema = _schema_passed("greeks_schema", "position_greeks", len(client_frame))
        else:  # a failure somewhere: each client's own frame, as a client alone
            schema = _schema_check("greeks_schema", "position_greeks", GREEKS_SCHEMA, client_frame)
        symbol_of = client_priced["symbol"].to_dict()
        results[key] = MaterializeResult(
            metadata=readable({"options": int(mine.sum()), "priced": len(rows), "expired": sum(r["is_expired"] for r in rows)}),
            check_results=[schema, _position_coverage_check("position_greeks", m.options,
                                                            {symbol_of[r["position_id"]] for r in rows}, excluded)])
    return results


@_analytics_asset("position_greeks", ["portfolio_positions"],
                  "Black–Scholes–Merton Greeks of every option position as of the as-of date (vectorised).",
                  {
                      "greeks_schema": "Finite Greeks; per-contract delta in [-1, 1]; gamma, vega ≥ 0.",
                      "every_position_accounted": "Every option position has Greeks or is excluded with a reason.",
                  }, summary=["options", "priced", "expired"], batch=_position_greeks_batch)
def position_greeks(engine: Engine, market: ClientMarket, market_data: MarketDataResource) -> MaterializeResult:
    options = market.options
    excluded = {s: "underlying has no price on the as-of date" for s in options.loc[options["spot"].isna(), "symbol"]}
    priced = options[options["spot"].notna()]
    vols = realised_volatility(market.prices[sorted(set(priced["price_symbol"]))], window=63) if len(priced) else pd.Series(dtype=float)
    rows, frame = [], pd.DataFrame({c: pd.Series(dtype=float) for c in GREEKS_SCHEMA.columns})
    if len(priced):
        vol = priced["price_symbol"].map(vols.to_dict()).astype(float)
        for sym in priced.loc[vol.isna(), "symbol"]:
            excluded[sym] = "not enough underlying history for a 63-session realised volatility"
        priced, vol = priced[vol.notna()], vol[vol.notna()]
    quote_notes: dict[str, str] = {}
    if len(priced):
        # Dividend yield per underlying (FMP/Polygon dividends; the file provider has none → 0, flagged) and
        # option quotes (Polygon snapshot) → implied vol; realised 63-session vol is the labelled fallback.
        chain = market_data.chain()
        underlyings = sorted(set(priced["price_symbol"]))
        served, _why = chain.dividends(underlyings, market.as_of - pd.Timedelta(days=400).to_pytimedelta(), market.as_of)
        spot_by_sym = priced.groupby("price_symbol")["spot"].first()
        divs = dividend_yields(underlyings, spot_by_sym.reindex(underlyings).to_numpy(), market.as_of, served)
        q = priced["price_symbol"].map(divs["dividend_yield"].to_dict()).astype(float)
        q_source = priced["price_symbol"].map(divs["dividend_yield_source"].to_dict())
        quotes, quote_fail = chain.option_quotes(list(zip(priced["symbol"], priced["price_symbol"])))
        mid = priced["symbol"].map({k: v.mid for k, v in quotes.items()}).astype(float)
        quote_notes = {k: v[:120] for k, v in list(quote_fail.items())[:5]}
        greeks = compute_option_greeks(
            quantity=priced["quantity"], strike=priced["strike"], expiry=priced["expiration_date"],
            is_call=priced["position_type"].isin(["LC", "SC"]), spot=priced["spot"], as_of=market.as_of,
            rate=market.rate, vol=vol, dividend_yield=q.to_numpy(), market_price=mid.to_numpy(), index=priced.index,
        )
        frame, finite = _greeks_frame(greeks)
        for sym in priced.loc[greeks.index[~finite], "symbol"]:
            excluded[sym] = "non-finite Greeks (not stored)"
        rows = _greeks_rows(greeks[finite], q, q_source, market)
    table = PositionGreeks.__table__
    def store(conn):
        market.replace_as_of(conn, table, rows=rows)
        _value_options(conn, priced, rows)

    market.write(engine, store)
    totals = {k: float(sum(r[k] for r in rows)) for k in ("position_delta", "position_gamma", "position_theta", "position_vega", "delta_dollars")}
    symbol_of = priced["symbol"].to_dict()
    return MaterializeResult(
        metadata=readable({
            "as_of": market.as_of.isoformat(),
            "options": len(options),
            "priced": len(rows),
            "expired": sum(r["is_expired"] for r in rows),
            "risk_free_rate": market.rate,
            "price_source": MetadataValue.json({
                "implied_from_quotes": sum(r["volatility_source"] == VOL_SOURCE_IMPLIED for r in rows),
                "realised_63d_fallback": sum(r["volatility_source"] != VOL_SOURCE_IMPLIED for r in rows),
                "quote_failures (first 5)": quote_notes}),
            "dividend_yield": MetadataValue.json({
                "assumed_0_no_provider_data": sum(r["dividend_yield_source"] == DIVIDEND_SOURCE_NONE for r in rows),
                "from_provider": sum(r["dividend_yield_source"] != DIVIDEND_SOURCE_NONE for r in rows)}),
            "portfolio_option_greeks": MetadataValue.json({k: round(v, 4) for k, v in totals.items()}),
            "greeks_table_rows": f"{min(len(rows), METADATA_TABLE_ROWS):,} of {len(rows):,} (largest |value| first)",
            "greeks": _table(_largest(
                [{"symbol": symbol_of[r["position_id"]], "price": round(r["unit_price"], 4), "delta": round(r["delta"], 4),
                  "vol": round(r["implied_volatility"], 4), "value": round(r["position_value"], 2)} for r in rows], "value"),
                [("symbol", "string"), ("price", "float"), ("delta", "float"), ("vol", "float"), ("value", "float")]),
            "notes": "; ".join(market.notes) or "none",
        }),
        check_results=[
            _schema_check("greeks_schema", "position_greeks", GREEKS_SCHEMA, frame, market),
            _position_coverage_check("position_greeks", options, {symbol_of[r["position_id"]] for r in rows}, excluded),
        ],
    )


def _greeks_rows(greeks: pd.DataFrame, q: pd.Series, q_source: pd.Series, market: ClientMarket) -> list[dict]:
    """Rows of onb_position_greeks (plain Python values) for the positions of ``greeks`` (finite Greeks),
    built column by column; q and q_source: dividend yield and its source by position id."""
    ids = list(greeks.index)
    cols = {k: greeks[k].to_numpy(dtype=float).tolist() for k in (
        "spot", "implied_vol", "price", "delta", "gamma", "theta", "vega", "rho", "position_price", "position_delta",
        "position_gamma", "position_theta", "position_vega", "position_rho", "delta_dollars", "gamma_dollars")}
    sources = greeks["volatility_source"].tolist()
    years = [max(t, 0.0) for t in greeks["time_years"].to_numpy(dtype=float).tolist()]
    expired = [bool(e) for e in greeks["expired"].tolist()]
    yields = q.reindex(greeks.index).to_numpy(dtype=float).tolist()
    yield_sources = [str(v) for v in q_source.reindex(greeks.index).tolist()]
    portfolio_id, as_of, rate = market.client.portfolio_id, market.as_of, market.rate
    return [{
        "position_id": pid, "portfolio_id": portfolio_id, "calculation_date": as_of,
        "underlying_price": cols["spot"][i], "implied_volatility": cols["implied_vol"][i],
        "volatility_source": sources[i], "risk_free_rate": rate,
        "time_to_expiry_years": years[i], "is_expired": expired[i],
        "price_source": "market" if sources[i] == VOL_SOURCE_IMPLIED else "model",
        "dividend_yield": yields[i], "dividend_yield_source": yield_sources[i],
        "unit_price": cols["price"][i], "delta": cols["delta"][i],
        "gamma": cols["gamma"][i], "theta": cols["theta"][i], "vega": cols["vega"][i], "rho": cols["rho"][i],
        "position_value": cols["position_price"][i], "position_delta": cols["position_delta"][i],
        "position_gamma": cols["position_gamma"][i], "position_theta": cols["position_theta"][i],
        "position_vega": cols["position_vega"][i], "position_rho": cols["position_rho"][i],
        "delta_dollars": cols["delta_dollars"][i], "gamma_dollars": cols["gamma_dollars"][i],
        "created_at": utcnow(),
    } for i, pid in enumerate(ids)]


def _value_options(conn, priced: pd.DataFrame, rows: list[dict]) -> None:
    """Model-priced options: last_price (per share), market_value, unrealized_pnl in `positions`."""
    updates = []
    quantity, entry_price = priced["quantity"].to_dict(), priced["entry_price"].to_dict()
    for r in rows:
        pid = r["position_id"]
        price = Decimal(str(round(r["unit_price"], 4)))
        qty = Decimal(str(quantity[pid]))
        updates.append({
            "_id": pid, "last_price": price,
            "market_value": (qty * price * CONTRACT_MULTIPLIER).quantize(Decimal("0.01")),
            "unrealized_pnl": (qty * (price - Decimal(str(entry_price[pid]))) * CONTRACT_MULTIPLIER).quantize(Decimal("0.01")),
        })
    mark_option_positions(conn, updates)


def _exposures(engine, market: ClientMarket) -> pd.DataFrame:
    """Per position: market value ($, signed) and exposure ($: market value, or delta dollars for options)."""
    mv, dd = market.per_client("market_values_and_delta_dollars",
                               lambda ids: market_values_and_delta_dollars(engine, ids, market.as_of))
    out = market.positions[["symbol", "price_symbol", "is_option", "tags"]].copy()
    out["market_value"] = [float(mv[p]) if mv.get(p) is not None else np.nan for p in out.index]
    option_dd = pd.Series([dd.get(p, np.nan) for p in out.index], index=out.index, dtype=float)
    out["exposure"] = option_dd.where(out["is_option"].astype(bool), out["market_value"])
    return out


# --------------------------------------------------------------------------- factor_exposures

FACTOR_SCHEMA = pa.DataFrameSchema(
    {
        "beta": pa.Column(float, nullable=True, checks=pa.Check(lambda s: s.isna() | np.isfinite(s), element_wise=False, name="finite or null")),
        "quality_flag": pa.Column(str, pa.Check.isin(["full_history", "limited_history", "insufficient_history", "degenerate", "perfect_fit"])),
    }
)


def _factor_rows(merged: pd.DataFrame, factor_ids: dict[str, int], model: str) -> pd.DataFrame:
    """Rows of onb_position_factor_exposures, the columns that vary by row (the constant ones are added when written):
    ``merged`` is positions (position_id, exposure $) merged on their price symbol with the long betas of ``model``."""
    return pd.DataFrame({
        "position_id": merged["position_id"],
        "factor_id": merged["factor"].map(factor_ids),
        "model": model,
        "exposure_value": _nullable(merged["beta"]),
        "t_stat": _nullable(merged["t_stat"]),
        "r_squared": _nullable(merged["r2"]),
        "n_obs": merged["n_obs"].astype(int),
        "quality_flag": merged["quality_flag"],
        "extreme_beta": merged["extreme_beta"].astype(bool),
        "exposure_dollars": _nullable(merged["exposure"] * merged["beta"]),
    })


@dataclass
class _BatchPositions:
    """Every position of the clients of a multi-client run, in run order (each client's in its own order), with
    what `_exposures` gives one client: market value and exposure ($, signed; delta dollars for options)."""
    frame: pd.DataFrame  # index position id: symbol, price_symbol, is_option, quantity, spot
    client: np.ndarray  # each position's client, 0 .. clients − 1
    bounds: np.ndarray  # client g's positions are rows bounds[g] : bounds[g + 1]
    market_value: np.ndarray  # NaN: none stored
    option_delta_dollars: np.ndarray  # NaN: not an option, or no Greeks stored
    exposure: np.ndarray
    is_option: np.ndarray


def _batch_positions(engine: Engine, ms: list[ClientMarket]) -> _BatchPositions:
    first = ms[0]
    values = first.shared("market_values_and_delta_dollars",  # the memo `_exposures` reads, one query for every client
                          lambda: market_values_and_delta_dollars(engine, first.batch.portfolio_ids, first.as_of))
    frame = pd.concat([m.positions[["symbol", "price_symbol", "is_option", "quantity", "spot"]] for m in ms])
    sizes = np.array([len(m.positions) for m in ms])
    market_value, option_dd = {}, {}
    for m in ms:
        mv, dd = values[m.client.portfolio_id]
        market_value.update(mv)
        option_dd.update(dd)
    ids = list(frame.index)
    is_option = frame["is_option"].astype(bool).to_numpy()
    mv = np.array([float(market_value[p]) if market_value.get(p) is not None else np.nan for p in ids])
    dd = np.array([option_dd.get(p, np.nan) for p in ids], dtype=float)
    return _BatchPositions(frame, np.repeat(np.arange(len(ms)), sizes), np.concatenate([[0], np.cumsum(sizes)]),
                           mv, np.where(is_option, dd, np.nan), np.where(is_option, dd, mv), is_option)


def _factor_exposures_batch(engine: Engine, markets: dict[str, ClientMarket], market_data: MarketDataResource) -> dict[str, MaterializeResult]:
    """`factor_exposures` of every client of a multi-client run at once: one frame of all their positions, one
    merge per model with the union's betas, the portfolio and desk figures of every client in one pass
    (`grouped_factor_exposures`, `grouped_desk_exposures`), one pandera validation of the union's betas. Stores the
    rows `factor_exposures` stores client by client (each client's own slice, through its `write`); returns per
    client the `summary` metadata and the same check results."""
    ms = list(markets.values())
    first = ms[0]
    as_of, now = first.as_of, utcnow()
    single, multi, diagnostics = first.per_symbol("factor_betas", _factor_betas)  # the union's, once per run
    factor_ids = first.shared("factor_ids", lambda: _factor_ids(engine))
    deltas_of = first.shared("option_deltas", lambda: option_deltas(engine, first.batch.portfolio_ids, as_of))
    option_delta = {}
    for m in ms:
        option_delta.update(deltas_of[m.client.portfolio_id])
    book = _batch_positions(engine, ms)
    positions, group, bounds, ids = book.frame, book.client, book.bounds, list(book.frame.index)
    is_option, mv, dd, exposure = book.is_option, book.market_value, book.option_delta_dollars, book.exposure
    price_symbol = positions["price_symbol"].to_numpy()

    mv_or_0 = np.where(np.isnan(mv), 0.0, mv)
    # position × factor rows, per model: clients in run order, each client's positions in its own order
    frame = pd.DataFrame({"position_id": ids, "price_symbol": price_symbol, "exposure": exposure, "client": group})
    rows, portfolio_rows = [], [[] for _ in ms]
    for model, betas in (("single", single), ("multivariate", multi)):
        merged = frame.merge(betas, left_on="price_symbol", right_on="symbol", how="inner")
        rows.append(_factor_rows(merged, factor_ids, model).assign(client=merged["client"].to_numpy()))
        # the portfolio figures: options by their delta dollars (market value when they have none), as in
        # `portfolio_factor_exposure`, on the union's wide betas (what a batch has always used)
        wide = first.shared(f"factor_betas_wide_{model}", lambda b=betas: betas_wide(b))
        figures = grouped_factor_exposures(np.where(is_option & ~np.isnan(dd), dd, mv_or_0), mv_or_0,
                                           wide.reindex(price_symbol).to_numpy(dtype=float), group, len(ms))
        for g, m in enumerate(ms):
            for f, factor in enumerate(wide.columns):
                beta_gross = _clean(figures["beta_gross"][g, f])
                portfolio_rows[g].append({
                    "portfolio_id": m.client.portfolio_id, "factor_id": factor_ids[factor], "calculation_date": as_of,
                    "model": model, "exposure_value": beta_gross or 0.0,
                    "exposure_dollar": _clean(figures["dollar_exposure"][g, f]) or 0.0, "beta_gross": beta_gross or 0.0,
                    "beta_net": _clean(figures["beta_net"][g, f]), "created_at": utcnow(),
                })
    rows = pd.concat(rows, ignore_index=True).sort_values("client", kind="stable")
    row_bounds = np.searchsorted(rows["client"].to_numpy(), np.arange(len(ms) + 1))
    columns = _columns(rows.drop(columns="client"))

    market_beta = single[single["factor"] == "Market"].set_index("symbol")["beta"]
    desk, desk_ports = grouped_desk_exposures(pd.DataFrame({
        "underlying_symbol": price_symbol, "quantity": positions["quantity"].astype(float).to_numpy(),
        "spot": positions["spot"].astype(float).to_numpy(), "is_option": is_option,
        "option_delta": [option_delta.get(p, np.nan) for p in ids]}, index=positions.index), market_beta, group, len(ms))
    desk_columns = {"position_id": ids, "underlying_symbol": [str(u) for u in price_symbol],
                    **{c: _nullable(desk[c]).tolist() for c in ("share_delta", "dollar_delta", "market_beta", "beta_adjusted_dollar_delta")}}

    # the checks: the union's betas validated once (every row of a client's frame is a row of it); every position
    # accounted when its price symbol has rows in either model
    schema_ok = _passes(FACTOR_SCHEMA, pd.concat([single[["beta", "quality_flag"]], multi[["beta", "quality_flag"]]]))
    rows_per_symbol = single["symbol"].value_counts().add(multi["symbol"].value_counts(), fill_value=0)
    with_rows = set(rows_per_symbol.index)
    pt, ft = PositionFactorExposure.__table__, FactorExposure.__table__
    et, pe = PositionExposure.__table__, PortfolioExposure.__table__
    condition = round(float(diagnostics.collinearity.condition_number), 2)
    results = {}
    for g, (key, m) in enumerate(markets.items()):
        lo, hi = int(row_bounds[g]), int(row_bounds[g + 1])
        a, b = int(bounds[g]), int(bounds[g + 1])
        client_rows = {k: v[lo:hi] for k, v in columns.items()}
        client_desk = {k: v[a:b] for k, v in desk_columns.items()}
        desk_port = {"portfolio_id": m.client.portfolio_id, "calculation_date": as_of, "created_at": now,
                     **{k: (int(v) if k == "n_positions_missing_beta" else float(v)) for k, v in asdict(desk_ports[g]).items()}}

        def store(conn, m=m, client_rows=client_rows, client_desk=client_desk, port_rows=portfolio_rows[g], desk_port=desk_port):
            n, k = len(client_rows["position_id"]), len(client_desk["position_id"])
            m.replace_as_of(conn, pt, columns={"portfolio_id": [m.client.portfolio_id] * n, "calculation_date": [as_of] * n,
                                               **client_rows, "created_at": [now] * n})
            m.replace_as_of(conn, ft, rows=port_rows)
            m.replace_as_of(conn, et, columns={"portfolio_id": [m.client.portfolio_id] * k, "calculation_date": [as_of] * k,
                                               **client_desk, "created_at": [now] * k})
            m.replace_as_of(conn, pe, rows=[desk_port])

        m.write(engine, store)
        symbols = m.price_symbols
        if schema_ok:
            schema = _schema_passed("factor_schema", "factor_exposures", int(rows_per_symbol.reindex(symbols).fillna(0).sum()))
        else:  # a failure somewhere: each client's own frame, as a client alone
            schema = _schema_check("factor_schema", "factor_exposures", FACTOR_SCHEMA, pd.concat([
                single.loc[single["symbol"].isin(symbols), ["beta", "quality_flag"]],
                multi.loc[multi["symbol"].isin(symbols), ["beta", "quality_flag"]]]))
        present = {sym for sym, ps in zip(m.positions["symbol"], m.positions["price_symbol"]) if ps in with_rows}
        results[key] = MaterializeResult(
            metadata=readable({"positions": len(m.positions), "design_condition_number": condition}),
            check_results=[schema, _position_coverage_check("factor_exposures", m.positions, present, {})])
    return results


@_analytics_asset("factor_exposures", ["position_greeks"],
                  "Single-factor and multivariate (SPY + style spreads) betas of all positions, and portfolio dollar exposures.",
                  {
                      "factor_schema": "Betas finite (or NULL with a quality flag); flags from the allowed set.",
                      "every_position_accounted": "Every position has factor rows (options via their underlying) or a reason.",
                  }, summary=["positions", "design_condition_number"], batch=_factor_exposures_batch)
def factor_exposures(engine: Engine, market: ClientMarket, market_data: MarketDataResource) -> MaterializeResult:
    single, multi, diagnostics = market.per_symbol("factor_betas", _factor_betas)  # a multi-client run: `_factor_exposures_batch`
    expo = _exposures(engine, market)
    factor_ids = market.shared("factor_ids", lambda: _factor_ids(engine))
    frames, portfolio_rows = [], []
    positions = expo[["price_symbol", "exposure"]].rename_axis("position_id").reset_index()
    now = utcnow()
    for model, betas in (("single", single), ("multivariate", multi)):
        # one row per position × factor: a merge on the symbol the position's risk is measured on
        merged = positions.merge(betas, left_on="price_symbol", right_on="symbol", how="inner")
        frames.append(_factor_rows(merged, factor_ids, model))
        port = portfolio_factor_exposure(expo["market_value"].fillna(0.0), betas, option_delta_dollars=expo["exposure"].where(expo["is_option"]),
                                         beta_symbol=expo["price_symbol"])
        for factor, p in port.iterrows():
            portfolio_rows.append({
                "portfolio_id": market.client.portfolio_id, "factor_id": factor_ids[factor], "calculation_date": market.as_of,
                "model": model, "exposure_value": _clean(p["beta_gross"]) or 0.0, "exposure_dollar": _clean(p["dollar_exposure"]) or 0.0,
                "beta_gross": _clean(p["beta_gross"]) or 0.0, "beta_net": _clean(p["beta_net"]), "created_at": utcnow(),
            })
        if model == "multivariate":
            multi_port = port
    rows = pd.concat(frames, ignore_index=True)
    desk_rows, desk_port, by_underlying = _desk_exposure_rows(engine, market, single, now)
    pt, ft = PositionFactorExposure.__table__, FactorExposure.__table__
    et, pe = PositionExposure.__table__, PortfolioExposure.__table__
    def store(conn):
        n = len(rows)
        market.replace_as_of(conn, pt, columns={
            "portfolio_id": [market.client.portfolio_id] * n, "calculation_date": [market.as_of] * n,
            **_columns(rows), "created_at": [now] * n})
        market.replace_as_of(conn, ft, rows=portfolio_rows)
        market.replace_as_of(conn, et, columns=desk_rows)
        market.replace_as_of(conn, pe, rows=[desk_port])

    market.write(engine, store)
    flags = multi.drop_duplicates("symbol")["quality_flag"].value_counts().to_dict()
    extreme = sorted(set(multi.loc[multi["extreme_beta"], "symbol"]) | set(single.loc[single["extreme_beta"], "symbol"]))
    collinearity = diagnostics.collinearity
    top = multi_port.reindex(multi_port["dollar_exposure"].abs().sort_values(ascending=False).index)
    return MaterializeResult(
        metadata=readable({
            "as_of": market.as_of.isoformat(),
            "positions": len(expo),
            "window_sessions": FACTOR_WINDOW,
            "portfolio_exposure_multivariate": _table(
                [{"factor": f, "dollars": round(float(r["dollar_exposure"]), 2), "beta_gross": round(float(r["beta_gross"]), 4),
                  "beta_net": round(float(r["beta_net"]), 4) if np.isfinite(r["beta_net"]) else None} for f, r in top.iterrows()],
                [("factor", "string"), ("dollars", "float"), ("beta_gross", "float"), ("beta_net", "float")]),
            "desk_exposure_usd": MetadataValue.json({k: (round(v, 2) if isinstance(v, float) else v) for k, v in desk_port.items()
                                                     if k not in ("portfolio_id", "calculation_date", "created_at")}),
            "share_delta_table_rows": f"{min(len(by_underlying), METADATA_TABLE_ROWS):,} of {len(by_underlying):,} (largest |dollar delta| first)",
            "share_delta_by_underlying": _table(_largest(
                [{"underlying": u, "share_delta": round(float(sd), 2), "dollar_delta": round(float(dd), 2)}
                 for u, sd, dd in zip(by_underlying.index, by_underlying["share_delta"].to_numpy(float), by_underlying["dollar_delta"].to_numpy(float))],
                "dollar_delta"),
                [("underlying", "string"), ("share_delta", "float"), ("dollar_delta", "float")]),
            "factor_model": diagnostics.method,
            "vif_spread_model (former design, for comparison)": MetadataValue.json({k: round(float(v), 2) for k, v in diagnostics.vif_spread_model.items()}),
            "design_condition_number": round(float(collinearity.condition_number), 2),
            "vif": MetadataValue.json({k: round(float(v), 2) for k, v in collinearity.vif.items()}),
            "max_raw_etf_correlation": round(float(collinearity.max_raw_etf_correlation), 4),
            "quality_flags": MetadataValue.json({k: int(v) for k, v in flags.items()}),
            "extreme_beta_symbols (flagged, not clipped)": ", ".join(extreme) or "none",
        }),
        check_results=[
            _schema_check("factor_schema", "factor_exposures", FACTOR_SCHEMA,
                          pd.concat([single[["beta", "quality_flag"]], multi[["beta", "quality_flag"]]]), market),
            _position_coverage_check("factor_exposures", market.positions, set(expo.loc[expo.index.isin(set(rows["position_id"])), "symbol"]), {}),
        ],
    )


def _factor_betas(prices: pd.DataFrame, symbols: list[str]):
    """(single-factor betas, multivariate betas, design diagnostics) of `symbols` on the factor ETFs, long frames
    with a `symbol` column (each symbol's regression uses only its own column)."""
    returns = simple_returns(prices)
    asset_returns = returns.reindex(columns=symbols)
    etf_returns = returns[list(FACTOR_ETFS.values())]
    single = single_factor_betas(asset_returns, etf_returns, window=FACTOR_WINDOW)
    multi, diagnostics = multivariate_betas(asset_returns, etf_returns, window=FACTOR_WINDOW)
    return single, multi, diagnostics


def _desk_exposure_rows(engine, market: ClientMarket, single: pd.DataFrame, now) -> tuple[dict[str, list], dict, pd.DataFrame]:
    """Rows of onb_position_exposures column by column: dollar delta, beta-adjusted dollar delta (single-factor SPY beta) per position and the portfolio's
    delta-adjusted gross/net (``analytics/exposures.py``). Options use the stored per-share delta."""
    deltas = market.per_client("option_deltas", lambda ids: option_deltas(engine, ids, market.as_of))
    pos = market.positions
    frame = pd.DataFrame({
        "underlying_symbol": pos["price_symbol"], "quantity": pos["quantity"].astype(float), "spot": pos["spot"].astype(float),
        "is_option": pos["is_option"].astype(bool), "option_delta": [deltas.get(p, np.nan) for p in pos.index],
    }, index=pos.index)
    beta = single[single["factor"] == "Market"].set_index("symbol")["beta"]
    per, port, by = desk_exposures(frame, beta)
    n = len(per)
    rows = {  # column by column
        "position_id": list(per.index), "portfolio_id": [market.client.portfolio_id] * n, "calculation_date": [market.as_of] * n,
        "underlying_symbol": [str(u) for u in per["underlying_symbol"]],
        **{c: _nullable(per[c]).tolist() for c in ("share_delta", "dollar_delta", "market_beta", "beta_adjusted_dollar_delta")},
        "created_at": [now] * n,
    }
    port_row = {"portfolio_id": market.client.portfolio_id, "calculation_date": market.as_of, "created_at": now,
                **{k: (int(v) if k == "n_positions_missing_beta" else float(v)) for k, v in asdict(port).items()}}
    return rows, port_row, by


# --------------------------------------------------------------------------- interest_rate_betas

RATE_BETA_SCHEMA = pa.DataFrameSchema({"rate_beta": pa.Column(float, nullable=True),
                                       "r2": pa.Column(float, pa.Check.in_range(0, 1), nullable=True)})


def _rate_beta_frame(position_ids, portfolio_id, as_of, betas: pd.DataFrame, exposure, repriced: pd.Series) -> pd.DataFrame:
    """Rows of onb_position_interest_rate_betas but created_at: per position, its (underlying's) row of `_rate_betas`
    (``betas``), its exposure ($, signed; delta dollars for options) and its repriced +100 bp P&L ($); portfolio_id
    one value or one per position."""
    exposure = pd.Series(np.asarray(exposure, dtype=float))
    return pd.DataFrame({
        "position_id": position_ids,
        "portfolio_id": portfolio_id,
        "calculation_date": as_of,
        "rate_beta": _nullable(betas["rate_beta"]).to_numpy(),
        "r_squared": _nullable(betas["r2"]).to_numpy(),
        "t_stat": _nullable(betas["t_stat"]).to_numpy(),
        "n_obs": betas["n_obs"].fillna(0).astype(int).to_numpy(),
        "quality_flag": betas["quality_flag"].fillna("insufficient_history").to_numpy(),
        "low_significance": betas["low_significance"].fillna(True).astype(bool).to_numpy(),
        "tlt_beta": _nullable(betas["tlt_beta"]).to_numpy(),
        "tlt_r_squared": _nullable(betas["tlt_r2"]).to_numpy(),
        "exposure_dollars": _nullable(exposure).to_numpy(),
        "pnl_up_100bp": _nullable(exposure * betas["rate_beta"].to_numpy() * 100).to_numpy(),
        "pnl_up_100bp_repriced": _nullable(repriced).to_numpy(),
    })


def _interest_rate_betas_batch(engine: Engine, markets: dict[str, ClientMarket], market_data: MarketDataResource) -> dict[str, MaterializeResult]:
    """`interest_rate_betas` of every client of a multi-client run at once: the union's betas (computed once), every
    position's row and +100 bp repricing in one pass, one pandera validation. Each client's rows go through its own
    write; returns per client the `summary` metadata and the same check results."""
    ms = list(markets.values())
    first = ms[0]
    betas = first.per_symbol("rate_betas", _rate_betas)
    book = _batch_positions(engine, ms)
    inputs_of = first.shared("option_pricing_inputs", lambda: option_pricing_inputs(engine, first.batch.portfolio_ids, first.as_of))
    expo = pd.DataFrame({"market_value": book.market_value}, index=book.frame.index)
    b = betas.reindex(book.frame["price_symbol"].to_numpy())  # the underlying's betas for options
    repriced = _repriced(expo, pd.concat([m.options for m in ms]), [r for m in ms for r in inputs_of[m.client.portfolio_id]],
                         b["rate_beta"].to_numpy(), 100.0)
    cols = _columns(_rate_beta_frame(expo.index, [ms[g].client.portfolio_id for g in book.client], first.as_of, b,
                                     book.exposure, repriced))
    schema_ok = _passes(RATE_BETA_SCHEMA, pd.DataFrame({"rate_beta": cols["rate_beta"], "r2": cols["r_squared"]}, dtype=float))
    table, now = PositionInterestRateBeta.__table__, utcnow()
    results = {}
    for g, (key, m) in enumerate(markets.items()):
        lo, hi = int(book.bounds[g]), int(book.bounds[g + 1])
        client_cols = {**{k: v[lo:hi] for k, v in cols.items()}, "created_at": [now] * (hi - lo)}
        m.write(engine, lambda conn, m=m, client_cols=client_cols: m.replace_as_of(conn, table, columns=client_cols))
        frame = pd.DataFrame({"rate_beta": client_cols["rate_beta"], "r2": client_cols["r_squared"]}, dtype=float)
        schema = (_schema_passed("rate_beta_schema", "interest_rate_betas", len(frame)) if schema_ok
                  else _schema_check("rate_beta_schema", "interest_rate_betas", RATE_BETA_SCHEMA, frame))
        results[key] = MaterializeResult(metadata=readable({"positions": len(frame)}), check_results=[
            schema, _position_coverage_check("interest_rate_betas", m.positions, set(m.positions["symbol"]), {})])
    return results


@_analytics_asset("interest_rate_betas", ["position_greeks"],
                  "OLS of position returns on daily 10-year yield changes in basis points (^TNX Δ × 100) and on TLT.",
                  {
                      "rate_beta_schema": "Rate betas finite or NULL with a flag; R² in [0, 1].",
                      "every_position_accounted": "Every position has a rate-beta row (options via their underlying).",
                  }, summary=["positions"], batch=_interest_rate_betas_batch)
def interest_rate_betas_asset(engine: Engine, market: ClientMarket, market_data: MarketDataResource) -> MaterializeResult:
    betas = market.per_symbol("rate_betas", _rate_betas)  # a multi-client run: `_interest_rate_betas_batch`
    expo = _exposures(engine, market)
    b = betas.reindex(expo["price_symbol"].to_numpy())  # the underlying's betas for options
    repriced = _repriced_rate_shock(engine, market, expo, b["rate_beta"].to_numpy(), 100.0)
    frame = _rate_beta_frame(expo.index, market.client.portfolio_id, market.as_of, b, expo["exposure"], repriced)
    cols = {**_columns(frame), "created_at": [utcnow()] * len(frame)}
    t = PositionInterestRateBeta.__table__
    market.write(engine, lambda conn: market.replace_as_of(conn, t, columns=cols))
    exposure_by_symbol = expo.groupby("price_symbol")["exposure"].sum()
    shocks = portfolio_rate_shock_pnl(exposure_by_symbol, betas, [-300, -100, -25, 25, 100, 300])
    repriced_total = float(np.nansum(repriced.to_numpy()))
    weak = {f"{bp:+d}bp": {k: (round(v, 4) if k == "share_low_significance" else round(v, 2))
                           for k, v in asdict(rate_shock_significance(exposure_by_symbol, betas, bp)).items() if k != "shock_bp"}
            for bp in (-300, 300)}
    frame = pd.DataFrame({"rate_beta": cols["rate_beta"], "r2": cols["r_squared"]}, dtype=float)
    return MaterializeResult(
        metadata=readable({
            "as_of": market.as_of.isoformat(),
            "positions": len(frame),
            "portfolio_pnl_by_shock_bp": MetadataValue.json({f"{int(k):+d}bp": round(float(v), 2) for k, v in shocks.items()}),
            "units": "rate_beta = decimal return per +1 bp of the 10-year yield; P&L in dollars",
            "low_significance_positions (|t| < 2)": sum(map(bool, cols["low_significance"])),
            "pnl_resting_on_low_significance_betas": MetadataValue.json(weak),
            "+100bp: delta approximation vs full reprice (stress treatment)": MetadataValue.json({
                "pnl_up_100bp (exposure × beta × 100, no option rho/gamma)": round(float(shocks.loc[100.0]), 2),
                "pnl_up_100bp_repriced (options repriced, rate +1 %)": round(repriced_total, 2)}),
        }),
        check_results=[
            _schema_check("rate_beta_schema", "interest_rate_betas", RATE_BETA_SCHEMA, frame, market),
            _position_coverage_check("interest_rate_betas", market.positions, set(expo["symbol"]), {}),  # a row per position
        ],
    )


def _rate_betas(prices: pd.DataFrame, symbols: list[str]) -> pd.DataFrame:
    """Rate betas of `symbols` (index) on ^TNX changes and TLT (each symbol's regression uses only its column)."""
    returns = simple_returns(prices)
    return interest_rate_betas(returns.reindex(columns=symbols), prices["^TNX"], returns["TLT"], window=FACTOR_WINDOW)


def _repriced_rate_shock(engine, market: ClientMarket, expo: pd.DataFrame, rate_beta: np.ndarray, shock_bp: float) -> pd.Series:
    """+shock_bp P&L per position in the STRESS treatment (``analytics/stress.py``): stock/ETF = market value ×
    max(rate_beta × bp, −1); option = full Black–Scholes–Merton revaluation with the underlying moved by its
    rate beta × bp (floored at −100 %) AND the rate input shifted by bp/10 000, same T, vol and q as the stored
    Greeks. ``pnl_up_100bp`` (exposure × beta × bp) is the delta approximation without rho; the two are stored
    side by side, named, so the rate-beta table and the +100 bp stress reconcile."""
    inputs = market.per_client("option_pricing_inputs", lambda ids: option_pricing_inputs(engine, ids, market.as_of))
    return _repriced(expo, market.options, inputs, rate_beta, shock_bp)


def _repriced(expo: pd.DataFrame, opts: pd.DataFrame, inputs: list, rate_beta: np.ndarray, shock_bp: float) -> pd.Series:
    """`_repriced_rate_shock` of the positions of ``expo`` (market_value by position id), their options ``opts`` and
    the options' stored pricing inputs (`option_pricing_inputs` rows)."""
    move = np.maximum(np.nan_to_num(rate_beta) * shock_bp, -1.0)
    out = pd.Series(expo["market_value"].to_numpy(dtype=float) * move, index=expo.index)
    rows = [r for r in inputs
            if r.position_id in out.index and r.position_id in opts.index]
    if not rows:
        return out
    ids = [r.position_id for r in rows]
    o = opts.loc[ids]
    at = expo.index.get_indexer(ids)
    spot, t, rate, vol = (np.array([getattr(r, k) for r in rows], dtype=float)
                          for k in ("underlying_price", "time_to_expiry_years", "risk_free_rate", "implied_volatility"))
    q = np.array([r.dividend_yield or 0.0 for r in rows], dtype=float)
    strike, call = o["strike"].to_numpy(dtype=float), o["position_type"].isin(CALL_TYPES).to_numpy()
    base = black_scholes(spot, strike, t, rate, vol, q, call)["price"]
    shocked = black_scholes(spot * (1.0 + move[at]), strike, t, rate + shock_bp / 10_000.0, vol, q, call)["price"]
    out.iloc[at] = o["quantity"].to_numpy(dtype=float) * CONTRACT_MULTIPLIER * (shocked - base)
    return out


# --------------------------------------------------------------------------- correlations

@_analytics_asset("correlations", ["position_greeks"],
                  "90-session Pearson correlations of log returns for the material positions, clusters and concentration.",
                  {
                      "correlations_bounded": "Stored correlations are finite and in [-1, 1]; p-values in [0, 1].",
                      "every_position_accounted": "Every position is in the correlation set or excluded with a reason.",
                  }, summary=["positions_included", "pairs_stored", "average_correlation", "effective_positions"])
def correlations(engine: Engine, market: ClientMarket, market_data: MarketDataResource) -> MaterializeResult:
    expo = _exposures(engine, market)
    excluded = {s: "option: its risk is measured on the underlying" for s in expo.loc[expo["is_option"], "symbol"]}
    equities = expo[~expo["is_option"]]
    mv = pd.Series(equities["market_value"].to_numpy(), index=equities["symbol"].to_numpy())
    included, reasons = filter_positions(mv)
    excluded.update(reasons)
    lr = log_returns(market.prices.reindex(columns=included))
    corr, counts, pvals = correlation_matrix(lr, window=CORRELATION_WINDOW, min_overlap=20)
    tags = dict(zip(equities["symbol"], equities["tags"]))
    clusters = find_clusters(corr, threshold=0.7, tags=tags)
    conc = concentration_metrics(mv.reindex(included), corr)
    iu = np.triu_indices(len(included), k=1)
    c, n, p = corr.to_numpy()[iu], counts.to_numpy()[iu], pvals.to_numpy()[iu]
    ok = np.isfinite(c) & np.isfinite(p)
    calc_id = uuid.uuid5(market.client.portfolio_id, f"correlations:{market.as_of.isoformat()}")  # stable per date
    pos_id = dict(zip(equities["symbol"], equities.index))
    gross = float(np.nansum(np.abs(mv.to_numpy())))
    calc = {
        "id": calc_id, "portfolio_id": market.client.portfolio_id, "calculation_date": market.as_of,
        "duration_days": CORRELATION_WINDOW, "min_overlap": 20,
        "overall_correlation": _clean(np.nanmean(c)) if len(c) and np.isfinite(c).any() else None,
        "correlation_concentration_score": _clean(conc.concentration_score),
        "effective_positions": _clean(conc.effective_positions),
        "positions_included": len(included), "positions_excluded": len(excluded), "excluded": excluded,
        "created_at": utcnow(),
    }
    syms = np.asarray(included, dtype=object)
    pairs = [
        {"correlation_calculation_id": calc_id, "symbol_1": a, "symbol_2": b, "correlation_value": float(v), "data_points": int(k), "p_value": float(q)}
        for a, b, v, k, q in zip(syms[iu[0]][ok], syms[iu[1]][ok], c[ok], n[ok], p[ok])
    ]
    cluster_rows, member_rows = [], []
    for cl in clusters:
        cid = uuid.uuid5(calc_id, f"cluster:{cl.cluster_id}")
        total = float(sum(abs(mv[s]) for s in cl.symbols))
        cluster_rows.append({"id": cid, "correlation_calculation_id": calc_id, "cluster_number": cl.cluster_id,
                             "nickname": cl.nickname, "avg_correlation": float(cl.avg_correlation),
                             "total_value": total, "portfolio_percentage": total / gross if gross else 0.0})
        member_rows += [{"cluster_id": cid, "position_id": pos_id[s], "symbol": s, "value": float(mv[s]),
                         "portfolio_percentage": abs(float(mv[s])) / gross if gross else 0.0} for s in cl.symbols]
    market.write(engine, lambda conn: market.replace_correlations(conn, calc, pairs, cluster_rows, member_rows))
    values = np.array([r["correlation_value"] for r in pairs])
    pv = np.array([r["p_value"] for r in pairs])
    bounded = bool(np.all(np.isfinite(values)) and np.all(np.abs(values) <= 1 + 1e-12) and np.all((pv >= 0) & (pv <= 1)))
    strongest = sorted(pairs, key=lambda r: -abs(r["correlation_value"]))[:10]
    return MaterializeResult(
        metadata=readable({
            "as_of": market.as_of.isoformat(),
            "window_sessions": CORRELATION_WINDOW,
            "positions_included": len(included),
            "positions_excluded": _excluded_summary(excluded),
            "pairs_stored": len(pairs),
            "average_correlation": calc["overall_correlation"],
            "effective_positions": calc["effective_positions"],
            "clusters": _table([{"cluster": c.nickname, "members": ", ".join(c.symbols), "avg_corr": round(c.avg_correlation, 3)} for c in clusters],
                               [("cluster", "string"), ("members", "string"), ("avg_corr", "float")]),
            "strongest_pairs": _table([{"pair": f"{r['symbol_1']}/{r['symbol_2']}", "rho": round(r["correlation_value"], 3)} for r in strongest],
                                      [("pair", "string"), ("rho", "float")]),
        }),
        check_results=[
            AssetCheckResult(asset_key="correlations", check_name="correlations_bounded", passed=bounded, metadata=readable({"pairs": len(pairs)})),
            _position_coverage_check("correlations", market.positions, set(included), excluded),
        ],
    )
