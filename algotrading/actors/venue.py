"""The simulated venue as an actor: market data and order commands in, order events and
account states out. The exchange object is handed in, so it survives a restart of this actor
the way a real venue survives a reconnect."""

from __future__ import annotations

from algotrading.messages import (
    AccountState,
    Alert,
    Bar,
    CancelOrder,
    Command,
    Fill,
    Financing,
    Message,
    ModifyOrder,
    Order,
    OrderAccepted,
    OrderCancelled,
    OrderModified,
    OrderRejected,
    Quote,
    RequestRejected,
    SubmitOrder,
    VenueCursor,
    VenuePositions,
)
from algotrading.runtime.actor import Actor
from algotrading.runtime.driver import sync_handler
from algotrading.sim.exchange import SimExchange

# What any venue actor may emit: the simulated one here, a broker's adapter elsewhere.
VENUE_EMITS = (
    Order,
    OrderAccepted,
    OrderRejected,
    OrderCancelled,
    OrderModified,
    RequestRejected,
    Fill,
    Financing,
    AccountState,
    Alert,
    VenueCursor,
    VenuePositions,
)


class SimVenueActor(Actor):
    emits = VENUE_EMITS

    def __init__(
        self, name: str = "venue", *, exchange: SimExchange, account_every_ns: int = 0
    ) -> None:
        super().__init__(name)
        self.exchange = exchange
        self.account_every_ns = account_every_ns
        self._last_account_ns = 0

    @sync_handler
    def on_bar(self, msg: Bar) -> list[Message]:
        return self.exchange.on_bar(msg)

    @sync_handler
    def on_quote(self, msg: Quote) -> list[Message]:
        out = self.exchange.on_quote(msg)
        if (
            not out
            and self.account_every_ns
            and (msg.ts_event - self._last_account_ns >= self.account_every_ns)
        ):
            out = [self.exchange.account_state(msg.ts_event)]
        if out:
            self._last_account_ns = msg.ts_event
        return out

    @sync_handler
    def on_submit_order(self, msg: SubmitOrder) -> list[Message]:
        return self.exchange.submit(msg.order, self.clock.now_ns())

    @sync_handler
    def on_cancel_order(self, msg: CancelOrder) -> list[Message]:
        return self.exchange.cancel(msg.client_order_id, self.clock.now_ns())

    @sync_handler
    def on_modify_order(self, msg: ModifyOrder) -> list[Message]:
        return self.exchange.modify(msg, self.clock.now_ns())

    @sync_handler
    def on_command(self, msg: Command) -> list[Message]:
        """``reconcile``: the exchange's positions and working orders, for the order manager
        to compare with its books (in process, they can only differ by a bug)."""
        if msg.name != "reconcile":
            return []
        exchange = self.exchange
        positions = {}
        for instrument in exchange.books:
            position = exchange.position(instrument)
            if not position.is_flat:
                positions[instrument] = (position.quantity, position.avg_price)
        working = tuple(sorted(o.client_order_id for o in exchange.working_orders()))
        return [
            VenuePositions(
                ts_event=self.clock.now_ns(),
                cursor="",
                positions=positions,
                working=working,
                reason=msg.args.get("reason", "periodic"),
            )
        ]
