"""``sma_cross``: long when the fast SMA of closes crosses above the slow one, short when it
crosses below; always in the market after the first cross (with the default exits and sides).

A cross at bar t means both averages were known at t-1 and t, and ``fast - slow`` went from
``<= 0`` to ``> 0`` (up) or from ``>= 0`` to ``< 0`` (down). The order is decided at bar t's close.

Averages of prices quoted to a few decimals are often exactly equal; in binary floating point
they may differ in the last bit. A difference below ``TIE`` (relative) counts as equal, so the
rule means what it says on decimal prices.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from algotrading.features.moving_average import RollingSma
from algotrading.messages import Bar

TIE = 1e-12


class SmaCrossParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    fast: int = 10
    slow: int = 30

    def __post_init__(self) -> None:
        if self.fast < 1:
            raise ValueError("fast must be >= 1")
        if self.slow <= self.fast:
            raise ValueError(f"slow ({self.slow}) must be greater than fast ({self.fast})")


class Average(Protocol):
    def update(self, value: float) -> float | None: ...


class MovingAverageCross:
    """The crossing rule on any pair of incremental averages of closes."""

    def __init__(self, params: SmaCrossParams, fast: Average, slow: Average) -> None:
        self.params = params
        self._fast = fast
        self._slow = slow
        self._prev_diff: float | None = None

    def on_bar(self, bar: Bar) -> int | None:
        fast = self._fast.update(bar.close)
        slow = self._slow.update(bar.close)
        if fast is None or slow is None:
            return None
        return self._cross(fast, slow)

    def _cross(self, fast: float, slow: float) -> int | None:
        """The rule on this bar's averages. (Once per bar: ``abs`` and ``max`` written out;
        ``-t <= d <= t`` is ``abs(d) <= t``, and a NaN fails both.)"""
        diff, prev = fast - slow, self._prev_diff
        size_fast = fast if fast >= 0.0 else -fast
        size_slow = slow if slow >= 0.0 else -slow
        tie = TIE * (size_slow if size_slow > size_fast else size_fast)
        if -tie <= diff <= tie:
            diff = 0.0
        self._prev_diff = diff
        if prev is None:
            return None
        if prev <= 0 < diff:
            return 1
        if prev >= 0 > diff:
            return -1
        return None


class SmaCross(MovingAverageCross):
    def __init__(self, params: SmaCrossParams) -> None:
        super().__init__(params, RollingSma(params.fast), RollingSma(params.slow))
