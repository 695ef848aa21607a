"""How much the market is moving and trading: realised volatility, ATR and the high-low range
as fractions of price, and the volume z-score. Each is one incremental class (the definition)
and a vectorised batch function over whole columns, tested equal to the class looped over them.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from algotrading.data.columns import BarColumns
from algotrading.features.bar_feature import (
    NAN,
    Floats,
    RollingRange,
    check_window,
    mean_and_population_std,
)
from algotrading.features.rolling_arrays import (
    after_warmup,
    trailing_max,
    trailing_min,
    trailing_offset_and_std,
    wilder_smoothing,
    z_scores,
)
from algotrading.features.volatility import RollingAtr


class RealisedVolatility:
    """Population standard deviation of the last ``window`` one-bar log returns (per bar, not
    annualised: the bar interval is the model's unit of time). Warm-up: ``window`` bars
    (``window`` returns need ``window + 1`` closes)."""

    __slots__ = ("_prev_close", "_returns", "warmup", "window")

    def __init__(self, window: int) -> None:
        self.window = check_window("window", window, minimum=2)
        self.warmup = self.window
        self._prev_close: float | None = None
        self._returns: deque[float] = deque(maxlen=self.window)

    def update(
        self, ts_open: int, open_: float, high: float, low: float, close: float, volume: float
    ) -> float:
        previous, self._prev_close = self._prev_close, close
        if previous is None:
            return NAN
        self._returns.append(math.log(close / previous))
        if len(self._returns) < self.window:
            return NAN
        return mean_and_population_std(self._returns)[1]


class AtrRatio:
    """Wilder's ATR (:class:`~algotrading.features.volatility.RollingAtr`, the one strategies
    use for stops) divided by the close, so it is scale free. Warm-up: ``period - 1`` bars —
    the first bar's true range is its high - low, so the ATR is known from the ``period``-th
    bar on."""

    __slots__ = ("_atr", "warmup")

    def __init__(self, period: int) -> None:
        self._atr = RollingAtr(check_window("period", period))
        self.warmup = period - 1

    def update(
        self, ts_open: int, open_: float, high: float, low: float, close: float, volume: float
    ) -> float:
        value = self._atr.update(high, low, close)
        return NAN if value is None else value / close


class RangeWidth:
    """``(highest high - lowest low) / close`` over the last ``window`` bars, this one
    included. Warm-up: ``window - 1`` bars."""

    __slots__ = ("_range", "warmup", "window")

    def __init__(self, window: int) -> None:
        self._range = RollingRange(window)
        self.window = window
        self.warmup = window - 1

    def update(
        self, ts_open: int, open_: float, high: float, low: float, close: float, volume: float
    ) -> float:
        extremes = self._range.update(high, low)
        if extremes is None:
            return NAN
        return (extremes[0] - extremes[1]) / close


class VolumeZ:
    """``(volume - mean) / population std`` of volume over the last ``window`` bars. FX feeds
    often carry no volume (0.0, or NaN where a column was missing): a missing volume counts as
    0.0, and a window with no spread (all zero, or all equal) gives 0.0 rather than 0/0.
    Warm-up: ``window - 1`` bars."""

    __slots__ = ("_volumes", "warmup", "window")

    def __init__(self, window: int) -> None:
        self.window = check_window("window", window, minimum=2)
        self.warmup = self.window - 1
        self._volumes: deque[float] = deque(maxlen=self.window)

    def update(
        self, ts_open: int, open_: float, high: float, low: float, close: float, volume: float
    ) -> float:
        known = volume if math.isfinite(volume) else 0.0
        self._volumes.append(known)
        if len(self._volumes) < self.window:
            return NAN
        mean, std = mean_and_population_std(self._volumes)
        return 0.0 if std == 0.0 else (known - mean) / std


def realised_volatility(columns: BarColumns, window: int) -> Floats:
    """:class:`RealisedVolatility` over whole columns, vectorised."""
    RealisedVolatility(window)  # checks the argument as the definition does
    close = columns.close
    _, std = trailing_offset_and_std(np.log(close[1:] / close[:-1]), window)
    return after_warmup(std, len(close))


def atr_ratio(columns: BarColumns, period: int) -> Floats:
    """:class:`AtrRatio` over whole columns, vectorised: the same true ranges, first mean and
    Wilder's smoothing."""
    AtrRatio(period)
    high, low, close = columns.high, columns.low, columns.close
    true_range = high - low
    previous = close[:-1]
    np.maximum(true_range[1:], np.abs(high[1:] - previous), out=true_range[1:])
    np.maximum(true_range[1:], np.abs(low[1:] - previous), out=true_range[1:])
    return wilder_smoothing(true_range, period) / close


def range_width(columns: BarColumns, window: int) -> Floats:
    """:class:`RangeWidth` over whole columns, vectorised."""
    RangeWidth(window)
    width = trailing_max(columns.high, window) - trailing_min(columns.low, window)
    return after_warmup(width / columns.close[window - 1 :], len(columns))


def volume_z(columns: BarColumns, window: int) -> Floats:
    """:class:`VolumeZ` over whole columns, vectorised (a missing volume counts as 0.0, a flat
    window gives 0.0)."""
    VolumeZ(window)
    volume = columns.volume
    offset, std = trailing_offset_and_std(np.where(np.isfinite(volume), volume, 0.0), window)
    return after_warmup(z_scores(offset, std), len(volume))
