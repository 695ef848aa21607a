"""Seeded synthetic FX-like quotes and bars, for the embedded defaults and for tests.

The point is data that behaves enough like spot FX to exercise everything downstream — bar
building across the weekend gap, session-dependent features, spread costs, volatility-scaled
sizing — with no file and no network, and the same bytes for the same seed on every run.

The model: the log mid-price is a Brownian motion that runs only while the FX market is open
(:mod:`algotrading.data.calendars`), so ``annual_vol`` is spread over trading time (about 6,261
hours a year), not calendar time. Its instantaneous volatility follows an hourly UTC seasonality
— quiet in the Asian session and around the 17:00 New York rollover, busiest in the London/New
York overlap — normalised so that the mean variance over a trading week is exactly the annual
figure. The market reopens after each weekend with a small seeded gap. Quote arrival rate, bar
volume and (inversely) the spread follow the same activity profile. The profile is fixed in UTC,
so it does not shift with daylight saving; that is a simplification, not a claim.

Randomness comes only from ``numpy.random.default_rng(seed)``; nothing reads a clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from algotrading.data.calendars import fx_next_close, fx_next_open, fx_sessions
from algotrading.messages import Bar, Quote

NS = 1_000_000_000
HOUR_NS = 3600 * NS
# Trading time in an average year: 120 hours a week (Sunday 17:00 to Friday 17:00 New York).
TRADING_NS_PER_YEAR = round(365.25 / 7 * 120 * HOUR_NS)

# Relative volatility by UTC hour of day, before normalisation: Asia (23-06), London (07-12),
# London/New York overlap (12-16), New York afternoon (17-20), rollover lull (21-22).
_VOL_SHAPE_RAW = np.array([
    0.65, 0.70, 0.70, 0.65, 0.60, 0.60, 0.75, 1.10,  # 00-07
    1.30, 1.25, 1.15, 1.10, 1.30, 1.60, 1.70, 1.55,  # 08-15
    1.30, 1.00, 0.85, 0.80, 0.70, 0.45, 0.50, 0.60,  # 16-23
])
# Each UTC hour occurs exactly five times in the Sunday-to-Friday week, so a unit mean square
# over the day makes the weekly (and so annual) variance exactly annual_vol ** 2.
VOL_SHAPE: npt.NDArray[np.float64] = _VOL_SHAPE_RAW / np.sqrt(np.mean(_VOL_SHAPE_RAW**2))
# Quote arrivals and tick volume per UTC hour, mean 1: busy when volatile.
ACTIVITY: npt.NDArray[np.float64] = _VOL_SHAPE_RAW / np.mean(_VOL_SHAPE_RAW)
# Spread multiplier per UTC hour: tight in London/New York, wider in Asia, widest at rollover.
SPREAD_WIDENING: npt.NDArray[np.float64] = np.array([
    1.3, 1.3, 1.3, 1.3, 1.3, 1.3, 1.2, 1.0,  # 00-07
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,  # 08-15
    1.0, 1.0, 1.2, 1.2, 1.4, 2.5, 2.5, 1.6,  # 16-23
])

# The weekend reopening gap has the spread of this many average trading hours of returns.
REOPEN_GAP_HOURS = 2.0
# Tick volume of a bar: the quote rate of synthetic_quotes' default, times activity.
TICKS_PER_SECOND = 4.0
VOLUME_NOISE = 0.25  # lognormal sigma of bar volume around its seasonal mean
SUBSTEPS_PER_BAR = 12


def _reopen_gap_sigma(annual_vol: float) -> float:
    return annual_vol * math.sqrt(REOPEN_GAP_HOURS * HOUR_NS / TRADING_NS_PER_YEAR)


def synthetic_quotes(
    instrument: str,
    start_ns: int,
    seed: int,
    *,
    rate_hz: float = 4.0,
    annual_vol: float = 0.08,
    start_price: float = 1.10,
    spread_pips: float = 0.8,
    pip_size: float = 0.0001,
    price_precision: int = 5,
    skip_closed: bool = True,
) -> Iterator[Quote]:
    """An endless, seeded stream of quotes from ``start_ns`` on, as a paper feed would deliver
    them: Poisson arrivals averaging ``rate_hz`` over trading time (more in busy hours), none
    while FX is closed when ``skip_closed`` (the weekend is jumped and the price gaps at the
    reopen), bid and ask rounded to ``price_precision`` and at least one tick apart.

    Generated an hour at a time with numpy, so it is cheap however far the consumer reads; the
    same arguments always give the same quotes, whatever the consumer does between them.
    """
    if rate_hz <= 0:
        raise ValueError(f"rate_hz must be > 0, got {rate_hz}")
    if start_price <= 0 or annual_vol < 0:
        raise ValueError("start_price must be > 0 and annual_vol >= 0")
    rng = np.random.default_rng(seed)
    variance_per_ns = annual_vol**2 / TRADING_NS_PER_YEAR
    gap_sigma = _reopen_gap_sigma(annual_vol)
    tick = 10.0**-price_precision
    log_mid = math.log(start_price)
    started = False
    t = start_ns
    session_end = t
    while True:
        if skip_closed and t >= session_end:
            opened = fx_next_open(t)
            if started and opened > t:
                log_mid += float(rng.normal(0.0, gap_sigma))
            t, session_end = opened, fx_next_close(opened)
        hour_end = t - t % HOUR_NS + HOUR_NS
        end = min(hour_end, session_end) if skip_closed else hour_end
        hour = (t // HOUR_NS) % 24
        offsets, mid, log_mid = _quote_chunk(rng, end - t, log_mid, rate_hz * ACTIVITY[hour],
                                             variance_per_ns * VOL_SHAPE[hour] ** 2)
        half_spread = 0.5 * spread_pips * pip_size * SPREAD_WIDENING[hour]
        bid = np.round(mid - half_spread, price_precision)
        ask = np.maximum(np.round(mid + half_spread, price_precision),
                         np.round(bid + tick, price_precision))
        for ts, b, a in zip((offsets + t).tolist(), bid.tolist(), ask.tolist(), strict=True):
            yield Quote(ts_event=ts, ts_recv=ts, instrument=instrument, bid=b, ask=a)
        started = True
        t = end


def _quote_chunk(
    rng: np.random.Generator,
    span_ns: int,
    log_mid: float,
    rate_hz: float,
    variance_per_ns: float,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], float]:
    """Quote offsets in ``[0, span_ns)``, the mid at each, and the log mid at the end of the
    span — the walk goes on after the last quote, so the next chunk starts from there."""
    count = int(rng.poisson(rate_hz * span_ns / NS))
    offsets = np.sort(rng.integers(0, span_ns, count))
    # Make times strictly increasing (two draws on one nanosecond are rare, but possible).
    ramp = np.arange(count)
    offsets = np.maximum.accumulate(offsets - ramp) + ramp
    offsets = offsets[offsets < span_ns]
    dts = np.diff(offsets, prepend=0, append=span_ns)
    path = log_mid + np.cumsum(rng.standard_normal(dts.size) * np.sqrt(dts * variance_per_ns))
    return offsets, np.exp(path[:-1]), float(path[-1])
