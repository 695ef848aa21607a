"""The values inside a v20 request, checked before anything uses them, so that nothing the server
accepts can be non-finite, absurd or of the wrong type — and nothing it stores can break it
after a restart. Pure: a bad value is ``None`` or a :class:`Problem`, never an exception.

Simulator choices (v20 publishes no such limits; see ``docs/adapters/oanda-v20-subset.md``):
a decimal is a plain ASCII decimal string or JSON number of at most 40 characters whose
magnitude is within 1e-12..1e12 (or zero); a price must lie within a tenth and ten times the
instrument's current mid (``PRICE_BAND``), and a stop-loss distance below nine tenths of it, so
the stop stays above a tenth of the market; ``|units|`` is at most ``MAX_UNITS`` (and the
instrument's own maximum).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from algotrading.adapters.oanda.wire import WireError, parse_time
from algotrading.data.instruments import InstrumentSpec
from algotrading.sim.server.reject_reasons import reject_message

PRICE_BAND = 10.0
MAX_UNITS = 1e9
MAX_DECIMAL_CHARS = 40
MAX_EXPONENT = 12
MAX_TIME_NS = 7_258_118_400 * 10**9  # 2200-01-01: later times are refused, not stored
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


@dataclass(frozen=True)
class Problem:
    """Why a request is refused. With a ``reason`` a reject transaction is written; without,
    the request was too malformed for one (a plain 400)."""

    message: str
    reason: str | None = None


def rejected(reason: str, detail: str = "") -> Problem:
    message = reject_message(reason)
    return Problem(f"{message} ({detail})" if detail else message, reason)


def one_of(value: Any, allowed: tuple[str, ...] | dict[str, Any]) -> bool:
    """``value`` is a string of ``allowed`` (a list or object never is, and never raises)."""
    return isinstance(value, str) and value in allowed


def decimal_text(value: Any) -> str | None:
    """A v20 decimal as its string (JSON numbers tolerated), or ``None`` if it is not one: not
    a string or number, not a plain decimal, non-finite, too long, or of absurd magnitude."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int) and abs(value) >= 10**MAX_EXPONENT:
        return None
    text = str(value).strip()
    if len(text) > MAX_DECIMAL_CHARS or not _DECIMAL.fullmatch(text):
        return None
    number = Decimal(text)
    exponent = number.as_tuple().exponent
    if not isinstance(exponent, int) or abs(exponent) > MAX_DECIMAL_CHARS + MAX_EXPONENT:
        return None  # "0e-999999999"
    if number and abs(number.adjusted()) > MAX_EXPONENT:
        return None
    return text


def value_decimals(text: str) -> int:
    """Decimals the value needs (``"1.20000000"`` → 1, ``"100.0"`` → 0)."""
    exponent = Decimal(text).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def price_band(mid: float | None) -> tuple[float, float] | None:
    """The prices accepted around ``mid`` (none known: any finite positive price)."""
    if mid is None or not math.isfinite(mid) or mid <= 0:
        return None
    return mid / PRICE_BAND, mid * PRICE_BAND


def check_price(
    value: Any,
    spec: InstrumentSpec,
    missing: str,
    invalid: str,
    precision: str,
    mid: float | None = None,
) -> float | Problem:
    """A positive price within the instrument's precision and the band around ``mid``."""
    if value is None:
        return rejected(missing)
    text = decimal_text(value)
    if text is None or Decimal(text) <= 0:
        return rejected(invalid)
    if value_decimals(text) > spec.price_precision:
        return rejected(precision)
    price = float(text)
    band = price_band(mid)
    if band is not None and not band[0] * (1 - 1e-9) <= price <= band[1] * (1 + 1e-9):
        low, high = (f"{x:.{spec.price_precision}f}" for x in band)
        return rejected(invalid, f"outside {low}..{high}, a tenth to ten times the market")
    return price


def distance_ceiling(mid: float | None) -> float:
    """The largest stop-loss distance: below nine tenths of the market (no mid: any)."""
    if mid is None or price_band(mid) is None:
        return math.inf
    return mid * (1.0 - 1.0 / PRICE_BAND)


def check_units(value: Any, spec: InstrumentSpec, precision: int) -> float | Problem:
    """Signed, non-zero units within the instrument's precision, minimum and maximum."""
    if value is None:
        return rejected("UNITS_MISSING")
    text = decimal_text(value)
    if text is None or Decimal(text) == 0:
        return rejected("UNITS_INVALID")
    if value_decimals(text) > precision:
        return rejected("UNITS_PRECISION_EXCEEDED")
    units = float(text)
    if abs(units) < spec.min_quantity - 1e-9:
        return rejected("UNITS_MIMIMUM_NOT_MET")
    if abs(units) > min(spec.max_quantity, MAX_UNITS) + 1e-9:
        return rejected("UNITS_LIMIT_EXCEEDED")
    return units


def checked_time(value: Any) -> int | None:
    """An RFC 3339 or UNIX time as ns since the epoch, from 1970 to 2200; else ``None``."""
    if not isinstance(value, str) or len(value) > MAX_DECIMAL_CHARS:
        return None
    try:
        ns = parse_time(value)
    except (WireError, ValueError, OverflowError):
        return None
    return ns if 0 <= ns < MAX_TIME_NS else None
