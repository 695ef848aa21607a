"""Between our messages and v20's JSON: an :class:`Order` as a v20 order request, a v20 price as
a :class:`Quote`, and v20 transactions as our order events. Pure functions and one small
record of what was sent (client ids, strategies, v20 order ids)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from algotrading.adapters.oanda.wire import (
    WireError,
    format_price,
    format_time,
    format_units,
    parse_decimal,
    parse_time,
    units_precision,
)
from algotrading.data.instruments import InstrumentSpec
from algotrading.messages import (
    Fill,
    Financing,
    Message,
    Order,
    OrderAccepted,
    OrderCancelled,
    OrderRejected,
    OrderType,
    Quote,
    Side,
    TimeInForce,
)

LEG_TYPES = {
    "STOP_LOSS_ORDER": (".sl", OrderType.STOP),
    "TAKE_PROFIT_ORDER": (".tp", OrderType.LIMIT),
    "TRAILING_STOP_LOSS_ORDER": (".ts", OrderType.TRAILING_STOP),
}
CREATE_TYPES = ("MARKET_ORDER", "LIMIT_ORDER", "STOP_ORDER", "MARKET_IF_TOUCHED_ORDER")


def order_request(order: Order, spec: InstrumentSpec) -> dict[str, Any]:
    """The v20 order request of ``order``; its client order id goes in ``clientExtensions.id``,
    its bracket legs' as ``<id>.sl`` / ``.tp`` / ``.ts``, so every event names our ids."""
    p = spec.price_precision
    units = order.quantity * order.side.sign
    body: dict[str, Any] = {
        "instrument": order.instrument,
        "units": format_units(units, units_precision(spec)),
        # a closing order only closes: if a stop got there first it must not open the other way
        "positionFill": "REDUCE_ONLY" if order.reduce_only else "DEFAULT",
        "clientExtensions": {"id": order.client_order_id, "tag": order.strategy_id[:32]},
    }
    kind = order.order_type
    if kind is OrderType.MARKET:
        body["type"] = "MARKET"
        body["timeInForce"] = "IOC" if order.time_in_force is TimeInForce.IOC else "FOK"
    elif kind is OrderType.LIMIT:
        body.update(type="LIMIT", price=format_price(order.limit_price or 0.0, p))
    elif kind is OrderType.STOP:
        body.update(type="STOP", price=format_price(order.stop_price or 0.0, p))
    elif kind is OrderType.STOP_LIMIT:  # v20's STOP with a price bound is the nearest thing
        body.update(
            type="STOP",
            price=format_price(order.stop_price or 0.0, p),
            priceBound=format_price(order.limit_price or 0.0, p),
        )
    else:
        raise ValueError(f"{kind} orders have no v20 request (trailing stops exist on fill only)")
    if kind is not OrderType.MARKET:
        tif = order.time_in_force  # v20 takes all four on LIMIT and STOP orders
        body["timeInForce"] = tif.value
        if tif is TimeInForce.GTD:
            body["gtdTime"] = format_time(order.expire_ns)
        body["triggerCondition"] = "DEFAULT"
    cid = order.client_order_id
    if order.stop_loss is not None:
        body["stopLossOnFill"] = {
            "price": format_price(order.stop_loss, p),
            "timeInForce": "GTC",
            "clientExtensions": {"id": f"{cid}.sl"},
        }
    if order.take_profit is not None:
        body["takeProfitOnFill"] = {
            "price": format_price(order.take_profit, p),
            "timeInForce": "GTC",
            "clientExtensions": {"id": f"{cid}.tp"},
        }
    if order.trailing_stop is not None:
        body["trailingStopLossOnFill"] = {
            "distance": format_price(order.trailing_stop, p),
            "timeInForce": "GTC",
            "clientExtensions": {"id": f"{cid}.ts"},
        }
    return body


def quote_from_price(item: dict[str, Any], recv_ns: int) -> Quote | None:
    """The top of book of a v20 ``PRICE``; None when a side is empty (no liquidity)."""
    bids, asks = item.get("bids") or [], item.get("asks") or []
    if not bids or not asks:
        return None
    return Quote(
        ts_event=parse_time(item["time"]),
        ts_recv=recv_ns,
        instrument=str(item["instrument"]),
        bid=parse_decimal(bids[0]["price"], "bid"),
        ask=parse_decimal(asks[0]["price"], "ask"),
        bid_size=float(bids[0].get("liquidity", 0) or 0),
        ask_size=float(asks[0].get("liquidity", 0) or 0),
    )


@dataclass
class SentOrders:
    """What this adapter knows of the orders: ours by client id, and v20's ids for them."""

    orders: dict[str, Order] = field(default_factory=dict)
    by_v20_id: dict[str, str] = field(default_factory=dict)  # v20 order id -> client id
    seen: set[str] = field(default_factory=set)  # transaction ids already turned into events
    last_id: str = "0"

    def client_id(self, tx: dict[str, Any]) -> str:
        ext = tx.get("clientExtensions") or {}
        cid = tx.get("clientOrderID") or ext.get("id")
        if cid:
            return str(cid)
        return self.by_v20_id.get(str(tx.get("orderID", tx.get("id", ""))), "")

    def note(self, tx_id: str) -> bool:
        """Record a transaction id; False if it was already handled."""
        if tx_id in self.seen:
            return False
        self.seen.add(tx_id)
        if int(tx_id) > int(self.last_id):
            self.last_id = tx_id
        return True


def events_from_transaction(tx: dict[str, Any], sent: SentOrders, currency: str) -> list[Message]:
    """Our events for one v20 transaction (each transaction once: duplicates give none)."""
    tx_id = str(tx.get("id", ""))
    kind = str(tx.get("type", ""))
    if not tx_id or kind == "HEARTBEAT" or not sent.note(tx_id):
        return []
    ts = parse_time(tx["time"])
    cid = sent.client_id(tx)
    if kind in CREATE_TYPES:
        if cid:
            sent.by_v20_id[tx_id] = cid
        return (
            [OrderAccepted(ts_event=ts, client_order_id=cid, venue_order_id=tx_id)] if cid else []
        )
    if kind in LEG_TYPES:
        return _leg(tx, tx_id, ts, cid, sent)
    if kind == "ORDER_FILL":
        return [_fill(tx, tx_id, ts, cid, sent, currency)]
    if kind == "ORDER_CANCEL":
        return [OrderCancelled(ts_event=ts, client_order_id=cid, reason=str(tx.get("reason", "")))]
    if kind.endswith("_ORDER_REJECT"):
        return [
            OrderRejected(
                ts_event=ts,
                client_order_id=cid,
                code=str(tx.get("rejectReason", "REJECTED")),
                reason=str(tx.get("rejectReason", "")),
            )
        ]
    if kind == "DAILY_FINANCING":
        return [
            Financing(
                ts_event=ts,
                instrument=str(p.get("instrument", "")),
                quantity=0.0,
                amount=parse_decimal(p.get("financing", "0"), "financing"),
                days=1,
                currency=currency,
            )
            for p in tx.get("positionFinancings") or []
        ]
    return []


def _leg(tx: dict[str, Any], tx_id: str, ts: int, cid: str, sent: SentOrders) -> list[Message]:
    suffix, order_type = LEG_TYPES[str(tx["type"])]
    parent = cid[: -len(suffix)] if cid.endswith(suffix) else ""
    entry = sent.orders.get(parent)
    if not cid or entry is None:
        return []  # a leg we did not ask for (set by hand at the broker): not ours to follow
    sent.by_v20_id[tx_id] = cid
    distance = tx.get("distance")
    price = tx.get("price")
    leg = Order(
        ts_event=ts,
        client_order_id=cid,
        parent_id=parent,
        strategy_id=entry.strategy_id,
        instrument=entry.instrument,
        side=entry.side.opposite(),
        quantity=entry.quantity,
        order_type=order_type,
        limit_price=parse_decimal(price, "price") if order_type is OrderType.LIMIT else None,
        stop_price=parse_decimal(price, "price") if order_type is OrderType.STOP else None,
        trailing_distance=parse_decimal(distance, "distance") if distance is not None else None,
    )
    sent.orders[cid] = leg
    return [leg, OrderAccepted(ts_event=ts, client_order_id=cid, venue_order_id=tx_id)]


def _fill(
    tx: dict[str, Any], tx_id: str, ts: int, cid: str, sent: SentOrders, currency: str
) -> Fill:
    units = parse_decimal(tx["units"], "units")
    if units == 0:
        raise WireError(f"ORDER_FILL {tx_id} with zero units")
    price = tx.get("fullVWAP") or tx.get("price")
    pl = parse_decimal(tx.get("pl", "0"), "pl")
    factor = tx.get("gainQuoteHomeConversionFactor" if pl >= 0 else "lossQuoteHomeConversionFactor")
    order = sent.orders.get(cid)
    parent = next(
        (cid[: -len(suffix)] for suffix, _ in LEG_TYPES.values() if cid.endswith(suffix)), ""
    )
    return Fill(
        ts_event=ts,
        fill_id=tx_id,
        client_order_id=cid,
        venue_order_id=str(tx.get("orderID", "")),
        strategy_id=order.strategy_id if order is not None else "venue",
        instrument=str(tx["instrument"]),
        side=Side.BUY if units > 0 else Side.SELL,
        quantity=abs(units),
        price=parse_decimal(price, "price"),
        commission=parse_decimal(tx.get("commission", "0"), "commission"),
        currency=currency,
        quote_rate=parse_decimal(factor, "conversion factor") if factor is not None else 1.0,
        parent_id=parent,
        financing=parse_decimal(tx.get("financing", "0"), "financing"),
    )


_CREATE_ORDER_TYPES = {
    "MARKET_ORDER": OrderType.MARKET,
    "LIMIT_ORDER": OrderType.LIMIT,
    "STOP_ORDER": OrderType.STOP,
    "MARKET_IF_TOUCHED_ORDER": OrderType.STOP,
}


def order_from_create(tx: dict[str, Any], cid: str) -> Order | None:
    """The order a v20 create transaction made, as ours (an order of ours the books do not
    hold — written ahead by a daemon killed before it heard back — is adopted from it); None
    for any other transaction."""
    order_type = _CREATE_ORDER_TYPES.get(str(tx.get("type", "")))
    if order_type is None:
        return None
    units = parse_decimal(tx["units"], "units")
    if units == 0:
        raise WireError(f"{tx['type']} {tx.get('id')} with zero units")
    price = tx.get("price")
    ext = tx.get("clientExtensions") or {}
    return Order(
        ts_event=parse_time(tx["time"]),
        client_order_id=cid,
        strategy_id=str(ext.get("tag", "") or "venue"),
        instrument=str(tx["instrument"]),
        side=Side.BUY if units > 0 else Side.SELL,
        quantity=abs(units),
        order_type=order_type,
        limit_price=parse_decimal(price, "price") if order_type is OrderType.LIMIT else None,
        stop_price=parse_decimal(price, "price") if order_type is OrderType.STOP else None,
    )
