"""``bollinger``: mean reversion on the z-score of the close against its ``window``-bar mean
and standard deviation (population, as Bollinger bands are drawn). Short when the
z-score reaches ``entry_z``, long when it reaches ``-entry_z``; flat again when it comes back
within ``exit_z`` of the mean."""

from __future__ import annotations

import math
from collections import deque

import msgspec

from algotrading.messages import Bar


class BollingerParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    window: int = 20
    entry_z: float = 2.0
    exit_z: float = 0.0

    def __post_init__(self) -> None:
        if self.window < 2:
            raise ValueError("window must be >= 2")
        if not 0 <= self.exit_z < self.entry_z:
            raise ValueError("expected 0 <= exit_z < entry_z")


def zscore(values: list[float]) -> float | None:
    """z-score of the last value against the mean and population std of ``values``."""
    mean = math.fsum(values) / len(values)
    var = math.fsum((v - mean) ** 2 for v in values) / len(values)
    if var <= 0:
        return None
    return (values[-1] - mean) / math.sqrt(var)


class Bollinger:
    def __init__(self, params: BollingerParams) -> None:
        self.params = params
        self._closes: deque[float] = deque(maxlen=params.window)
        self._target = 0

    def on_bar(self, bar: Bar) -> int | None:
        p = self.params
        self._closes.append(bar.close)
        if len(self._closes) < p.window:
            return None
        z = zscore(list(self._closes))
        if z is None:
            return None
        target = self._target
        if z >= p.entry_z:
            target = -1
        elif z <= -p.entry_z:
            target = 1
        elif (target > 0 and z >= -p.exit_z) or (target < 0 and z <= p.exit_z):
            target = 0  # back within exit_z of the mean
        if target == self._target:
            return None
        self._target = target
        return target
