"""Prices from a local file: a Parquet file (or folder of Parquet files), or a CSV file / folder
of CSV files, in long form: ``date, symbol, adj_close`` and optionally ``open, high, low, close,
volume``. Missing optional columns come back as NaN.

Only the requested symbols and dates are read: Parquet through pyarrow filters (row-group
statistics and predicate push-down), CSV streamed batch by batch and filtered on the fly.

Class-share spellings are aliases (BRK.B <-> BRK-B): the exact spelling wins when both exist; rows
come back under the spelling asked for. A symbol with any non-finite / non-positive adj_close (or
non-positive OHLC, negative volume, conflicting duplicate dates) in range fails as a whole.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from dagster import ConfigurableResource

from .base import PRICE_COLUMNS, ProviderResult, check_range, concat_prices, empty_prices, normalize_symbols, symbol_aliases

REQUIRED_COLUMNS = ("date", "symbol", "adj_close")
OPTIONAL_COLUMNS = ("open", "high", "low", "close", "volume")
_CSV_SUFFIXES = (".csv", ".csv.gz")


def _is_csv(path: Path) -> bool:
    return path.name.lower().endswith(_CSV_SUFFIXES)


class FileProvider(ConfigurableResource):
    """Local market-data file (SIGMASIGHT_MARKET_DATA_FILE); rows are labelled 'file'."""

    name: ClassVar[str] = "file"

    path: str

    @property
    def basename(self) -> str:
        return Path(self.path).name

    def daily_prices(self, symbols: Sequence[str], start: date, end: date) -> ProviderResult:
        check_range(start, end)
        wanted = normalize_symbols(symbols)
        if not wanted:
            return ProviderResult(concat_prices([]), {})
        source = Path(self.path).expanduser()
        if not source.exists():
            reason = f"market data file {source.name} does not exist"
            return ProviderResult(concat_prices([]), {s: reason for s in wanted})
        candidates = sorted({alias for sym in wanted for alias in symbol_aliases(sym)})
        raw = self._read(source, candidates, start, end)
        prices, failures = _validated_table(raw, wanted, self.name)
        out = {}
        for sym in wanted:
            if sym in failures:
                reason = failures[sym]
                out[sym] = f"{reason} in {source.name}" if reason else f"not in market data file {source.name} (no rows {start}..{end})"
        return ProviderResult(prices, out)

    # --- reading ---------------------------------------------------------------------------------

    def _read(self, source: Path, candidates: list[str], start: date, end: date) -> pd.DataFrame:
        if source.is_dir():
            csvs = sorted(p for p in source.iterdir() if p.is_file() and _is_csv(p))
            if csvs:
                tables = [_read_csv(p, candidates, start, end) for p in csvs]
                return _to_pandas(pa.concat_tables(tables, promote_options="default") if tables else None)
            if not any(p.is_file() and p.name.lower().endswith(".parquet") for p in source.rglob("*")):
                raise ValueError(f"market data folder {source.name} holds no CSV or Parquet files")
            return _to_pandas(_read_parquet(source, candidates, start, end))
        if _is_csv(source):
            return _to_pandas(_read_csv(source, candidates, start, end))
        return _to_pandas(_read_parquet(source, candidates, start, end))


def _read_parquet(source: Path, candidates: list[str], start: date, end: date) -> pa.Table:
    dataset = ds.dataset(str(source), format="parquet")
    names = set(dataset.schema.names)
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise ValueError(f"market data file {source.name} lacks column(s) {missing}")
    columns = list(REQUIRED_COLUMNS) + [c for c in OPTIONAL_COLUMNS if c in names]
    date_filters = _date_filters(dataset.schema.field("date").type, start, end)
    if source.is_file():
        groups = _row_groups_holding(source, candidates)
        if groups is not None:  # decode only the row groups whose symbol range holds a candidate
            table = pq.ParquetFile(str(source)).read_row_groups(groups, columns=columns)
            expr = pc.field("symbol").isin(candidates)
            for name, op, value in date_filters:
                field = pc.field(name)
                expr = expr & {">=": field >= value, "<=": field <= value, "<": field < value}[op]
            return table.filter(expr)
    return pq.read_table(
        str(source),
        columns=columns,
        filters=[("symbol", "in", candidates), *date_filters],
    )


def _row_groups_holding(source: Path, candidates: list[str]) -> list[int] | None:
    """Row groups whose symbol statistics (min..max) contain a candidate; None without statistics."""
    import bisect

    meta = pq.ParquetFile(str(source)).metadata
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    if "symbol" not in names:
        return None
    col = names.index("symbol")
    wanted = sorted(candidates)
    groups = []
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(col).statistics
        if stats is None or not stats.has_min_max or not isinstance(stats.min, str):
            return None
        j = bisect.bisect_left(wanted, stats.min)
        if j < len(wanted) and wanted[j] <= stats.max:
            groups.append(i)
    return groups


def _date_filters(date_type: pa.DataType, start: date, end: date) -> list[tuple]:
    """[start, end] on a date32 column; [start 00:00, end+1 00:00) on a timestamp column."""
    if pa.types.is_timestamp(date_type):
        lo = pd.Timestamp(start, tz=date_type.tz) if date_type.tz else pd.Timestamp(start)
        hi = lo + pd.Timedelta(days=(end - start).days + 1)
        return [("date", ">=", lo.to_pydatetime()), ("date", "<", hi.to_pydatetime())]
    return [("date", ">=", start), ("date", "<=", end)]


def _read_csv(source: Path, candidates: list[str], start: date, end: date) -> pa.Table:
    with _open_text(source) as fh:
        header = next(csv.reader(fh), [])
    header = [h.strip() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ValueError(f"market data CSV {source.name} lacks column(s) {missing}")
    columns = list(REQUIRED_COLUMNS) + [c for c in OPTIONAL_COLUMNS if c in header]
    types = {"date": pa.date32(), "symbol": pa.string(), **{c: pa.float64() for c in columns[2:]}}
    reader = pacsv.open_csv(
        str(source),
        convert_options=pacsv.ConvertOptions(column_types=types, include_columns=columns),
    )
    wanted = pa.array(candidates, type=pa.string())
    lo, hi = pa.scalar(start, type=pa.date32()), pa.scalar(end, type=pa.date32())
    batches = []
    for batch in reader:
        mask = pc.and_(
            pc.is_in(batch.column("symbol"), value_set=wanted),
            pc.and_(pc.greater_equal(batch.column("date"), lo), pc.less_equal(batch.column("date"), hi)),
        )
        mask = pc.fill_null(mask, False)
        batches.append(batch.filter(mask))
    return pa.Table.from_batches(batches, schema=reader.schema)


def _open_text(path: Path):
    if path.name.lower().endswith(".gz"):
        import gzip

        return gzip.open(path, "rt", newline="")
    return open(path, newline="")


def _to_pandas(table: pa.Table | None) -> pd.DataFrame:
    cols = list(REQUIRED_COLUMNS) + list(OPTIONAL_COLUMNS)
    if table is None or table.num_rows == 0:
        return pd.DataFrame({c: pd.Series(dtype="object" if c in ("date", "symbol") else "float64") for c in cols})
    date_col = table.column("date")
    columns = {"date": (np.array([ts.date() if ts is not None else None for ts in date_col.to_pylist()], dtype=object)
                        if pa.types.is_timestamp(date_col.type) else _shared_date_objects(date_col)),
               "symbol": _shared_strings(table.column("symbol"))}
    not_provided = _nan_column(table.num_rows)
    for col in ("adj_close",) + OPTIONAL_COLUMNS:
        columns[col] = (np.asarray(table.column(col).to_numpy(zero_copy_only=False), dtype="float64")
                        if col in table.column_names else not_provided)
    return pd.DataFrame({c: columns[c] for c in cols}, copy=False)  # built in column order: no reordering copy


def _nan_column(n: int) -> np.ndarray:
    """One read-only all-NaN column for every price column a source does not provide: the frame's
    columns share it (no 34 MB allocation per column of a 4.2 M-row table), and an in-place write
    to one of them raises instead of changing the others."""
    column = np.full(n, np.nan)
    column.flags.writeable = False
    return column


def _shared_strings(column: pa.ChunkedArray) -> np.ndarray:
    """A string column as an object array with one Python string per distinct value (8,370 symbols, not
    4.2 M copies: ~230 MB less on a 10,000-position book)."""
    if column.null_count:
        return column.to_pandas().to_numpy()
    encoded = column.dictionary_encode().combine_chunks()
    return np.asarray(encoded.dictionary.to_pylist(), dtype=object)[encoded.indices.to_numpy(zero_copy_only=False)]


def _shared_date_objects(column: pa.ChunkedArray) -> np.ndarray:
    """A date32 column as an object array of `datetime.date` in which equal days are one object: a few
    hundred objects for millions of rows, so every later hash or comparison of the column (factorize,
    isin, dict lookups) takes the identity fast path."""
    days = pc.cast(column, pa.int32()).to_numpy(zero_copy_only=False)
    if column.null_count:
        return column.to_pandas(date_as_object=True).to_numpy()
    if not len(days):
        return np.empty(0, dtype=object)
    first = int(days.min())
    span = np.arange(first, int(days.max()) + 1, dtype=np.int32)  # every day of the range: a few thousand at most
    objects = pa.array(span, type=pa.int32()).cast(pa.date32()).to_pandas(date_as_object=True).to_numpy()
    return objects[days - first]


_VALUE_CHECKS = (
    ("open", lambda v: np.isinf(v) | (v <= 0), "non-positive or non-finite open"),  # NaN = not provided, fine
    ("high", lambda v: np.isinf(v) | (v <= 0), "non-positive or non-finite high"),
    ("low", lambda v: np.isinf(v) | (v <= 0), "non-positive or non-finite low"),
    ("close", lambda v: np.isinf(v) | (v <= 0), "non-positive or non-finite close"),
    ("volume", lambda v: np.isinf(v) | (v < 0), "negative or non-finite volume"),
)


def _validated_table(raw: pd.DataFrame, wanted: list[str], source: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """Validate every requested symbol's rows at once (vectorised over the whole table).

    Returns (rows of the symbols that pass, sorted by symbol and date, under the spelling asked
    for; {symbol: reason} of those that fail — reason "" when the file has no row for it). Per
    symbol, as before: exact duplicate rows collapse; a missing date, conflicting rows for one
    date, a non-finite / non-positive adj_close, a non-positive / infinite OHLC value or a
    negative / infinite volume fail the symbol as a whole (the first such problem by date is named).
    """
    present = set(pd.unique(raw["symbol"].to_numpy(dtype=object))) if len(raw) else set()
    found: dict[str, str] = {}
    failures: dict[str, str] = {}
    for sym in wanted:
        alias = next((a for a in symbol_aliases(sym) if a in present), None)
        if alias is None:
            failures[sym] = ""
        else:
            found[sym] = alias
    if not found:
        return empty_prices(), failures
    aliases = sorted(set(found.values()))
    # int32 codes and ranks, temporaries dropped as soon as used: millions of rows on big books
    codes = pd.Categorical(raw["symbol"].to_numpy(dtype=object), categories=aliases).codes.astype(np.int32)
    everything = bool((codes >= 0).all())
    sel = None if everything else np.flatnonzero(codes >= 0)
    dates_all = raw["date"].to_numpy(dtype=object)
    if sel is not None:
        dates_all = dates_all[sel]
    dcodes, duniq = pd.factorize(dates_all)
    dcodes = dcodes.astype(np.int32)
    rank = np.empty(len(duniq) + 1, dtype=np.int32)
    rank[np.argsort(np.asarray(duniq, dtype=object), kind="stable")] = np.arange(len(duniq))
    rank[len(duniq)] = len(duniq)  # a missing date sorts last (factorize code -1)
    drank = rank[dcodes]
    code = codes if sel is None else codes[sel]
    del codes
    order = np.lexsort((drank, code))
    identity = bool((order[1:] > order[:-1]).all()) if len(order) > 1 else True  # the file is usually in order already
    if not identity:
        code, drank, dates, dcodes = code[order], drank[order], dates_all[order], dcodes[order]
        rows = order if sel is None else sel[order]
    else:
        dates, rows = dates_all, sel  # rows None: every row, in file order
    del order, sel, dates_all
    missing_date = dcodes < 0
    del dcodes
    values: dict[str, np.ndarray | None] = {}
    for c in ("open", "high", "low", "close", "adj_close", "volume"):
        col = raw[c].to_numpy(dtype="float64")
        if c != "adj_close" and np.isnan(col).all():
            values[c] = None  # not provided: NaN passes every check, written as NaN
        else:
            values[c] = col if rows is None else col[rows]

    reasons: dict[int, str] = {}

    def first_per_code(mask: np.ndarray, describe) -> None:
        idx = np.flatnonzero(mask)
        if not len(idx):
            return
        firsts, at = np.unique(code[idx], return_index=True)
        for c, i in zip(firsts.tolist(), idx[at].tolist()):
            if c not in reasons:
                reasons[c] = describe(i)

    first_per_code(missing_date, lambda i: "missing date")
    # exact duplicate rows collapse; what still shares (symbol, date) is a conflict
    same = np.zeros(len(code), dtype=bool)
    same[1:] = (code[1:] == code[:-1]) & (drank[1:] == drank[:-1])
    keep = np.ones(len(code), dtype=bool)
    if same.any():
        cluster = same.copy()
        cluster[:-1] |= same[1:]
        idx = np.flatnonzero(cluster)
        sub = pd.DataFrame({"code": code[idx], "d": drank[idx],
                            **{c: (v[idx] if v is not None else np.full(len(idx), np.nan)) for c, v in values.items()}})
        dropped = idx[sub.duplicated().to_numpy()]
        keep[dropped] = False
        kept = np.flatnonzero(keep)
        k_code, k_rank = code[kept], drank[kept]
        dup = np.zeros(len(kept), dtype=bool)
        dup[1:] = (k_code[1:] == k_code[:-1]) & (k_rank[1:] == k_rank[:-1])
        dup[:-1] |= dup[1:]
        conflict = np.zeros(len(code), dtype=bool)
        conflict[kept[dup]] = True
        first_per_code(conflict, lambda i: f"conflicting rows for {dates[i]}")
    adj = values["adj_close"]
    with np.errstate(invalid="ignore"):
        first_per_code(keep & (~np.isfinite(adj) | (adj <= 0)), lambda i: (
            ("non-finite" if not np.isfinite(adj[i]) else f"non-positive ({adj[i]:g})") + f" adj_close on {dates[i]}"))
        for col, bad, what in _VALUE_CHECKS:
            if values[col] is not None:
                first_per_code(keep & bad(values[col]), lambda i, what=what: f"{what} on {dates[i]}")

    position = {alias: i for i, alias in enumerate(aliases)}
    served = sorted(sym for sym, alias in found.items() if position[alias] not in reasons)
    for sym, alias in found.items():
        if position[alias] in reasons:
            failures[sym] = reasons[position[alias]]
    if not served:
        return empty_prices(), failures
    kept = np.flatnonzero(keep)
    k_code = code[kept]
    bounds = np.searchsorted(k_code, np.arange(len(aliases) + 1))
    blocks = [(bounds[position[found[sym]]], bounds[position[found[sym]] + 1]) for sym in served]
    lengths = np.array([b - a for a, b in blocks])
    take = kept[np.concatenate([np.arange(a, b) for a, b in blocks])]
    if len(take) == len(code) and bool((take == np.arange(len(take))).all()):
        take = slice(None)  # every row, already in output order: no second copy
    n = int(lengths.sum())
    not_provided = _nan_column(n)
    out = pd.DataFrame({
        "symbol": np.repeat(np.array(served, dtype=object), lengths),
        "date": dates[take],
        **{c: (values[c][take] if values[c] is not None else not_provided)
           for c in ("open", "high", "low", "close", "adj_close", "volume")},
        "data_source": source,
    }, copy=False)
    assert list(out.columns) == PRICE_COLUMNS  # built in order: no reordering copy of millions of rows
    return out, failures
