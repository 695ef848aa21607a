"""The order manager: turns approved intents into orders with deterministic client ids,
writes each one ahead (durably, when a store is attached) before it is sent, follows every order
through the venue's events, and keeps the position book from fills.

A restarted order manager starts from the venue's positions (the venue is the truth) and a new
id prefix, so it can never reuse a client order id of its predecessor."""

from __future__ import annotations

from collections.abc import Iterator

from algotrading.data.instruments import InstrumentSpec
from algotrading.execution.bracket import SyntheticBrackets
from algotrading.execution.fill_book import FillBook, FillCheck
from algotrading.execution.reconciliation import diff, reconciliation_fill
from algotrading.messages import (
    Alert,
    AlertLevel,
    ApprovedOrder,
    CancelOrder,
    Command,
    Fill,
    Message,
    Order,
    OrderAccepted,
    OrderCancelled,
    OrderDenied,
    OrderModified,
    OrderRejected,
    OrderSubmitted,
    Position,
    RequestRejected,
    Side,
    SubmitOrder,
    VenueCursor,
    VenuePositions,
)
from algotrading.runtime.actor import Actor
from algotrading.runtime.driver import sync_handler
from algotrading.sim.accounting import PositionState, apply_fill
from algotrading.state.journal import Journal


class OrderManagerActor(Actor):
    emits = (
        SubmitOrder,
        CancelOrder,
        Order,
        Fill,
        Position,
        OrderRejected,
        OrderAccepted,
        OrderCancelled,
        OrderModified,
        RequestRejected,
        OrderDenied,
        Alert,
        Command,
    )

    def __init__(
        self,
        name: str = "order_manager",
        *,
        id_prefix: str,
        instruments: dict[str, InstrumentSpec],
        journal: Journal | None = None,
        book: dict[str, PositionState] | None = None,
        native_brackets: bool = True,
        currency: str = "USD",
        working: list[Order] | None = None,
        fills: FillBook | None = None,
    ) -> None:
        super().__init__(name)
        # A venue without brackets of its own gets them built from parts.
        self.brackets = None if native_brackets else SyntheticBrackets()
        self.id_prefix = id_prefix
        self.instruments = instruments
        self.journal = journal
        self._seq = 0
        self.orders: dict[str, Order] = {}
        self.status: dict[str, str] = {}
        self.filled: dict[str, float] = {}
        self.book: dict[str, PositionState] = dict(book or {})
        self.realized: dict[str, float] = {}
        # after the kill switch, until an operator's resume: orders risk approved before the
        # halt (still in this inbox) are refused, not sent after the flatten
        self.killed = False
        self.currency = currency
        for order in working or ():  # what the venue works for us at the start
            self.orders[order.client_order_id] = order
            self.status[order.client_order_id] = "ACCEPTED"
        self._reported_unknown: set[str] = set()  # orders at the venue not ours, told once
        self.cursor = ""  # the venue transaction the books are applied up to
        self.reconciled: list[str] = []  # what reconciliation changed, described
        # the venue fills applied (shared with a restarted manager): each is applied once
        self.fills = fills if fills is not None else FillBook()

    def next_client_id(self) -> str:
        self._seq += 1
        return f"{self.id_prefix}-{self._seq:06d}"

    @sync_handler
    def on_approved_order(self, msg: ApprovedOrder) -> Iterator[Message]:
        intent = msg.intent
        if self.killed:
            self.log.warning("order_refused_after_kill", instrument=intent.instrument)
            yield intent.denied(
                self.clock.now_ns(), "killed", "the kill switch was thrown after approval"
            )
            return
        spec = self.instruments[intent.instrument]
        quantity = spec.round_quantity(intent.quantity)
        yield from self._submission(
            Order(
                ts_event=self.clock.now_ns(),
                ts_recv=intent.ts_recv,  # when what caused it was known
                client_order_id=self.next_client_id(),
                strategy_id=intent.strategy_id,
                instrument=intent.instrument,
                side=intent.side,
                quantity=quantity,
                order_type=intent.order_type,
                limit_price=intent.limit_price,
                stop_price=intent.stop_price,
                trailing_distance=intent.trailing_distance,
                time_in_force=intent.time_in_force,
                expire_ns=intent.expire_ns,
                stop_loss=intent.stop_loss,
                take_profit=intent.take_profit,
                trailing_stop=intent.trailing_stop,
                exec_id=intent.exec_id,
                reduce_only=intent.reduce_only,
            )
        )

    @sync_handler
    def on_order(self, msg: Order) -> Iterator[Message]:
        """A bracket leg the venue attached to a filled entry: follow it like our own."""
        if self.journal is not None:
            self.journal.write_ahead(msg)
        self.orders[msg.client_order_id] = msg
        self.status[msg.client_order_id] = "ACCEPTED"
        yield msg

    @sync_handler
    def on_order_modified(self, msg: OrderModified) -> Iterator[Message]:
        self.orders[msg.order.client_order_id] = msg.order
        if self.journal is not None:
            self.journal.append(msg)
        yield msg

    @sync_handler
    def on_request_rejected(self, msg: RequestRejected) -> Iterator[Message]:
        self.log.warning(
            "request_rejected",
            client_order_id=msg.client_order_id,
            request=msg.request,
            code=msg.code,
            reason=msg.reason,
        )
        yield msg

    async def _submit(self, order: Order) -> None:
        for msg in self._submission(order):
            await self.send(msg)

    def _submission(self, order: Order) -> Iterator[Message]:
        """Write ``order`` ahead, send it and the venue's request, then note it submitted."""
        if self.brackets is not None:
            order = self.brackets.strip(order)
        if self.journal is not None:
            self.journal.write_ahead(order)  # durable before it leaves
        self.orders[order.client_order_id] = order
        self.status[order.client_order_id] = "SUBMITTED"
        self.log.info(
            "order_submitted",
            client_order_id=order.client_order_id,
            instrument=order.instrument,
            side=order.side,
            quantity=order.quantity,
        )
        yield order
        yield SubmitOrder(ts_event=order.ts_event, order=order)
        submitted = OrderSubmitted(ts_event=order.ts_event, client_order_id=order.client_order_id)
        if self.journal is not None:
            self.journal.append(submitted)

    @sync_handler
    def on_order_accepted(self, msg: OrderAccepted) -> Iterator[Message]:
        if msg.client_order_id in self.status:
            self.status[msg.client_order_id] = "ACCEPTED"
        self._journal(msg)
        yield msg

    @sync_handler
    def on_order_rejected(self, msg: OrderRejected) -> Iterator[Message]:
        if self.brackets is not None:
            self.brackets.forget(msg.client_order_id)
        self._finished(msg.client_order_id)
        self._journal(msg)
        self.log.warning(
            "order_rejected", client_order_id=msg.client_order_id, code=msg.code, reason=msg.reason
        )
        yield msg

    @sync_handler
    def on_order_cancelled(self, msg: OrderCancelled) -> Iterator[Message]:
        return self._cancelled(msg)

    def _cancelled(self, msg: OrderCancelled) -> Iterator[Message]:
        if self.brackets is not None:
            self.brackets.forget(msg.client_order_id)
        self._finished(msg.client_order_id)
        self._journal(msg)
        yield msg

    @sync_handler
    def on_fill(self, msg: Fill) -> Iterator[Message]:
        seen = self.fills.check(msg)
        if seen is not FillCheck.NEW:
            yield from self._fill_not_applied(msg, seen)
            return
        self._journal(msg)
        order = self.orders.get(msg.client_order_id)
        filled = self.filled.get(msg.client_order_id, 0.0) + msg.quantity
        self.filled[msg.client_order_id] = filled
        if order is not None:
            done = filled >= order.quantity - 1e-9
            if done:
                self._finished(msg.client_order_id)
            else:
                self.status[msg.client_order_id] = "PARTIALLY_FILLED"
        old = self.book.get(msg.instrument) or PositionState()
        new, realized = apply_fill(old, msg.side, msg.quantity, msg.price)
        self.book[msg.instrument] = new
        self.realized[msg.instrument] = self.realized.get(msg.instrument, 0.0) + realized
        position = Position(
            ts_event=msg.ts_event,
            instrument=msg.instrument,
            quantity=new.quantity,
            avg_price=new.avg_price,
            realized_pnl=self.realized[msg.instrument],
        )
        self._journal(position)
        yield msg
        yield position
        if self.brackets is not None:
            yield from self._bracket_work(
                msg, done=order is None or filled >= order.quantity - 1e-9
            )

    def _fill_not_applied(self, fill: Fill, seen: FillCheck) -> Iterator[Message]:
        """A fill id applied before: the same fill again counts once; another fill under it
        means the books no longer know what the venue did, so trading stops (risk halts, an
        operator resumes) and the fill is journaled, never applied."""
        if seen is FillCheck.REPEAT:
            self.log.info("fill_repeated", fill_id=fill.fill_id)
            return
        self._journal(fill)
        text = (
            f"venue fill {fill.fill_id} came again with other terms ({fill.side} "
            f"{fill.quantity:g} {fill.instrument} @ {fill.price:g} for {fill.client_order_id}; "
            f"applied: {self.fills.applied(fill.fill_id)}): not applied, trading halted"
        )
        self.log.critical("fill_conflict", fill_id=fill.fill_id, text=text)
        now = self.clock.now_ns()
        halt = Command(ts_event=now, name="halt", args={"reason": f"fill_conflict: {text}"})
        if self.journal is not None:
            self.journal.append(halt)  # a restart comes back halted
        yield Alert(ts_event=now, level=AlertLevel.CRITICAL, code="fill_conflict", text=text)
        yield halt

    def _bracket_work(self, fill: Fill, done: bool) -> Iterator[Message]:
        """Brackets built from parts: cancel a filled leg's partners and legs whose position is
        gone; send the legs of a filled entry."""
        assert self.brackets is not None
        now = self.clock.now_ns()
        doomed = list(self.brackets.partners_to_cancel(fill.client_order_id))
        held = self.book[fill.instrument].quantity
        doomed += self.brackets.orphans(self.open_orders(), fill.instrument, held)
        for client_order_id in dict.fromkeys(doomed):
            if client_order_id in self.orders:
                yield CancelOrder(ts_event=now, client_order_id=client_order_id)
        for leg in self.brackets.legs_for(fill, now, done):
            yield from self._submission(leg)

    @sync_handler
    def on_venue_cursor(self, msg: VenueCursor) -> Iterator[Message]:
        """Everything up to the venue's ``transaction_id`` has reached the books: journaled
        after the fills it covers (the store writes in order), so a committed cursor never
        runs ahead of them."""
        self.cursor = msg.transaction_id
        if self.journal is not None:
            self.journal.append(msg)
        return iter(())

    @sync_handler
    def on_venue_positions(self, msg: VenuePositions) -> Iterator[Message]:
        """Reconciliation at the venue's cursor ``msg.cursor``: every report up to it has been
        applied (the venue sent them first), so a position that still differs is one no fill
        explains. The venue's is adopted through a journaled reconciliation entry; an order of
        ours the venue no longer works is cancelled here; an order unknown to us is reported."""
        acknowledged = [
            cid for cid, status in self.status.items() if status in ("ACCEPTED", "PARTIALLY_FILLED")
        ]
        found = diff(
            {i: (p.quantity, p.avg_price) for i, p in self.book.items()},
            acknowledged,
            msg.positions,
            msg.working,
        )
        told = self._reported_unknown
        found.unknown_at_venue = [c for c in found.unknown_at_venue if c not in told]
        told.update(found.unknown_at_venue)
        if not found:
            return
        text = found.describe()
        self.log.warning("reconciliation_difference", differences=text, cursor=msg.cursor)
        self.reconciled.append(text)
        yield Alert(
            ts_event=msg.ts_event,
            level=AlertLevel.WARNING,
            code="reconciliation_difference",
            text=f"{text} (at venue transaction {msg.cursor}, {msg.reason}; "
            "the venue's positions are taken as ours)",
            source=self.name,
        )
        for difference in found.positions:
            entry = reconciliation_fill(difference, msg.cursor, msg.ts_event, self.currency)
            self._journal(entry)
            new = PositionState(difference.venue, difference.venue_price)
            self.book[difference.instrument] = new
            position = Position(
                ts_event=msg.ts_event,
                instrument=difference.instrument,
                quantity=new.quantity,
                avg_price=new.avg_price,
                realized_pnl=self.realized.get(difference.instrument, 0.0),
            )
            self._journal(position)
            yield entry
            yield position
        for client_order_id in found.ours_not_at_venue:
            yield from self._cancelled(
                OrderCancelled(
                    ts_event=msg.ts_event,
                    client_order_id=client_order_id,
                    reason="reconciliation: the venue no longer works it",
                )
            )

    async def on_command(self, msg: Command) -> None:
        """``cancel_all``: cancel every working order; ``flatten``: close every position;
        ``kill`` (the kill switch, with risk halting): both, and refuse what risk approved
        before it halted, until ``resume``."""
        if msg.name == "resume":
            self.killed = False
            return
        if msg.name not in ("flatten", "cancel_all", "kill"):
            self.log.warning("command_ignored", command=msg.name)
            return
        if msg.name == "kill":
            self.killed = True
        if msg.name in ("cancel_all", "kill"):
            for order in self.open_orders():
                self.log.warning("cancel", client_order_id=order.client_order_id)
                await self.send(
                    CancelOrder(ts_event=self.clock.now_ns(), client_order_id=order.client_order_id)
                )
        if msg.name == "cancel_all":
            return
        for instrument, position in sorted(self.book.items()):
            if position.is_flat:
                continue
            side = Side.SELL if position.quantity > 0 else Side.BUY
            self.log.warning("flatten", instrument=instrument, quantity=position.quantity)
            await self._submit(
                Order(
                    ts_event=self.clock.now_ns(),
                    client_order_id=self.next_client_id(),
                    strategy_id="flatten",
                    instrument=instrument,
                    side=side,
                    quantity=abs(position.quantity),
                )
            )

    def _finished(self, client_order_id: str) -> None:
        """Forget an order that can no longer trade: a long session must not grow with every
        order it ever sent (the store keeps the history)."""
        self.orders.pop(client_order_id, None)
        self.status.pop(client_order_id, None)
        self.filled.pop(client_order_id, None)

    def open_orders(self) -> list[Order]:
        return [
            o
            for cid, o in self.orders.items()
            if self.status.get(cid) in ("SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED")
        ]

    def _journal(
        self, msg: Fill | Position | OrderAccepted | OrderRejected | OrderCancelled | VenueCursor
    ) -> None:
        if self.journal is not None:
            self.journal.append(msg)
