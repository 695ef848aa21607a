"""After a restart, the bars of the downtime from the venue's candles, for the warm start of
the deciding actors (:mod:`algotrading.daemon.warm_start`). The orders and fills of that time
come from mass status (:mod:`algotrading.adapters.oanda.adapter`), and the daemon reconciles
with them (:mod:`algotrading.daemon.recovery`)."""

from __future__ import annotations

from algotrading.adapters.oanda.client import OandaClient
from algotrading.adapters.oanda.wire import format_time, parse_time
from algotrading.messages import Bar

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
