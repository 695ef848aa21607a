"""OANDA as the venue actor: the order manager's commands go out as v20 requests, v20's
transactions (from the REST answers and the transaction stream, each once) come back as our
order events, and every transaction stream heartbeat brings an account state.

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
    ModifyOrder,
    Order,
    OrderRejected,
    RequestRejected,
    SubmitOrder,
    VenueEvent,
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
    ) -> None:
        super().__init__(name)
        self.journal = journal  # every venue event is an input: journaled as it came
        self.client = client
        self.instruments = instruments
        self.sent = sent  # survives a restart of this actor, like the venue's own memory
        self.currency = currency
        self.unresolved: set[str] = set()
        # ns from the arrival of the quote that closed the deciding bar to the request
        self.tick_to_order_ns: deque[int] = deque(maxlen=10_000)

    async def _emit(self, transactions: list[dict[str, Any]]) -> None:
        for tx in sorted(transactions, key=lambda t: int(t.get("id", 0))):
            try:
                events = events_from_transaction(tx, self.sent, self.currency)
            except (WireError, KeyError, TypeError, ValueError) as exc:
                self.log.warning("transaction_rejected", reason=str(exc), sample=str(tx)[:300])
                continue
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
        """Transactions since the last one handled; when the venue cannot be asked now, the
        transaction stream's next heartbeat brings them."""
        try:
            transactions, _ = await self.client.transactions_since(self.sent.last_id)
        except (V20Error, *UNKNOWN) as exc:
            self.log.warning("backfill_deferred", reason=str(exc))
            return
        await self._emit(transactions)

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
        if payload.get("type") == "HEARTBEAT":
            await self._account_state()
            return
        await self._emit([payload])

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
