"""The history store: bars and quotes in Parquet, partitioned by instrument and month, read back
as a stream so that memory stays flat however long the history.

Layout under a root directory (Hive-style names, so pyarrow.dataset or DuckDB can read it too)::

    ROOT/kind=bars/instrument=EUR_USD/interval=60s/year=2024/month=03/part-0.parquet
    ROOT/kind=quotes/instrument=EUR_USD/year=2024/month=03/part-0.parquet

Bars hold ``ts_open`` (int64, the bar's open, ns UTC) and ``open, high, low, close, volume``;
quotes hold ``ts`` (int64, ns UTC) and ``bid, ask, bid_size, ask_size`` (all float64). Rows are
sorted by time, zstd-compressed, in row groups of 65,536 rows; the month is that of the row's
time (``ts_open`` for bars), in UTC.

Durability: a month is written to a hidden temporary file in its directory, synced, then renamed
over ``part-0.parquet`` (``os.replace``), so a crash leaves the old partition or the new one,
never half of one (a leftover ``.part-*.tmp`` is ignored and may be deleted). The renames of one
write happen together at its end, after every row was checked and written. Writing a month
that is already stored replaces that month whole; months the new rows do not touch are kept.
With ``merge=True`` the new rows are merged into it instead: stored rows at a time the new rows
have are dropped, the new rows kept. Quotes, streamed in flat memory, can instead be *added*
after what a month holds (``QuoteWriter(append=True)``: a day's ticks after the days before):
they go to the month's next ``part-N.parquet``, and rows that do not all come after the stored
ones are refused, so nothing stored is lost either way. Readers take a month's
``part-N.parquet`` files in N order; a month that is replaced becomes ``part-0`` alone.
"""

from __future__ import annotations

import itertools
import os
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from algotrading.data.columns import BarColumns, Floats, Ints, QuoteColumns
from algotrading.data.instruments import normalize_symbol
from algotrading.errors import DataError
from algotrading.messages import Bar, Quote
from algotrading.timestamps import iso_utc

NS = 1_000_000_000
ROW_GROUP_ROWS = 65_536
Columns = list[npt.NDArray[Any]]
Problem = tuple[int, str]  # the 0-based index of the earliest bad row, and what is wrong with it


def _schema(time: str, values: tuple[str, ...]) -> pa.Schema:
    fields = [pa.field(time, pa.int64(), nullable=False)]
    return pa.schema(fields + [pa.field(v, pa.float64(), nullable=False) for v in values])


BAR_SCHEMA = _schema("ts_open", ("open", "high", "low", "close", "volume"))
QUOTE_SCHEMA = _schema("ts", ("bid", "ask", "bid_size", "ask_size"))


class StoredSeries(NamedTuple):
    """One stored series, from the partitions' metadata; times in ns UTC, ``last_ts`` included."""

    kind: str
    instrument: str
    interval_ns: int | None
    first_ts: int
    last_ts: int
    rows: int


# --- validation --------------------------------------------------------------------------------


def _earliest(
    checks: Iterable[tuple[npt.NDArray[np.bool_], Callable[[int], str]]],
) -> Problem | None:
    found = [(int(np.argmax(bad)), say) for bad, say in checks if bad.any()]
    if not found:
        return None
    index, say = min(found, key=lambda f: f[0])
    return index, say(index)


def _time_checks(
    ts: Ints, after: int | None, strict: bool
) -> tuple[npt.NDArray[np.bool_], Callable[[int], str]]:
    before = np.empty_like(ts)
    before[1:] = ts[:-1]
    before[0] = (ts[0] - 1 if strict else ts[0]) if after is None else after
    bad = ts <= before if strict else ts < before

    def say(i: int) -> str:
        now, then = int(ts[i]), int(before[i])
        what = "duplicate time" if now == then else "time goes back"
        return f"{what}: {iso_utc(now)} after {iso_utc(then)}; rows must be in time order"

    return bad, say


def _value_checks(
    columns: dict[str, Floats], positive: bool
) -> Iterator[tuple[npt.NDArray[np.bool_], Callable[[int], str]]]:
    need = "> 0" if positive else ">= 0"

    def checker(name: str, values: Floats) -> Callable[[int], str]:
        return lambda i: f"bad {name} {float(values[i])!r}: must be finite and {need}"

    for name, values in columns.items():
        ok = np.isfinite(values) & (values > 0 if positive else values >= 0)
        yield ~ok, checker(name, values)


def bar_problem(
    ts_open: Ints,
    open: Floats,
    high: Floats,
    low: Floats,
    close: Floats,
    volume: Floats,
    after: int | None = None,
) -> Problem | None:
    """The earliest bar that breaks the store's rules: times strictly increasing (and after
    ``after``, the time of the row before), finite positive prices, volume >= 0, and high and low
    enclosing open and close."""
    if not len(ts_open):
        return None
    prices = {"open": open, "high": high, "low": low, "close": close}
    checks = [_time_checks(ts_open, after, strict=True), *_value_checks(prices, positive=True)]
    checks += _value_checks({"volume": volume}, positive=False)

    def ohlc(i: int) -> str:
        values = ", ".join(f"{float(p[i])!r}" for p in prices.values())
        return f"high below open or close, or low above them: open, high, low, close = {values}"

    checks.append(((high < np.maximum(open, close)) | (low > np.minimum(open, close)), ohlc))
    return _earliest(checks)


def quote_problem(
    ts: Ints,
    bid: Floats,
    ask: Floats,
    bid_size: Floats,
    ask_size: Floats,
    after: int | None = None,
) -> Problem | None:
    """The earliest quote that breaks the store's rules: times non-decreasing (and not before
    ``after``), finite positive prices, bid <= ask, finite sizes >= 0."""
    if not len(ts):
        return None
    checks = [_time_checks(ts, after, strict=False)]
    checks += _value_checks({"bid": bid, "ask": ask}, positive=True)
    checks += _value_checks({"bid_size": bid_size, "ask_size": ask_size}, positive=False)

    def crossed(i: int) -> str:
        return f"bid {float(bid[i])!r} above ask {float(ask[i])!r}: a bid must be <= its ask"

    checks.append((bid > ask, crossed))
    return _earliest(checks)


def _columns(schema: pa.Schema, values: Sequence[npt.ArrayLike]) -> Columns:
    types = [np.int64] + [np.float64] * (len(schema) - 1)
    columns = [np.ascontiguousarray(v, dtype=t) for v, t in zip(values, types, strict=True)]
    if any(c.shape != columns[0].shape or c.ndim != 1 for c in columns):
        shapes = ", ".join(f"{n} {c.shape}" for n, c in zip(schema.names, columns, strict=True))
        raise ValueError(f"columns must be 1-d and of one length, got {shapes}")
    return columns


# --- layout ------------------------------------------------------------------------------------

_INSTRUMENT = re.compile(r"[A-Z0-9][A-Z0-9_]*")
_PART = re.compile(r"part-(\d+)\.parquet")


def _instrument(text: str) -> str:
    name = normalize_symbol(text)
    if not _INSTRUMENT.fullmatch(name):
        raise ValueError(f"not an instrument symbol: {text!r}")
    return name


def interval_name(interval_ns: int) -> str:
    """``60s`` for a minute; ``250000000ns`` for an interval that is not whole seconds."""
    if interval_ns <= 0:
        raise ValueError(f"interval_ns must be > 0, got {interval_ns}")
    return f"{interval_ns // NS}s" if interval_ns % NS == 0 else f"{interval_ns}ns"


def _parse_interval(name: str) -> int | None:
    m = re.fullmatch(r"(\d+)(ns|s)", name)
    return None if m is None else int(m[1]) * (1 if m[2] == "ns" else NS)


def series_dir(root: str | Path, kind: str, instrument: str, interval_ns: int | None) -> Path:
    """Where a series lives: bars need their interval, quotes have none."""
    base = Path(root) / f"kind={kind}" / f"instrument={_instrument(instrument)}"
    if kind == "bars" and interval_ns is not None:
        return base / f"interval={interval_name(interval_ns)}"
    if kind == "quotes" and interval_ns is None:
        return base
    raise ValueError(f"bars need an interval and quotes have none: {kind=}, {interval_ns=}")


def _months(ts: Ints) -> Ints:
    """Months since January 1970 (UTC) of each time."""
    return ts.astype("datetime64[ns]").astype("datetime64[M]").astype(np.int64)


def _month_start_ns(month: int) -> int:
    return int(np.datetime64(month, "M").astype("datetime64[ns]").astype(np.int64))


def _month_dir(series: Path, month: int) -> Path:
    year, index = divmod(month, 12)
    return series / f"year={1970 + year:04d}" / f"month={index + 1:02d}"


def _month_runs(ts: Ints) -> Iterator[tuple[int, int, int]]:
    """``(month, start, stop)`` of each run of rows in one month, for times in order."""
    months = _months(ts)
    cuts = [0, *(np.flatnonzero(np.diff(months)) + 1).tolist(), len(ts)]
    for start, stop in itertools.pairwise(cuts):
        yield int(months[start]), start, stop


def _stored_months(series: Path) -> list[tuple[int, Path]]:
    found = []
    for directory in series.glob("year=*/month=*"):
        year = re.fullmatch(r"year=(\d{4})", directory.parent.name)
        month = re.fullmatch(r"month=(\d{2})", directory.name)
        if year and month and directory.is_dir():
            found.append(((int(year[1]) - 1970) * 12 + int(month[1]) - 1, directory))
    return sorted(found)


def _parts(directory: Path) -> list[Path]:
    numbered = [(int(m[1]), p) for p in directory.iterdir() if (m := _PART.fullmatch(p.name))]
    return [path for _, path in sorted(numbered)]


def _part_index(path: Path) -> int:
    """N of a ``part-N.parquet`` that :func:`_parts` listed."""
    return int(path.name.removeprefix("part-").removesuffix(".parquet"))


def _stored_series(root: Path) -> list[tuple[str, str, int | None, Path]]:
    found: list[tuple[str, str, int | None, Path]] = []
    for series in root.glob("kind=bars/instrument=*/interval=*"):
        if (interval := _parse_interval(series.name.removeprefix("interval="))) is not None:
            found.append(("bars", series.parent.name.removeprefix("instrument="), interval, series))
    for series in root.glob("kind=quotes/instrument=*"):
        found.append(("quotes", series.name.removeprefix("instrument="), None, series))
    return sorted(found, key=lambda s: (s[0], s[1], s[2] or 0))


def _existing_series(root: str | Path, kind: str, instrument: str, interval_ns: int | None) -> Path:
    series = series_dir(root, kind, instrument, interval_ns)
    if series.is_dir():
        return series
    root = Path(root)
    if not root.is_dir():
        raise DataError(str(root), "no history store here (the directory does not exist)")
    wanted = f"{kind} of {_instrument(instrument)}"
    wanted += f" at {interval_name(interval_ns)}" if interval_ns is not None else ""
    stored = [
        f"{k} of {i}" + (f" at {interval_name(n)}" if n else "")
        for k, i, n, _ in _stored_series(root)
    ]
    raise DataError(str(root), f"no {wanted}; the store holds {', '.join(stored) or 'nothing'}")


# --- writing -----------------------------------------------------------------------------------


def _fsync(path: Path) -> None:
    if os.name != "posix":  # Windows cannot sync a read-only handle or a directory
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _PartitionFile:
    """One month's partition being written: rows go, in whole row groups, to a hidden temporary
    file, which becomes ``part-N.parquet`` only on :meth:`commit`."""

    def __init__(self, directory: Path, schema: pa.Schema, index: int = 0) -> None:
        """``index`` 0 replaces the month on commit; a higher one adds a part after it."""
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.index = index
        self._schema = schema
        self._temp = directory / f".part-{index}.{uuid.uuid4().hex}.tmp"
        self._writer = pq.ParquetWriter(self._temp, schema, compression="zstd")
        self._pending: list[Columns] = []  # fewer than ROW_GROUP_ROWS rows, owned (copied)
        self._rows = 0
        self._finished = False

    def write(self, columns: Columns) -> None:
        self._pending.append(columns)
        self._rows += len(columns[0])
        if self._rows >= ROW_GROUP_ROWS:
            self._flush(whole_groups_only=True)
        else:  # a copy, so as not to keep the caller's (perhaps much larger) buffers alive
            self._pending[-1] = [np.array(c) for c in columns]

    def _flush(self, whole_groups_only: bool) -> None:
        if not self._pending:
            return
        table = pa.concat_tables(
            pa.Table.from_arrays([pa.array(c) for c in columns], schema=self._schema)
            for columns in self._pending
        )
        size = table.num_rows
        if whole_groups_only:
            size -= size % ROW_GROUP_ROWS
        if size:
            self._writer.write_table(table.slice(0, size), row_group_size=ROW_GROUP_ROWS)
        rest = [np.array(column.to_numpy()) for column in table.slice(size).columns]
        self._rows = table.num_rows - size
        self._pending = [rest] if self._rows else []

    def finish(self) -> None:
        """Write the last rows and sync the temporary file; :meth:`commit` then only renames."""
        if not self._finished:
            self._flush(whole_groups_only=False)
            self._writer.close()
            _fsync(self._temp)
            self._finished = True

    def commit(self) -> Path:
        path = self.directory / f"part-{self.index}.parquet"
        try:
            self.finish()
            os.replace(self._temp, path)
        except BaseException:
            self.abort()
            raise
        if self.index == 0:  # the month replaced whole
            for other in _parts(self.directory):
                if other != path:
                    other.unlink()
        _fsync(self.directory)
        return path

    def abort(self) -> None:
        self._writer.close()
        self._temp.unlink(missing_ok=True)


class _SeriesWriter:
    """Rows of one series, in time order over any number of calls, one month's temporary file
    open at a time. No partition changes until :meth:`close`, which renames them all into place
    (so a bad row anywhere, found by the check or by the caller, leaves the store as it was)."""

    def __init__(
        self,
        series: Path,
        schema: pa.Schema,
        check: Callable[..., Problem | None],
        append: bool = False,
    ):
        """``append``: add each month's rows after those it holds, as its next part, and refuse
        rows that are not all after them; else a month written replaces the stored one."""
        self._series, self._schema, self._check = series, schema, check
        self._append = append
        self._files: list[_PartitionFile] = []  # the last is the month being written
        self._month: int | None = None
        self._last_ts: int | None = None
        self._rows = 0

    def write(self, columns: Columns) -> None:
        if not len(columns[0]):
            return
        if (problem := self._check(*columns, after=self._last_ts)) is not None:
            raise DataError(str(self._series), problem[1], row=self._rows + problem[0])
        for month, start, stop in _month_runs(columns[0]):
            if month != self._month:
                if self._files:
                    self._files[-1].finish()
                directory = _month_dir(self._series, month)
                index = self._next_part(directory, int(columns[0][start])) if self._append else 0
                self._files.append(_PartitionFile(directory, self._schema, index))
                self._month = month
            self._files[-1].write([c[start:stop] for c in columns])
        self._last_ts = int(columns[0][-1])
        self._rows += len(columns[0])

    def _next_part(self, directory: Path, first_ts: int) -> int:
        """The index of the part that adds rows from ``first_ts`` on to a stored month (0 when
        it holds none); DataError when they would not all come after the stored ones."""
        parts = _parts(directory) if directory.is_dir() else []
        if not parts:
            return 0
        last = max((high for _, high, count in map(_time_range, parts) if count), default=None)
        if last is not None and first_ts <= last:
            raise DataError(
                str(directory),
                f"this month already holds rows up to {iso_utc(last)} and the new ones start at "
                f"{iso_utc(first_ts)}: rows can only be added after it (or the months the file "
                "covers replaced: --replace)",
            )
        return _part_index(parts[-1]) + 1

    def close(self) -> list[Path]:
        """Put every month in place, in time order; the partitions written."""
        written = []
        try:
            for file in self._files:
                written.append(file.commit())
        except BaseException:
            self.abort()
            raise
        self._files = []
        return written

    def abort(self) -> None:
        for file in self._files:
            file.abort()
        self._files = []


class QuoteWriter:
    """Streams quotes into the store, in time order over any number of :meth:`write` calls, in
    flat memory (a row group at most is held back; the rest goes to temporary files). The months
    written replace those stored only on :meth:`close`, all together; leaving the ``with`` block
    on an exception, or :meth:`abort`, leaves the store as it was."""

    def __init__(self, root: str | Path, instrument: str, *, append: bool = False) -> None:
        """``append``: add the quotes after those each month holds (a month's next part), and
        refuse any that are not after them; else the months written replace those stored."""
        self.instrument = _instrument(instrument)
        self._writer = _SeriesWriter(
            series_dir(root, "quotes", self.instrument, None),
            QUOTE_SCHEMA,
            quote_problem,
            append=append,
        )
        self.rows = 0

    def write(
        self,
        ts: npt.ArrayLike,
        bid: npt.ArrayLike,
        ask: npt.ArrayLike,
        bid_size: npt.ArrayLike | None = None,
        ask_size: npt.ArrayLike | None = None,
    ) -> None:
        """Add quotes after those already written; a DataError names the bad row by its 0-based
        index among all the rows given to this writer."""
        zeros = np.zeros(np.shape(ts))
        sizes = (zeros if bid_size is None else bid_size, zeros if ask_size is None else ask_size)
        columns = _columns(QUOTE_SCHEMA, (ts, bid, ask, *sizes))
        self._writer.write(columns)
        self.rows += len(columns[0])

    def close(self) -> list[Path]:
        """Put the months written in place; the partitions, in time order."""
        return self._writer.close()

    def abort(self) -> None:
        self._writer.abort()

    def __enter__(self) -> QuoteWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.close()
        else:
            self.abort()


def write_bars(
    root: str | Path,
    instrument: str,
    interval_ns: int,
    ts_open: npt.ArrayLike,
    open: npt.ArrayLike,
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    volume: npt.ArrayLike,
    *,
    merge: bool = False,
) -> list[Path]:
    """Store bars (``ts_open`` in ns UTC, strictly increasing), one partition per month they
    touch, replacing or (``merge``) merging into a stored month; the partitions written. A
    DataError names a bad row by its 0-based index."""
    series = series_dir(root, "bars", instrument, interval_ns)
    columns = _columns(BAR_SCHEMA, (ts_open, open, high, low, close, volume))
    return _write(series, BAR_SCHEMA, columns, bar_problem, merge)


def write_quotes(
    root: str | Path,
    instrument: str,
    ts: npt.ArrayLike,
    bid: npt.ArrayLike,
    ask: npt.ArrayLike,
    bid_size: npt.ArrayLike | None = None,
    ask_size: npt.ArrayLike | None = None,
    *,
    merge: bool = False,
) -> list[Path]:
    """Store quotes (``ts`` in ns UTC, non-decreasing; sizes default to 0) as :func:`write_bars`
    stores bars."""
    zeros = np.zeros(np.shape(ts))
    sizes = (zeros if bid_size is None else bid_size, zeros if ask_size is None else ask_size)
    columns = _columns(QUOTE_SCHEMA, (ts, bid, ask, *sizes))
    return _write(
        series_dir(root, "quotes", instrument, None), QUOTE_SCHEMA, columns, quote_problem, merge
    )


def _write(
    series: Path,
    schema: pa.Schema,
    columns: Columns,
    check: Callable[..., Problem | None],
    merge: bool,
) -> list[Path]:
    if (problem := check(*columns)) is not None:
        raise DataError(str(series), problem[1], row=problem[0])
    writer = _SeriesWriter(series, schema, check)
    try:
        for month, start, stop in _month_runs(columns[0]) if len(columns[0]) else ():
            new = [c[start:stop] for c in columns]
            old = _read_month(_month_dir(series, month), schema) if merge else None
            writer.write(new if old is None else _merged(old, new))
        return writer.close()
    except BaseException:
        writer.abort()
        raise


def _read_month(directory: Path, schema: pa.Schema) -> Columns | None:
    parts = _parts(directory) if directory.is_dir() else []
    if not parts:
        return None
    table = pa.concat_tables(pq.read_table(p, columns=schema.names) for p in parts)
    return [table.column(i).to_numpy() for i in range(len(schema))]


def _merged(old: Columns, new: Columns) -> Columns:
    """Stored rows at a time the new rows have are dropped; the rest interleave in time order
    (a stable sort, so quotes that share a time keep their order)."""
    keep = ~np.isin(old[0], new[0])
    columns = [np.concatenate((o[keep], n)) for o, n in zip(old, new, strict=True)]
    order = np.argsort(columns[0], kind="stable")
    return [c[order] for c in columns]


# --- reading -----------------------------------------------------------------------------------


def _read(
    series: Path, start_ns: int | None, end_ns: int | None, chunk_rows: int, names: list[str]
) -> Iterator[Columns]:
    for month, directory in _stored_months(series):
        if end_ns is not None and _month_start_ns(month) >= end_ns:
            return
        if start_ns is not None and _month_start_ns(month + 1) <= start_ns:
            continue
        for path in _parts(directory):
            yield from _read_part(path, start_ns, end_ns, chunk_rows, names)


def _read_part(
    path: Path, start_ns: int | None, end_ns: int | None, chunk_rows: int, names: list[str]
) -> Iterator[Columns]:
    with pq.ParquetFile(path) as file:
        groups = [
            i
            for i in range(file.num_row_groups)
            if _may_overlap(file.metadata.row_group(i).column(0).statistics, start_ns, end_ns)
        ]
        if not groups:
            return
        for batch in file.iter_batches(batch_size=chunk_rows, row_groups=groups, columns=names):
            columns = [column.to_numpy() for column in batch.columns]
            ts = columns[0]
            start = 0 if start_ns is None else int(np.searchsorted(ts, start_ns))
            stop = len(ts) if end_ns is None else int(np.searchsorted(ts, end_ns))
            if start < stop:
                yield [c[start:stop] for c in columns] if stop - start < len(ts) else columns


def _may_overlap(stats: Any, start_ns: int | None, end_ns: int | None) -> bool:
    if stats is None or not stats.has_min_max:
        return True
    return (start_ns is None or stats.max >= start_ns) and (end_ns is None or stats.min < end_ns)


def _check_chunk_rows(chunk_rows: int) -> None:
    if chunk_rows <= 0:
        raise ValueError(f"chunk_rows must be > 0, got {chunk_rows}")


def iter_bar_chunks(
    root: str | Path,
    instrument: str,
    interval_ns: int,
    start_ns: int | None = None,
    end_ns: int | None = None,
    chunk_rows: int = 65_536,
) -> Iterator[BarColumns]:
    """The stored bars with ``start_ns <= ts_open < end_ns``, in time order, in chunks of at most
    ``chunk_rows`` (a chunk never spans two months). Only one chunk is in memory at a time. A
    missing store or series raises DataError at once, naming what is stored."""
    _check_chunk_rows(chunk_rows)
    series = _existing_series(root, "bars", instrument, interval_ns)
    name = _instrument(instrument)
    reads = _read(series, start_ns, end_ns, chunk_rows, BAR_SCHEMA.names)
    return (BarColumns(name, interval_ns, *columns) for columns in reads)


def iter_bars(
    root: str | Path,
    instrument: str,
    interval_ns: int,
    start_ns: int | None = None,
    end_ns: int | None = None,
    chunk_rows: int = 65_536,
) -> Iterator[Bar]:
    """The stored bars as :class:`Bar` messages (``ts_event`` is the close), in time order."""
    chunks = iter_bar_chunks(root, instrument, interval_ns, start_ns, end_ns, chunk_rows)
    return itertools.chain.from_iterable(chunk.bars() for chunk in chunks)


def iter_quote_chunks(
    root: str | Path,
    instrument: str,
    start_ns: int | None = None,
    end_ns: int | None = None,
    chunk_rows: int = 65_536,
) -> Iterator[QuoteColumns]:
    """The stored quotes with ``start_ns <= ts < end_ns``, as :func:`iter_bar_chunks`."""
    _check_chunk_rows(chunk_rows)
    series = _existing_series(root, "quotes", instrument, None)
    name = _instrument(instrument)
    reads = _read(series, start_ns, end_ns, chunk_rows, QUOTE_SCHEMA.names)
    return (QuoteColumns(name, *columns) for columns in reads)


def iter_quotes(
    root: str | Path,
    instrument: str,
    start_ns: int | None = None,
    end_ns: int | None = None,
    chunk_rows: int = 65_536,
) -> Iterator[Quote]:
    """The stored quotes as :class:`Quote` messages, in time order."""
    chunks = iter_quote_chunks(root, instrument, start_ns, end_ns, chunk_rows)
    return itertools.chain.from_iterable(chunk.quotes() for chunk in chunks)


def available(root: str | Path) -> list[StoredSeries]:
    """What the store holds, series by series, from the partitions' metadata (no data read)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(str(root), "no history store here (the directory does not exist)")
    result = []
    for kind, instrument, interval_ns, series in _stored_series(root):
        first, last, rows = None, None, 0
        for _, directory in _stored_months(series):
            for path in _parts(directory):
                low, high, count = _time_range(path)
                if count:
                    first = low if first is None else min(first, low)
                    last = high if last is None else max(last, high)
                    rows += count
        if first is not None and last is not None:
            result.append(StoredSeries(kind, instrument, interval_ns, first, last, rows))
    return result


def describe_series(series: Iterable[StoredSeries]) -> str:
    """``bars EUR_USD 60s 2018-01-01T00:00:00Z .. 2018-06-30T23:59:00Z (260000 rows)``, ...;
    "nothing" for none."""
    from algotrading.timestamps import iso_utc

    return (
        "; ".join(
            f"{s.kind} {s.instrument}"
            + (f" {s.interval_ns / 1e9:g}s" if s.interval_ns else "")
            + f" {iso_utc(s.first_ts)} .. {iso_utc(s.last_ts)} ({s.rows} rows)"
            for s in series
        )
        or "nothing"
    )


def choose_series(
    root: str | Path, instrument: str | None = None, interval_ns: int | None = None
) -> StoredSeries:
    """The one series a command should read: bars of ``instrument`` (any, when None) at
    ``interval_ns`` (any, when None), else the instrument's quotes (which build bars of any
    interval). DataError saying what is stored, with its range, when that is not one series:
    an instrument the store lacks, an interval it holds no bars of and cannot build, or a
    choice left open."""
    stored = available(root)
    series = [s for s in stored if instrument is None or s.instrument == instrument]
    if not stored:
        raise DataError(str(root), "not a history store, or an empty one: no series stored")
    if not series:
        raise DataError(
            str(root), f"no {instrument} in the store; it holds: {describe_series(stored)}"
        )
    bars = [s for s in series if s.kind == "bars"]
    quotes = [s for s in series if s.kind == "quotes"]
    if interval_ns is not None:
        bars = [s for s in bars if s.interval_ns == interval_ns]
        if not bars and not quotes:
            raise DataError(
                str(root),
                f"no bars of {interval_ns / 1e9:g}s and no quotes to build them from; the "
                f"store holds: {describe_series(series)}",
            )
    if len(bars) == 1:
        return bars[0]
    if not bars and len(quotes) == 1:
        return quotes[0]
    raise DataError(
        str(root),
        "choose one series with --instrument / --interval; the store holds: "
        + describe_series(series),
    )


def read_bar_columns(
    root: str | Path,
    instrument: str,
    interval_ns: int,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> BarColumns:
    """A stored bar series whole, as columns in memory (a sweep or a training reads arrays;
    a backtest streams with :func:`iter_bars` instead)."""
    chunks = list(iter_bar_chunks(root, instrument, interval_ns, start_ns, end_ns))
    names = ("ts_open", "open", "high", "low", "close", "volume")
    if not chunks:
        raise DataError(str(root), f"no {instrument} bars in the range asked for")
    joined = {n: np.concatenate([getattr(c, n) for c in chunks]) for n in names}
    return BarColumns(instrument=chunks[0].instrument, interval_ns=interval_ns, **joined)


def _time_range(path: Path) -> tuple[int, int, int]:
    meta = pq.read_metadata(path)
    stats = [meta.row_group(i).column(0).statistics for i in range(meta.num_row_groups)]
    if not meta.num_rows or not all(s is not None and s.has_min_max for s in stats):
        ts = pq.read_table(path, columns=[meta.schema.names[0]]).column(0).to_numpy()
        return (int(ts.min()), int(ts.max()), len(ts)) if len(ts) else (0, 0, 0)
    return min(int(s.min) for s in stats), max(int(s.max) for s in stats), meta.num_rows
