"""After a restart, before trading:

- every order written ahead but never acknowledged is looked up at the venue by its client
  order id. Found, it is adopted — its acceptance, and its fill if it filled, are recorded as the
  venue reports them; absent, it never arrived: it is marked ``never_sent`` (a refusal, so the
  strategy decides afresh). Nothing is sent again here;
- the fills of our orders that happened while the daemon was down (a stop-loss, a take-profit)
  are read from the venue's transactions since the last one the journal holds, and recorded;
- the bars of that time are read from the venue's candles, for the warm start of the deciding
  actors (:mod:`algotrading.daemon.warm_start`).

The positions the daemon trades from are the venue's (read at the start); these records make
the state store's history complete, so no fill is lost from it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import msgspec

from algotrading.adapters.oanda.client import OandaClient, V20Error
from algotrading.adapters.oanda.mapping import SentOrders, events_from_transaction
from algotrading.adapters.oanda.wire import format_time, parse_time
from algotrading.log import get_logger
from algotrading.messages import Bar, Fill, OrderAccepted, OrderRejected
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


async def record_missed_fills(store: StateStore, client: OandaClient, currency: str) -> list[Fill]:
    """Record our fills the venue made while the daemon was down; returns them."""
    since = last_journaled_transaction(store)
    if since == "0":
        return []
    transactions, _ = await client.transactions_since(since)
    sent = SentOrders()
    missed: list[Fill] = []
    for tx in transactions:
        if tx.get("type") != "ORDER_FILL":
            continue
        for event in events_from_transaction(tx, sent, currency):
            if not isinstance(event, Fill):
                continue
            order = store.order(event.client_order_id)
            if order is None:
                continue  # not one of our orders
            if not store.has_fill(event.fill_id):
                event = msgspec.structs.replace(event, strategy_id=order["strategy_id"] or "")
                store.append(event)
                missed.append(event)
    store.flush()
    return missed


#: v20 candle granularities by their length in seconds (those a bar interval can be).
GRANULARITIES = {
    5: "S5", 10: "S10", 15: "S15", 30: "S30", 60: "M1", 120: "M2", 240: "M4", 300: "M5",
    600: "M10", 900: "M15", 1800: "M30", 3600: "H1", 7200: "H2", 10800: "H3", 14400: "H4",
    21600: "H6", 28800: "H8", 43200: "H12", 86400: "D",
}  # fmt: skip


async def missed_bars(
    client: OandaClient, instrument: str, interval_ns: int, since_ns: int
) -> list[Bar]:
    """The complete bars of ``instrument`` from ``since_ns`` on, from v20 candles of the bar
    interval: mid prices computed from the bid and ask candles exactly as the bar-builder
    computes them from quotes ((bid + ask) / 2), so closes equal the bars the daemon would
    have built. An interval v20 has no candles for (1 s, 7 s...) gives none: the gap stays,
    and the warm start says so."""
    granularity = GRANULARITIES.get(interval_ns // 1_000_000_000)
    if granularity is None or interval_ns % 1_000_000_000:
        return []
    candles = await client.candles(
        instrument, granularity=granularity, price="BA", **{"from": format_time(since_ns)}
    )
    bars = []
    for c in candles:
        if not c.get("complete", False):
            continue
        ts_open = parse_time(c["time"])
        if ts_open < since_ns:
            continue
        o, h, lo, cl = ((float(c["bid"][k]) + float(c["ask"][k])) * 0.5 for k in "ohlc")
        bars.append(
            Bar(
                ts_event=ts_open + interval_ns,
                instrument=instrument,
                ts_open=ts_open,
                interval_ns=interval_ns,
                open=o,
                high=h,
                low=lo,
                close=cl,
                volume=float(c.get("volume", 0)),
            )
        )
    return bars
