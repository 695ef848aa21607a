"""Reading OHLCV bars from the CSV files that brokers and data vendors export.

One reader for the common layouts — Dukascopy, MetaTrader history exports (with or without a
header), pandas ``to_csv`` output, epoch-stamped files — so a backtest can take a file as
downloaded. The layout is decided once, from the header and the first data row: the delimiter,
which columns hold what, and the timestamp format, which every later row must then match. Bad
input raises :class:`DataError` with the file's 1-based line number.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import chain
from operator import itemgetter
from pathlib import Path

import numpy as np
import numpy.typing as npt

from algotrading.data.columns import BarColumns, Floats, Ints, is_number
from algotrading.data.instruments import BUILTIN_INSTRUMENTS, normalize_symbol
from algotrading.errors import DataError
from algotrading.messages import Bar
from algotrading.timestamps import iso_utc

NS = 1_000_000_000
DAY_NS = 86_400 * NS
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def iter_bars(
    path: str | Path, instrument: str | None = None, interval_ns: int | None = None
) -> Iterator[Bar]:
    """The bars of a file, one by one (the whole file is read and checked first)."""
    yield from read_bars(path, instrument, interval_ns).bars()


def read_bars(
    path: str | Path, instrument: str | None = None, interval_ns: int | None = None
) -> BarColumns:
    """Read and check a bar file. ``instrument`` overrides a symbol column or the file name;
    ``interval_ns`` defaults to the most common gap between consecutive bars."""
    if interval_ns is not None and interval_ns <= 0:
        raise ValueError(f"interval_ns must be > 0, got {interval_ns}")
    path = Path(path)
    file = str(path)
    rows = _rows(path, file)
    header_line, names = next(rows, (0, []))
    if not names:
        raise DataError(file, "empty file")
    implied = _implied_header(names)
    data_line, first = (header_line, names) if implied else next(rows, (0, []))
    if not first:
        raise DataError(file, "no data rows after the header", row=header_line)
    layout = _layout(implied or names, file, header_line)
    text = _time_text(first, layout.time)
    fmt = _detect_time(text)
    if fmt is None:
        raise DataError(file, f"unrecognised time {text!r}; {_FORMATS_HINT}", row=data_line)
    ts, table, numbers, named = _collect(chain([(data_line, first)], rows), layout, fmt, file)
    _check(ts, table, numbers, file)
    symbol = instrument or named or _instrument_from_name(path.stem)
    if not symbol:
        problem = "cannot tell the instrument from the file name or a symbol column"
        raise DataError(file, problem + "; give it with --instrument")
    interval = interval_ns or _modal_interval(ts, file)
    return BarColumns(normalize_symbol(symbol), interval, ts, *table)


# --- text and rows -----------------------------------------------------------------------------


def _rows(path: Path, file: str) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` of each non-blank line. The delimiter is a tab, semicolon or
    comma, the first found on every one of the first lines, or else runs of whitespace."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(file, f"cannot read the file: {e.strerror or e}") from None
    encoding = "utf-16" if raw.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
    try:
        lines = raw.decode(encoding).splitlines()
    except UnicodeDecodeError as e:
        what = encoding.removesuffix("-sig").upper()
        raise DataError(file, f"not {what} text ({e.reason} at byte {e.start})") from None
    sample = [line for line in lines[:50] if line.strip()][:10]
    delim = next((d for d in ("\t", ";", ",") if sample and all(d in s for s in sample)), None)
    if delim is None:
        yield from ((n, fields) for n, line in enumerate(lines, 1) if (fields := line.split()))
        return
    reader = csv.reader(lines, delimiter=delim, skipinitialspace=True)
    try:
        for fields in reader:
            if fields and (len(fields) > 1 or fields[0].strip()):
                yield reader.line_num, fields
    except csv.Error as e:
        raise DataError(file, f"malformed CSV: {e}", row=reader.line_num) from None


# --- timestamps --------------------------------------------------------------------------------

_TIME_RE = (
    r"(?:T|\s+)(?P<tod>(?P<H>\d{1,2}):?(?P<M>\d{2})(?::?(?P<S>\d{2})(?:[.,](?P<f>\d{1,9}))?)?)"
    r"(?:\s*(?P<tz>Z|UTC|GMT|(?:UTC|GMT)?(?P<sign>[+-])(?P<oh>\d{2}):?(?P<om>\d{2})?))?"
)
# The date formats, tried in this order, each with a time of day and then alone (daily bars).
_DATE_STYLES = (
    ("yyyy-mm-dd", r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"),
    ("yyyy.mm.dd", r"(?P<y>\d{4})\.(?P<m>\d{2})\.(?P<d>\d{2})"),
    ("yyyy/mm/dd", r"(?P<y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2})"),
    ("dd.mm.yyyy", r"(?P<d>\d{2})\.(?P<m>\d{2})\.(?P<y>\d{4})"),
    ("yyyymmdd", r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})"),
    ("m/d/yyyy", r"(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})"),
)
_CALENDAR_FORMATS = [
    (f"{desc} hh:mm[:ss[.fff]]", re.compile(f"(?P<date>{regex}){_TIME_RE}"))
    for desc, regex in _DATE_STYLES
] + [(desc, re.compile(f"(?P<date>{regex})(?P<tod>)(?P<tz>)")) for desc, regex in _DATE_STYLES]
_EPOCH_RE = re.compile(r"(?P<whole>-?\d+)(?:\.(?P<fraction>\d+))?")
_EPOCH_UNITS = (("seconds", NS, 10**11), ("ms", 10**6, 10**14), ("us", 10**3, 10**17))
_FORMATS_HINT = (
    "expected ISO 8601 (2020-01-02T13:00:00Z), 2020.01.02 13:00, 02.01.2020 13:00:00.000, "
    "20200102 130000, 1/2/2020 13:00, a date (2020-01-02) or epoch seconds/ms/us/ns"
)


@dataclass
class _TimeFormat:
    """One way of writing times, detected on the first data row and required of every row.
    Dates and times of day are each converted once per distinct string, which is what makes a
    year of minute bars quick."""

    description: str
    pattern: re.Pattern[str]
    epoch_unit_ns: int = 0  # for numbers since 1970
    days: dict[str, int] = field(default_factory=dict)
    tods: dict[str, int] = field(default_factory=lambda: {"": 0})  # "": a date alone

    def parse(self, text: str) -> int:
        m = self.pattern.fullmatch(text)
        if m is None:
            raise ValueError(text)
        if unit := self.epoch_unit_ns:  # exact to the nanosecond; digits beyond it are dropped
            whole, fraction = m["whole"], m["fraction"] or "0"
            part: int = int(fraction) * unit // 10 ** len(fraction)
            ns = int(whole) * unit + (-part if whole.startswith("-") else part)
            if not -(2**63) <= ns < 2**63:
                raise ValueError(text)
            return ns
        days = self.days.get(m["date"])
        if days is None:
            days = date(int(m["y"]), int(m["m"]), int(m["d"])).toordinal() - _EPOCH_ORDINAL
            self.days[m["date"]] = days
        tod = self.tods.get(m["tod"])
        if tod is None:
            hour, minute, second = int(m["H"]), int(m["M"]), int(m["S"] or 0)
            if hour > 23 or minute > 59 or second > 59:
                raise ValueError(text)
            tod = ((hour * 60 + minute) * 60 + second) * NS + int((m["f"] or "0").ljust(9, "0"))
            self.tods[m["tod"]] = tod
        if m["tz"] and m["sign"]:  # local time is ahead of UTC by the offset
            offset = (int(m["oh"]) * 60 + int(m["om"] or 0)) * 60 * NS
            return days * DAY_NS + tod - (offset if m["sign"] == "+" else -offset)
        return days * DAY_NS + tod


def _detect_time(text: str) -> _TimeFormat | None:
    """The first format that reads ``text``; epoch numbers take their unit from its size."""
    candidates = [_TimeFormat(*spec) for spec in _CALENDAR_FORMATS]
    if m := _EPOCH_RE.fullmatch(text):
        size = abs(int(m["whole"]))
        name, unit = next(((n, u) for n, u, top in _EPOCH_UNITS if size < top), ("ns", 1))
        candidates.append(_TimeFormat(f"epoch {name}", _EPOCH_RE, unit))
    for fmt in candidates:
        with suppress(ValueError):
            fmt.parse(text)
            return fmt
    return None


# --- layout ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    n_fields: int
    time: tuple[int, ...]  # one column, or a date and a time-of-day column joined by a space
    ohlc: tuple[int, ...]  # open, high, low, close
    volume: int | None
    instrument: int | None


_DATETIME_NAMES: tuple[str, ...] = ("timestamp", "datetime", "date time", "gmt time", "utc time")
_DATETIME_NAMES += ("local time", "time utc", "ts open", "open time", "ts")
_DATE_NAMES = ("date", "dtyyyymmdd", "day")
_OHLC_NAMES = (("open", "o"), ("high", "h"), ("low", "l"), ("close", "c"))
_VOLUME_NAMES = ("volume", "tick volume", "tickvol", "tick vol", "vol", "real volume", "v")
_INSTRUMENT_NAMES = ("instrument", "symbol", "ticker")
_TIME_OF_DAY = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?|\d{6}")


def _time_text(fields: list[str], columns: tuple[int, ...]) -> str:
    return " ".join(fields[i].strip() for i in columns)


def _implied_header(fields: list[str]) -> list[str] | None:
    """Names for a file whose first row is already data (MetaTrader history exports): the time,
    as one field or as a date and a time of day, then open, high, low, close and volume."""
    for names in (["date", "time"], ["time"]):
        k = len(names)
        if len(fields) < k + 4 or not all(map(is_number, fields[k : k + 4])):
            continue
        if k == 2 and not _TIME_OF_DAY.fullmatch(fields[1].strip()):  # 20200102,1300: a price
            continue
        if _detect_time(_time_text(fields, tuple(range(k)))) is not None:
            names = [*names, "open", "high", "low", "close", "volume"]
            return (names + [""] * len(fields))[: len(fields)]
    return None


def _layout(names: list[str], file: str, line: int) -> _Layout:
    """Which column holds what, from the header: ``<TICKVOL>``, ``Tick_Volume`` and
    ``tick volume`` are one name; a blank first name is pandas' unnamed time index."""
    normalised = [" ".join(n.strip().strip("<>").lower().replace("_", " ").split()) for n in names]

    def find(candidates: tuple[str, ...]) -> int | None:
        return next((normalised.index(c) for c in candidates if c in normalised), None)

    combined, day, tod = find(_DATETIME_NAMES), find(_DATE_NAMES), find(("time",))
    blank = 0 if normalised[0] == "" else None
    options = ((combined,), (day, tod), (tod,), (day,), (blank,))
    time = next((tuple(i for i in o if i is not None) for o in options if None not in o), ())
    ohlc = [find(candidates) for candidates in _OHLC_NAMES]
    missing = [] if time else ["time"]
    missing += [c[0] for c, i in zip(_OHLC_NAMES, ohlc, strict=True) if i is None]
    if missing:
        problem = f"no {', '.join(missing)} column; found {', '.join(map(repr, names))}; expected "
        problem += "time (or timestamp, datetime, gmt time, date and time), open, high, low, close"
        raise DataError(file, problem + " and optionally volume", row=line)
    found = tuple(i for i in ohlc if i is not None)
    return _Layout(len(names), time, found, find(_VOLUME_NAMES), find(_INSTRUMENT_NAMES))


# --- rows to columns ---------------------------------------------------------------------------

_VALUE_NAMES = ("open", "high", "low", "close", "volume")


def _collect(
    rows: Iterator[tuple[int, list[str]]], layout: _Layout, fmt: _TimeFormat, file: str
) -> tuple[Ints, Floats, list[int], str | None]:
    """Times, a (5, rows) table of open, high, low, close and volume, line numbers, and the
    symbol column's one value."""
    t0, t1 = layout.time[0], layout.time[-1] if len(layout.time) == 2 else None
    columns = (*layout.ohlc, *(() if layout.volume is None else (layout.volume,)))
    pick = itemgetter(*columns)
    ts: list[int] = []
    values: list[tuple[str, ...]] = []
    lines: list[int] = []
    instrument: str | None = None
    for line, fields in rows:
        if len(fields) != layout.n_fields:
            raise DataError(file, f"expected {layout.n_fields} fields, found {len(fields)}", line)
        text = fields[t0].strip() if t1 is None else f"{fields[t0].strip()} {fields[t1].strip()}"
        try:
            ts.append(fmt.parse(text))
        except ValueError:
            problem = f"time {text!r} does not match the first row's format ({fmt.description})"
            raise DataError(file, problem, row=line) from None
        values.append(pick(fields))
        if layout.instrument is not None:
            symbol = fields[layout.instrument].strip()
            if instrument is not None and symbol != instrument:
                raise DataError(file, f"instrument {symbol!r} after {instrument!r}", row=line)
            instrument = symbol
        lines.append(line)
    table = np.zeros((5, len(lines)))
    try:
        table[: len(columns)] = np.array(values, dtype=np.float64).T
    except ValueError:  # numpy does not say where; Python's float is the judge
        for row, line in zip(values, lines, strict=True):
            for name, text in zip(_VALUE_NAMES, row, strict=False):
                if not is_number(text):
                    raise DataError(file, f"{name} {text!r} is not a number", row=line) from None
        raise
    return np.array(ts, dtype=np.int64), table, lines, instrument


def _check(ts: Ints, table: Floats, lines: list[int], file: str) -> None:
    """Raise for the earliest row with a bad price, inconsistent OHLC or a time out of order."""
    problems: list[tuple[int, str]] = []

    def first(bad: npt.NDArray[np.bool_]) -> int | None:
        return int(np.argmax(bad)) if bad.any() else None

    for name, values in zip(_VALUE_NAMES, table, strict=True):
        positive = values >= 0 if name == "volume" else values > 0
        if (i := first(~(np.isfinite(values) & positive))) is not None:
            need = ">= 0" if name == "volume" else "> 0"
            problems.append((i, f"bad {name} {float(values[i])!r}: must be finite and {need}"))
    op, hi, lo, cl = table[:4]
    if (i := first((hi < np.maximum(op, cl)) | (lo > np.minimum(op, cl)) | (hi < lo))) is not None:
        ohlc = ", ".join(f"{float(v)!r}" for v in table[:4, i])
        problems.append((i, f"inconsistent open, high, low, close: {ohlc}"))
    if (i := first(np.diff(ts) <= 0)) is not None:
        now, before = iso_utc(int(ts[i + 1])), iso_utc(int(ts[i]))
        what = "duplicate time" if now == before else "time goes back"
        problems.append((i + 1, f"{what}: {now} after {before}; rows must be in time order"))
    if problems:
        index, problem = min(problems, key=lambda p: p[0])
        raise DataError(file, problem, row=lines[index])


def _modal_interval(ts: Ints, file: str) -> int:
    """The most common gap between bars (the smallest on a tie), so weekends do not count."""
    if len(ts) < 2:
        raise DataError(file, "a single bar does not show its interval; give interval_ns")
    gaps, counts = np.unique(np.diff(ts), return_counts=True)
    return int(gaps[np.argmax(counts)])


# --- instrument --------------------------------------------------------------------------------

_CURRENCY = "(USD|EUR|GBP|JPY|CHF|CAD|AUD|NZD|SEK|NOK|DKK|PLN|HUF|TRY|ZAR|MXN|SGD|HKD|CNH|XAU|XAG)"
_PAIR_AT_START = re.compile(rf"{_CURRENCY}[_\-/ ]?{_CURRENCY}(?![A-Z])")
# EUR_USD, EURUSD, US30_USD, US30USD and US30 anywhere in a name, not inside a longer word or
# number; the longest spelling wins.
_SPELLINGS = {s: s for s in BUILTIN_INSTRUMENTS}
_SPELLINGS |= {s.replace("_", ""): s for s in BUILTIN_INSTRUMENTS}
_SPELLINGS |= {i.base: s for s, i in BUILTIN_INSTRUMENTS.items() if i.asset_class == "index_cfd"}
_BUILTIN_IN_NAME = re.compile(
    r"(?<![A-Z0-9])("
    + "|".join(
        re.escape(s) + (r"(?!\d)" if s[-1].isdigit() else r"(?![A-Z])")
        for s in sorted(_SPELLINGS, key=len, reverse=True)
    )
    + ")"
)


def _instrument_from_name(stem: str) -> str | None:
    """``EURUSD_H1``, ``eur-usd``, ``EURUSD_Candlestick_1_Hour_BID_...``, ``data_US30_USD``."""
    text = stem.upper()
    if m := _PAIR_AT_START.match(text):
        return f"{m[1]}_{m[2]}"
    m = _BUILTIN_IN_NAME.search(text)
    return _SPELLINGS[m[1]] if m else None


def write_bars_csv(path: str | Path, bars: Iterable[Bar], precision: int = 5) -> Path:
    """Write ``bars`` as CSV in the layout Dukascopy exports (``Gmt time`` as
    ``day.month.year hours:minutes:seconds.millis``), which :func:`read_bars` reads back."""
    path = Path(path)
    with path.open("w", newline="") as f:
        f.write("Gmt time,Open,High,Low,Close,Volume\n")
        for b in bars:
            t = datetime.fromtimestamp(b.ts_open // 1_000_000_000, UTC)
            f.write(
                f"{t:%d.%m.%Y %H:%M:%S}.000,{b.open:.{precision}f},{b.high:.{precision}f},"
                f"{b.low:.{precision}f},{b.close:.{precision}f},{b.volume:.2f}\n"
            )
    return path
