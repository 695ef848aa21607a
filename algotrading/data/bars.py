"""Time bars from quotes, and longer bars from shorter ones — the same code in backtest and live.

Bars are aligned to whole multiples of the interval since the epoch (a 1h bar opens on the
hour). A bar covers only the prices inside its window, so no bar spans a closed market: the last
bar before a weekend closes with Friday's last quote and the next opens with Sunday's first.
"""

from __future__ import annotations

from algotrading.messages import Bar


class BarAggregator:
    """Builds bars of ``interval_ns`` for one instrument. Each ``on_*`` call returns the bar
    it completed, if any."""

    def __init__(self, instrument: str, interval_ns: int) -> None:
        if interval_ns <= 0:
            raise ValueError("interval_ns must be > 0")
        self.instrument = instrument
        self.interval_ns = interval_ns
        self._start: int | None = None
        self._closed_until = 0  # end of the last bar emitted: later data before it is late
        self._open = self._high = self._low = self._close = 0.0
        self._volume = 0.0

    @property
    def _end(self) -> int:
        assert self._start is not None
        return self._start + self.interval_ns

    def on_price(self, ts: int, price: float, volume: float = 0.0) -> Bar | None:
        """Add a traded or mid price seen at ``ts``."""
        start = ts - ts % self.interval_ns
        if start == self._start:  # into the bar in progress: what _add does then, inlined
            if price > self._high:
                self._high = price
            if price < self._low:
                self._low = price
            self._close = price
            self._volume += volume
            return None
        return self._add(start, ts, price, price, price, price, volume)

    def on_bar(self, bar: Bar) -> Bar | None:
        """Pass a bar at least as long as ours through; fold a shorter one into ours."""
        if bar.interval_ns >= self.interval_ns:
            return bar
        start = bar.ts_open - bar.ts_open % self.interval_ns
        completed = self._add(
            start, bar.ts_event, bar.open, bar.high, bar.low, bar.close, bar.volume
        )
        if completed is None and bar.ts_event >= self._end:
            return self._emit(bar.ts_event)
        return completed

    def on_time(self, now_ns: int) -> Bar | None:
        """Close the current bar once its window is over, even if no new price came."""
        if self._start is not None and now_ns >= self._end:
            return self._emit(now_ns)
        return None

    def _add(
        self, start: int, ts: int, o: float, h: float, lo: float, c: float, volume: float
    ) -> Bar | None:
        completed = None
        if start < self._closed_until or (self._start is not None and start < self._start):
            return None  # late data for a bar already emitted: dropped
        if self._start is not None and start != self._start:
            completed = self._emit(ts)
        if self._start is None:
            self._start = start
            self._open, self._high, self._low = o, h, lo
            self._volume = 0.0
        else:
            self._high = max(self._high, h)
            self._low = min(self._low, lo)
        self._close = c
        self._volume += volume
        return completed

    def _emit(self, ts_recv: int) -> Bar:
        bar = Bar(
            ts_event=self._end,
            ts_recv=max(ts_recv, self._end),
            instrument=self.instrument,
            interval_ns=self.interval_ns,
            ts_open=self._start or 0,
            open=self._open,
            high=self._high,
            low=self._low,
            close=self._close,
            volume=self._volume,
        )
        self._closed_until = self._end
        self._start = None
        return bar
