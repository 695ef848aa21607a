"""Pre-trade risk checks: pure functions from an intent and what is known to a refusal or
``None``. The risk actor is a thin shell around them."""

from __future__ import annotations

from dataclasses import dataclass

from algotrading.messages import OrderIntent, TradingState


@dataclass(frozen=True)
class RiskLimits:
    max_order_quantity: float = 10_000_000.0
    max_position_quantity: float = 10_000_000.0


@dataclass
class TradingSwitch:
    """The trading state and why it is so: ACTIVE, REDUCING (only orders that reduce a
    position) or HALTED. Held outside any actor so that it survives their restarts."""

    state: TradingState = TradingState.ACTIVE
    reason: str = ""

    def set(self, state: TradingState, reason: str) -> None:
        self.state = state
        self.reason = reason


@dataclass(frozen=True)
class Refusal:
    code: str
    reason: str


def reduces_exposure(intent: OrderIntent, position: float) -> bool:
    signed = intent.side.sign * intent.quantity
    return position != 0 and (signed > 0) != (position > 0) and abs(signed) <= abs(position) + 1e-9


def check_order(
    intent: OrderIntent, position: float, limits: RiskLimits, state: TradingState
) -> Refusal | None:
    """``position`` is the signed quantity the instrument will hold once earlier approved
    orders have filled, so a burst of intents cannot slip past the position limit."""
    if state is TradingState.HALTED:
        return Refusal("halted", "trading is halted; no new orders")
    if state is TradingState.REDUCING and not reduces_exposure(intent, position):
        return Refusal(
            "reducing_only",
            "trading state is REDUCING; only orders that reduce the position are allowed",
        )
    if intent.quantity <= 0:
        return Refusal("invalid_quantity", f"quantity must be > 0, got {intent.quantity:g}")
    if intent.quantity > limits.max_order_quantity:
        return Refusal(
            "max_order_quantity",
            f"quantity {intent.quantity:g} exceeds the limit of {limits.max_order_quantity:g}",
        )
    after = position + intent.side.sign * intent.quantity
    if abs(after) > limits.max_position_quantity and abs(after) > abs(position):
        return Refusal(
            "max_position_quantity",
            f"position would be {after:g}, beyond the limit of {limits.max_position_quantity:g}",
        )
    return None
