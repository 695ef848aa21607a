"""From a checked v20 request to the engine order that carries it out: v20's MARKET, LIMIT,
STOP and MARKET_IF_TOUCHED onto the engine's MARKET, LIMIT and STOP (a MARKET_IF_TOUCHED is a
limit when its price is at or better than the market when it is placed, a stop otherwise), the
``…OnFill`` details onto the engine's bracket, and the checks that cancel an order at once
(``MARKET_HALTED``, ``BOUNDS_VIOLATION``, ``TAKE_PROFIT_ON_FILL_LOSS``,
``STOP_LOSS_ON_FILL_LOSS``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from algotrading.adapters.oanda.wire import format_price
from algotrading.data.calendars import is_open
from algotrading.data.instruments import InstrumentSpec
from algotrading.messages import Order, OrderType, Side, TimeInForce
from algotrading.sim.server.order_requests import CREATE_TYPES, ParsedOrder

if TYPE_CHECKING:
    from algotrading.sim.server.accounts import SimAccount

ENGINE_TIF = {
    "FOK": TimeInForce.FOK,
    "IOC": TimeInForce.IOC,
    "GTC": TimeInForce.GTC,
    "GTD": TimeInForce.GTD,
    "GFD": TimeInForce.GTD,  # with expire_ns at the next 17:00 New York
}


@dataclass
class Plan:
    """An order ready for the engine, or to be cancelled at once (``cancel_reason``)."""

    create_type: str
    fields: dict[str, Any]
    engine: Order
    fill_reason: str
    cancel_reason: str = ""
    closes_trade: str = ""
    leg_extensions: dict[str, dict[str, str]] = field(default_factory=dict)
    body_extra: dict[str, Any] = field(default_factory=dict)


def engine_order(kind: str, instrument: str, units: float, account_id: str, **terms: Any) -> Order:
    """An engine order (``client_order_id`` and ``ts_event`` are set when it is submitted)."""
    return Order(
        ts_event=0,
        client_order_id="",
        strategy_id=account_id,
        instrument=instrument,
        side=Side.BUY if units > 0 else Side.SELL,
        quantity=abs(units),
        order_type=OrderType(kind),
        **terms,
    )


def plan_order(
    parsed: ParsedOrder, spec: InstrumentSpec, account: SimAccount, now_ns: int
) -> Plan | str:
    quote = account.quotes.get(parsed.instrument)
    sign = 1 if parsed.units > 0 else -1
    sl_distance = parsed.stop_loss is not None and parsed.stop_loss.distance is not None
    if quote is None and (
        parsed.type in ("MARKET", "MARKET_IF_TOUCHED") or (sl_distance and parsed.type == "MARKET")
    ):
        return "INSTRUMENT_PRICE_UNKNOWN"
    touch = (quote.ask if sign > 0 else quote.bid) if quote is not None else 0.0
    kind = parsed.type
    body_extra: dict[str, Any] = {}
    if kind == "MARKET_IF_TOUCHED":
        assert parsed.price is not None
        assert quote is not None
        kind = "LIMIT" if (parsed.price - touch) * sign <= 0 else "STOP"
        body_extra["initialMarketPrice"] = format_price(quote.mid, spec.price_precision)
    expected = touch if kind == "MARKET" else (parsed.price or 0.0)
    stop_loss = None
    if parsed.stop_loss is not None:
        stop_loss = parsed.stop_loss.price
        if stop_loss is None:
            stop_loss = spec.round_price(expected - sign * (parsed.stop_loss.distance or 0.0))
    take_profit = parsed.take_profit.price if parsed.take_profit is not None else None
    cancel = ""
    if kind == "MARKET" and not is_open(spec.calendar, now_ns):
        cancel = "MARKET_HALTED"
    elif (
        kind == "MARKET"
        and parsed.price_bound is not None
        and ((touch - parsed.price_bound) * sign > 0)
    ):
        cancel = "BOUNDS_VIOLATION"
    elif take_profit is not None and (take_profit - expected) * sign <= 0:
        cancel = "TAKE_PROFIT_ON_FILL_LOSS"
    elif stop_loss is not None and (expected - stop_loss) * sign <= 0:
        cancel = "STOP_LOSS_ON_FILL_LOSS"
    engine = engine_order(
        kind,
        parsed.instrument,
        parsed.units,
        account.id,
        limit_price=parsed.price if kind == "LIMIT" else None,
        stop_price=parsed.price if kind == "STOP" else None,
        time_in_force=ENGINE_TIF[parsed.time_in_force],
        expire_ns=parsed.expire_ns,
        stop_loss=stop_loss,
        take_profit=take_profit,
        trailing_stop=parsed.trailing_stop.distance if parsed.trailing_stop else None,
        # REDUCE_ONLY: the engine cuts it to the position when it trades, cancels it if flat
        reduce_only=parsed.fields.get("positionFill") == "REDUCE_ONLY",
    )
    legs = {
        suffix: leg.client_extensions
        for suffix, leg in (
            ("tp", parsed.take_profit),
            ("sl", parsed.stop_loss),
            ("ts", parsed.trailing_stop),
        )
        if leg is not None and leg.client_extensions
    }
    return Plan(
        create_type=CREATE_TYPES[parsed.type],
        fields=dict(parsed.fields),
        engine=engine,
        fill_reason=CREATE_TYPES[parsed.type],
        cancel_reason=cancel,
        leg_extensions=legs,
        body_extra=body_extra,
    )


def market_plan(
    account: SimAccount,
    instrument: str,
    units: float,
    fields: dict[str, Any],
    fill_reason: str,
    now_ns: int,
    closes_trade: str = "",
) -> Plan | str:
    """A FOK market order that closes (part of) a trade or a position."""
    if instrument not in account.quotes:
        return "INSTRUMENT_PRICE_UNKNOWN"
    spec = account.instruments[instrument]
    engine = engine_order("MARKET", instrument, units, account.id, time_in_force=TimeInForce.FOK)
    return Plan(
        create_type="MARKET_ORDER",
        fields=fields,
        engine=engine,
        fill_reason=fill_reason,
        cancel_reason="" if is_open(spec.calendar, now_ns) else "MARKET_HALTED",
        closes_trade=closes_trade,
    )
