"""The same strategy on the same data decides the same orders whether the deterministic driver
delivers the messages or every actor runs as its own task."""

from __future__ import annotations

import asyncio

from algotrading.adapters.replay import ReplayClock
from algotrading.config import load_config
from algotrading.daemon.wiring import build_session
from algotrading.data.instruments import BUILTIN_INSTRUMENTS
from algotrading.data.synthetic import synthetic_bars
from algotrading.runtime.clock import VirtualClock
from algotrading.runtime.driver import Driver
from algotrading.runtime.live import LiveRuntime, Source
from algotrading.strategies.registry import build_strategy
from algotrading.timestamps import parse_utc

H = 3600 * 10**9


def session(strategy):
    config = load_config()
    spec = BUILTIN_INSTRUMENTS["EUR_USD"]
    return build_session(config, strategy, {"EUR_USD": spec}, bar_interval_ns=H, id_prefix="t")


def decided(ledger):
    return [(o.client_order_id, o.instrument, o.side, o.quantity) for o in ledger.orders]


async def test_driver_and_live_tasks_give_the_same_orders():
    bars = synthetic_bars(
        "EUR_USD", parse_utc("2024-01-01T00:00:00Z"), parse_utc("2024-03-01T00:00:00Z"), H, seed=5
    )
    strategy = build_strategy("sma_cross", {"fast": 5, "slow": 15, "quantity": 10_000})

    backtest = session(strategy)
    driver = Driver(backtest.graph, VirtualClock(), backtest.policy)
    await driver.start()
    await driver.run(bars)
    await driver.stop()

    live = session(strategy)
    runtime = LiveRuntime(
        live.graph, ReplayClock(bars[0].ts_event, speed=1e9), live.policy, queue_size=8
    )

    async def stream():
        for bar in bars:
            yield bar
            await asyncio.sleep(0)

    runtime.add_source(Source("history", stream, "feed", stops_runtime=True))
    assert await asyncio.wait_for(runtime.run(), 60) == 0

    assert len(backtest.ledger.orders) > 20
    assert decided(live.ledger) == decided(backtest.ledger)
    # the strategy's intents are the same objects of decision: side and size per bar
    assert [(o.side, o.quantity) for o in live.ledger.orders] == [
        (o.side, o.quantity) for o in backtest.ledger.orders
    ]
