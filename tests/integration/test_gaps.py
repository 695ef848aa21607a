"""A backtest over quotes with a weekend gap and a missing hour builds no bar across either:
every bar covers only prices inside its own window, and the hours without prices have none."""

from __future__ import annotations

import asyncio
import itertools

from algotrading.backtest.runner import run_backtest
from algotrading.config import load_config
from algotrading.data.calendars import fx_is_open
from algotrading.data.instruments import BUILTIN_INSTRUMENTS
from algotrading.data.synthetic import synthetic_quotes
from algotrading.messages import Bar, Quote
from algotrading.strategies.registry import build_strategy
from algotrading.timestamps import parse_utc

HOUR = 3600 * 10**9


def test_no_bar_spans_the_weekend_or_a_missing_hour(monkeypatch):
    start = parse_utc("2024-01-11T00:00:00Z")  # Thursday
    end = parse_utc("2024-01-16T00:00:00Z")  # Tuesday
    hole = parse_utc("2024-01-15T10:00:00Z")  # Monday 10:00-11:00 UTC: the feed was down
    quotes = [
        q
        for q in itertools.takewhile(
            lambda q: q.ts_event < end, synthetic_quotes("EUR_USD", start, 4, rate_hz=0.5)
        )
        if not hole <= q.ts_event < hole + HOUR
    ]
    built: list[Bar] = []
    from algotrading.actors import strategy as strategy_module

    original = strategy_module.StrategyActor.on_bar

    async def spy(self, msg: Bar) -> None:  # what the strategy is given
        built.append(msg)
        await original(self, msg)

    monkeypatch.setattr(strategy_module.StrategyActor, "on_bar", spy)
    asyncio.run(
        run_backtest(
            quotes,
            config=load_config(),
            strategy=build_strategy("sma_cross", {"fast": 3, "slow": 6}),
            instrument=BUILTIN_INSTRUMENTS["EUR_USD"],
            bar_interval_ns=HOUR,
            data_source="test",
        )
    )
    hours_with_prices = {q.ts_event - q.ts_event % HOUR for q in quotes}
    assert {b.ts_open for b in built} <= hours_with_prices
    assert hole not in {b.ts_open for b in built}
    for bar in built:
        assert fx_is_open(bar.ts_open), bar
        inside = [q for q in quotes if bar.ts_open <= q.ts_event < bar.ts_open + HOUR]
        mids = [(q.bid + q.ask) / 2 for q in inside]
        assert (bar.open, bar.close) == (mids[0], mids[-1])
        assert (bar.high, bar.low) == (max(mids), min(mids))
    # the weekend: the last bar before it is Friday's, the next one Sunday evening's
    friday_close = parse_utc("2024-01-12T22:00:00Z")
    before = max(b.ts_open for b in built if b.ts_open < friday_close)
    after = min(b.ts_open for b in built if b.ts_open >= friday_close)
    assert before < friday_close <= before + HOUR
    assert after >= parse_utc("2024-01-14T22:00:00Z")
    assert all(isinstance(q, Quote) for q in quotes)
