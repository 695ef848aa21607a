"""``donchian``: a channel breakout. Long when a bar closes above the highest high
of the ``window`` bars before it, short when it closes below their lowest low; the position is
held until the opposite breakout (or, with ``exit_window``, closed when the close crosses the
``exit_window``-bar channel the other way: below its low for a long, above its high for a
short)."""

from __future__ import annotations

from collections import deque

import msgspec

from algotrading.messages import Bar


class DonchianParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    window: int = 20
    exit_window: int = 0  # 0: hold until the opposite breakout

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError("window must be >= 1")
        if self.exit_window < 0:
            raise ValueError("exit_window must be >= 0")


class Donchian:
    def __init__(self, params: DonchianParams) -> None:
        self.params = params
        size = max(params.window, params.exit_window)
        self._highs: deque[float] = deque(maxlen=size)
        self._lows: deque[float] = deque(maxlen=size)
        self._target = 0

    def _channel(self, n: int) -> tuple[float, float] | None:
        if len(self._highs) < n:
            return None
        highs, lows = list(self._highs)[-n:], list(self._lows)[-n:]
        return max(highs), min(lows)

    def on_bar(self, bar: Bar) -> int | None:
        p = self.params
        entry = self._channel(p.window)
        exit_ = self._channel(p.exit_window) if p.exit_window else None
        self._highs.append(bar.high)
        self._lows.append(bar.low)
        target = self._target
        if entry is not None and bar.close > entry[0]:
            target = 1
        elif entry is not None and bar.close < entry[1]:
            target = -1
        elif exit_ is not None and (
            (target > 0 and bar.close < exit_[1]) or (target < 0 and bar.close > exit_[0])
        ):
            target = 0
        if target == self._target:
            return None
        self._target = target
        return target
