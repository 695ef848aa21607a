"""Where the close sits relative to recent prices: its distance from the moving average, its
Bollinger z-score, and its position inside the recent high-low range. Each is one incremental
class (the definition) and a vectorised batch function over whole columns, tested equal to the
class looped over them.

Windows are short (tens of bars), so each update recomputes its window directly (``fsum``,
``max``/``min``) rather than keeping running sums: exact, with no drift to reason about. The
batch forms recompute every window too (:mod:`~algotrading.features.rolling_arrays`).
"""

from __future__ import annotations

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
from algotrading.features.moving_average import RollingSma
from algotrading.features.rolling_arrays import (
    after_warmup,
    trailing_max,
    trailing_mean,
    trailing_min,
    trailing_offset_and_std,
    z_scores,
)


class MaDistance:
    """``close / SMA(window) - 1``: how far, as a fraction, the close is above its average.
    Warm-up: ``window - 1`` bars (the SMA is known from the ``window``-th close)."""

    __slots__ = ("_sma", "warmup")

    def __init__(self, window: int) -> None:
        self._sma = RollingSma(check_window("window", window))
        self.warmup = window - 1

    def update(
        self, ts_open: int, open_: float, high: float, low: float, close: float, volume: float
    ) -> float:
        average = self._sma.update(close)
        if average is None:
            return NAN
        return close / average - 1.0


class BollingerZ:
    """``(close - SMA(window)) / population std(window)``, the close in standard deviations
    from its average; 0.0 when the window is flat (std 0). Warm-up: ``window - 1`` bars."""

    __slots__ = ("_closes", "warmup", "window")

    def __init__(self, window: int) -> None:
        self.window = check_window("window", window, minimum=2)
        self.warmup = self.window - 1
        self._closes: deque[float] = deque(maxlen=self.window)

    def update(
        self, ts_open: int, open_: float, high: float, low: float, close: float, volume: float
    ) -> float:
        self._closes.append(close)
        if len(self._closes) < self.window:
            return NAN
        mean, std = mean_and_population_std(self._closes)
        return 0.0 if std == 0.0 else (close - mean) / std


class RangePosition:
    """``(close - lowest low) / (highest high - lowest low)`` over the last ``window`` bars
    (this one included): 0 at the low, 1 at the high, 0.5 when the range is zero. Warm-up:
    ``window - 1`` bars."""

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
        highest, lowest = extremes
        if highest == lowest:
            return 0.5
        return (close - lowest) / (highest - lowest)


def ma_distance(columns: BarColumns, window: int) -> Floats:
    """:class:`MaDistance` over whole columns, vectorised."""
    MaDistance(window)  # checks the argument as the definition does
    close = columns.close
    return after_warmup(close[window - 1 :] / trailing_mean(close, window) - 1.0, len(close))


def bollinger_z(columns: BarColumns, window: int) -> Floats:
    """:class:`BollingerZ` over whole columns, vectorised (a flat window gives 0.0)."""
    BollingerZ(window)
    offset, std = trailing_offset_and_std(columns.close, window)
    return after_warmup(z_scores(offset, std), len(columns))


def range_position(columns: BarColumns, window: int) -> Floats:
    """:class:`RangePosition` over whole columns, vectorised (a zero range gives 0.5)."""
    RangePosition(window)
    highest, lowest = trailing_max(columns.high, window), trailing_min(columns.low, window)
    width = highest - lowest
    zero = highest == lowest
    with np.errstate(divide="ignore", invalid="ignore"):
        position = (columns.close[window - 1 :] - lowest) / width
    position[zero] = 0.5
    return after_warmup(position, len(columns))
