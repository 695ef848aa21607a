"""``ema_cross``: :mod:`sma_cross`'s rule on exponential moving averages of closes —
``alpha = 2 / (n + 1)``, each average seeded with the first close — the workload other
backtesting engines are commonly measured on. The first decision can come at the second bar."""

from __future__ import annotations

from algotrading.features.moving_average import RollingEma
from algotrading.strategies.sma_cross import MovingAverageCross, SmaCrossParams


class EmaCrossParams(SmaCrossParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class EmaCross(MovingAverageCross):
    def __init__(self, params: EmaCrossParams) -> None:
        super().__init__(params, RollingEma(params.fast), RollingEma(params.slow))
