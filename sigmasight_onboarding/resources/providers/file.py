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

from .base import PRICE_COLUMNS, ProviderResult, check_range, concat_prices, normalize_symbols, symbol_aliases

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
        groups = {sym: g for sym, g in raw.groupby("symbol", sort=False)} if len(raw) else {}

        frames: list[pd.DataFrame] = []
        failures: dict[str, str] = {}
        for sym in wanted:
            found = next((alias for alias in symbol_aliases(sym) if alias in groups), None)
            if found is None:
                failures[sym] = f"not in market data file {source.name} (no rows {start}..{end})"
                continue
            frame, reason = _validated(groups[found], sym, self.name)
            if reason is not None:
                failures[sym] = f"{reason} in {source.name}"
            else:
                frames.append(frame)
        return ProviderResult(concat_prices(frames), failures)

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
    frame = pd.DataFrame({"symbol": table.column("symbol").to_pylist()})
    date_col = table.column("date")
    if pa.types.is_timestamp(date_col.type):
        frame["date"] = [ts.date() if ts is not None else None for ts in date_col.to_pylist()]
    else:
        frame["date"] = date_col.to_pylist()
    for col in ("adj_close",) + OPTIONAL_COLUMNS:
        if col in table.column_names:
            frame[col] = np.asarray(table.column(col).to_numpy(zero_copy_only=False), dtype="float64")
        else:
            frame[col] = np.nan
    return frame[cols]


def _validated(group: pd.DataFrame, symbol: str, source: str) -> tuple[pd.DataFrame | None, str | None]:
    g = group.drop_duplicates().sort_values("date", kind="stable")
    if g["date"].isna().any():
        return None, "missing date"
    dup = g["date"].duplicated(keep=False)
    if dup.any():
        return None, f"conflicting rows for {g.loc[dup, 'date'].iloc[0]}"
    adj = g["adj_close"].to_numpy(dtype="float64")
    bad = ~np.isfinite(adj) | (adj <= 0)
    if bad.any():
        i = int(np.argmax(bad))
        value = adj[i]
        what = "non-finite" if not np.isfinite(value) else f"non-positive ({value:g})"
        return None, f"{what} adj_close on {g['date'].iloc[i]}"
    for col in ("open", "high", "low", "close"):
        vals = g[col].to_numpy(dtype="float64")
        bad = np.isinf(vals) | (vals <= 0)  # NaN = not provided, fine
        if bad.any():
            i = int(np.argmax(bad))
            return None, f"non-positive or non-finite {col} on {g['date'].iloc[i]}"
    vol = g["volume"].to_numpy(dtype="float64")
    bad = np.isinf(vol) | (vol < 0)
    if bad.any():
        i = int(np.argmax(bad))
        return None, f"negative or non-finite volume on {g['date'].iloc[i]}"
    out = g.copy()
    out["symbol"] = symbol
    out["data_source"] = source
    return out[PRICE_COLUMNS], None
