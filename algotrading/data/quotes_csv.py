"""Reading bid/ask ticks from CSV exports in chunks, so that hundreds of millions of quotes pass
through a fixed amount of memory.

Three layouts, recognised from the first lines of the file:

- Dukascopy: header ``Gmt time,Ask,Bid,AskVolume,BidVolume``, times ``02.01.2024 13:00:00.123``
  (day first);
- TrueFX, no header: ``EUR/USD,20240102 00:00:00.123,1.10410,1.10420`` (symbol, time, bid, ask);
- generic: a header naming ``time``, ``bid``, ``ask`` and optionally ``bid_size``, ``ask_size``
  (and ``symbol``), in any order, with ISO 8601 times (UTC unless they carry an offset) or epoch
  milliseconds (seconds, microseconds and nanoseconds are told apart by their size).

The delimiter (comma, semicolon or tab) and the time format are decided on the first rows, and
every row must then match. Bad input raises :class:`DataError` with the file's 1-based line
number; blank lines are skipped but counted.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from algotrading.data.columns import Floats, Ints, QuoteColumns, is_number
from algotrading.data.instruments import BUILTIN_INSTRUMENTS, normalize_symbol
from algotrading.data.parquet_store import quote_problem
from algotrading.errors import DataError


@dataclass(frozen=True)
class _TimeFormat:
    description: str
    pattern: str  # what every time must match (RE2 syntax, anchored)
    # Rearranges a time into ISO 8601 as (start, stop) slices and literal separators.
    to_iso: tuple[tuple[int, int] | str, ...] = ()
    epoch_unit_ns: int = 0


_ISO = _TimeFormat(
    "ISO 8601 (2024-01-02T13:00:00.123Z)",
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$",
)
_DUKASCOPY = _TimeFormat(
    "dd.mm.yyyy hh:mm:ss.fff (02.01.2024 13:00:00.123)",
    r"^\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}:\d{2}(\.\d{1,9})?$",
    ((6, 10), "-", (3, 5), "-", (0, 2), (10, 40)),
)
_TRUEFX = _TimeFormat(
    "yyyymmdd hh:mm:ss.fff (20240102 13:00:00.123)",
    r"^\d{8} \d{2}:\d{2}:\d{2}(\.\d{1,9})?$",
    ((0, 4), "-", (4, 6), "-", (6, 8), (8, 40)),
)
_EPOCH = r"^-?\d+(\.\d+)?$"
_EPOCH_UNITS = (("seconds", 10**9, 10**11), ("ms", 10**6, 10**14), ("us", 10**3, 10**17))
_FORMATS_HINT = (
    "expected Dukascopy (Gmt time,Ask,Bid,AskVolume,BidVolume), TrueFX (EUR/USD,20240102 "
    "00:00:00.123,bid,ask; no header) or a header time,bid,ask[,bid_size,ask_size] with ISO 8601 "
    "or epoch-ms times"
)


def _time_format(text: str) -> _TimeFormat | None:
    for fmt in (_ISO, _DUKASCOPY, _TRUEFX):
        if re.fullmatch(fmt.pattern.strip("^$"), text):
            return fmt
    if re.fullmatch(_EPOCH.strip("^$"), text):
        size = abs(float(text))
        name, unit = next(((n, u) for n, u, top in _EPOCH_UNITS if size < top), ("ns", 1))
        return _TimeFormat(f"epoch {name}", _EPOCH, epoch_unit_ns=unit)
    return None


# --- layout ------------------------------------------------------------------------------------

_NAMES = {
    "time": ("time", "gmttime", "utctime", "timestamp", "datetime", "ts"),
    "bid": ("bid",),
    "ask": ("ask",),
    "bid_size": ("bidsize", "bidvolume", "bidvol"),
    "ask_size": ("asksize", "askvolume", "askvol"),
    "symbol": ("symbol", "instrument", "pair", "ticker"),
}
_VALUES = ("bid", "ask", "bid_size", "ask_size")


@dataclass(frozen=True)
class _Layout:
    skip_lines: int  # lines before the data: the header and any blank lines before it
    delimiter: str
    n_fields: int
    columns: dict[str, int]  # time, bid, ask, and bid_size, ask_size, symbol where present
    time: _TimeFormat
    first_symbol: str | None


def _first_rows(path: Path, file: str) -> tuple[str, list[tuple[int, list[str]]]]:
    """The delimiter, and the first two non-blank lines, numbered and split at it."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            lines = list(islice(((n, t) for n, t in enumerate(f, 1) if t.strip()), 2))
    except OSError as e:
        raise DataError(file, f"cannot read the file: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise DataError(file, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    if not lines:
        raise DataError(file, "empty file")
    delimiter = next((d for d in ("\t", ";", ",") if d in lines[0][1]), ",")
    split = csv.reader((text for _, text in lines), delimiter=delimiter, skipinitialspace=True)
    return delimiter, [
        (n, [f.strip() for f in fields]) for (n, _), fields in zip(lines, split, strict=False)
    ]


def _detect(path: Path, file: str) -> _Layout:
    delimiter, rows = _first_rows(path, file)
    line, names = rows[0]
    if len(names) == 4 and (fmt := _time_format(names[1])) and all(map(is_number, names[2:])):
        columns = {"symbol": 0, "time": 1, "bid": 2, "ask": 3}  # TrueFX: no header
        return _Layout(0, delimiter, 4, columns, fmt, names[0])
    normalised = [re.sub(r"[\s_]+", "", name.lower()) for name in names]
    columns = {}
    for key, spellings in _NAMES.items():
        if found := [normalised.index(s) for s in spellings if s in normalised]:
            columns[key] = found[0]
    if missing := [key for key in ("time", "bid", "ask") if key not in columns]:
        problem = f"no {', '.join(missing)} column in {', '.join(map(repr, names))}"
        raise DataError(file, f"{problem}; {_FORMATS_HINT}", row=line)
    if len(rows) < 2:
        raise DataError(file, "no data rows after the header", row=line)
    data_line, first = rows[1]
    if len(first) != len(names):
        raise DataError(file, f"expected {len(names)} fields, found {len(first)}", data_line)
    text = first[columns["time"]]
    if (fmt := _time_format(text)) is None:
        raise DataError(file, f"unrecognised time {text!r}; {_FORMATS_HINT}", row=data_line)
    symbol = first[columns["symbol"]] if "symbol" in columns else None
    return _Layout(line, delimiter, len(names), columns, fmt, symbol)


# --- instrument --------------------------------------------------------------------------------

_CURRENCY = "(USD|EUR|GBP|JPY|CHF|CAD|AUD|NZD|SEK|NOK|DKK|PLN|HUF|TRY|ZAR|MXN|SGD|HKD|CNH|XAU|XAG)"
_PAIR_IN_NAME = re.compile(rf"(?<![A-Z]){_CURRENCY}[_\-/ ]?{_CURRENCY}(?![A-Z])")


def _instrument_from_name(stem: str) -> str | None:
    """``EURUSD_ticks``, ``ticks-eur_usd-2024``, ``SPX500_USD_ticks``."""
    text = stem.upper()
    if m := _PAIR_IN_NAME.search(text):
        return f"{m[1]}_{m[2]}"
    for symbol in sorted(BUILTIN_INSTRUMENTS, key=len, reverse=True):
        for spelling in (symbol, symbol.replace("_", "")):
            if re.search(rf"(?<![A-Z0-9]){spelling}(?![A-Z0-9])", text):
                return symbol
    return None


# --- chunks ------------------------------------------------------------------------------------


def iter_quote_chunks_csv(
    path: str | Path, instrument: str | None = None, chunk_rows: int = 1_000_000
) -> Iterator[QuoteColumns]:
    """The quotes of a tick file in chunks of at most ``chunk_rows`` rows, checked as the store
    checks them (times non-decreasing across chunks, finite positive prices, bid <= ask); sizes
    absent from the file are 0. ``instrument`` overrides a symbol column, which overrides the
    file name. The layout and instrument are checked at once; rows as they are read."""
    if chunk_rows <= 0:
        raise ValueError(f"chunk_rows must be > 0, got {chunk_rows}")
    path = Path(path)
    file = str(path)
    layout = _detect(path, file)
    name = instrument or layout.first_symbol or _instrument_from_name(path.stem)
    if not name:
        problem = "cannot tell the instrument from a symbol column or the file name"
        raise DataError(file, problem + "; give it with --instrument")
    return _chunks(path, file, layout, normalize_symbol(name), chunk_rows)


def _chunks(
    path: Path, file: str, layout: _Layout, instrument: str, chunk_rows: int
) -> Iterator[QuoteColumns]:
    reader = pd.read_csv(
        path,
        sep=layout.delimiter,
        header=None,
        names=list(range(layout.n_fields)),
        index_col=False,
        skiprows=layout.skip_lines,
        skip_blank_lines=False,  # so that row i of the data is line skip_lines + 1 + i
        skipinitialspace=True,
        encoding="utf-8-sig",
        engine="c",
        chunksize=chunk_rows,
    )
    first_line, last_ts = layout.skip_lines + 1, None
    try:
        with reader:
            for frame in reader:
                lines = np.arange(first_line, first_line + len(frame))
                first_line += len(frame)
                chunk = _chunk(frame, lines, layout, instrument, file, last_ts)
                del frame, lines  # not kept alive while the caller holds the chunk
                if len(chunk):
                    last_ts = int(chunk.ts[-1])
                    yield chunk
    except UnicodeDecodeError as e:
        raise DataError(file, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    except pd.errors.ParserError as e:
        if m := re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(e)):
            raise DataError(file, f"expected {m[1]} fields, found {m[3]}", int(m[2])) from None
        raise DataError(file, f"malformed CSV: {e}") from None


def _chunk(
    frame: pd.DataFrame,
    lines: Ints,
    layout: _Layout,
    instrument: str,
    file: str,
    after: int | None,
) -> QuoteColumns:
    blank = frame.isna().all(axis=1).to_numpy()
    if blank.any():
        frame, lines = frame[~blank], lines[~blank]
    columns = layout.columns
    ts = _times(frame[columns["time"]], layout.time, lines, file)
    bid, ask, bid_size, ask_size = (
        _numbers(frame[columns[key]], key, lines, file) if key in columns else np.zeros(len(frame))
        for key in _VALUES
    )
    if "symbol" in columns:
        symbols = frame[columns["symbol"]]
        if (other := (symbols != layout.first_symbol).to_numpy()).any():
            i = int(np.argmax(other))
            mixed = f"instrument {symbols.iloc[i]!r} after {layout.first_symbol!r}"
            raise DataError(file, mixed + "; one file holds one instrument", int(lines[i]))
    if (problem := quote_problem(ts, bid, ask, bid_size, ask_size, after)) is not None:
        raise DataError(file, problem[1], row=int(lines[problem[0]]))
    return QuoteColumns(instrument, ts, bid, ask, bid_size, ask_size)


def _numbers(column: pd.Series, name: str, lines: Ints, file: str) -> Floats:
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column):
        values = np.asarray(column.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    else:
        numbers = pd.to_numeric(column, errors="coerce")
        values = np.asarray(numbers.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    if (bad := np.isnan(values)).any():
        i = int(np.argmax(bad))
        text = column.iloc[i]
        problem = f"missing {name}" if pd.isna(text) else f"{name} {text!r} is not a number"
        raise DataError(file, problem, row=int(lines[i]))
    return values


def _times(column: pd.Series, fmt: _TimeFormat, lines: Ints, file: str) -> Ints:
    """Times as ns UTC; epoch fractions are rounded to the microsecond."""
    if fmt.epoch_unit_ns:
        unit = fmt.epoch_unit_ns
        if pd.api.types.is_integer_dtype(column.dtype):
            return np.asarray(column.to_numpy(dtype=np.int64), dtype=np.int64) * unit
        numbers = _numbers(column, "time", lines, file)
        if unit >= 1000:
            return np.round(numbers * (unit // 1000)).astype(np.int64) * 1000
        return np.round(numbers * unit).astype(np.int64)
    texts = pa.array(column.astype("string"), from_pandas=True)
    matches = pc.fill_null(pc.match_substring_regex(texts, fmt.pattern), False)
    if not pc.all(matches).as_py():
        i = int(np.argmax(~matches.to_numpy(zero_copy_only=False)))
        text = column.iloc[i]
        problem = f"time {text!r} is not {fmt.description} like the first row's"
        raise DataError(file, "missing time" if pd.isna(text) else problem, row=int(lines[i]))
    if fmt.to_iso:
        kind = texts.type
        pieces = [
            pc.utf8_slice_codeunits(texts, p[0], p[1])
            if isinstance(p, tuple)
            else pa.scalar(p, kind)
            for p in fmt.to_iso
        ]
        texts = pc.binary_join_element_wise(*pieces, pa.scalar("", kind))
    parsed = pd.to_datetime(texts.to_pandas(), format="ISO8601", utc=True, errors="coerce")
    if (bad := parsed.isna().to_numpy()).any():
        i = int(np.argmax(bad))
        raise DataError(file, f"time {column.iloc[i]!r} is not a valid date", row=int(lines[i]))
    return np.asarray(pd.DatetimeIndex(parsed).as_unit("ns").asi8, dtype=np.int64)
