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
_VOL_SHAPE_RAW = np.array(
    [
        0.65,
        0.70,
        0.70,
        0.65,
        0.60,
        0.60,
        0.75,
        1.10,  # 00-07
        1.30,
        1.25,
        1.15,
        1.10,
        1.30,
        1.60,
        1.70,
        1.55,  # 08-15
        1.30,
        1.00,
        0.85,
        0.80,
        0.70,
        0.45,
        0.50,
        0.60,  # 16-23
    ]
)
# Each UTC hour occurs exactly five times in the Sunday-to-Friday week, so a unit mean square
# over the day makes the weekly (and so annual) variance exactly annual_vol ** 2.
VOL_SHAPE: npt.NDArray[np.float64] = _VOL_SHAPE_RAW / np.sqrt(np.mean(_VOL_SHAPE_RAW**2))
# Quote arrivals and tick volume per UTC hour, mean 1: busy when volatile.
ACTIVITY: npt.NDArray[np.float64] = _VOL_SHAPE_RAW / np.mean(_VOL_SHAPE_RAW)
# Spread multiplier per UTC hour: tight in London/New York, wider in Asia, widest at rollover.
SPREAD_WIDENING: npt.NDArray[np.float64] = np.array(
    [
        1.3,
        1.3,
        1.3,
        1.3,
        1.3,
        1.3,
        1.2,
        1.0,  # 00-07
        1.0,
        1.0,
        1.0,
        1.0,
        1.0,
        1.0,
        1.0,
        1.0,  # 08-15
        1.0,
        1.0,
        1.2,
        1.2,
        1.4,
        2.5,
        2.5,
        1.6,  # 16-23
    ]
)

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
    after_ns: int = 0,
) -> Iterator[Quote]:
    """An endless, seeded stream of quotes from ``start_ns`` on, as a paper feed would deliver
    them: Poisson arrivals averaging ``rate_hz`` over trading time (more in busy hours), none
    while FX is closed when ``skip_closed`` (the weekend is jumped and the price gaps at the
    reopen), bid and ask rounded to ``price_precision`` and at least one tick apart.

    Generated an hour at a time with numpy, so it is cheap however far the consumer reads; the
    same arguments always give the same quotes, whatever the consumer does between them.
    ``after_ns``: only the quotes after it are made (the same ones; a restarted paper session
    resumes there without building the quotes it had already played).
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
        offsets, mid, log_mid = _quote_chunk(
            rng, end - t, log_mid, rate_hz * ACTIVITY[hour], variance_per_ns * VOL_SHAPE[hour] ** 2
        )
        started = True
        if end <= after_ns:  # played already: the random walk goes on, no quote is made
            t = end
            continue
        if after_ns > t:
            first = int(np.searchsorted(offsets + t, after_ns, side="right"))
            offsets, mid = offsets[first:], mid[first:]
        half_spread = 0.5 * spread_pips * pip_size * SPREAD_WIDENING[hour]
        bid = np.round(mid - half_spread, price_precision)
        ask = np.maximum(
            np.round(mid + half_spread, price_precision), np.round(bid + tick, price_precision)
        )
        for ts, b, a in zip((offsets + t).tolist(), bid.tolist(), ask.tolist(), strict=True):
            yield Quote(ts_event=ts, ts_recv=ts, instrument=instrument, bid=b, ask=a)
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


def synthetic_bars(
    instrument: str,
    start_ns: int,
    end_ns: int,
    interval_ns: int,
    seed: int,
    *,
    annual_vol: float = 0.08,
    start_price: float = 1.10,
    price_precision: int = 5,
) -> list[Bar]:
    """Seeded OHLCV bars opening at multiples of ``interval_ns`` in ``[start_ns, end_ns)``, none
    opening while FX is closed — the history a backtest gets when it has no data file.

    The walk is simulated on ``SUBSTEPS_PER_BAR`` sub-steps per bar, and each sub-step's high and
    low is drawn from the exact distribution of a Brownian bridge's extremes, so bar ranges are
    as wide as a continuous path's rather than the narrower range of a few samples. A bar that
    straddles the close only moves for its open part. Volume is tick volume: seasonal activity
    times open seconds times ``TICKS_PER_SECOND``, with lognormal noise.
    """
    if interval_ns <= 0:
        raise ValueError(f"interval_ns must be > 0, got {interval_ns}")
    if start_price <= 0 or annual_vol < 0:
        raise ValueError("start_price must be > 0 and annual_vol >= 0")
    first = -(-start_ns // interval_ns) * interval_ns
    if first >= end_ns:
        return []
    count = (end_ns - first + interval_ns - 1) // interval_ns
    last_edge = first + count * interval_ns
    sessions = fx_sessions(first, last_edge)
    if not sessions:
        return []
    rng = np.random.default_rng(seed)
    edges = np.asarray(sessions, dtype=np.int64)  # (n, 2): open, close
    knots, variance_clock, activity_clock = _seasonal_clocks(first, last_edge, edges)

    # The log-price walk on the sub-step grid, relative times in float ns (exact enough).
    substeps = count * SUBSTEPS_PER_BAR
    grid = np.arange(substeps + 1) * (interval_ns / SUBSTEPS_PER_BAR)
    variance_per_ns = annual_vol**2 / TRADING_NS_PER_YEAR
    variance = np.diff(np.interp(grid, knots, variance_clock)) * variance_per_ns
    steps = rng.standard_normal(substeps) * np.sqrt(variance)
    reopens = (edges[:, 0] - first)[edges[:, 0] > first]
    gap_at = np.searchsorted(grid, reopens, side="right") - 1
    steps[gap_at] += rng.normal(0.0, _reopen_gap_sigma(annual_vol), gap_at.size)
    path = math.log(start_price) + np.concatenate(([0.0], np.cumsum(steps)))

    # Extremes of a Brownian bridge from a to b with variance v: (a + b ± sqrt((b-a)² - 2v ln U))/2.
    a, b = path[:-1], path[1:]
    shape = (count, SUBSTEPS_PER_BAR)
    high_spread = np.sqrt((b - a) ** 2 - 2.0 * variance * np.log1p(-rng.random(substeps)))
    low_spread = np.sqrt((b - a) ** 2 - 2.0 * variance * np.log1p(-rng.random(substeps)))
    high_log = (0.5 * (a + b + high_spread)).reshape(shape).max(axis=1)
    low_log = (0.5 * (a + b - low_spread)).reshape(shape).min(axis=1)

    opens = np.round(np.exp(path[:-1:SUBSTEPS_PER_BAR]), price_precision)
    closes = np.round(np.exp(path[SUBSTEPS_PER_BAR::SUBSTEPS_PER_BAR]), price_precision)
    highs = np.maximum(np.round(np.exp(high_log), price_precision), np.maximum(opens, closes))
    lows = np.minimum(np.round(np.exp(low_log), price_precision), np.minimum(opens, closes))

    bar_edges = np.arange(count + 1, dtype=np.float64) * interval_ns
    active_seconds = np.diff(np.interp(bar_edges, knots, activity_clock)) / NS
    noise = rng.lognormal(-0.5 * VOLUME_NOISE**2, VOLUME_NOISE, count)
    volumes = np.round(TICKS_PER_SECOND * active_seconds * noise)

    ts_open = first + np.arange(count, dtype=np.int64) * interval_ns
    session = np.searchsorted(edges[:, 0], ts_open, side="right") - 1
    keep = (session >= 0) & (ts_open < edges[np.maximum(session, 0), 1])
    columns = (ts_open[keep], opens[keep], highs[keep], lows[keep], closes[keep], volumes[keep])
    return [
        Bar(
            ts_event=t + interval_ns,
            ts_recv=t + interval_ns,
            instrument=instrument,
            interval_ns=interval_ns,
            ts_open=t,
            open=o,
            high=h,
            low=lo,
            close=c,
            volume=v,
        )
        for t, o, h, lo, c, v in zip(*(column.tolist() for column in columns), strict=True)
    ]


def _seasonal_clocks(
    first: int, last: int, sessions: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Two clocks over ``[first, last]`` that tick only while the market is open, one at the
    rate of the hour's variance (VOL_SHAPE²), one at its activity, as readings at hourly knots
    (ns relative to ``first``) to interpolate between. The variance of any stretch of the walk
    is then a difference of two readings, however the stretch cuts the hours and sessions."""
    hour_edges = np.arange(first - first % HOUR_NS, last + HOUR_NS, HOUR_NS, dtype=np.int64)
    knots = (hour_edges - first).astype(np.float64)
    # Open time elapsed since `first`, read at every hour edge.
    session_knots = (sessions - first).astype(np.float64).ravel()
    durations = (sessions[:, 1] - sessions[:, 0]).astype(np.float64)
    elapsed_at_close = np.cumsum(durations)
    session_values = np.column_stack((elapsed_at_close - durations, elapsed_at_close)).ravel()
    open_per_hour = np.diff(np.interp(knots, session_knots, session_values))
    hour_of_day = (hour_edges[:-1] // HOUR_NS) % 24
    variance = np.concatenate(([0.0], np.cumsum(open_per_hour * VOL_SHAPE[hour_of_day] ** 2)))
    activity = np.concatenate(([0.0], np.cumsum(open_per_hour * ACTIVITY[hour_of_day])))
    return knots, variance, activity
