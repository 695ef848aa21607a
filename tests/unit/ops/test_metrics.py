"""The metrics of one daemon: counted from the messages the monitor hears, read from the
runtime at scrape time, served over real HTTP on loopback and parsed back with
prometheus_client's own parser."""

from __future__ import annotations

import platform
import time
from collections import deque
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import aiohttp
import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from algotrading import __version__
from algotrading.daemon.read_model import ReadModel
from algotrading.messages import (
    AccountState,
    Alert,
    AlertLevel,
    Fill,
    Order,
    OrderAccepted,
    OrderCancelled,
    OrderDenied,
    OrderIntent,
    OrderRejected,
    Position,
    Quote,
    Side,
    TradingState,
)
from algotrading.ops.metrics import DaemonMetrics, MetricsConfig, MetricsService

NS = 10**9


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and sorted labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(scrape: dict, name: str, **labels: str) -> float:
    return scrape[(name, tuple(sorted(labels.items())))]


@dataclass
class FakeRuntime:
    names: tuple[str, ...] = ("feed", "strategy", "model", "monitor")
    handled: dict[str, int] = field(default_factory=lambda: {"feed": 120, "strategy": 30})
    busy_since: dict[str, float] = field(default_factory=dict)
    escalated: set[str] = field(default_factory=set)
    stopping: bool = False
    clock: Any = field(default_factory=lambda: SimpleNamespace(speed=10.0))
    restart_counts: dict[str, int] = field(default_factory=lambda: {"strategy": 2})
    supervisor: Any = None

    def __post_init__(self) -> None:
        actors = {name: SimpleNamespace() for name in self.names}
        self.supervisor = SimpleNamespace(
            actors=actors, restarts=lambda name: self.restart_counts.get(name, 0)
        )

    def queue_depths(self) -> dict[str, int]:
        return {name: 3 if name == "monitor" else 0 for name in self.names}

    def stuck(self, longer_than_s: float) -> list[str]:
        now = time.monotonic()
        busy = [n for n, t in self.busy_since.items() if now - t > longer_than_s]
        return sorted({*busy, *self.escalated})


def fake_ctx(runtime: FakeRuntime | None = None) -> Any:
    book = ReadModel(trading_state=TradingState.REDUCING)
    return cast(
        Any,
        SimpleNamespace(
            runtime=runtime or FakeRuntime(),
            book=book,
            session_id="p18c",
            mode="paper",
            started_wall_ns=1_700_000_000 * NS,
            uptime_s=lambda: 12.5,
        ),
    )


def order(cid: str, quantity: float = 1000.0, **kw: Any) -> Order:
    fields = {"ts_event": 0, "strategy_id": "s", "instrument": "EUR_USD", "side": Side.BUY}
    return Order(client_order_id=cid, quantity=quantity, **{**fields, **kw})


def fill(cid: str, quantity: float, n: int) -> Fill:
    return Fill(
        ts_event=0,
        fill_id=f"f{n}",
        client_order_id=cid,
        venue_order_id="v",
        strategy_id="s",
        instrument="EUR_USD",
        side=Side.BUY,
        quantity=quantity,
        price=1.1,
    )


def test_config_listens_on_loopback_unless_told_otherwise():
    assert MetricsConfig() == msgspec.convert({}, MetricsConfig)
    assert not MetricsConfig().enabled
    assert (MetricsConfig().host, MetricsConfig().port) == ("127.0.0.1", 9464)
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        assert msgspec.convert({"host": host}, MetricsConfig).host == host
    for host in ("0.0.0.0", "::", "10.1.2.3", "metrics.example.com"):
        with pytest.raises(msgspec.ValidationError, match="allow_remote: true"):
            msgspec.convert({"host": host}, MetricsConfig)
        assert msgspec.convert({"host": host, "allow_remote": True}, MetricsConfig).host == host
    with pytest.raises(msgspec.ValidationError, match=r"0\.\.65535"):
        msgspec.convert({"port": 70000}, MetricsConfig)
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.convert({"bind": "127.0.0.1"}, MetricsConfig)


def test_messages_are_counted_as_the_monitor_hears_them():
    metrics = DaemonMetrics(fake_ctx())
    sent = [
        # a, filled in two parts, decided 2 ms (of a 10x replay clock: 20 ms of data) after
        # the tick arrived; b rejected; c cancelled; d still working; a bracket leg of a
        order("a", ts_event=100_000_000, ts_recv=80_000_000),
        OrderAccepted(ts_event=0, client_order_id="a", venue_order_id="1"),
        fill("a", 400.0, 1),
        fill("a", 600.0, 2),
        order("b", ts_event=50_000_000, ts_recv=49_000_000),
        OrderRejected(ts_event=0, client_order_id="b", code="insufficient_margin", reason="x"),
        order("c", ts_recv=0),
        OrderCancelled(ts_event=0, client_order_id="c"),
        OrderCancelled(ts_event=0, client_order_id="a"),  # after it filled: not counted again
        order("d", ts_event=9, ts_recv=5),
        order("a.sl", parent_id="a", ts_event=9, ts_recv=5, side=Side.SELL),
        order("e-1", exec_id="e", ts_event=300 * NS, ts_recv=5),  # a TWAP child: not counted
        OrderDenied(
            ts_event=0,
            intent=OrderIntent(
                ts_event=0, strategy_id="s", instrument="EUR_USD", side=Side.BUY, quantity=1.0
            ),
            code="max_position",
            reason="x",
        ),
        Position(
            ts_event=0, instrument="EUR_USD", quantity=-1000.0, avg_price=1.1, realized_pnl=7.5
        ),
        AccountState(ts_event=0, currency="USD", balance=100_007.5, equity=100_001.25),
        Alert(ts_event=0, level=AlertLevel.WARNING, code="stale_data", text="x"),
        Quote(ts_event=0, instrument="EUR_USD", bid=1.0, ask=1.1),
    ]
    for msg in sent:
        metrics.observe(msg)
    scrape = samples(metrics.render().decode())
    orders = {
        status: value(scrape, "algotrading_orders_total", status=status)
        for status in ("submitted", "accepted", "filled", "rejected", "cancelled")
    }
    assert orders == {"submitted": 6, "accepted": 1, "filled": 1, "rejected": 1, "cancelled": 1}
    assert value(scrape, "algotrading_order_rejections_total", code="insufficient_margin") == 1
    assert value(scrape, "algotrading_order_denials_total", code="max_position") == 1
    assert value(scrape, "algotrading_fills_total", instrument="EUR_USD") == 2
    assert value(scrape, "algotrading_filled_units_total", instrument="EUR_USD", side="BUY") == 1000
    assert value(scrape, "algotrading_messages_observed_total", kind="Order") == 6
    assert value(scrape, "algotrading_messages_observed_total", kind="Quote") == 1
    assert value(scrape, "algotrading_alerts_total", level="WARNING") == 1
    assert value(scrape, "algotrading_equity", currency="USD") == 100_001.25
    assert value(scrape, "algotrading_balance", currency="USD") == 100_007.5
    assert value(scrape, "algotrading_position_quantity", instrument="EUR_USD") == -1000
    assert value(scrape, "algotrading_position_realized_pnl", instrument="EUR_USD") == 7.5
    # tick-to-order: a (2 ms), b (0.1 ms), d (~0); not c (no receive time), the leg, the child
    assert value(scrape, "algotrading_tick_to_order_seconds_count") == 3
    assert value(scrape, "algotrading_tick_to_order_seconds_sum") == pytest.approx(0.0021, abs=1e-9)
    assert value(scrape, "algotrading_tick_to_order_seconds_bucket", le="0.001") == 2
    assert value(scrape, "algotrading_tick_to_order_seconds_bucket", le="0.0025") == 3
    assert metrics._open.keys() == {"d", "a.sl", "e-1"}  # only what is still working is held


def test_runtime_numbers_are_read_at_scrape_time():
    runtime = FakeRuntime()
    ctx = fake_ctx(runtime)
    metrics = DaemonMetrics(ctx, stuck_seconds=5.0)
    scrape = samples(metrics.render().decode())
    assert value(scrape, "algotrading_actor_messages_handled_total", actor="feed") == 120
    assert value(scrape, "algotrading_actor_messages_handled_total", actor="monitor") == 0
    assert value(scrape, "algotrading_actor_queue_depth", actor="monitor") == 3
    assert value(scrape, "algotrading_actor_restarts_total", actor="strategy") == 2
    assert value(scrape, "algotrading_actor_restarts_total", actor="feed") == 0
    assert value(scrape, "algotrading_trading_state", state="REDUCING") == 1
    assert value(scrape, "algotrading_trading_state", state="ACTIVE") == 0
    assert value(scrape, "algotrading_uptime_seconds") == 12.5
    assert value(scrape, "algotrading_healthy") == 1
    python = platform.python_version()
    assert value(scrape, "algotrading_build_info", version=__version__, python=python) == 1
    assert value(scrape, "algotrading_session_info", session_id="p18c", mode="paper") == 1
    runtime.handled["feed"] = 500
    runtime.restart_counts["feed"] = 1
    runtime.busy_since["strategy"] = time.monotonic() - 6.0
    runtime.escalated.add("risk")
    ctx.book.trading_state = TradingState.HALTED
    scrape = samples(metrics.render().decode())
    assert value(scrape, "algotrading_actor_messages_handled_total", actor="feed") == 500
    assert value(scrape, "algotrading_actor_restarts_total", actor="feed") == 1
    assert value(scrape, "algotrading_actor_busy_seconds", actor="strategy") >= 6.0
    assert value(scrape, "algotrading_actor_busy_seconds", actor="feed") == 0
    assert value(scrape, "algotrading_trading_state", state="HALTED") == 1
    assert value(scrape, "algotrading_healthy") == 0


def test_model_inference_time_is_read_from_the_live_model():
    runtime = FakeRuntime()
    live = SimpleNamespace(model_id="gbdt-7", timings=deque(range(1_000, 101_000, 1_000)))
    runtime.supervisor.actors["model"] = SimpleNamespace(live=live, over_budget=4)
    scrape = samples(DaemonMetrics(fake_ctx(runtime)).render().decode())
    q = {
        quantile: value(
            scrape,
            "algotrading_model_inference_recent_seconds",
            model_id="gbdt-7",
            quantile=quantile,
        )
        for quantile in ("0.5", "0.99", "1")
    }
    assert q == {"0.5": pytest.approx(50.5e-6), "0.99": pytest.approx(99.01e-6), "1": 100e-6}
    assert value(scrape, "algotrading_model_inference_recent_count", model_id="gbdt-7") == 100
    assert value(scrape, "algotrading_model_over_budget_total", model_id="gbdt-7") == 4


def test_no_model_no_inference_metrics():
    scrape = samples(DaemonMetrics(fake_ctx()).render().decode())
    assert not any(name.startswith("algotrading_model_") for name, _ in scrape)


def test_each_daemon_has_its_own_registry():
    a, b = DaemonMetrics(fake_ctx()), DaemonMetrics(fake_ctx())
    a.observe(fill("x", 1.0, 1))
    assert value(samples(a.render().decode()), "algotrading_fills_total", instrument="EUR_USD") == 1
    assert ("algotrading_fills_total", (("instrument", "EUR_USD"),)) not in samples(
        b.render().decode()
    )


@pytest.mark.asyncio
async def test_served_over_http_with_health():
    runtime = FakeRuntime()
    service = MetricsService(MetricsConfig(enabled=True, port=0, stuck_seconds=5.0))
    observers: list = []
    ctx = fake_ctx(runtime)
    ctx.observe = observers.append
    await service.start(ctx)
    try:
        assert service.port > 0
        assert observers == [service.metrics.observe]  # hears what the monitor hears
        async with aiohttp.ClientSession() as http:
            async with http.get(service.url + "/metrics") as response:
                assert response.status == 200
                assert (
                    response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
                )
                scrape = samples(await response.text())
            assert value(scrape, "algotrading_actor_messages_handled_total", actor="feed") == 120
            async with http.get(service.url + "/healthz") as response:
                assert response.status == 200
                body = await response.json()
            assert body["status"] == "ok"
            assert body["trading_state"] == "REDUCING"
            runtime.busy_since["strategy"] = time.monotonic() - 6.0
            async with http.get(service.url + "/healthz") as response:
                assert response.status == 503
                assert (await response.json())["stuck"] == ["strategy"]
            async with http.get(service.url + "/nothing") as response:
                assert response.status == 404
        # a second daemon on the same port is a clear start failure
        taken = MetricsService(MetricsConfig(enabled=True, port=service.port))
        with pytest.raises(OSError, match="address already in use"):
            await taken.start(fake_ctx())
    finally:
        await service.stop()
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.get(service.url + "/metrics")
