"""Risk through the whole graph: a daily-loss breaker stops new orders at the limit (and the
outputs say when and why); the kill switch leaves no working order and no position."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import json

from algotrading.backtest.runner import run_backtest
from algotrading.config import load_config
from algotrading.daemon.wiring import build_session
from algotrading.data.history import default_history
from algotrading.data.instruments import BUILTIN_INSTRUMENTS
from algotrading.messages import Bar, Command, OrderType, Side, TradingState
from algotrading.risk.breakers import trading_day
from algotrading.runtime.clock import VirtualClock
from algotrading.runtime.driver import Driver
from algotrading.strategies.registry import build_strategy
from algotrading.timestamps import parse_utc

EURUSD = BUILTIN_INSTRUMENTS["EUR_USD"]


def test_daily_loss_limit_stops_orders_until_the_next_trading_day(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "system.yaml").write_text(
        "risk:\n  breakers:\n    daily_loss: {limit: 150.0, action: halt, reset: auto}\n"
    )
    config = load_config(conf)
    bars, interval = default_history(EURUSD, 2)
    out = tmp_path / "out"
    result = asyncio.run(
        run_backtest(
            bars,
            config=config,
            strategy=build_strategy("sma_cross", {"fast": 3, "slow": 8, "quantity": 100_000}),
            instrument=EURUSD,
            bar_interval_ns=interval,
            data_source="synthetic",
            out_dir=out,
        )
    )
    metrics = json.loads((out / "metrics.json").read_text())
    trips = [e for e in metrics["risk_events"] if e["code"] == "breaker_daily_loss"]
    tripped = [e for e in trips if "tripped" in e["text"]]
    assert tripped, "the strategy never lost 150 in a day"
    assert "daily loss" in tripped[0]["text"]
    assert metrics["orders_denied"].get("halted", 0) > 0
    assert result.metrics["orders_denied"] == metrics["orders_denied"]
    # no order was decided between a trip and the end of its trading day
    with (out / "orders.csv").open() as f:
        decided = [parse_utc(row["time"]) for row in csv.DictReader(f)]
    for event in tripped:
        at = parse_utc(event["time"])
        assert not [t for t in decided if at < t < trading_day(at)], event
    assert "risk events" in (out / "report.html").read_text()


class LongOnTheFirstBar:
    """Goes long on the first bar and holds."""

    def __init__(self) -> None:
        self.n = 0

    def on_bar(self, bar: Bar) -> int | None:
        self.n += 1
        return 1 if self.n == 1 else None


def test_kill_switch_leaves_no_orders_and_no_positions():
    config = load_config()
    bars, interval = default_history(EURUSD, 2)
    strategy = dataclasses.replace(
        build_strategy("sma_cross", {}), name="hold", make_entry=LongOnTheFirstBar
    )
    session = build_session(
        config, strategy, {"EUR_USD": EURUSD}, bar_interval_ns=interval, id_prefix="k"
    )

    async def main() -> None:
        driver = Driver(session.graph, VirtualClock(), session.policy)
        await driver.start()
        for bar in bars[:20]:
            await driver.deliver(bar)
        # a resting limit order the strategy would leave working
        from algotrading.messages import ApprovedOrder, OrderIntent

        resting = OrderIntent(
            ts_event=bars[19].ts_event,
            strategy_id="hold",
            instrument="EUR_USD",
            side=Side.BUY,
            quantity=1_000,
            order_type=OrderType.LIMIT,
            limit_price=0.5,
        )
        approved = ApprovedOrder(ts_event=bars[19].ts_event, intent=resting)
        await driver.deliver(approved, to="order_manager")
        await driver.deliver(bars[20])
        assert list(session.exchange.working_orders())
        assert not session.exchange.position("EUR_USD").is_flat
        kill = Command(ts_event=bars[20].ts_event, name="kill", args={"reason": "test"})
        await driver.deliver(kill, to="risk")
        await driver.deliver(kill, to="order_manager")
        for bar in bars[21:30]:
            await driver.deliver(bar)
        await driver.stop()

    asyncio.run(main())
    assert list(session.exchange.working_orders()) == []
    assert session.exchange.position("EUR_USD").is_flat
    assert session.switch.state is TradingState.HALTED
    assert "test" in session.switch.reason


def test_stops_and_signal_reversals_never_double_a_position(tmp_path):
    """Regression: a stop-loss filling on the bar whose close reverses the signal used to leave
    twice the position (the reversal's close still bought after the stop had bought)."""
    config = load_config()
    bars, interval = default_history(EURUSD, 2)
    out = tmp_path / "out"
    asyncio.run(
        run_backtest(
            bars,
            config=config,
            strategy=build_strategy(
                "sma_cross", {"fast": 5, "slow": 20, "exits.stop_loss.pips": 30}
            ),
            instrument=EURUSD,
            bar_interval_ns=interval,
            data_source="synthetic",
            out_dir=out,
        )
    )
    with (out / "trades.csv").open() as f:
        sizes = {float(t["quantity"]) for t in csv.DictReader(f)}
    with (out / "orders.csv").open() as f:
        orders = list(csv.DictReader(f))
    assert sizes == {10_000.0}
    stopped = [
        o for o in orders if o["client_order_id"].endswith(".sl") and o["status"] == "FILLED"
    ]
    assert stopped  # the scenario happened
