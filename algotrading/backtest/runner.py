"""A backtest is the daemon's actor graph under the deterministic driver, fed from history.

Results stream to their files as the run goes (see :mod:`algotrading.backtest.outputs`), so a
backtest of years of minute bars runs in flat memory.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from algotrading.backtest.ledger import Ledger
from algotrading.backtest.metrics import compute_metrics
from algotrading.backtest.outputs import BacktestRecorder, write_metrics
from algotrading.config import Config
from algotrading.daemon.wiring import Session, build_session
from algotrading.data.instruments import InstrumentSpec
from algotrading.messages import Bar, Quote
from algotrading.runtime.clock import VirtualClock
from algotrading.runtime.driver import Driver
from algotrading.strategies.registry import StrategyFactory
from algotrading.timestamps import iso_utc

FILL_RULE = (
    "market orders decided on bar t's close fill at bar t+1's open (time: bar t+1's time); "
    "resting orders are matched from bar t+1 on; a bar that reaches both a bracket's "
    "stop-loss and take-profit fills the stop-loss"
)
PROGRESS_EVERY = 8192  # bars between progress bar updates


@dataclass
class BacktestResult:
    session: Session
    recorder: BacktestRecorder
    metrics: dict[str, Any]
    bars: int
    events: int


async def run_backtest(
    bars: Iterable[Bar | Quote],
    *,
    config: Config,
    strategy: StrategyFactory,
    instrument: InstrumentSpec,
    bar_interval_ns: int,
    data_source: str,
    out_dir: Path | None = None,
    total_bars: int | None = None,
    progress: bool = False,
) -> BacktestResult:
    """Run ``bars`` (or quotes, built into bars of ``bar_interval_ns`` by the bar-builder)
    through the actor graph. With ``out_dir``, write trades.csv, orders.csv, equity.csv as the
    run goes and metrics.json and report.html at the end."""
    account = config.system.account
    recorder = BacktestRecorder(out_dir, initial_equity=account.initial_cash)
    session = build_session(
        config,
        strategy,
        {instrument.symbol: instrument},
        bar_interval_ns=bar_interval_ns,
        id_prefix="bt",
        ledger=Ledger(sink=recorder, retain=False),
        account_every_ns=bar_interval_ns,  # equity marks once a bar when fed quotes
    )
    driver = Driver(session.graph, VirtualClock(), session.policy)
    await driver.start()
    freeze = gc.get_freeze_count() == 0  # (unless someone froze the heap for their own ends)
    if freeze:
        gc.freeze()  # what exists now outlives the run: collections need not walk it
    count, first, last = 0, None, None
    price = recorder.prices.add  # recorder.price, without the call between
    inlets: dict[type[Bar | Quote], Callable[[Bar | Quote], bool]] = {}
    kind: type[Bar | Quote] | None = None
    deliver: Callable[[Bar | Quote], bool] = driver.deliver_now
    try:
        with _progress(total_bars, progress) as advance:
            for event in bars:
                if type(event) is not kind:
                    kind = type(event)
                    deliver = inlets.get(kind) or inlets.setdefault(kind, driver.inlet(kind))
                if kind is Bar:
                    ts = event.ts_open  # type: ignore[union-attr]
                    price(ts, event.open, event.high, event.low, event.close)  # type: ignore[union-attr]
                else:
                    mid = (event.bid + event.ask) * 0.5  # type: ignore[union-attr]
                    ts = event.ts_event
                    price(ts, mid, mid, mid, mid)
                if not deliver(event):  # a handler with no synchronous form is next
                    await driver.drain()
                count += 1
                if first is None:
                    first = ts
                last = ts
                if not count % PROGRESS_EVERY:
                    advance(PROGRESS_EVERY)
    finally:
        if freeze:
            gc.unfreeze()
        await driver.stop()
        session.ledger.close()
        recorder.close()
    exchange = session.exchange
    metrics = compute_metrics(
        recorder.tracker,
        recorder.pnls,
        initial=account.initial_cash,
        costs_paid=exchange.paid,
        traded_notional=exchange.traded_notional,
        periods_per_year=config.system.backtest.periods_per_year,
    )
    position = exchange.position(instrument.symbol)
    metrics["open_position"] = {
        "instrument": instrument.symbol,
        "quantity": position.quantity,
        "avg_price": position.avg_price,
    }
    ledger = session.ledger
    metrics["risk_events"] = [
        {"time": iso_utc(a.ts_event), "level": a.level.value, "code": a.code, "text": a.text}
        for a in ledger.alerts
    ]
    metrics["orders_denied"] = dict(sorted(ledger.denial_counts.items()))
    costs = exchange.costs.describe()
    metrics["run"] = {
        "data": data_source,
        "instrument": instrument.symbol,
        "bars": count,
        "first_bar": iso_utc(first) if first is not None else None,
        "last_bar": iso_utc(last) if last is not None else None,
        "strategy": strategy.name,
        "params": msgspec.to_builtins(strategy.params),
        "account_currency": account.currency,
        "costs": costs,
        "venue": {k: v for k, v in exchange.describe().items() if k not in costs},
        "fill_rule": FILL_RULE,
    }
    result = BacktestResult(
        session=session, recorder=recorder, metrics=metrics, bars=count, events=driver.delivered
    )
    if out_dir is not None:
        write_metrics(out_dir / "metrics.json", metrics)
        write_backtest_report(result, out_dir / "report.html")
    return result


def write_backtest_report(result: BacktestResult, path: Path) -> None:
    from algotrading.backtest.report import write_report  # plotly is imported only here

    recorder, metrics = result.recorder, result.metrics
    run = metrics["run"]
    sampled = recorder.trade_sample.stride > 1
    setup = {
        **{k: v for k, v in run.items() if k not in ("costs", "venue")},
        "cost model": run["costs"],
        "venue": run["venue"],
    }
    if metrics["risk_events"]:
        setup["risk events (breaker trips, resets, alerts)"] = metrics["risk_events"][:50]
    if sampled:
        setup["note"] = (
            f"trade markers and distribution show every {recorder.trade_sample.stride}th of "
            f"{len(recorder.pnls)} trades"
        )
    write_report(
        path,
        title=f"{run['strategy']} on {run['instrument']}",
        metrics={k: v for k, v in metrics.items() if k not in ("run", "risk_events")},
        trades=recorder.trade_sample.items,
        equity=recorder.equity_sample.items,
        prices=recorder.prices.rows(),
        daily=recorder.tracker.daily,
        setup=setup,
    )


@contextmanager
def _progress(total: int | None, enabled: bool) -> Iterator[Any]:
    """A rich progress bar on a terminal (stderr), or nothing."""
    if not enabled or not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task("backtest (bars)", total=total)
        yield lambda n: bar.advance(task, n)


def describe_costs(costs: Mapping[str, float]) -> str:
    if not any(costs.values()):
        return "none (spread 0, slippage 0, commission 0)"
    return ", ".join(f"{k}={v:g}" for k, v in costs.items())
