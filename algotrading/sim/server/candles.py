"""Candles (``GET …/candles``) from the prices the server has seen: every quote is added to
5-second, 1-minute and 1-hour buckets of bid and ask open/high/low/close and tick count, kept
for a bounded number of buckets; a request aggregates the finest tier that divides its
granularity.

Simulator choices: sub-daily candles are aligned to UTC (multiples of the granularity since
the epoch), not to ``dailyAlignment``; ``D`` candles honour ``dailyAlignment`` and
``alignmentTimezone`` (default 17:00 America/New_York); ``W`` and ``M`` are not offered; mid
candles are the mean of the bid and ask candles; ``smooth`` is accepted and ignored. Refused
with v20's 400: an unknown granularity or price, ``from`` after ``to``, ``to`` in the future, a
``count`` of 0 or over 5000, a ``from``/``to`` span of more than 5000 candles.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from algotrading.adapters.oanda.wire import format_price, format_time
from algotrading.messages import Quote

NS = 1_000_000_000
MAX_COUNT = 5000
DEFAULT_COUNT = 500
GRANULARITIES = {
    "S5": 5,
    "S10": 10,
    "S15": 15,
    "S30": 30,
    "M1": 60,
    "M2": 120,
    "M4": 240,
    "M5": 300,
    "M10": 600,
    "M15": 900,
    "M30": 1800,
    "H1": 3600,
    "H2": 7200,
    "H3": 10800,
    "H4": 14400,
    "H6": 21600,
    "H8": 28800,
    "H12": 43200,
    "D": 86400,
}
# seconds of each tier -> buckets kept (30 hours of S5, 35 days of M1, ~13 years of H1)
TIERS = {5: 21_600, 60: 50_000, 3600: 120_000}
_B_O, _B_H, _B_L, _B_C, _A_O, _A_H, _A_L, _A_C = range(1, 9)
_VOLUME = 9


class CandleError(ValueError):
    """A candle request v20 would refuse with a 400 (the message is v20's)."""


@dataclass(frozen=True)
class CandleQuery:
    granularity: str = "S5"
    price: str = "M"
    count: int | None = None
    from_ns: int | None = None
    to_ns: int | None = None
    include_first: bool = True
    daily_alignment: int = 17
    timezone: str = "America/New_York"


class CandleHistory:
    """Bid/ask buckets of one instrument, in time order, per tier."""

    def __init__(self, precision: int) -> None:
        self.precision = precision
        # bucket: [start_ns, bid o h l c, ask o h l c, ticks]
        self.tiers: dict[int, deque[list[float]]] = {
            seconds: deque(maxlen=size) for seconds, size in TIERS.items()
        }

    def add(self, quote: Quote) -> None:
        for seconds, buckets in self.tiers.items():
            start = quote.ts_event - quote.ts_event % (seconds * NS)
            last = buckets[-1] if buckets else None
            if last is not None and last[0] == start:
                last[_B_H] = max(last[_B_H], quote.bid)
                last[_B_L] = min(last[_B_L], quote.bid)
                last[_B_C] = quote.bid
                last[_A_H] = max(last[_A_H], quote.ask)
                last[_A_L] = min(last[_A_L], quote.ask)
                last[_A_C] = quote.ask
                last[_VOLUME] += 1
            elif last is None or start > last[0]:
                b, a = quote.bid, quote.ask
                buckets.append([start, b, b, b, b, a, a, a, a, 1])
            # a quote older than the newest bucket (never from a paced feed) is left out

    def candles(self, query: CandleQuery, now_ns: int) -> list[dict[str, Any]]:
        seconds = GRANULARITIES.get(query.granularity)
        if seconds is None:
            raise CandleError("Invalid value specified for 'granularity'")
        if not query.price or set(query.price) - set("MBA"):
            raise CandleError("Invalid value specified for 'price'")
        if query.to_ns is not None and query.to_ns > now_ns:
            raise CandleError("Invalid value specified for 'to'. Time is in the future")
        count = query.count
        if count is not None and count > MAX_COUNT:
            raise CandleError("Maximum value for 'count' exceeded")
        if count is not None and count <= 0:
            raise CandleError("Invalid value specified for 'count'")
        span = seconds * NS
        if query.from_ns is not None and query.to_ns is not None:
            if query.from_ns > query.to_ns:
                raise CandleError("Invalid value specified for 'to'. Time is before 'from'")
            if (query.to_ns - query.from_ns) // span > MAX_COUNT:
                raise CandleError("Maximum value for 'count' exceeded")
            count = None
        elif count is None:
            count = DEFAULT_COUNT
        tier = max(t for t in TIERS if seconds % t == 0)
        key = _daily_key(query) if query.granularity == "D" else _fixed_key(span)
        grouped = _group(self.tiers[tier], key)
        if query.from_ns is not None:
            first = key(query.from_ns)  # the candle covering `from`, left out unless includeFirst
            grouped = [
                g for g in grouped if g[0] > first or (g[0] == first and query.include_first)
            ]
        if query.to_ns is not None:
            grouped = [g for g in grouped if g[0] < query.to_ns]
        if count is not None:
            grouped = grouped[:count] if query.from_ns is not None else grouped[-count:]
        return [self._candle(g, query.price, _end(g[0], query, span), now_ns) for g in grouped]

    def _candle(self, g: list[float], price: str, end_ns: int, now_ns: int) -> dict[str, Any]:
        p = self.precision
        out: dict[str, Any] = {
            "complete": end_ns <= now_ns,
            "volume": int(g[_VOLUME]),
            "time": format_time(int(g[0])),
        }
        bid = g[_B_O : _B_C + 1]
        ask = g[_A_O : _A_C + 1]
        if "B" in price:
            out["bid"] = _ohlc(bid, p)
        if "M" in price:
            out["mid"] = _ohlc([(b + a) / 2.0 for b, a in zip(bid, ask, strict=True)], p)
        if "A" in price:
            out["ask"] = _ohlc(ask, p)
        return out


def _ohlc(values: list[float], precision: int) -> dict[str, str]:
    return {k: format_price(v, precision) for k, v in zip("ohlc", values, strict=True)}


def _fixed_key(span: int) -> Any:
    return lambda ts: ts - ts % span


def _daily_key(query: CandleQuery) -> Any:
    try:
        zone = ZoneInfo(query.timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory, a long name
        raise CandleError("Invalid value specified for 'alignmentTimezone'") from None
    if not 0 <= query.daily_alignment <= 23:
        raise CandleError("Invalid value specified for 'dailyAlignment'")
    return lambda ts: _day_start(ts - ts % (3600 * NS), query.daily_alignment, zone)


@lru_cache(maxsize=65_536)
def _day_start(hour_ns: int, alignment: int, zone: ZoneInfo) -> int:
    local = datetime.fromtimestamp(hour_ns / NS, UTC).astimezone(zone)
    day = local.date() if local.hour >= alignment else local.date() - timedelta(days=1)
    start = datetime(day.year, day.month, day.day, alignment, tzinfo=zone)
    return int(start.timestamp()) * NS


def _end(start_ns: float, query: CandleQuery, span: int) -> int:
    if query.granularity != "D":
        return int(start_ns) + span
    zone = ZoneInfo(query.timezone)
    local = datetime.fromtimestamp(start_ns / NS, UTC).astimezone(zone) + timedelta(days=1)
    return int(local.replace(hour=query.daily_alignment).timestamp()) * NS


def _group(buckets: Iterable[list[float]], key: Any) -> list[list[float]]:
    out: list[list[float]] = []
    for b in buckets:
        start = key(int(b[0]))
        last = out[-1] if out else None
        if last is not None and last[0] == start:
            last[_B_H] = max(last[_B_H], b[_B_H])
            last[_B_L] = min(last[_B_L], b[_B_L])
            last[_B_C] = b[_B_C]
            last[_A_H] = max(last[_A_H], b[_A_H])
            last[_A_L] = min(last[_A_L], b[_A_L])
            last[_A_C] = b[_A_C]
            last[_VOLUME] += b[_VOLUME]
        else:
            out.append([start, *b[1:]])
    return out
