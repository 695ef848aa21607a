"""The backtest's files — trades.csv, orders.csv, equity.csv, metrics.json, report.html —
written as the run goes, so memory stays flat however long the history.

:class:`BacktestRecorder` is the ledger's sink: each closed trade, finished order and equity
mark becomes a row at once; the metrics fold the marks into daily closes; the report gets a
bounded, evenly thinned sample of equity, prices and trades. Everything is a pure function of
the run: no wall-clock times, floats printed by ``repr``, so the same run writes the same bytes.
"""

from __future__ import annotations

import csv
import functools
import json
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import msgspec
import numpy as np

from algotrading.backtest.ledger import ClosedTrade, OrderRecord, closed_trades
from algotrading.backtest.metrics import EquityTracker
from algotrading.messages import Side
from algotrading.timestamps import NS, iso_utc

EQUITY_BATCH = 65_536  # equity rows buffered between writes

__all__ = ["BacktestRecorder", "ClosedTrade", "Thinned", "closed_trades", "write_equity"]

TRADE_COLUMNS = (
    "instrument",
    "side",
    "quantity",
    "entry_time",
    "exit_time",
    "entry_price",
    "exit_price",
    "pnl",
)
ORDER_COLUMNS = (
    "client_order_id",
    "time",
    "instrument",
    "side",
    "quantity",
    "type",
    "status",
    "fill_time",
    "fill_price",
    "parent",  # the bracket entry of a stop-loss/take-profit leg, or an algo's parent order
)


@functools.lru_cache(maxsize=1024)  # quantities and prices recur from row to row
def _num(x: float) -> str:
    return repr(int(x)) if float(x).is_integer() else repr(x)


# An order's time, its fill's and its trade's entry and exit are mostly the times of a few bars:
# the last ones formatted are kept.
_iso_time = functools.lru_cache(maxsize=256)(iso_utc)


def trade_row(t: ClosedTrade) -> list[str]:
    return [
        t.instrument,
        "LONG" if t.side is Side.BUY else "SHORT",
        _num(t.quantity),
        _iso_time(t.entry_time),
        _iso_time(t.exit_time),
        _num(t.entry_price),
        _num(t.exit_price),
        f"{t.pnl:.2f}",
    ]


def order_row(r: OrderRecord) -> list[str]:
    o = r.order
    return [
        o.client_order_id,
        _iso_time(o.ts_event),
        o.instrument,
        o.side.value,
        _num(o.quantity),
        o.order_type.value,
        r.status,
        _iso_time(r.fill_time) if r.fill_time is not None else "",
        _num(r.fill_price) if r.fill_price is not None else "",
        o.parent_id or o.exec_id,
    ]


_HOURS_MINUTES = [f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]
_SECONDS = [f"{s:02d}Z," for s in range(60)]
_JSON = msgspec.json.Encoder()


def float_texts(values: Sequence[float]) -> list[str]:
    """``repr`` of each value, formatted in one call: msgspec writes the same text as
    ``repr`` (the shortest digits that round-trip, nearest, ties to even; positional) for
    zero and any magnitude in [1e-4, 1e16); the rest take ``repr`` itself."""
    v = np.asarray(values, dtype=np.float64)
    texts = _JSON.encode(v.tolist())[1:-1].decode().split(",")
    size = np.abs(v)
    for i in np.flatnonzero(~(((size >= 1e-4) & (size < 1e16)) | (v == 0.0))).tolist():
        texts[i] = repr(float(v[i]))
    return texts


def equity_rows(times: Sequence[int], values: Sequence[float]) -> str:
    """``time,equity`` rows of equity.csv: ``f"{iso_utc(t)},{v!r}\\n"`` for each mark,
    assembled from parts in one join (a backtest writes a row for every bar)."""
    n = len(values)
    if n == 0:
        return ""
    ts = np.asarray(times, dtype=np.int64)
    seconds, fractions = np.divmod(ts, NS)
    days, in_day = np.divmod(seconds, 86_400)
    minutes, secs = np.divmod(in_day, 60)
    parts = [""] * (5 * n)
    starts = (np.flatnonzero(days[1:] != days[:-1]) + 1).tolist()
    names = np.datetime_as_string(days[[0, *starts]].astype("datetime64[D]")).tolist()
    dates: list[str] = []
    for name, start, end in zip(names, [0, *starts], [*starts, n], strict=True):
        dates += [name + "T"] * (end - start)
    parts[0::5] = dates
    parts[1::5] = list(map(_HOURS_MINUTES.__getitem__, minutes.tolist()))
    parts[2::5] = list(map(_SECONDS.__getitem__, secs.tolist()))
    parts[3::5] = float_texts(values)
    parts[4::5] = ["\n"] * n
    for i in np.flatnonzero(fractions).tolist():  # fractions of a second: rare
        parts[5 * i : 5 * i + 3] = [iso_utc(int(ts[i])) + ",", "", ""]
    return "".join(parts)


def write_equity(path: Path, equity: Sequence[tuple[int, float]]) -> None:
    """A whole equity.csv at once, exactly as :class:`BacktestRecorder` streams it."""
    path.write_text("time,equity\n" + equity_rows([t for t, _ in equity], [v for _, v in equity]))


class Thinned:
    """At most ``2 * limit`` evenly spaced items of a stream of unknown length: every
    ``stride``-th item is kept, and when the sample fills up every other one is dropped and
    the stride doubles. Deterministic, O(limit) memory."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: list[Any] = []
        self.stride = 1
        self._seen = 0

    def add(self, item: Any) -> None:
        if self._seen % self.stride == 0:
            self.items.append(item)
            if len(self.items) >= 2 * self.limit:
                self.items = self.items[::2]
                self.stride *= 2
        self._seen += 1

    def add_many(self, n: int, item: Callable[[int], Any]) -> None:
        """:meth:`add` of ``n`` items, ``item(i)`` the i-th: only the kept ones are made."""
        i = -self._seen % self.stride
        while i < n:
            self.items.append(item(i))
            if len(self.items) >= 2 * self.limit:
                self.items = self.items[::2]
                self.stride *= 2
            i += 1
            i += -(self._seen + i) % self.stride
        self._seen += n


class OhlcThinned:
    """Candles merged ``width`` at a time, ``width`` doubling whenever ``2 * limit`` candles
    are held: the price chart of any length of history in bounded memory."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.candles: list[list[float]] = []  # ts, open, high, low, close
        self.width = 1
        self._in_last = 0

    def add(self, ts: int, o: float, h: float, lo: float, c: float) -> None:
        if self._in_last < self.width and self.candles:
            last = self.candles[-1]
            if h > last[2]:  # max(last[2], h), without the call: once per bar of history
                last[2] = h
            if lo < last[3]:
                last[3] = lo
            last[4] = c
            self._in_last += 1
            return
        self.candles.append([ts, o, h, lo, c])
        self._in_last = 1
        if len(self.candles) >= 2 * self.limit:
            merged = []
            for a, b in zip(self.candles[::2], self.candles[1::2], strict=False):
                merged.append([a[0], a[1], max(a[2], b[2]), min(a[3], b[3]), b[4]])
            if len(self.candles) % 2:
                merged.append(self.candles[-1])
            self.candles = merged
            self.width *= 2
            self._in_last = self.width  # the merged last candle is full

    def rows(self) -> list[tuple[int, float, float, float, float]]:
        return [(int(c[0]), c[1], c[2], c[3], c[4]) for c in self.candles]


class BacktestRecorder:
    """The ledger's sink in a backtest. With ``out_dir`` it writes the CSV files row by row;
    without, it only folds what the metrics need (a sweep's thousands of runs)."""

    def __init__(self, out_dir: Path | None, *, initial_equity: float, sample: int = 2000) -> None:
        self.out_dir = out_dir
        self.initial_equity = initial_equity
        self._tracker = EquityTracker()
        self.pnls = array("d")
        self.trade_sample = Thinned(sample)
        self._equity_sample = Thinned(sample)
        self.prices = OhlcThinned(sample)
        self._files: list[IO[str]] = []
        self._trades: Any = None
        self._orders: Any = None
        self._equity_file: IO[str] | None = None
        # equity marks not yet folded into the tracker and the sample, nor written
        self._equity_ts = array("q")
        self._equity_values = array("d")
        self._equity_exposed = bytearray()
        self._last_mark: int | None = None
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            self._trades = self._open("trades.csv", TRADE_COLUMNS)
            self._orders = self._open("orders.csv", ORDER_COLUMNS)
            self._equity_file = (out_dir / "equity.csv").open("w", newline="")
            self._equity_file.write("time,equity\n")
            self._files.append(self._equity_file)

    def _open(self, name: str, header: Sequence[str]) -> Any:
        assert self.out_dir is not None
        f = (self.out_dir / name).open("w", newline="")
        self._files.append(f)
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        return writer

    # --- LedgerSink -----------------------------------------------------------------------

    def trade_closed(self, trade: ClosedTrade) -> None:
        self.pnls.append(trade.pnl)
        self.trade_sample.add(trade)
        if self._trades is not None:
            self._trades.writerow(trade_row(trade))

    def order_finished(self, record: OrderRecord) -> None:
        if self._orders is not None:
            self._orders.writerow(order_row(record))

    def equity_marked(self, ts: int, equity: float, exposed: bool) -> None:
        """Buffered, and folded into the tracker, the sample and equity.csv a batch at a time
        (:meth:`_flush_equity`): a mark is taken every bar."""
        last = self._last_mark
        if last is not None and ts < last:  # as EquityTracker.mark, at once
            raise ValueError(f"equity mark at {ts} is before the previous one at {last}")
        self._last_mark = ts
        self._equity_ts.append(ts)
        self._equity_values.append(equity)
        self._equity_exposed.append(exposed)
        if len(self._equity_ts) >= EQUITY_BATCH:
            self._flush_equity()

    @property
    def tracker(self) -> EquityTracker:
        """Every mark so far, folded."""
        self._flush_equity()
        return self._tracker

    @property
    def equity_sample(self) -> Thinned:
        self._flush_equity()
        return self._equity_sample

    def _flush_equity(self) -> None:
        """Fold the buffered marks into the tracker (after the initial equity, at the first
        mark's time) and the sample, and write them to equity.csv."""
        times, values = self._equity_ts, self._equity_values
        n = len(times)
        if not n:
            return
        tracker = self._tracker
        if tracker.first_ts is None:
            tracker.mark(times[0], self.initial_equity, False)
        ts = np.frombuffer(times, dtype=np.int64)
        equity = np.frombuffer(values, dtype=np.float64)
        tracker.mark_many(ts, equity, np.frombuffer(self._equity_exposed, dtype=np.bool_))
        self._equity_sample.add_many(n, lambda i: (times[i], values[i]))
        if self._equity_file is not None:
            self._equity_file.write(equity_rows(times, values))
        self._equity_ts = array("q")
        self._equity_values = array("d")
        self._equity_exposed = bytearray()

    # --- the rest -------------------------------------------------------------------------

    def price(self, ts: int, o: float, h: float, lo: float, c: float) -> None:
        self.prices.add(ts, o, h, lo, c)

    def close(self) -> None:
        self._flush_equity()
        for f in self._files:
            f.close()
        self._files.clear()


def write_metrics(path: Path, metrics: dict[str, Any]) -> None:
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True, allow_nan=False) + "\n")
