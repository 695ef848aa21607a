"""Bars and quotes of one instrument as numpy columns — what the CSV loaders and the Parquet
store hand out — and their conversion to messages, the hot path of every backtest's input."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from algotrading.messages import Bar, Quote

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class BarColumns:
    """Consecutive bars of one series as columns (read from the store, views of its buffers:
    read-only); ``ts_open`` in ns UTC."""

    instrument: str
    interval_ns: int
    ts_open: Ints
    open: Floats
    high: Floats
    low: Floats
    close: Floats
    volume: Floats

    def __len__(self) -> int:
        return len(self.ts_open)

    def rows(self, start: int, stop: int) -> BarColumns:
        """Rows ``[start, stop)`` as columns of their own (views, no copy)."""
        return BarColumns(
            instrument=self.instrument,
            interval_ns=self.interval_ns,
            ts_open=self.ts_open[start:stop],
            open=self.open[start:stop],
            high=self.high[start:stop],
            low=self.low[start:stop],
            close=self.close[start:stop],
            volume=self.volume[start:stop],
        )

    def bars(self) -> Iterator[Bar]:
        """The rows as :class:`Bar` messages, each stamped at its close."""
        # The hot path of a backtest: columns become Python lists once (far quicker than
        # indexing numpy per row) and names are local; building the Struct is what remains.
        step, name, make = self.interval_ns, self.instrument, Bar
        columns = (self.ts_open + step, self.ts_open, self.open, self.high, self.low, self.close)
        lists = [column.tolist() for column in (*columns, self.volume)]
        for e, t, o, h, lo, c, v in zip(*lists, strict=True):
            yield make(
                ts_event=e,
                instrument=name,
                interval_ns=step,
                ts_open=t,
                open=o,
                high=h,
                low=lo,
                close=c,
                volume=v,
            )


@dataclass(frozen=True, eq=False)
class QuoteColumns:
    """Consecutive quotes of one instrument as columns (read-only when read from the store);
    ``ts`` in ns UTC."""

    instrument: str
    ts: Ints
    bid: Floats
    ask: Floats
    bid_size: Floats
    ask_size: Floats

    def __len__(self) -> int:
        return len(self.ts)

    def quotes(self) -> Iterator[Quote]:
        """The rows as :class:`Quote` messages (the hot path; see :meth:`BarColumns.bars`)."""
        name, make = self.instrument, Quote
        columns = (self.ts, self.bid, self.ask, self.bid_size, self.ask_size)
        for t, b, a, bs, asz in zip(*(column.tolist() for column in columns), strict=True):
            yield make(ts_event=t, instrument=name, bid=b, ask=a, bid_size=bs, ask_size=asz)


def is_number(text: str) -> bool:
    """Whether ``text`` reads as a float (for telling a header row from a data row)."""
    try:
        float(text)
    except ValueError:
        return False
    return True
