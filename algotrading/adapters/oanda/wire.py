"""The OANDA v20 wire format, as both sides of it — the adapter and the simulated-exchange
server — read and write it (docs/adapters/oanda-v20-subset.md is the reference).

Prices, units and money are decimal **strings** on the wire; times are RFC 3339 with nine
fractional digits (``2016-10-17T19:35:00.000000000Z``) unless ``Accept-Datetime-Format: UNIX``
asks for seconds as a decimal string; ids (transactions, orders, trades) are strings of
integers. Inside the system everything is floats and integer nanoseconds; conversion happens
here, at the edge, with the instrument's precision.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any

from algotrading.data.instruments import AssetClass, InstrumentSpec
from algotrading.timestamps import iso_utc, parse_utc

NS = 1_000_000_000
HEARTBEAT_SECONDS = 5.0
DEAD_STREAM_SECONDS = 10.0  # no line for this long: the stream is dead (twice the heartbeat)
MAX_PRICES_PER_SECOND = 4  # per instrument on the price stream

PRACTICE = ("https://api-fxpractice.oanda.com", "https://stream-fxpractice.oanda.com")
LIVE = ("https://api-fxtrade.oanda.com", "https://stream-fxtrade.oanda.com")


class WireError(ValueError):
    """A value on the wire is not what v20 says it is."""


def format_time(ts_ns: int, unix: bool = False) -> str:
    seconds, rest = divmod(ts_ns, NS)
    if unix:
        return f"{seconds}.{rest:09d}"
    return iso_utc(seconds * NS)[:-1] + f".{rest:09d}Z"


def parse_time(text: str) -> int:
    """An RFC 3339 time with up to nine fractional digits, or UNIX seconds, as ns."""
    if not isinstance(text, str) or not text:
        raise WireError(f"not a time: {text!r}")
    if text[0].isdigit() and "T" not in text:
        whole, _, fraction = text.partition(".")
        try:
            return int(whole) * NS + int((fraction + "000000000")[:9] or 0)
        except ValueError:
            raise WireError(f"not a UNIX time: {text!r}") from None
    head, dot, tail = text.partition(".")
    digits = ""
    if dot:
        while len(digits) < len(tail) and tail[len(digits)].isdigit():
            digits += tail[len(digits)]
    zone = tail[len(digits) :]
    try:
        base = parse_utc(head + zone)
    except ValueError:
        raise WireError(f"not an RFC 3339 time: {text!r}") from None
    return base + int((digits + "000000000")[:9])


def format_price(value: float, precision: int) -> str:
    return f"{value:.{precision}f}"


def format_units(value: float, precision: int = 0) -> str:
    if precision == 0:
        return str(round(value))
    return f"{value:.{precision}f}"


def format_money(value: float) -> str:
    return f"{value:.4f}"


def decimals(text: str) -> int:
    """Digits after the decimal point of a decimal string (``"1.20"`` → 2)."""
    _, _, tail = text.partition(".")
    return len(tail)


def parse_decimal(value: Any, what: str) -> float:
    """A decimal string (or, tolerated, a JSON number) as a finite float."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise WireError(f"{what}: expected a decimal string, got {value!r}")
    try:
        number = float(Decimal(str(value)))
    except (InvalidOperation, ValueError):  # ValueError: a signalling NaN
        raise WireError(f"{what}: not a decimal: {value!r}") from None
    if not math.isfinite(number):
        raise WireError(f"{what}: not finite: {value!r}")
    return number


def pip_location(spec: InstrumentSpec) -> int:
    return round(math.log10(spec.pip_size))


def units_precision(spec: InstrumentSpec) -> int:
    step = spec.quantity_step
    return 0 if step >= 1 else max(0, -round(math.log10(step)))


def instrument_json(spec: InstrumentSpec) -> dict[str, Any]:
    """The v20 ``Instrument`` of one of our instrument specs."""
    precision = spec.price_precision
    return {
        "name": spec.symbol,
        "type": "CURRENCY" if spec.asset_class is AssetClass.FX else "CFD",
        "displayName": spec.symbol.replace("_", "/"),
        "pipLocation": pip_location(spec),
        "displayPrecision": precision,
        "tradeUnitsPrecision": units_precision(spec),
        "minimumTradeSize": format_units(spec.min_quantity, units_precision(spec)),
        "maximumTrailingStopDistance": format_price(1.0 if precision >= 4 else 10_000.0, precision),
        "minimumTrailingStopDistance": format_price(5 * spec.pip_size, precision),
        "maximumPositionSize": "0",
        "maximumOrderUnits": format_units(spec.max_quantity, units_precision(spec)),
        "marginRate": f"{spec.margin_rate:g}",
    }


def spec_from_instrument(data: dict[str, Any], account_currency: str = "USD") -> InstrumentSpec:
    """Our instrument spec from a v20 ``Instrument``."""
    name = data["name"]
    base, _, quote = name.partition("_")
    units_decimals = int(data.get("tradeUnitsPrecision", 0))
    step = 10.0**-units_decimals
    return InstrumentSpec(
        symbol=name,
        asset_class=AssetClass.FX if data.get("type") == "CURRENCY" else AssetClass.INDEX_CFD,
        base=base,
        quote=quote or account_currency,
        pip_size=10.0 ** int(data["pipLocation"]),
        price_precision=int(data["displayPrecision"]),
        quantity_step=step,
        min_quantity=parse_decimal(data.get("minimumTradeSize", step), "minimumTradeSize"),
        max_quantity=parse_decimal(data.get("maximumOrderUnits", 1e8), "maximumOrderUnits"),
        margin_rate=parse_decimal(data.get("marginRate", "0.05"), "marginRate"),
    )
