"""The synthetic generator: reproducible, closed at weekends, and FX-like in its statistics."""

from __future__ import annotations

from itertools import islice, pairwise, takewhile
from typing import Any

import msgspec
import numpy as np
import pytest

from algotrading.data.calendars import fx_is_open, fx_next_open
from algotrading.data.synthetic import synthetic_bars, synthetic_quotes
from algotrading.messages import Bar, Quote
from algotrading.timestamps import NS, parse_utc

HOUR = 3600 * NS
MONDAY_LONDON = parse_utc("2024-01-08T08:00:00Z")
FRIDAY_AFTERNOON = parse_utc("2024-01-05T18:00:00Z")  # four hours before the EST close
YEAR_START, YEAR_END = parse_utc("2024-01-01T00:00:00Z"), parse_utc("2025-01-01T00:00:00Z")


def quotes(start: int, seed: int, count: int, **kwargs: Any) -> list[Quote]:
    return list(islice(synthetic_quotes("EUR_USD", start, seed, **kwargs), count))


@pytest.fixture(scope="module")
def year_of_hourly_bars() -> list[Bar]:
    return synthetic_bars("EUR_USD", YEAR_START, YEAR_END, HOUR, seed=7)


def hours_utc(bars: list[Bar]) -> np.ndarray:
    return np.array([bar.ts_open // HOUR % 24 for bar in bars])


# --- quotes ----------------------------------------------------------------------------------


def test_quotes_are_byte_identical_for_a_seed_and_differ_across_seeds() -> None:
    first, again = quotes(MONDAY_LONDON, 3, 20_000), quotes(MONDAY_LONDON, 3, 20_000)
    assert msgspec.msgpack.encode(first) == msgspec.msgpack.encode(again)
    other = quotes(MONDAY_LONDON, 4, 20_000)
    assert [q.bid for q in other] != [q.bid for q in first]
    assert [q.ts_event for q in other] != [q.ts_event for q in first]


def test_quotes_are_well_formed() -> None:
    stream = quotes(MONDAY_LONDON, 1, 50_000)
    ts = np.array([q.ts_event for q in stream])
    assert ts[0] >= MONDAY_LONDON
    assert np.all(np.diff(ts) > 0)
    assert all(q.ts_recv == q.ts_event and q.instrument == "EUR_USD" for q in stream)
    assert all(q.bid < q.ask for q in stream)
    assert all(round(q.bid, 5) == q.bid and round(q.ask, 5) == q.ask for q in stream)
    spreads_pips = np.array([q.ask - q.bid for q in stream]) / 0.0001
    assert spreads_pips.min() > 0.7
    assert spreads_pips.max() < 2.5


def test_no_quotes_over_the_weekend_and_a_gap_at_the_reopen() -> None:
    monday = parse_utc("2024-01-08T00:00:00Z")
    stream = list(
        takewhile(
            lambda q: q.ts_event < monday,
            synthetic_quotes("EUR_USD", FRIDAY_AFTERNOON, 5, rate_hz=1.0),
        )
    )
    assert all(fx_is_open(q.ts_event) for q in stream)
    ts = np.array([q.ts_event for q in stream])
    jump = int(np.argmax(np.diff(ts)))
    reopen = fx_next_open(parse_utc("2024-01-06T00:00:00Z"))
    assert ts[jump] < parse_utc("2024-01-05T22:00:00Z") <= reopen <= ts[jump + 1]
    assert ts[jump + 1] - reopen < 60 * NS  # trading resumes at once
    assert stream[jump + 1].bid != stream[jump].bid


def test_quotes_may_run_through_the_weekend_when_asked() -> None:
    saturday = parse_utc("2024-01-06T12:00:00Z")
    stream = quotes(saturday, 5, 100, skip_closed=False)
    assert stream[-1].ts_event < saturday + HOUR


def test_a_stream_started_in_the_weekend_opens_at_start_price() -> None:
    first = quotes(parse_utc("2024-01-06T12:00:00Z"), 2, 1)[0]
    assert first.ts_event >= parse_utc("2024-01-07T22:00:00Z")
    assert abs((first.bid + first.ask) / 2 - 1.10) < 0.0005


@pytest.mark.parametrize("rate_hz", [0.5, 4.0])
def test_quote_rate_averages_rate_hz_over_a_trading_day(rate_hz: float) -> None:
    day_end = MONDAY_LONDON + 24 * HOUR  # a whole UTC day of every hour, all open
    stream = takewhile(
        lambda q: q.ts_event < day_end,
        synthetic_quotes("EUR_USD", MONDAY_LONDON, 9, rate_hz=rate_hz),
    )
    count = sum(1 for _ in stream)
    assert count == pytest.approx(rate_hz * 86_400, rel=0.05)


def test_quotes_follow_the_price_precision_and_pip_of_a_yen_pair() -> None:
    stream = quotes(MONDAY_LONDON, 1, 1_000, start_price=145.0, pip_size=0.01, price_precision=3)
    assert all(round(q.bid, 3) == q.bid and q.bid < q.ask for q in stream)
    assert 140 < stream[-1].bid < 150


def test_rejects_a_non_positive_rate() -> None:
    with pytest.raises(ValueError, match="rate_hz"):
        next(synthetic_quotes("EUR_USD", MONDAY_LONDON, 1, rate_hz=0.0))


# --- bars ------------------------------------------------------------------------------------


def test_bars_are_byte_identical_for_a_seed_and_differ_across_seeds() -> None:
    start, end = MONDAY_LONDON, MONDAY_LONDON + 30 * 24 * HOUR
    first = synthetic_bars("EUR_USD", start, end, HOUR, 11)
    again = synthetic_bars("EUR_USD", start, end, HOUR, 11)
    assert msgspec.msgpack.encode(first) == msgspec.msgpack.encode(again)
    other = synthetic_bars("EUR_USD", start, end, HOUR, 12)
    assert [b.close for b in other] != [b.close for b in first]


def test_bars_are_aligned_and_none_opens_while_closed(year_of_hourly_bars: list[Bar]) -> None:
    bars = year_of_hourly_bars
    assert bars[0].ts_open == YEAR_START
    assert bars[-1].ts_open < YEAR_END
    for bar in bars:
        assert bar.ts_open % HOUR == 0
        assert bar.ts_event == bar.ts_recv == bar.ts_open + HOUR
        assert bar.interval_ns == HOUR
        assert fx_is_open(bar.ts_open)
    saturday = parse_utc("2024-01-06T00:00:00Z")
    assert not any(saturday <= bar.ts_open < saturday + 24 * HOUR for bar in bars)
    # Every open hour of the year is there: 52 weeks of 120 hours, give or take the ends.
    assert 6_200 < len(bars) < 6_320


def test_bars_are_ohlc_consistent_and_rounded(year_of_hourly_bars: list[Bar]) -> None:
    for bar in year_of_hourly_bars:
        assert bar.low <= min(bar.open, bar.close)
        assert bar.high >= max(bar.open, bar.close)
        assert bar.low > 0
        assert bar.volume > 0
        for price in (bar.open, bar.high, bar.low, bar.close):
            assert round(price, 5) == price
    ranges = np.array([b.high - b.low for b in year_of_hourly_bars])
    assert np.median(ranges) > 0.0005  # a few pips an hour, not a flat line


def test_consecutive_bars_share_the_path(year_of_hourly_bars: list[Bar]) -> None:
    bars = year_of_hourly_bars
    assert bars[0].open == 1.10
    within_week = [(a, b) for a, b in pairwise(bars) if b.ts_open == a.ts_event]
    assert all(b.open == a.close for a, b in within_week)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("annual_vol", [0.08, 0.16])
def test_realised_volatility_matches_annual_vol(seed: int, annual_vol: float) -> None:
    bars = synthetic_bars("EUR_USD", YEAR_START, YEAR_END, HOUR, seed, annual_vol=annual_vol)
    returns = np.diff(np.log([bar.close for bar in bars]))
    realised = returns.std() * np.sqrt(len(bars))  # len(bars): trading hours in the year
    assert annual_vol / 1.5 < realised < annual_vol * 1.5


def test_london_new_york_overlap_moves_more_than_the_asian_night(
    year_of_hourly_bars: list[Bar],
) -> None:
    bars = year_of_hourly_bars
    hours = hours_utc(bars)
    moves = np.abs(np.log([bar.close / bar.open for bar in bars]))
    volumes = np.array([bar.volume for bar in bars])
    busy, quiet = np.isin(hours, [13, 14, 15]), np.isin(hours, [22, 23, 0, 1])
    assert moves[busy].mean() > 1.5 * moves[quiet].mean()
    assert volumes[busy].mean() > 1.5 * volumes[quiet].mean()


def test_daily_bars_skip_weekend_starts_and_stay_consistent() -> None:
    day = 24 * HOUR
    bars = synthetic_bars("EUR_USD", YEAR_START, YEAR_START + 28 * day, day, 5)
    assert len(bars) == 20  # four weeks of Monday-to-Friday 00:00 UTC openings
    assert all(fx_is_open(bar.ts_open) and bar.ts_open % day == 0 for bar in bars)
    assert all(
        bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high for bar in bars
    )


def test_bars_start_at_the_first_aligned_time_and_end_before_end() -> None:
    start, end = MONDAY_LONDON + 1, MONDAY_LONDON + 5 * HOUR + 1
    bars = synthetic_bars("EUR_USD", start, end, HOUR, 1)
    assert [bar.ts_open for bar in bars] == [MONDAY_LONDON + k * HOUR for k in range(1, 6)]
    assert synthetic_bars("EUR_USD", start, start + 10, HOUR, 1) == []
    saturday = parse_utc("2024-01-06T00:00:00Z")
    assert synthetic_bars("EUR_USD", saturday, saturday + 24 * HOUR, HOUR, 1) == []


def test_quotes_after_a_time_are_the_same_quotes_made_without_the_ones_before():
    from itertools import islice

    from algotrading.data.synthetic import synthetic_quotes
    from algotrading.timestamps import parse_utc

    start = parse_utc("2024-01-05T20:00:00Z")  # a Friday: the weekend gap falls in between
    everything = list(islice(synthetic_quotes("EUR_USD", start, 7, rate_hz=2.0), 40_000))
    cut = everything[25_000].ts_event
    after = list(islice(synthetic_quotes("EUR_USD", start, 7, rate_hz=2.0, after_ns=cut), 14_999))
    assert after[0].ts_event > cut
    assert after == [q for q in everything if q.ts_event > cut]
