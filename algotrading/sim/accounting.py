"""Position accounting shared by the simulated venue and the order manager's book: one
definition of how a fill changes a position and what it realises, so both always agree."""

from __future__ import annotations

from dataclasses import dataclass

from algotrading.data.instruments import InstrumentSpec, conversion_rate
from algotrading.messages import Side

EPS = 1e-9


@dataclass(frozen=True)
class PositionState:
    """Signed quantity and the average price of the open quantity (in the quote currency)."""

    quantity: float = 0.0
    avg_price: float = 0.0

    @property
    def is_flat(self) -> bool:
        return abs(self.quantity) < EPS

    def unrealized(self, price: float) -> float:
        """Open P&L at ``price``, in the instrument's quote currency."""
        return (price - self.avg_price) * self.quantity


def apply_fill(
    position: PositionState, side: Side, quantity: float, price: float
) -> tuple[PositionState, float]:
    """The position after a fill, and the P&L it realises in the quote currency.

    Adding to a position averages the entry price; reducing realises P&L on the closed part at
    the average price; crossing through zero closes the old position and opens the remainder at
    the fill price."""
    signed = side.sign * quantity
    old_qty = position.quantity
    new_qty = old_qty + signed
    if abs(new_qty) < EPS:
        new_qty = 0.0
    if abs(old_qty) < EPS or (old_qty > 0) == (signed > 0):
        total = abs(old_qty) + quantity
        avg = (position.avg_price * abs(old_qty) + price * quantity) / total
        return PositionState(new_qty, avg), 0.0
    closed = min(abs(old_qty), quantity)
    realized = (price - position.avg_price) * closed * (1.0 if old_qty > 0 else -1.0)
    if new_qty == 0.0:
        return PositionState(0.0, 0.0), realized
    if (new_qty > 0) == (old_qty > 0):
        return PositionState(new_qty, position.avg_price), realized
    return PositionState(new_qty, price), realized


def quote_to_account_rate(
    spec: InstrumentSpec, price: float, account_currency: str, mids: dict[str, float]
) -> float | None:
    """Rate turning an amount in ``spec``'s quote currency into the account currency, using
    the instrument's own ``price`` when its base is the account currency (USD/JPY for a USD
    account) and the latest mids of other pairs otherwise (EUR/GBP needs GBP/USD)."""
    if spec.quote == account_currency:
        return 1.0
    if spec.base == account_currency and price:
        return 1.0 / price
    return conversion_rate(spec.quote, account_currency, mids)
