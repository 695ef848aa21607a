"""Brackets built from parts, for a venue without its own: the entry goes out plain; when it
fills, its stop-loss, take-profit and trailing stop go out as separate orders (``<id>.sl``,
``<id>.tp``, ``<id>.ts``, each sized to the fill), and the order manager keeps them
one-cancels-the-others. Legs whose position is gone — flat, or turned the other way — are
cancelled too, as a venue's own bracket would be.

Unlike a venue's bracket, the legs exist only once the fill is known here, so on bar data they
watch prices from the next bar on (a venue-side stop also watches the rest of the entry bar).
Pure logic; the order manager sends what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from algotrading.messages import Fill, Order, OrderType

LEG_SUFFIXES = (".sl", ".tp", ".ts")


@dataclass(frozen=True, slots=True)
class Levels:
    stop_loss: float | None
    take_profit: float | None
    trailing_stop: float | None


def bracket_legs(
    entry: Order,
    *,
    quantity: float,
    ts: int,
    base: str,
    stop_loss: float | None,
    take_profit: float | None,
    trailing_stop: float | None,
) -> list[Order]:
    """The exit legs of a bracket on ``entry`` for ``quantity`` (ids ``<base>.sl`` / ``.ts``
    / ``.tp``), in the order they are watched: the stop-loss first."""
    common: dict[str, Any] = {
        "ts_event": ts,
        "parent_id": entry.client_order_id,
        "strategy_id": entry.strategy_id,
        "instrument": entry.instrument,
        "side": entry.side.opposite(),
        "quantity": quantity,
    }
    legs: list[Order] = []
    if stop_loss is not None:
        legs.append(
            Order(
                client_order_id=f"{base}.sl",
                order_type=OrderType.STOP,
                stop_price=stop_loss,
                **common,
            )
        )
    if trailing_stop is not None:
        legs.append(
            Order(
                client_order_id=f"{base}.ts",
                order_type=OrderType.TRAILING_STOP,
                trailing_distance=trailing_stop,
                **common,
            )
        )
    if take_profit is not None:
        legs.append(
            Order(
                client_order_id=f"{base}.tp",
                order_type=OrderType.LIMIT,
                limit_price=take_profit,
                **common,
            )
        )
    return legs


class SyntheticBrackets:
    def __init__(self) -> None:
        self._pending: dict[str, tuple[Order, Levels, int]] = {}  # entry id -> levels, fills
        self._legs: dict[str, tuple[str, ...]] = {}  # working leg id -> its partners

    def strip(self, order: Order) -> Order:
        """The entry as the venue will see it (no bracket); its levels are kept for the fill."""
        if order.stop_loss is None and order.take_profit is None and order.trailing_stop is None:
            return order
        self._pending[order.client_order_id] = (
            order,
            Levels(order.stop_loss, order.take_profit, order.trailing_stop),
            0,
        )
        return msgspec.structs.replace(order, stop_loss=None, take_profit=None, trailing_stop=None)

    def legs_for(self, fill: Fill, ts: int, entry_done: bool) -> list[Order]:
        """The legs to send for an entry's fill (one set per fill, sized to it)."""
        pending = self._pending.get(fill.client_order_id)
        if pending is None:
            return []
        entry, levels, fills = pending
        if entry_done:
            del self._pending[fill.client_order_id]
        else:
            self._pending[fill.client_order_id] = (entry, levels, fills + 1)
        # the legs of a second partial fill are <id>.2.sl, ...
        base = entry.client_order_id if fills == 0 else f"{entry.client_order_id}.{fills + 1}"
        legs = bracket_legs(
            entry,
            quantity=fill.quantity,
            ts=ts,
            base=base,
            stop_loss=levels.stop_loss,
            take_profit=levels.take_profit,
            trailing_stop=levels.trailing_stop,
        )
        ids = tuple(leg.client_order_id for leg in legs)
        for leg in legs:
            self._legs[leg.client_order_id] = tuple(i for i in ids if i != leg.client_order_id)
        return legs

    def partners_to_cancel(self, client_order_id: str) -> tuple[str, ...]:
        """A leg filled: the other legs of its bracket."""
        partners = self._legs.pop(client_order_id, ())
        for partner in partners:
            self._legs.pop(partner, None)
        return partners

    def forget(self, client_order_id: str) -> None:
        """An order ended without filling (cancelled, rejected)."""
        self._pending.pop(client_order_id, None)
        self._legs.pop(client_order_id, None)

    def orphans(self, working: list[Order], instrument: str, position: float) -> list[str]:
        """Legs on ``instrument`` that would no longer reduce ``position``."""
        return [
            o.client_order_id
            for o in working
            if o.client_order_id in self._legs
            and o.instrument == instrument
            and (abs(position) < 1e-9 or position * o.side.sign > 0)
        ]
