"""Momentum features — which way and how strongly price has been moving: log returns, Wilder's
RSI, and the MACD histogram. Each is one incremental class (the definition) and a vectorised
batch function over whole columns, tested equal to the class looped over them (see
:mod:`algotrading.features.bar_feature`).

All are scale free (a return, a bounded oscillator, a difference of averages divided by price),
so one model can read EUR/USD at 1.1 and an index at 18000.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from algotrading.data.columns import BarColumns
from algotrading.features.bar_feature import NAN, Floats, check_window
from algotrading.features.moving_average import RollingEma
from algotrading.features.rolling_arrays import after_warmup, ema_filter, wilder_smoothing


class LogReturn:
    """``log(close[t] / close[t - horizon])``. Warm-up: ``horizon`` bars (it needs
    ``horizon + 1`` closes). Closes must be positive, as prices are."""

    __slots__ = ("_closes", "horizon", "warmup")

    def __init__(self, horizon: int) -> None:
        self.horizon = check_window("horizon", horizon)
        self.warmup = self.horizon
        self._closes: deque[float] = deque(maxlen=self.horizon + 1)

    def update(
        self, ts_open: int, open_: float, high: float, low: float, close: float, volume: float
    ) -> float:
        self._closes.append(close)
        if len(self._closes) <= self.horizon:
            return NAN
        return math.log(close / self._closes[0])


class Rsi:
    """Wilder's relative strength index, in [0, 100].

    The first average gain and loss are plain means of the first ``period`` close-to-close
    changes; after that each is smoothed as ``avg = (avg * (period - 1) + x) / period``. Warm-up:
    ``period`` bars exactly — ``period`` changes need ``period + 1`` closes, so the first value
    is at bar index ``period``. With no losses in the averages it is 100; with neither gains nor
    losses (a flat market) it is 50, the neutral value, rather than an undefined 0/0.
    """

    __slots__ = ("_avg_gain", "_avg_loss", "_first_changes", "_prev_close", "period", "warmup")

    def __init__(self, period: int) -> None:
        self.period = check_window("period", period)
        self.warmup = self.period
        self._prev_close: float | None = None
        self._first_changes: list[float] = []
        self._avg_gain: float | None = None
        self._avg_loss = 0.0

    def update(
        self, ts_open: int, open_: float, high: float, low: float, close: float, volume: float
    ) -> float:
        previous, self._prev_close = self._prev_close, close
        if previous is None:
            return NAN
        change = close - previous
        gain, loss = max(change, 0.0), max(-change, 0.0)
        if self._avg_gain is None:
            self._first_changes.append(change)
            if len(self._first_changes) < self.period:
                return NAN
            self._avg_gain = math.fsum(max(c, 0.0) for c in self._first_changes) / self.period
            self._avg_loss = math.fsum(max(-c, 0.0) for c in self._first_changes) / self.period
            self._first_changes = []
        else:
            keep = self.period - 1
            self._avg_gain = (self._avg_gain * keep + gain) / self.period
            self._avg_loss = (self._avg_loss * keep + loss) / self.period
        return rsi_from_averages(self._avg_gain, self._avg_loss)


def rsi_from_averages(avg_gain: float, avg_loss: float) -> float:
    """``100 - 100 / (1 + avg_gain / avg_loss)``, with the no-loss cases decided explicitly."""
    if avg_loss == 0.0:
        return 50.0 if avg_gain == 0.0 else 100.0
    return 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)


class MacdHistogram:
    """The MACD histogram divided by the close: ``(EMA_fast - EMA_slow - signal EMA of that
    difference) / close``, so it is a fraction of price and comparable across instruments.

    The EMAs (``alpha = 2 / (span + 1)``, seeded with the first value, as
    :class:`~algotrading.features.moving_average.RollingEma`) are defined from the first bar,
    but their first values are dominated by the seed. The warm-up is therefore declared as
    ``slow + signal - 1`` bars — the slow EMA's span and then the signal EMA's — and the values
    before it are NaN, so a model never trains on the unsettled start.
    """

    __slots__ = ("_bars", "_fast", "_signal", "_slow", "warmup")

    def __init__(self, fast: int, slow: int, signal: int) -> None:
        check_window("fast", fast)
        check_window("slow", slow)
        check_window("signal", signal)
        if fast >= slow:
            raise ValueError(f"fast span must be shorter than slow span, got {fast} >= {slow}")
        self.warmup = slow + signal - 1
        self._fast = RollingEma(fast)
        self._slow = RollingEma(slow)
        self._signal = RollingEma(signal)
        self._bars = 0

    def update(
        self, ts_open: int, open_: float, high: float, low: float, close: float, volume: float
    ) -> float:
        line = self._fast.update(close) - self._slow.update(close)
        histogram = line - self._signal.update(line)
        self._bars += 1
        if self._bars <= self.warmup:
            return NAN
        return histogram / close


def log_returns(columns: BarColumns, horizon: int) -> Floats:
    """:class:`LogReturn` over whole columns, vectorised."""
    LogReturn(horizon)  # checks the argument as the definition does
    close = columns.close
    earlier = close[: max(len(close) - horizon, 0)]
    return after_warmup(np.log(close[horizon:] / earlier), len(close))


def rsi(columns: BarColumns, period: int) -> Floats:
    """:class:`Rsi` over whole columns, vectorised: the same first means and Wilder's smoothing
    of the gains and losses, and the same 50 / 100 where the average loss is exactly zero."""
    Rsi(period)
    change = np.diff(columns.close)
    avg_gain = wilder_smoothing(np.maximum(change, 0.0), period)[period - 1 :]
    avg_loss = wilder_smoothing(np.maximum(-change, 0.0), period)[period - 1 :]
    with np.errstate(divide="ignore", invalid="ignore"):
        values = 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    no_loss = avg_loss == 0.0
    values[no_loss] = np.where(avg_gain[no_loss] == 0.0, 50.0, 100.0)
    return after_warmup(values, len(columns))


def macd_histogram(columns: BarColumns, fast: int, slow: int, signal: int) -> Floats:
    """:class:`MacdHistogram` over whole columns, vectorised (the EMAs as linear filters)."""
    warmup = MacdHistogram(fast, slow, signal).warmup
    close = columns.close
    line = ema_filter(close, fast) - ema_filter(close, slow)
    histogram = line - ema_filter(line, signal)
    return after_warmup(histogram[warmup:] / close[warmup:], len(close))
