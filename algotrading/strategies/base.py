"""What every strategy shares: a rule that, bar by bar, names the position it wants, and the
translation of "I want +10 000" into order intents.

A rule is plain Python with no asyncio: ``on_bar(bar) -> float | None`` returns the signed
target quantity when it changes its mind and ``None`` otherwise. The strategy actor turns a
target into intents with :func:`orders_to_target`.
"""

from __future__ import annotations

from typing import Protocol

from algotrading.messages import Bar, Side
from algotrading.sim.accounting import EPS


class Rule(Protocol):
    def on_bar(self, bar: Bar) -> float | None: ...


def orders_to_target(current: float, target: float) -> list[tuple[Side, float]]:
    """Orders that take a position from ``current`` to ``target``. A reversal goes through
    flat: one order closes the old position, another opens the new one, so every trade has its
    own entry and exit."""
    if abs(target - current) < EPS:
        return []
    if abs(current) >= EPS and abs(target) >= EPS and (current > 0) != (target > 0):
        close_side = Side.SELL if current > 0 else Side.BUY
        return [(close_side, abs(current)), (close_side, abs(target))]
    delta = target - current
    return [(Side.BUY if delta > 0 else Side.SELL, abs(delta))]
