"""A backtest is the daemon's actor graph under the deterministic driver, fed from history."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from algotrading.backtest.outputs import (
    ClosedTrade,
    closed_trades,
    compute_metrics,
    write_equity,
    write_metrics,
    write_orders,
    write_trades,
)
from algotrading.config import Config
from algotrading.daemon.wiring import Session, build_session
from algotrading.data.instruments import InstrumentSpec
from algotrading.messages import Bar
from algotrading.runtime.clock import VirtualClock
from algotrading.runtime.driver import Driver
from algotrading.strategies.registry import StrategyFactory
from algotrading.timestamps import iso_utc

FILL_RULE = "market orders decided on bar t's close fill at bar t+1's open (time: bar t+1's time)"


@dataclass
class BacktestResult:
    session: Session
    trades: list[ClosedTrade]
    metrics: dict[str, Any]
    bars: int
    events: int


async def run_backtest(
    bars: Iterable[Bar],
    *,
    config: Config,
    strategy: StrategyFactory,
    instrument: InstrumentSpec,
    bar_interval_ns: int,
    data_source: str,
) -> BacktestResult:
    session = build_session(
        config,
        strategy,
        {instrument.symbol: instrument},
        bar_interval_ns=bar_interval_ns,
        id_prefix="bt",
    )
    driver = Driver(session.graph, VirtualClock(), session.policy)
    await driver.start()
    count, first, last = 0, None, None
    try:
        for bar in bars:
            await driver.deliver(bar)
            count += 1
            first = bar.ts_open if first is None else first
            last = bar.ts_open
    finally:
        await driver.stop()
    ledger = session.ledger
    account = config.system.account
    trades = closed_trades(ledger.fills, session.instruments, account.currency)
    metrics = compute_metrics(
        ledger.equity, trades, account.initial_cash, session.exchange.commission_paid
    )
    position = session.exchange.position(instrument.symbol)
    metrics["open_position"] = {
        "instrument": instrument.symbol,
        "quantity": position.quantity,
        "avg_price": position.avg_price,
    }
    costs = session.exchange.costs.describe()
    metrics["run"] = {
        "data": data_source,
        "instrument": instrument.symbol,
        "bars": count,
        "first_bar": iso_utc(first) if first is not None else None,
        "last_bar": iso_utc(last) if last is not None else None,
        "strategy": strategy.name,
        "params": msgspec.to_builtins(strategy.params),
        "account_currency": account.currency,
        "costs": session.exchange.costs.describe(),
        "venue": {k: v for k, v in session.exchange.describe().items() if k not in costs},
        "fill_rule": FILL_RULE,
    }
    return BacktestResult(
        session=session, trades=trades, metrics=metrics, bars=count, events=driver.delivered
    )


def write_outputs(result: BacktestResult, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        name: out_dir / name for name in ("trades.csv", "orders.csv", "equity.csv", "metrics.json")
    }
    write_trades(paths["trades.csv"], result.trades)
    write_orders(paths["orders.csv"], result.session.ledger)
    write_equity(paths["equity.csv"], result.session.ledger.equity)
    write_metrics(paths["metrics.json"], result.metrics)
    return paths


def describe_costs(costs: Mapping[str, float]) -> str:
    if not any(costs.values()):
        return "none (spread 0, slippage 0, commission 0)"
    return ", ".join(f"{k}={v:g}" for k, v in costs.items())
