"""Benchmarks, one command: ``python benchmarks/run.py`` (``--quick`` for a smaller run).

Workloads (the ones other engines are commonly measured on), each through the full actor graph
in backtest mode, each in its own process so its peak memory is its own:

- busy: one-minute EUR/USD bars, ``ema_cross`` 10/20 flipping 10,000 units (an order every
  ~10 bars): bars/s and peak memory (max RSS);
- quiet: the same bars, ``ema_cross`` 200/1000 (a few hundred orders): bars/s;
- quotes: bid/ask quotes built into one-minute bars by the bar-builder, the simulated exchange
  marking to market on every quote: quotes/s;
- scaling: the busy workload at 100k, 1M and 5M bars: time should grow linearly, memory not.

Bars come from the Parquet history store, streamed in chunks as a research backtest reads
them (the store is generated once, seeded, under ``benchmarks/.data/``); quotes from the seeded
generator as the run consumes them. Outputs are written as a real backtest writes them (to a
temporary directory). "/s" figures time the event loop from the first event read to the last
delivered; "total" adds start-up, metrics and report.html. Plus micro-benchmarks: the driver's
delivery cost, the store's read speed and the generators; and the machine-learning figures of
``benchmarks/ml.py`` (inference latency per bar, ``ml_signal`` backtest throughput) and the
tick-to-order latency of a paper session over loopback (``benchmarks/paper_latency.py``) and
the daemon's recovery time after a day of minute bars journaled, in process and as a whole
process killed with ``kill -9`` and started again to ``READY=1`` (``benchmarks/recovery.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from algotrading.backtest.runner import run_backtest
from algotrading.config import load_config
from algotrading.data.instruments import BUILTIN_INSTRUMENTS
from algotrading.data.synthetic import synthetic_bars, synthetic_quotes
from algotrading.log import configure_logging
from algotrading.messages import Bar, Quote
from algotrading.runtime.actor import Actor
from algotrading.runtime.clock import VirtualClock
from algotrading.runtime.driver import Driver, sync_handler
from algotrading.runtime.graph import ActorSpec, Graph, Route
from algotrading.runtime.supervision import RestartPolicy
from algotrading.strategies.registry import build_strategy
from algotrading.timestamps import parse_utc

MINUTE = 60 * 10**9
DAY = 86_400 * 10**9
START = parse_utc("2015-01-05T00:00:00Z")

TARGETS = {"busy": 100_000, "quiet": 300_000, "quotes": 500_000}  # per second
MEMORY_TARGET_MB = 400


def minute_bars(count: int, seed: int = 1) -> Iterator[Bar]:
    """``count`` one-minute bars of synthetic EUR/USD, generated 30 days at a time."""
    start, price, made, chunk = START, 1.10, 0, 0
    while made < count:
        bars = synthetic_bars(
            "EUR_USD", start, start + 30 * DAY, MINUTE, seed + chunk, start_price=price
        )
        chunk += 1
        start += 30 * DAY
        if bars:
            price = bars[-1].close
        yield from bars[: count - made]
        made += min(len(bars), count - made)


DATA = Path(__file__).parent / ".data"


def prepare_store(count: int) -> Path:
    """Write ``count`` minute bars to the Parquet store once (in chunks, merged by month)."""
    from algotrading.data.parquet_store import write_bars

    root = DATA / f"bars-{count}"
    if root.exists():
        return root
    import numpy as np

    tmp = DATA / f"tmp-{count}"
    bars = minute_bars(count)
    while chunk := list(itertools.islice(bars, 500_000)):
        columns = {
            name: np.array([getattr(b, name) for b in chunk])
            for name in ("ts_open", "open", "high", "low", "close", "volume")
        }
        write_bars(tmp, "EUR_USD", MINUTE, **columns, merge=True)
    tmp.rename(root)
    return root


def stored_bars(count: int) -> Iterator[Bar]:
    """``count`` minute bars streamed from the Parquet store."""
    from algotrading.data.parquet_store import iter_bars

    return iter_bars(prepare_store(count), "EUR_USD", MINUTE)


class Timed:
    """Wraps the input: the clock starts at the first event read and stops at exhaustion."""

    def __init__(self, events: Iterator[Bar] | Iterator[Quote]) -> None:
        self.events = events
        self.started = self.stopped = 0.0

    def __iter__(self) -> Iterator[Bar | Quote]:
        self.started = time.perf_counter()
        yield from self.events
        self.stopped = time.perf_counter()


def quotes(count: int, seed: int = 1) -> Iterator[Quote]:
    return itertools.islice(synthetic_quotes("EUR_USD", START, seed, rate_hz=4.0), count)


def peak_rss_kb() -> int:
    """This process's peak resident memory. ``VmHWM`` rather than ``ru_maxrss``, which Linux
    carries over ``execve`` from the parent that forked us."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_workload(name: str, size: int) -> dict[str, float]:
    """One workload in this process; returns its figures."""
    configure_logging("error", "json")
    config = load_config()
    fast, slow = (200, 1000) if name == "quiet" else (10, 20)
    strategy = build_strategy("ema_cross", {"fast": fast, "slow": slow, "quantity": 10_000})
    events = Timed(quotes(size) if name == "quotes" else stored_bars(size))
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        result = asyncio.run(
            run_backtest(
                iter(events),
                config=config,
                strategy=strategy,
                instrument=BUILTIN_INSTRUMENTS["EUR_USD"],
                bar_interval_ns=MINUTE,
                data_source="benchmark",
                out_dir=Path(out),
            )
        )
        total = time.perf_counter() - started
    peak_kb = peak_rss_kb()
    seconds = events.stopped - events.started
    return {
        "events": result.bars,
        "seconds": seconds,
        "total": total,
        "per_second": result.bars / seconds,
        "orders": result.session.ledger.n_orders,
        "messages": result.events,
        "peak_mb": peak_kb / 1024,
    }


def in_subprocess(name: str, size: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--one", name, str(size)],
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def report(name: str, size: int) -> dict[str, float]:
    f = in_subprocess(name, size)
    unit = "quotes" if name == "quotes" else "bars"
    target = TARGETS.get(name)
    verdict = ""
    if target:
        verdict = f"  target {target:,}/s: {'met' if f['per_second'] >= target else 'NOT met'}"
    print(
        f"{name:7s} {int(f['events']):>10,} {unit:6s} {f['seconds']:7.2f} s (total "
        f"{f['total']:5.1f} s) "
        f"{f['per_second']:>10,.0f} {unit}/s  {int(f['orders']):>7,} orders "
        f"{f['messages'] / f['seconds']:>10,.0f} msgs/s  peak {f['peak_mb']:6.0f} MB{verdict}"
    )
    return f


class Pass(Actor):
    emits = (Quote,)

    async def on_quote(self, msg: Quote) -> None:
        await self.send(msg)


class End(Actor):
    async def on_quote(self, msg: Quote) -> None:
        pass


class SyncPass(Actor):
    emits = (Quote,)

    @sync_handler
    def on_quote(self, msg: Quote) -> tuple[Quote]:
        return (msg,)


class SyncEnd(Actor):
    @sync_handler
    def on_quote(self, msg: Quote) -> tuple[()]:
        return ()


def bench_driver(stages: int = 7, events: int = 200_000) -> None:
    """Delivery cost through a chain of pass-through actors, with coroutine handlers and with
    synchronous ones (what the actors of a backtest have on their hot paths)."""
    names = [f"a{i}" for i in range(stages)]
    routes = [Route(a, Quote, (b,)) for a, b in itertools.pairwise(names)]
    inputs = [Quote(ts_event=i, instrument="X", bid=1.0, ask=1.0) for i in range(events)]
    for kind, middle, end in (("coroutine", Pass, End), ("synchronous", SyncPass, SyncEnd)):
        specs = [ActorSpec(n, functools.partial(middle, n)) for n in names[:-1]]
        specs.append(ActorSpec(names[-1], functools.partial(end, names[-1])))

        async def main(specs: list[ActorSpec] = specs) -> None:
            driver = Driver(Graph(specs, routes), VirtualClock(), RestartPolicy())
            await driver.start()
            for q in inputs:
                await driver.deliver(q, to="a0")

        started = time.perf_counter()
        asyncio.run(main())
        seconds = time.perf_counter() - started
        print(
            f"driver, {stages} pass-through stages, {kind} handlers: {events / seconds:,.0f} "
            f"input events/s ({seconds / events / stages * 1e9:.0f} ns per delivery)"
        )


def bench_store(count: int) -> None:
    for _ in stored_bars(count):  # make sure it exists
        break
    started = time.perf_counter()
    n = sum(1 for _ in stored_bars(count))
    print(f"parquet store -> Bar messages: {n / (time.perf_counter() - started):,.0f} bars/s")


def bench_generators() -> None:
    started = time.perf_counter()
    n = sum(1 for _ in quotes(1_000_000))
    print(f"synthetic quotes: {n / (time.perf_counter() - started):,.0f} quotes/s")
    started = time.perf_counter()
    n = sum(1 for _ in minute_bars(1_000_000))
    print(f"synthetic minute bars: {n / (time.perf_counter() - started):,.0f} bars/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (CI smoke run)")
    parser.add_argument("--one", nargs=2, metavar=("WORKLOAD", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_workload(args.one[0], int(args.one[1]))))
        return
    configure_logging("error", "json")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}"
    )
    million = 100_000 if args.quick else 1_000_000
    sizes = (10_000, 100_000, 200_000) if args.quick else (100_000, 1_000_000, 5_000_000)
    for size in {million, *sizes}:
        prepare_store(size)  # outside the measured processes
    bench_driver()
    for name in ("busy", "quiet", "quotes"):
        report(name, million)
    print("scaling (busy):")
    figures = [report("busy", size) for size in sizes]
    base = figures[0]["seconds"] / figures[0]["events"]
    for f in figures[1:]:
        ratio = f["seconds"] / f["events"] / base
        print(f"  {int(f['events']):,} bars: time per bar x{ratio:.2f} of the smallest run")
    peak = max(f["peak_mb"] for f in figures)
    print(
        f"  peak memory {peak:.0f} MB at most (target < {MEMORY_TARGET_MB} MB): "
        f"{'met' if peak < MEMORY_TARGET_MB else 'NOT met'}"
    )
    bench_store(million)
    bench_generators()
    print("machine learning:")
    from ml import main as ml_main  # benchmarks/ml.py, beside this file

    ml_main(args.quick)
    from paper_latency import main as paper_main  # benchmarks/paper_latency.py

    paper_main(20.0 if args.quick else 60.0)
    from recovery import report as recovery_report  # benchmarks/recovery.py

    recovery_report(
        quote_hz=1.0, days=0.25 if args.quick else 1.0, restarts=5 if args.quick else 20
    )


if __name__ == "__main__":
    main()
