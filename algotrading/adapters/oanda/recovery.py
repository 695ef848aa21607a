"""After a restart, before trading:

- every order written ahead but never acknowledged is looked up at the venue by its client
  order id. Found, it is adopted — its acceptance, and its fill if it filled, are recorded as the
  venue reports them; absent, it never arrived: it is marked ``never_sent`` (a refusal, so the
  strategy decides afresh). Nothing is sent again here;
- the fills of our orders that happened while the daemon was down (a stop-loss, a take-profit)
  are read from the venue's transactions since the last one the journal holds, and recorded.

The positions the daemon trades from are the venue's (read at the start); these records make
the state store's history complete, so no fill is lost from it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from algotrading.adapters.oanda.client import OandaClient, V20Error
from algotrading.adapters.oanda.mapping import SentOrders, events_from_transaction
from algotrading.log import get_logger
from algotrading.messages import Fill, OrderAccepted, OrderRejected
from algotrading.state.store import StateStore

UNACKNOWLEDGED = ("PENDING_SUBMIT", "SUBMITTED")


@dataclass
class Resolution:
    adopted: list[str] = field(default_factory=list)
    never_sent: list[str] = field(default_factory=list)
    fills: int = 0


async def resolve_unacknowledged(
    store: StateStore, client: OandaClient, currency: str
) -> Resolution:
    log = get_logger("recovery")
    result = Resolution()
    for row in store.orders(status=UNACKNOWLEDGED):
        cid = str(row["client_order_id"])
        now = time.time_ns()
        try:
            order = await client.order(f"@{cid}")
        except V20Error as exc:
            if exc.status != 404:
                raise
            store.append(
                OrderRejected(
                    ts_event=now,
                    client_order_id=cid,
                    code="never_sent",
                    reason="not at the venue after a restart: it never arrived",
                )
            )
            result.never_sent.append(cid)
            log.warning("order_never_sent", client_order_id=cid)
            continue
        store.append(OrderAccepted(ts_event=now, client_order_id=cid, venue_order_id=order["id"]))
        result.adopted.append(cid)
        filling = order.get("fillingTransactionID")
        if filling:
            transactions, _ = await client.transactions_since(str(int(filling) - 1))
            sent = SentOrders()
            for tx in transactions:
                if str(tx.get("id")) == str(filling):
                    for event in events_from_transaction(tx, sent, currency):
                        if isinstance(event, Fill):
                            store.append(event)
                            result.fills += 1
        log.warning("order_adopted", client_order_id=cid, state=order.get("state"))
    store.flush()
    return result


def last_journaled_transaction(store: StateStore) -> str:
    """The newest venue transaction id the journal holds (0 when none)."""
    newest = 0
    for msg in store.journal_of_kind("VenueEvent", last=50):
        payload = getattr(msg, "payload", {})
        for key in ("id", "lastTransactionID"):
            value = payload.get(key)
            if isinstance(value, str) and value.isdigit():
                newest = max(newest, int(value))
    return str(newest)


async def record_missed_fills(store: StateStore, client: OandaClient, currency: str) -> int:
    """Record our fills the venue made while the daemon was down; returns how many."""
    since = last_journaled_transaction(store)
    if since == "0":
        return 0
    transactions, _ = await client.transactions_since(since)
    sent = SentOrders()
    count = 0
    for tx in transactions:
        if tx.get("type") != "ORDER_FILL":
            continue
        for event in events_from_transaction(tx, sent, currency):
            if not isinstance(event, Fill) or store.order(event.client_order_id) is None:
                continue  # not one of our orders
            if not store.has_fill(event.fill_id):
                store.append(event)
                count += 1
    store.flush()
    return count
