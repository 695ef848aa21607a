"""What every strategy shares: the translation of "I want +10 000" into orders."""

from __future__ import annotations

from typing import NamedTuple

from algotrading.messages import Side
from algotrading.sim.accounting import EPS


class TargetOrder(NamedTuple):
    side: Side
    quantity: float
    reduce_only: bool  # it only closes: if the position is already gone, it must not open one


def orders_to_target(current: float, target: float) -> list[TargetOrder]:
    """Orders that take a position from ``current`` to ``target``. A reversal goes through
    flat: one order closes the old position, another opens the new one, so every trade has its
    own entry and exit. Orders that close are reduce-only, so a close that a stop-loss beat to
    it finds nothing to close instead of opening the other way."""
    if abs(target - current) < EPS:
        return []
    if abs(current) >= EPS and abs(target) >= EPS and (current > 0) != (target > 0):
        close_side = Side.SELL if current > 0 else Side.BUY
        return [
            TargetOrder(close_side, abs(current), True),
            TargetOrder(close_side, abs(target), False),
        ]
    delta = target - current
    reduces = abs(target) < abs(current)
    return [TargetOrder(Side.BUY if delta > 0 else Side.SELL, abs(delta), reduces)]
