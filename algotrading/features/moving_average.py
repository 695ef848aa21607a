"""Simple moving average, in its two forms: over a whole array (research, tests) and one value
at a time (live and backtest). Both sum the window exactly (``math.fsum``) and divide once, so
they agree bit for bit and a crossing decided on equal averages is the same in both."""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy only in the array functions: the streaming classes run without it
    import numpy as np
    from numpy.typing import NDArray


def sma(values: NDArray[np.float64], window: int) -> NDArray[np.float64]:
    """SMA of ``values``; NaN until ``window`` values are known (its warm-up)."""
    import numpy as np

    if window < 1:
        raise ValueError("window must be >= 1")
    out = np.full(len(values), np.nan)
    for end in range(window, len(values) + 1):
        out[end - 1] = math.fsum(values[end - window : end]) / window
    return out


class RollingSma:
    """The incremental SMA: :meth:`update` returns the average once ``window`` values are in."""

    def __init__(self, window: int) -> None:
        if window < 1:
            raise ValueError("window must be >= 1")
        self.window = window
        self._values: deque[float] = deque(maxlen=window)

    def update(self, value: float) -> float | None:
        self._values.append(value)
        if len(self._values) < self.window:
            return None
        return math.fsum(self._values) / self.window

    @property
    def ready(self) -> bool:
        return len(self._values) == self.window


def ema(values: NDArray[np.float64], span: int) -> NDArray[np.float64]:
    """Exponential moving average, ``alpha = 2 / (span + 1)``, seeded with the first value
    (pandas' ``ewm(span=span, adjust=False).mean()``), computed in the same order of operations
    as :class:`RollingEma` so the two agree bit for bit."""
    import numpy as np

    rolling = RollingEma(span)
    return np.array([rolling.update(float(v)) for v in values], dtype=np.float64)


class RollingEma:
    """The incremental EMA; defined from the first value on."""

    __slots__ = ("alpha", "value")

    def __init__(self, span: int) -> None:
        if span < 1:
            raise ValueError("span must be >= 1")
        self.alpha = 2.0 / (span + 1.0)
        self.value: float | None = None

    def update(self, value: float) -> float:
        previous = self.value
        self.value = value if previous is None else previous + self.alpha * (value - previous)
        return self.value
