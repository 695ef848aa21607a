"""OANDA as the venue actor: the order manager's commands go out as v20 requests, v20's
transactions (from the REST answers and the transaction stream, each once) come back as our
order events, and every transaction stream heartbeat brings an account state.

**In order, without a gap.** v20 numbers an account's transactions 1, 2, 3… The actor applies
them strictly in that order from its cursor (the last one applied): a transaction that arrives
ahead of one it lacks — a REST answer naming fill 12 while the leg created as 11 only comes on
the stream, a stream that stalled — waits while the gap is fetched from ``transactions/sinceid``.
After each batch the order manager hears the new cursor (:class:`VenueCursor`) behind the events
it covers and journals it, so the cursor a restart reads never runs ahead of the books.

**Never twice.** Every order carries its client order id in ``clientExtensions.id``. When a
submission's outcome is unknown — a timeout, a dropped connection, a 5xx — the order is looked
up by that id (``GET …/orders/@<id>``) before anything else: found, it is adopted (its
transactions arrive by the backfill); not there, it is sent once more under the same id (which
OANDA would refuse as ``CLIENT_ORDER_ID_ALREADY_EXISTS`` anyway). If even the lookup cannot
get an answer, nothing is sent again: the order stays unresolved, an alert says so, and the
reconciliation at the next start settles it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import aiohttp

from algotrading.actors.venue import VENUE_EMITS
from algotrading.adapters.oanda.client import OandaClient, V20Error
from algotrading.adapters.oanda.mapping import SentOrders, events_from_transaction, order_request
from algotrading.adapters.oanda.wire import WireError, parse_decimal
from algotrading.data.instruments import InstrumentSpec
from algotrading.messages import (
    AccountState,
    Alert,
    AlertLevel,
    CancelOrder,
    Command,
    ModifyOrder,
    Order,
    OrderRejected,
    RequestRejected,
    SubmitOrder,
    VenueCursor,
    VenueEvent,
    VenuePositions,
)
from algotrading.runtime.actor import Actor
from algotrading.state.journal import Journal

UNKNOWN = (aiohttp.ClientError, TimeoutError, ConnectionError)
LOOKUP_ATTEMPTS = 5


class OandaVenueActor(Actor):
    emits = VENUE_EMITS

    def __init__(
        self,
        name: str = "venue",
        *,
        client: OandaClient,
        instruments: dict[str, InstrumentSpec],
        sent: SentOrders,
        currency: str = "USD",
        journal: Journal | None = None,
        account: str = "",
    ) -> None:
        super().__init__(name)
        self.account = account
        self._pending: dict[int, dict[str, Any]] = {}  # transactions ahead of a gap
        self.journal = journal  # every venue event is an input: journaled as it came
        self.client = client
        self.instruments = instruments
        self.sent = sent  # survives a restart of this actor, like the venue's own memory
        self.currency = currency
        self.unresolved: set[str] = set()
        # ns from the arrival of the quote that closed the deciding bar to the request
        self.tick_to_order_ns: deque[int] = deque(maxlen=10_000)

    @property
    def cursor(self) -> int:
        return int(self.sent.last_id or 0)

    async def _emit(self, transactions: list[dict[str, Any]]) -> None:
        """Apply ``transactions`` (from anywhere, in any order, repeated or not) in the
        venue's order from the cursor on; a gap before them is fetched first."""
        before = self.cursor
        for tx in transactions:
            tx_id = tx.get("id")
            if isinstance(tx_id, str) and tx_id.isdigit() and int(tx_id) > before:
                self._pending[int(tx_id)] = tx
        await self._drain()

    async def _drain(self, fetched_to: int = 0) -> None:
        """Apply the pending transactions from the cursor on. ``fetched_to``: the venue has
        just answered for every id up to it, so an id it did not return does not exist."""
        start = self.cursor
        while True:
            nxt = self.cursor + 1
            tx = self._pending.pop(nxt, None)
            if tx is not None:
                await self._apply(tx)
            elif nxt <= fetched_to:
                self.sent.last_id = str(nxt)
            elif not self._pending or fetched_to:
                break  # nothing waits, or asked once already: the next trigger asks again
            else:  # a gap before what waits: fetch it
                last = await self._fetch_gap()
                if last is None:
                    break
                fetched_to = max(last, nxt)
        if self.cursor > start:
            await self.send(
                VenueCursor(
                    ts_event=self.clock.now_ns(),
                    venue="oanda",
                    account=self.account,
                    transaction_id=self.sent.last_id,
                )
            )

    async def _fetch_gap(self) -> int | None:
        """Everything after the cursor, into the pending transactions; the id the venue
        answered up to, or None when it cannot be asked now."""
        try:
            transactions, last = await self.client.transactions_since(self.sent.last_id)
        except (V20Error, *UNKNOWN) as exc:
            self.log.warning("gap_fetch_deferred", after=self.sent.last_id, reason=str(exc))
            return None
        for tx in transactions:
            tx_id = tx.get("id")
            if isinstance(tx_id, str) and tx_id.isdigit() and int(tx_id) > self.cursor:
                self._pending[int(tx_id)] = tx
        return int(last) if last.isdigit() else self.cursor

    async def _apply(self, tx: dict[str, Any]) -> None:
        tx_id = str(tx["id"])
        try:
            events = events_from_transaction(tx, self.sent, self.currency)
        except (WireError, KeyError, TypeError, ValueError) as exc:
            self.log.warning("transaction_rejected", reason=str(exc), sample=str(tx)[:300])
            events = []
        self.sent.last_id = tx_id  # applied (or, malformed, passed over and logged)
        for event in events:
            await self.send(event)

    @staticmethod
    def _transactions(body: dict[str, Any]) -> list[dict[str, Any]]:
        return [v for k, v in body.items() if k.endswith("Transaction") and isinstance(v, dict)]

    async def on_submit_order(self, msg: SubmitOrder) -> None:
        order = msg.order
        self.sent.orders[order.client_order_id] = order
        spec = self.instruments[order.instrument]
        try:
            request = order_request(order, spec)
        except ValueError as exc:
            await self.send(
                OrderRejected(
                    ts_event=self.clock.now_ns(),
                    client_order_id=order.client_order_id,
                    code="unsupported",
                    reason=str(exc),
                )
            )
            return
        if order.ts_recv:
            self.tick_to_order_ns.append(self.clock.now_ns() - order.ts_recv)
        await self._submit(order, request, resend=True)

    async def _submit(self, order: Order, request: dict[str, Any], *, resend: bool) -> None:
        cid = order.client_order_id
        try:
            body = await self.client.create_order(request)
        except V20Error as exc:
            if exc.status in (400, 404):
                await self._emit(self._transactions(exc.body))
                if "orderRejectTransaction" not in exc.body:  # refused before any transaction
                    await self._reject(cid, exc.code, exc.message)
                return
            await self._resolve(order, request, f"HTTP {exc.status}", resend)
            return
        except UNKNOWN as exc:
            await self._resolve(order, request, type(exc).__name__, resend)
            return
        await self._emit(self._transactions(body))

    async def _reject(self, cid: str, code: str, reason: str) -> None:
        await self.send(
            OrderRejected(
                ts_event=self.clock.now_ns(), client_order_id=cid, code=code, reason=reason
            )
        )

    async def _resolve(self, order: Order, request: dict[str, Any], why: str, resend: bool) -> None:
        """The submission's outcome is unknown: look the client id up before anything else."""
        cid = order.client_order_id
        self.log.warning("submit_outcome_unknown", client_order_id=cid, reason=why)
        for attempt in range(LOOKUP_ATTEMPTS):
            try:
                found = await self.client.order(f"@{cid}")
            except V20Error as exc:
                if exc.status == 404:
                    if resend:
                        self.log.warning("resend", client_order_id=cid)
                        await self._submit(order, request, resend=False)
                    else:
                        await self._reject(cid, "not_received", f"not at the venue after: {why}")
                    return
                error = f"HTTP {exc.status}"
            except UNKNOWN as exc:
                error = type(exc).__name__
            else:
                self.log.warning("adopted", client_order_id=cid, state=found.get("state"))
                await self.backfill()
                return
            await asyncio.sleep(self.client.backoff(attempt))
            self.log.warning("lookup_retry", client_order_id=cid, reason=error)
        self.unresolved.add(cid)
        await self.send(
            Alert(
                ts_event=self.clock.now_ns(),
                level=AlertLevel.CRITICAL,
                code="order_unresolved",
                text=f"order {cid}: outcome unknown ({why}) and the venue cannot be asked; "
                "not sent again — reconciliation will settle it",
                source=self.name,
            )
        )

    async def backfill(self) -> None:
        """Transactions since the last one applied; when the venue cannot be asked now, the
        transaction stream's next heartbeat (or the next reconciliation) brings them."""
        last = await self._fetch_gap()
        if last is not None:
            await self._drain(fetched_to=last)

    async def on_cancel_order(self, msg: CancelOrder) -> None:
        try:
            body = await self.client.cancel_order(f"@{msg.client_order_id}")
        except V20Error as exc:
            await self.send(
                RequestRejected(
                    ts_event=self.clock.now_ns(),
                    client_order_id=msg.client_order_id,
                    request="cancel",
                    code=exc.code,
                    reason=exc.message,
                )
            )
            return
        except UNKNOWN as exc:
            self.log.warning(
                "cancel_outcome_unknown", client_order_id=msg.client_order_id, reason=str(exc)
            )
            await self.backfill()
            return
        await self._emit(self._transactions(body))

    async def on_modify_order(self, msg: ModifyOrder) -> None:
        await self.send(
            RequestRejected(
                ts_event=self.clock.now_ns(),
                client_order_id=msg.client_order_id,
                request="modify",
                code="unsupported",
                reason="modify is not supported on OANDA by this adapter: cancel and resubmit",
            )
        )

    async def on_venue_event(self, msg: VenueEvent) -> None:
        if self.journal is not None:
            self.journal.append(msg)
        payload = msg.payload
        kind = payload.get("type")
        if kind == "RECONNECTED":  # the stream was down: what it missed, then a check
            await self.backfill()
            await self.reconcile("stream reconnected")
            return
        if kind == "HEARTBEAT":
            last = str(payload.get("lastTransactionID", ""))
            if last.isdigit() and int(last) > self.cursor:
                await self.backfill()
            await self._account_state()
            return
        await self._emit([payload])

    async def on_command(self, msg: Command) -> None:
        if msg.name == "reconcile":
            await self.reconcile(msg.args.get("reason", "periodic"))

    async def reconcile(self, reason: str) -> None:
        """Mass status at one cursor: the venue's positions and working orders as of its
        transaction L, every transaction up to L applied first, then the order manager
        compares (:mod:`algotrading.execution.reconciliation`). A stream that already
        brought transactions past L makes the picture stale: the next check tries again."""
        from algotrading.adapters.oanda.connect import positions_at

        try:
            pending, pending_last = await self.client.pending_orders_at()
            positions, last = await positions_at(self.client)
        except (V20Error, *UNKNOWN, WireError, KeyError) as exc:
            self.log.warning("reconcile_deferred", reason=str(exc))
            return
        if pending_last != last or not last.isdigit():  # the account moved between the two
            self.log.info("reconcile_stale", orders_at=pending_last, positions_at=last)
            return
        if int(last) > self.cursor:
            await self.backfill()
        if self.cursor != int(last) or self._pending:
            self.log.info("reconcile_stale", cursor=self.cursor, venue=last)
            return
        working = tuple(sorted(self.sent.client_id(o) or f"v20:{o.get('id')}" for o in pending))
        await self.send(
            VenuePositions(
                ts_event=self.clock.now_ns(),
                cursor=last,
                positions={i: (p.quantity, p.avg_price) for i, p in positions.items()},
                working=working,
                reason=reason,
            )
        )

    async def _account_state(self) -> None:
        try:
            summary = await self.client.summary()
            state = AccountState(
                ts_event=self.clock.now_ns(),
                currency=str(summary.get("currency", self.currency)),
                balance=parse_decimal(summary.get("balance", "0"), "balance"),
                equity=parse_decimal(summary.get("NAV", "0"), "NAV"),
                margin_used=parse_decimal(summary.get("marginUsed", "0"), "marginUsed"),
            )
        except (V20Error, *UNKNOWN, WireError) as exc:
            self.log.warning("summary_failed", reason=str(exc))
            return
        await self.send(state)
