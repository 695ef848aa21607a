"""Take-profit, stop-loss and trailing stop orders on an existing trade: created by ``POST
…/orders`` with a ``tradeID`` (reason ``CLIENT_ORDER``) and replaced by ``PUT …/orders/{id}``
(reason ``REPLACEMENT``; the engine's order is modified in place, v20 sees a new order id). In
the engine they are reduce-only orders on the trade's size; the account cancels them when
their trade closes, whichever way it closes.

Simulator choices: a stop-loss ``distance`` counts from the trade's open price; only ``GTC``
is offered; ``triggerCondition`` is echoed but works as ``DEFAULT``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec

from algotrading.adapters.oanda.wire import format_price
from algotrading.data.instruments import InstrumentSpec
from algotrading.messages import ModifyOrder, OrderRejected, TimeInForce
from algotrading.sim.server.engine_events import LEG_KINDS, write_cancel
from algotrading.sim.server.order_plans import engine_order
from algotrading.sim.server.order_records import OrderRecord
from algotrading.sim.server.order_requests import (
    DEPENDENT_TYPES,
    TRIGGER_CONDITIONS,
    Outcome,
    check_extensions,
    trailing_range,
)
from algotrading.sim.server.request_values import (
    Problem,
    check_price,
    decimal_text,
    distance_ceiling,
    one_of,
    rejected,
    value_decimals,
)
from algotrading.sim.server.trades import TradeRecord

if TYPE_CHECKING:
    from algotrading.sim.server.accounts import SimAccount

ATTRIBUTES = {kind: attribute for kind, attribute in LEG_KINDS.values()}


def create_dependent(
    account: SimAccount, order: dict[str, Any], now_ns: int, request_id: str
) -> Outcome:
    batch = account.log.batch(now_ns, request_id)
    trade = _trade(account, order)
    if trade is None:
        return account.refuse(batch, order, rejected("TRADE_DOESNT_EXIST"))
    kind = str(order["type"])
    if getattr(trade, ATTRIBUTES[kind]):
        return account.refuse(batch, order, rejected(f"{kind}_ORDER_ALREADY_EXISTS"))
    mid = account.exchange.mids.get(trade.instrument)
    checked = _check(order, account.instruments[trade.instrument], trade, mid)
    if isinstance(checked, Problem):
        return account.refuse(batch, order, checked)
    level, fields = checked
    client_id = (order.get("clientExtensions") or {}).get("id", "")
    if client_id and account.client_id_taken(client_id):
        return account.refuse(batch, order, rejected("CLIENT_ORDER_ID_ALREADY_EXISTS"))
    order_id = batch.next_id()
    engine = engine_order(
        {"TAKE_PROFIT": "LIMIT", "STOP_LOSS": "STOP"}.get(kind, "TRAILING_STOP"),
        trade.instrument,
        -trade.current_units,
        account.id,
        **_terms(kind, level),
    )
    submitted = msgspec.structs.replace(
        engine, client_order_id=order_id, ts_event=now_ns, parent_id=trade.id
    )
    for msg in account.exchange.submit(submitted, now_ns):
        if isinstance(msg, OrderRejected):
            return account.refuse(batch, order, rejected("INTERNAL_SERVER_ERROR"))
    record = account.write_create(
        batch, DEPENDENT_TYPES[kind], fields, trade.instrument, DEPENDENT_TYPES[kind], order_id
    )
    setattr(trade, ATTRIBUTES[kind], record.id)
    account.touch_trade(trade)
    return Outcome(201, account.order_response(batch, record.id))


def replace_dependent(
    account: SimAccount, old: OrderRecord, order: Any, now_ns: int, request_id: str
) -> Outcome:
    batch = account.log.batch(now_ns, request_id)
    echo = {"intendedReplacesOrderID": old.id}
    if not isinstance(order, dict) or order.get("type") != old.type:
        return account.refuse(batch, order, rejected("REPLACING_ORDER_INVALID"), echo)
    trade = account.book.trades[old.trade_id]
    if order.get("tradeID", trade.id) != trade.id:
        return account.refuse(batch, order, rejected("REPLACING_TRADE_ID_INVALID"), echo)
    mid = account.exchange.mids.get(trade.instrument)
    checked = _check(order, account.instruments[trade.instrument], trade, mid)
    if isinstance(checked, Problem):
        return account.refuse(batch, order, checked, echo)
    level, fields = checked
    if "clientExtensions" not in fields and old.body.get("clientExtensions"):
        fields["clientExtensions"] = old.body["clientExtensions"]
    engine_id = old.engine_id
    changes = {k: v for k, v in _terms(old.type, level).items() if k != "time_in_force"}
    modify = ModifyOrder(ts_event=now_ns, client_order_id=engine_id, **changes)
    account.exchange.modify(modify, now_ns)
    new_id = str(account.log.last_id + 2)
    cancel = write_cancel(
        account, old, batch, "CLIENT_REQUEST_REPLACED", replaced_by=new_id, in_engine=False
    )
    fields |= {"reason": "REPLACEMENT", "replacesOrderID": old.id}
    fields["cancellingTransactionID"] = cancel["id"]
    record = account.write_create(
        batch, DEPENDENT_TYPES[old.type], fields, trade.instrument, old.fill_reason, engine_id
    )
    record.body["replacesOrderID"] = old.id
    setattr(trade, ATTRIBUTES[old.type], record.id)
    account.touch_trade(trade)
    response = {"orderCancelTransaction": cancel} | account.order_response(batch, record.id)
    return Outcome(201, response)


def _trade(account: SimAccount, order: dict[str, Any]) -> TradeRecord | None:
    trade_id, client_trade_id = order.get("tradeID"), order.get("clientTradeID")
    trade = account.book.trades.get(str(trade_id)) if trade_id is not None else None
    if trade is None and isinstance(client_trade_id, str):
        trade = account.book.by_client_id(client_trade_id)
    return trade if trade is not None and trade.is_open else None


def _terms(kind: str, level: float) -> dict[str, Any]:
    if kind == "TAKE_PROFIT":
        return {"limit_price": level, "time_in_force": TimeInForce.GTC}
    if kind == "STOP_LOSS":
        return {"stop_price": level, "time_in_force": TimeInForce.GTC}
    return {"trailing_distance": level, "time_in_force": TimeInForce.GTC}


def _check(
    order: dict[str, Any], spec: InstrumentSpec, trade: TradeRecord, mid: float | None
) -> tuple[float, dict[str, Any]] | Problem:
    """The price (or trailing distance) and the create transaction's fields."""
    kind = str(order["type"])
    if not one_of(order.get("timeInForce", "GTC"), ("GTC",)):
        return rejected("TIME_IN_FORCE_INVALID")
    if not one_of(order.get("triggerCondition", "DEFAULT"), TRIGGER_CONDITIONS):
        return rejected("TRIGGER_CONDITION_INVALID")
    extensions = check_extensions(order.get("clientExtensions"), "CLIENT_ORDER")
    if isinstance(extensions, Problem):
        return extensions
    precision = spec.price_precision
    fields: dict[str, Any] = {"tradeID": trade.id}
    if trade.client_extensions and "id" in trade.client_extensions:
        fields["clientTradeID"] = trade.client_extensions["id"]
    has_price = order.get("price") is not None
    has_distance = order.get("distance") is not None
    if kind == "STOP_LOSS" and has_price and has_distance:
        return rejected("STOP_LOSS_ORDER_PRICE_AND_DISTANCE_BOTH_SPECIFIED")
    if kind == "STOP_LOSS" and not (has_price or has_distance):
        return rejected("STOP_LOSS_ORDER_PRICE_AND_DISTANCE_BOTH_MISSING")
    if kind == "TRAILING_STOP_LOSS" or (kind == "STOP_LOSS" and has_distance):
        distance = _distance(order.get("distance"), spec, kind == "TRAILING_STOP_LOSS", mid)
        if isinstance(distance, Problem):
            return distance
        fields["distance"] = format_price(distance, precision)
        level = distance
        if kind == "STOP_LOSS":
            level = spec.round_price(trade.price - trade.sign * distance)
            fields["price"] = format_price(level, precision)
    else:
        price = check_price(
            order.get("price"),
            spec,
            "PRICE_MISSING",
            "PRICE_INVALID",
            "PRICE_PRECISION_EXCEEDED",
            mid,
        )
        if isinstance(price, Problem):
            return price
        level = price
        fields["price"] = format_price(price, precision)
    fields |= {
        "timeInForce": "GTC",
        "triggerCondition": order.get("triggerCondition", "DEFAULT"),
        "reason": "CLIENT_ORDER",
    }
    if extensions:
        fields["clientExtensions"] = extensions
    return level, fields


def _distance(
    value: Any, spec: InstrumentSpec, trailing: bool, mid: float | None
) -> float | Problem:
    if value is None:
        return rejected("PRICE_DISTANCE_MISSING")
    text = decimal_text(value)
    if text is None or Decimal(text) <= 0:
        return rejected("PRICE_DISTANCE_INVALID")
    if value_decimals(text) > spec.price_precision:
        return rejected("PRICE_DISTANCE_PRECISION_EXCEEDED")
    distance = float(text)
    low, high = trailing_range(spec)
    if trailing and distance < low - 1e-12:
        return rejected("PRICE_DISTANCE_MINIMUM_NOT_MET")
    if trailing and distance > high + 1e-12:
        return rejected("PRICE_DISTANCE_MAXIMUM_EXCEEDED")
    if distance > distance_ceiling(mid):
        return rejected("PRICE_DISTANCE_MAXIMUM_EXCEEDED", "at least nine tenths of the market")
    return distance
