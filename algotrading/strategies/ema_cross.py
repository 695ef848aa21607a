"""``ema_cross``: :mod:`sma_cross`'s rule on exponential moving averages of closes —
``alpha = 2 / (n + 1)``, each average seeded with the first close — the workload other
backtesting engines are commonly measured on. The first decision can come at the second bar."""

from __future__ import annotations

from algotrading.features.moving_average import RollingEma
from algotrading.messages import Bar
from algotrading.strategies.sma_cross import MovingAverageCross, SmaCrossParams


class EmaCrossParams(SmaCrossParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class EmaCross(MovingAverageCross):
    def __init__(self, params: EmaCrossParams) -> None:
        self._fast_ema = RollingEma(params.fast)
        self._slow_ema = RollingEma(params.slow)
        super().__init__(params, self._fast_ema, self._slow_ema)

    def on_bar(self, bar: Bar) -> int | None:
        # RollingEma.update of both averages, written out (an EMA is defined from the first
        # close, so the rule is decided from the second bar on)
        close = bar.close
        fast_ema, slow_ema = self._fast_ema, self._slow_ema
        fast, slow = fast_ema.value, slow_ema.value
        fast = close if fast is None else fast + fast_ema.alpha * (close - fast)
        slow = close if slow is None else slow + slow_ema.alpha * (close - slow)
        fast_ema.value, slow_ema.value = fast, slow
        return self._cross(fast, slow)
