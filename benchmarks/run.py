"""Benchmarks, one command: ``python benchmarks/run.py``. Prints figures and the machine.

- backtest: the whole actor graph under the deterministic driver, sma_cross on synthetic bars
  (bars/s and messages delivered/s);
- driver overhead: a bare chain of pass-through actors (deliveries/s);
- synthetic data: quotes/s and a year of hourly bars.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import platform
import time

from algotrading.backtest.runner import run_backtest
from algotrading.config import load_config
from algotrading.data.instruments import BUILTIN_INSTRUMENTS
from algotrading.data.synthetic import synthetic_bars, synthetic_quotes
from algotrading.log import configure_logging
from algotrading.messages import Quote
from algotrading.runtime.actor import Actor
from algotrading.runtime.clock import VirtualClock
from algotrading.runtime.driver import Driver
from algotrading.runtime.graph import ActorSpec, Graph, Route
from algotrading.runtime.supervision import RestartPolicy
from algotrading.strategies.registry import build_strategy
from algotrading.timestamps import parse_utc

MINUTE = 60 * 10**9


def best_of(n: int, fn) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def bench_backtest() -> None:
    config = load_config()
    bars = synthetic_bars(
        "EUR_USD",
        parse_utc("2024-01-01T00:00:00Z"),
        parse_utc("2024-04-01T00:00:00Z"),
        MINUTE,
        seed=1,
    )
    strategy = build_strategy("sma_cross", {"fast": 10, "slow": 30, "quantity": 10_000})
    result = {}

    def once() -> None:
        result["r"] = asyncio.run(
            run_backtest(
                bars,
                config=config,
                strategy=strategy,
                instrument=BUILTIN_INSTRUMENTS["EUR_USD"],
                bar_interval_ns=MINUTE,
                data_source="bench",
            )
        )

    seconds = best_of(3, once)
    r = result["r"]
    print(
        f"backtest sma_cross, {len(bars):,} minute bars, {r.metrics['n_trades']} trades: "
        f"{seconds:.2f} s = {len(bars) / seconds:,.0f} bars/s, "
        f"{r.events / seconds:,.0f} messages/s"
    )


class Pass(Actor):
    emits = (Quote,)

    async def on_quote(self, msg: Quote) -> None:
        await self.send(msg)


class End(Actor):
    async def on_quote(self, msg: Quote) -> None:
        pass


def bench_driver(stages: int = 7, events: int = 200_000) -> None:
    names = [f"a{i}" for i in range(stages)]
    specs = [ActorSpec(n, (lambda n=n: Pass(n))) for n in names[:-1]]
    specs.append(ActorSpec(names[-1], lambda: End(names[-1])))
    routes = [Route(a, Quote, (b,)) for a, b in itertools.pairwise(names)]
    quotes = [Quote(ts_event=i, instrument="X", bid=1.0, ask=1.0) for i in range(events)]

    async def main() -> None:
        driver = Driver(Graph(specs, routes), VirtualClock(), RestartPolicy())
        await driver.start()
        for q in quotes:
            await driver.deliver(q, to="a0")

    seconds = best_of(3, lambda: asyncio.run(main()))
    print(
        f"driver, {stages} pass-through stages: {events / seconds:,.0f} input events/s "
        f"({seconds / events * 1e6:.2f} µs per event, "
        f"{seconds / events / stages * 1e9:.0f} ns per delivery)"
    )


def bench_synthetic() -> None:
    start = parse_utc("2024-01-08T00:00:00Z")

    def quotes() -> None:
        gen = synthetic_quotes("EUR_USD", start, 1)
        for _ in range(500_000):
            next(gen)

    seconds = best_of(3, quotes)
    print(f"synthetic quotes: {500_000 / seconds:,.0f} quotes/s")
    seconds = best_of(
        3,
        lambda: synthetic_bars(
            "EUR_USD",
            parse_utc("2024-01-01T00:00:00Z"),
            parse_utc("2025-01-01T00:00:00Z"),
            60 * MINUTE,
            1,
        ),
    )
    print(f"synthetic bars: a year of hourly bars in {seconds * 1000:.1f} ms")


def main() -> None:
    configure_logging("error", "json")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )
    bench_driver()
    bench_backtest()
    bench_synthetic()


if __name__ == "__main__":
    main()
