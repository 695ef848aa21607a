"""The backtest's files — trades.csv, orders.csv, equity.csv, metrics.json, report.html —
written as the run goes, so memory stays flat however long the history.

:class:`BacktestRecorder` is the ledger's sink: each closed trade, finished order and equity
mark becomes a row at once; the metrics fold the marks into daily closes; the report gets a
bounded, evenly thinned sample of equity, prices and trades. Everything is a pure function of
the run: no wall-clock times, floats printed by ``repr``, so the same run writes the same bytes.
"""

from __future__ import annotations

import csv
import json
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from algotrading.backtest.ledger import ClosedTrade, OrderRecord, closed_trades
from algotrading.backtest.metrics import EquityTracker
from algotrading.messages import Side
from algotrading.timestamps import iso_utc, iso_utc_many

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


def _num(x: float) -> str:
    return repr(int(x)) if float(x).is_integer() else repr(x)


def trade_row(t: ClosedTrade) -> list[str]:
    return [
        t.instrument,
        "LONG" if t.side is Side.BUY else "SHORT",
        _num(t.quantity),
        iso_utc(t.entry_time),
        iso_utc(t.exit_time),
        _num(t.entry_price),
        _num(t.exit_price),
        f"{t.pnl:.2f}",
    ]


def order_row(r: OrderRecord) -> list[str]:
    o = r.order
    return [
        o.client_order_id,
        iso_utc(o.ts_event),
        o.instrument,
        o.side.value,
        _num(o.quantity),
        o.order_type.value,
        r.status,
        iso_utc(r.fill_time) if r.fill_time is not None else "",
        _num(r.fill_price) if r.fill_price is not None else "",
        o.parent_id or o.exec_id,
    ]


def equity_rows(times: Sequence[int], values: Sequence[float]) -> str:
    """``time,equity`` rows of equity.csv: ISO times (formatted vectorised), full precision."""
    return "".join(f"{t},{v!r}\n" for t, v in zip(iso_utc_many(times), values, strict=True))


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


class OhlcThinned:
    """Candles merged ``width`` at a time, ``width`` doubling whenever ``2 * limit`` candles
    are held: the price chart of any length of history in bounded memory."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.candles: list[list[float]] = []  # ts, open, high, low, close
        self.width = 1
        self._in_last = 0

    def add(self, ts: int, o: float, h: float, lo: float, c: float) -> None:
        if self.candles and self._in_last < self.width:
            last = self.candles[-1]
            last[2] = max(last[2], h)
            last[3] = min(last[3], lo)
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
        self.tracker = EquityTracker()
        self.pnls = array("d")
        self.trade_sample = Thinned(sample)
        self.equity_sample = Thinned(sample)
        self.prices = OhlcThinned(sample)
        self._files: list[IO[str]] = []
        self._trades: Any = None
        self._orders: Any = None
        self._equity_file: IO[str] | None = None
        self._equity_ts = array("q")
        self._equity_values = array("d")
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
        if self.tracker.first_ts is None:
            self.tracker.mark(ts, self.initial_equity, False)
        self.tracker.mark(ts, equity, exposed)
        self.equity_sample.add((ts, equity))
        if self._equity_file is not None:
            self._equity_ts.append(ts)
            self._equity_values.append(equity)
            if len(self._equity_ts) >= EQUITY_BATCH:
                self._flush_equity()

    def _flush_equity(self) -> None:
        """Write the buffered equity rows at once: times are formatted vectorised."""
        assert self._equity_file is not None
        self._equity_file.write(equity_rows(self._equity_ts, self._equity_values))
        self._equity_ts = array("q")
        self._equity_values = array("d")

    # --- the rest -------------------------------------------------------------------------

    def price(self, ts: int, o: float, h: float, lo: float, c: float) -> None:
        self.prices.add(ts, o, h, lo, c)

    def close(self) -> None:
        if self._equity_file is not None and self._equity_ts:
            self._flush_equity()
        for f in self._files:
            f.close()
        self._files.clear()


def write_metrics(path: Path, metrics: dict[str, Any]) -> None:
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True, allow_nan=False) + "\n")
