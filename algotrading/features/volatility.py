"""Average true range (Wilder), in its two forms: over whole arrays and one bar at a time. Both
run the same arithmetic in the same order, so they agree bit for bit.

True range of bar t: ``max(high - low, |high - close[t-1]|, |low - close[t-1]|)`` (the first bar:
``high - low``). ATR(n): the mean of the first ``n`` true ranges, then Wilder's smoothing
``atr = (atr * (n - 1) + tr) / n``. Warm-up: ``n`` bars.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy only in the array functions: the streaming classes run without it
    import numpy as np
    from numpy.typing import NDArray


def true_range(high: float, low: float, prev_close: float | None) -> float:
    if prev_close is None:
        return high - low
    return max(high - low, abs(high - prev_close), abs(low - prev_close))


class RollingAtr:
    """The incremental ATR: :meth:`update` returns it once ``period`` bars are in."""

    __slots__ = ("_first", "_prev_close", "period", "value")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError("ATR period must be >= 1")
        self.period = period
        self.value: float | None = None
        self._prev_close: float | None = None
        self._first: list[float] = []

    def update(self, high: float, low: float, close: float) -> float | None:
        tr = true_range(high, low, self._prev_close)
        self._prev_close = close
        if self.value is not None:
            self.value = (self.value * (self.period - 1) + tr) / self.period
        else:
            self._first.append(tr)
            if len(self._first) == self.period:
                self.value = math.fsum(self._first) / self.period
                self._first = []
        return self.value

    @property
    def warmup(self) -> int:
        return self.period


def atr(
    high: NDArray[np.float64], low: NDArray[np.float64], close: NDArray[np.float64], period: int
) -> NDArray[np.float64]:
    """ATR over whole arrays; NaN during the warm-up."""
    import numpy as np

    rolling = RollingAtr(period)
    out = np.full(len(close), np.nan)
    for i, (h, lo, c) in enumerate(zip(high.tolist(), low.tolist(), close.tolist(), strict=True)):
        value = rolling.update(h, lo, c)
        if value is not None:
            out[i] = value
    return out
