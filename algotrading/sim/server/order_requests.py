"""v20 order requests (the ``order`` of ``POST …/orders`` and ``PUT …/orders/{id}``), checked
once, here, into a :class:`ParsedOrder` — or into the v20 reject reason the live server gives.

A request that v20 rejects with a reason gets a ``<TYPE>_ORDER_REJECT`` transaction (which
consumes a transaction id); one too malformed to name a reason (not an object, an unknown
order type, a bad time) gets a plain 400 with no transaction, as v20 does.

Simulator choices where the reference is silent: precision is checked on the *value*, so
``"1.20000000"`` and units ``"100.0"`` are accepted; LIMIT and STOP accept FOK/IOC as well as
GTC/GTD/GFD; client ids are 1 to 128 characters, tags 128, comments 512; ``…OnFill`` orders are
GTC only (``…_ON_FILL_TIME_IN_FORCE_INVALID`` otherwise); guaranteed stops are not offered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from algotrading.adapters.oanda.wire import format_price, format_units, units_precision
from algotrading.data.calendars import fx_next_rollover
from algotrading.data.instruments import InstrumentSpec
from algotrading.sim.server.request_values import (
    Problem,
    check_price,
    check_units,
    checked_time,
    decimal_text,
    distance_ceiling,
    one_of,
    rejected,
    value_decimals,
)

CREATE_TYPES = {
    "MARKET": "MARKET_ORDER",
    "LIMIT": "LIMIT_ORDER",
    "STOP": "STOP_ORDER",
    "MARKET_IF_TOUCHED": "MARKET_IF_TOUCHED_ORDER",
}
DEPENDENT_TYPES = {
    "TAKE_PROFIT": "TAKE_PROFIT_ORDER",
    "STOP_LOSS": "STOP_LOSS_ORDER",
    "TRAILING_STOP_LOSS": "TRAILING_STOP_LOSS_ORDER",
}
TIME_IN_FORCE = {
    "MARKET": ("FOK", "IOC"),
    "LIMIT": ("GTC", "GTD", "GFD", "FOK", "IOC"),
    "STOP": ("GTC", "GTD", "GFD", "FOK", "IOC"),
    "MARKET_IF_TOUCHED": ("GTC", "GTD", "GFD"),
}
POSITION_FILLS = ("DEFAULT", "REDUCE_FIRST", "OPEN_ONLY", "REDUCE_ONLY")
TRIGGER_CONDITIONS = ("DEFAULT", "INVERSE", "BID", "ASK", "MID")
MAX_ID_CHARS, MAX_TAG_CHARS, MAX_COMMENT_CHARS = 128, 128, 512


@dataclass(frozen=True)
class Outcome:
    """A v20 response: status and JSON body (times as RFC 3339 text)."""

    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class OnFill:
    """A take-profit, stop-loss or trailing stop to attach when the order fills."""

    price: float | None = None
    distance: float | None = None
    client_extensions: dict[str, str] | None = None


@dataclass(frozen=True)
class ParsedOrder:
    type: str  # MARKET | LIMIT | STOP | MARKET_IF_TOUCHED
    instrument: str
    units: float  # signed: + buys, - sells
    price: float | None
    price_bound: float | None
    time_in_force: str
    expire_ns: int  # GTD/GFD: cancelled at the first price at or after this
    client_extensions: dict[str, str] | None
    trade_client_extensions: dict[str, str] | None
    take_profit: OnFill | None
    stop_loss: OnFill | None
    trailing_stop: OnFill | None
    # the create transaction's fields after ``type``, as the server writes them
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def client_id(self) -> str:
        return (self.client_extensions or {}).get("id", "")

    @property
    def client_trade_id(self) -> str:
        return (self.trade_client_extensions or {}).get("id", "")


def check_extensions(value: Any, prefix: str) -> dict[str, str] | Problem | None:
    """Client extensions ``{id?, tag?, comment?}``; ``prefix`` names the reject reasons
    (``CLIENT_ORDER``, ``CLIENT_TRADE``, ``STOP_LOSS_ON_FILL_CLIENT_ORDER`` …)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        return rejected(f"{prefix}_ID_INVALID")
    out: dict[str, str] = {}
    for key, limit in (
        ("id", MAX_ID_CHARS),
        ("tag", MAX_TAG_CHARS),
        ("comment", MAX_COMMENT_CHARS),
    ):
        if key not in value:
            continue
        text = value[key]
        if not isinstance(text, str) or not text or len(text) > limit:
            return rejected(f"{prefix}_{key.upper()}_INVALID")
        out[key] = text
    return out


def parse_order(
    order: Any,
    instruments: dict[str, InstrumentSpec],
    now_ns: int,
    mids: Mapping[str, float] | None = None,
) -> ParsedOrder | Problem:
    """The ``order`` of a create request, checked in v20's order of concerns; prices must lie
    in the band around the instrument's mid in ``mids`` (none there: any finite price)."""
    if not isinstance(order, dict):
        return Problem("The request was missing required data")
    kind = order.get("type", "MARKET")
    if not one_of(kind, CREATE_TYPES):
        return Problem("Invalid value specified for 'order.type'")
    instrument = order.get("instrument")
    if instrument is None:
        return rejected("INSTRUMENT_MISSING")
    spec = instruments.get(instrument) if isinstance(instrument, str) else None
    if spec is None:
        return rejected("INSTRUMENT_UNKNOWN")
    units = check_units(order.get("units"), spec, units_precision(spec))
    if isinstance(units, Problem):
        return units
    mid = (mids or {}).get(spec.symbol)
    price: float | None = None
    if kind != "MARKET":
        checked = check_price(
            order.get("price"),
            spec,
            "PRICE_MISSING",
            "PRICE_INVALID",
            "PRICE_PRECISION_EXCEEDED",
            mid,
        )
        if isinstance(checked, Problem):
            return checked
        price = checked
    tif = order.get("timeInForce", "FOK" if kind == "MARKET" else "GTC")
    if not one_of(tif, TIME_IN_FORCE[kind]):
        return rejected("TIME_IN_FORCE_INVALID")
    expire = _expiry(tif, order.get("gtdTime"), now_ns)
    if isinstance(expire, Problem):
        return expire
    if not one_of(order.get("positionFill", "DEFAULT"), POSITION_FILLS):
        return rejected("ORDER_FILL_POSITION_ACTION_INVALID")
    if kind != "MARKET" and not one_of(
        order.get("triggerCondition", "DEFAULT"), TRIGGER_CONDITIONS
    ):
        return rejected("TRIGGER_CONDITION_INVALID")
    bound: float | None = None
    if order.get("priceBound") is not None and kind != "LIMIT":
        checked = check_price(
            order["priceBound"],
            spec,
            "PRICE_BOUND_INVALID",
            "PRICE_BOUND_INVALID",
            "PRICE_BOUND_PRECISION_EXCEEDED",
            mid,
        )
        if isinstance(checked, Problem):
            return checked
        bound = checked
    extensions = check_extensions(order.get("clientExtensions"), "CLIENT_ORDER")
    if isinstance(extensions, Problem):
        return extensions
    trade_extensions = check_extensions(order.get("tradeClientExtensions"), "CLIENT_TRADE")
    if isinstance(trade_extensions, Problem):
        return trade_extensions
    legs = _on_fill_legs(order, spec, mid)
    if isinstance(legs, Problem):
        return legs
    take_profit, stop_loss, trailing = legs
    fields: dict[str, Any] = {
        "instrument": instrument,
        "units": format_units(units, units_precision(spec)),
    }
    if price is not None:
        fields["price"] = format_price(price, spec.price_precision)
    if bound is not None:
        fields["priceBound"] = format_price(bound, spec.price_precision)
    fields["timeInForce"] = tif
    if tif == "GTD":
        fields["gtdTime"] = order["gtdTime"]
    fields["positionFill"] = order.get("positionFill", "DEFAULT")
    if kind != "MARKET":
        fields["triggerCondition"] = order.get("triggerCondition", "DEFAULT")
    fields["reason"] = "CLIENT_ORDER"
    if extensions:
        fields["clientExtensions"] = extensions
    _echo_legs(fields, spec, take_profit, stop_loss, trailing)
    if trade_extensions:
        fields["tradeClientExtensions"] = trade_extensions
    return ParsedOrder(
        type=kind,
        instrument=instrument,
        units=units,
        price=price,
        price_bound=bound,
        time_in_force=tif,
        expire_ns=expire,
        client_extensions=extensions or None,
        trade_client_extensions=trade_extensions or None,
        take_profit=take_profit,
        stop_loss=stop_loss,
        trailing_stop=trailing,
        fields=fields,
    )


def _expiry(tif: str, gtd_time: Any, now_ns: int) -> int | Problem:
    if tif == "GFD":  # good for the day: cancelled at 17:00 New York
        return fx_next_rollover(now_ns)[0]
    if tif != "GTD":
        return 0
    if gtd_time is None:
        return rejected("TIME_IN_FORCE_GTD_TIMESTAMP_MISSING")
    expire = checked_time(gtd_time)
    if expire is None:
        return Problem("Invalid value specified for 'order.gtdTime'")
    if expire <= now_ns:
        return rejected("TIME_IN_FORCE_GTD_TIMESTAMP_IN_PAST")
    return expire


def _on_fill_legs(
    order: dict[str, Any], spec: InstrumentSpec, mid: float | None
) -> tuple[OnFill | None, OnFill | None, OnFill | None] | Problem:
    legs: list[OnFill | None] = []
    for key, prefix in (
        ("takeProfitOnFill", "TAKE_PROFIT_ON_FILL"),
        ("stopLossOnFill", "STOP_LOSS_ON_FILL"),
        ("trailingStopLossOnFill", "TRAILING_STOP_LOSS_ON_FILL"),
    ):
        value = order.get(key)
        if value is None:
            legs.append(None)
            continue
        leg = _on_fill(value, prefix, spec, mid)
        if isinstance(leg, Problem):
            return leg
        legs.append(leg)
    ids = [leg.client_extensions["id"] for leg in legs if leg and leg.client_extensions]
    if len(ids) != len(set(ids)):
        return rejected("ORDERS_ON_FILL_DUPLICATE_CLIENT_ORDER_IDS")
    return legs[0], legs[1], legs[2]


def _on_fill(value: Any, prefix: str, spec: InstrumentSpec, mid: float | None) -> OnFill | Problem:
    if not isinstance(value, dict):
        return Problem(f"Invalid value specified for '{prefix.lower()}'")
    if not one_of(value.get("timeInForce", "GTC"), ("GTC",)):
        return rejected(f"{prefix}_TIME_IN_FORCE_INVALID")
    extensions = check_extensions(value.get("clientExtensions"), f"{prefix}_CLIENT_ORDER")
    if isinstance(extensions, Problem):
        return extensions
    if prefix == "TAKE_PROFIT_ON_FILL":
        price = check_price(
            value.get("price"),
            spec,
            f"{prefix}_PRICE_MISSING",
            f"{prefix}_PRICE_INVALID",
            f"{prefix}_PRICE_PRECISION_EXCEEDED",
            mid,
        )
        return price if isinstance(price, Problem) else OnFill(price, None, extensions)
    if prefix == "TRAILING_STOP_LOSS_ON_FILL":
        distance = _distance(value.get("distance"), spec, f"{prefix}_PRICE_DISTANCE")
        return distance if isinstance(distance, Problem) else OnFill(None, distance, extensions)
    if value.get("guaranteed") is True:
        return rejected("STOP_LOSS_ON_FILL_GUARANTEED_NOT_ALLOWED")
    has_price, has_distance = value.get("price") is not None, value.get("distance") is not None
    if has_price and has_distance:
        return rejected(f"{prefix}_PRICE_AND_DISTANCE_BOTH_SPECIFIED")
    if not (has_price or has_distance):
        return rejected(f"{prefix}_PRICE_AND_DISTANCE_BOTH_MISSING")
    if has_price:
        price = check_price(
            value["price"],
            spec,
            f"{prefix}_PRICE_MISSING",
            f"{prefix}_PRICE_INVALID",
            f"{prefix}_PRICE_PRECISION_EXCEEDED",
            mid,
        )
        return price if isinstance(price, Problem) else OnFill(price, None, extensions)
    text = decimal_text(value["distance"])
    if text is None or Decimal(text) <= 0:
        return rejected(f"{prefix}_DISTANCE_INVALID")
    if value_decimals(text) > spec.price_precision:
        return rejected(f"{prefix}_DISTANCE_PRECISION_EXCEEDED")
    if float(text) > distance_ceiling(mid):
        return rejected(f"{prefix}_DISTANCE_INVALID", "at least nine tenths of the market")
    return OnFill(None, float(text), extensions)


def _distance(value: Any, spec: InstrumentSpec, prefix: str) -> float | Problem:
    """A trailing distance: present, positive, within precision and the instrument's range."""
    if value is None:
        return rejected(f"{prefix}_MISSING")
    text = decimal_text(value)
    if text is None or Decimal(text) <= 0:
        return rejected(f"{prefix}_INVALID")
    if value_decimals(text) > spec.price_precision:
        return rejected(f"{prefix}_PRECISION_EXCEEDED")
    distance = float(text)
    low, high = trailing_range(spec)
    if distance < low - 1e-12:
        return rejected(f"{prefix}_MINIMUM_NOT_MET")
    if distance > high + 1e-12:
        return rejected(f"{prefix}_MAXIMUM_EXCEEDED")
    return distance


def trailing_range(spec: InstrumentSpec) -> tuple[float, float]:
    """The instrument's trailing-stop distance limits, as ``instrument_json`` publishes them."""
    return 5 * spec.pip_size, (1.0 if spec.price_precision >= 4 else 10_000.0)


def _echo_legs(
    fields: dict[str, Any],
    spec: InstrumentSpec,
    take_profit: OnFill | None,
    stop_loss: OnFill | None,
    trailing: OnFill | None,
) -> None:
    precision = spec.price_precision
    for key, leg in (
        ("takeProfitOnFill", take_profit),
        ("stopLossOnFill", stop_loss),
        ("trailingStopLossOnFill", trailing),
    ):
        if leg is None:
            continue
        details: dict[str, Any] = {}
        if leg.price is not None:
            details["price"] = format_price(leg.price, precision)
        if leg.distance is not None:
            details["distance"] = format_price(leg.distance, precision)
        details["timeInForce"] = "GTC"
        if leg.client_extensions:
            details["clientExtensions"] = leg.client_extensions
        fields[key] = details


def reject_fields(order: Any) -> dict[str, Any]:
    """A reject transaction's echo of the request: its fields as sent (prices unformatted, as
    the live server echoes ``"110.79999999999999"``), defaults filled in, ``type`` left out."""
    if not isinstance(order, dict):
        return {}
    kind = order.get("type", "MARKET")
    echo = {k: v for k, v in order.items() if k != "type"}
    if one_of(kind, DEPENDENT_TYPES):
        echo.setdefault("timeInForce", "GTC")
        echo.setdefault("triggerCondition", "DEFAULT")
    elif one_of(kind, CREATE_TYPES):
        echo.setdefault("timeInForce", "FOK" if kind == "MARKET" else "GTC")
        echo.setdefault("positionFill", "DEFAULT")
        if kind != "MARKET":
            echo.setdefault("triggerCondition", "DEFAULT")
    echo["reason"] = "CLIENT_ORDER"
    return echo
