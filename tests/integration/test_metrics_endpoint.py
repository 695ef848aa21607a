"""The metrics endpoint of a real paper daemon, scraped over HTTP while it trades and once more
after its actors stopped, and checked against the session's own record: orders, fills, equity,
positions, messages handled, and the restart that followed a forced actor failure."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from algotrading import __version__
from algotrading.actors.strategy import StrategyActor
from algotrading.config import load_config
from algotrading.daemon.app import DB_NAME, run_daemon
from algotrading.daemon.services import DaemonContext
from algotrading.messages import Bar
from algotrading.ops.metrics import MetricsConfig, MetricsService


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(scrape: dict, name: str, default: float | None = None, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    if default is not None:
        return scrape.get(key, default)
    return scrape[key]


async def scrape(url: str) -> tuple[dict, str]:
    async with aiohttp.ClientSession() as http, http.get(url + "/metrics") as response:
        assert response.status == 200
        return samples(await response.text()), response.headers["Content-Type"]


class FinalScrape:
    """A service started after the metrics endpoint, so stopped before it: it scrapes once the
    actors have stopped, when every number is final, and notes the session's own record."""

    name = "final-scrape"

    def __init__(self, metrics: MetricsService) -> None:
        self.metrics = metrics
        self.ctx: DaemonContext | None = None
        self.scrape: dict = {}
        self.record: dict[str, Any] = {}

    async def start(self, ctx: DaemonContext) -> None:
        self.ctx = ctx

    async def stop(self) -> None:
        assert self.ctx is not None
        self.scrape, _ = await scrape(self.metrics.url)
        runtime, ledger = self.ctx.runtime, self.ctx.session.ledger
        self.record = {
            "orders": ledger.n_orders,
            "fills": ledger.n_fills,
            "account": ledger.last_account,
            "denials": dict(ledger.denial_counts),
            "rejections": len(ledger.rejections),
            "handled": dict(runtime.handled),
            "depths": runtime.queue_depths(),
            "restarts": {n: runtime.supervisor.restarts(n) for n in runtime.supervisor.actors},
            "state": str(self.ctx.session.switch.state),
        }


@pytest.mark.asyncio
async def test_metrics_of_a_running_paper_daemon_match_its_ledger(tmp_path, monkeypatch):
    conf = tmp_path / "conf"
    conf.mkdir()
    # one order per 20 s of data passes the rate limit: the others are denials to count
    (conf / "system.yaml").write_text(
        "feed: {speed: 30}\n"
        "runtime: {drain_timeout_seconds: 1.0}\n"
        "strategy: {params: {fast: 2, slow: 4}}\n"
        "risk: {max_orders_per_window: 1, rate_window_seconds: 20}\n"
    )
    config = load_config(conf)
    on_bar = StrategyActor.on_bar
    bars = 0

    async def fail_on_the_tenth_bar(self: StrategyActor, msg: Bar) -> None:
        nonlocal bars
        bars += 1
        if bars == 10:
            raise RuntimeError("forced failure")
        await on_bar(self, msg)

    monkeypatch.setattr(StrategyActor, "on_bar", fail_on_the_tenth_bar)
    metrics = MetricsService(MetricsConfig(enabled=True, port=0))
    final = FinalScrape(metrics)
    runtimes = []
    daemon = asyncio.create_task(
        run_daemon(
            config,
            tmp_path / "state",
            duration_s=60,
            services=[metrics, final],
            on_started=lambda session, runtime: runtimes.append(runtime),
        )
    )
    try:
        while not metrics.port:  # listening once the actors run
            assert not daemon.done()
            await asyncio.sleep(0.05)
        first, content_type = await scrape(metrics.url)
        assert content_type == "text/plain; version=0.0.4; charset=utf-8"
        async with (
            aiohttp.ClientSession() as http,
            http.get(metrics.url + "/healthz") as response,
        ):
            assert response.status == 200
            assert (await response.json())["status"] == "ok"
        for _ in range(200):  # trading, and past the forced failure
            await asyncio.sleep(0.05)
            if bars > 12 and (fills := runtimes[0].actor("monitor").counts["fills"]) >= 2:
                break
        assert fills >= 2, "the daemon did not trade"
        second, _ = await scrape(metrics.url)
    finally:
        if runtimes:
            runtimes[0].request_stop("test done")
        summary = await asyncio.wait_for(daemon, 30)
    assert summary.exit_code == 0

    # while it ran: the numbers move
    for name in ("feed", "bar_builder", "strategy"):
        assert value(second, "algotrading_actor_messages_handled_total", actor=name) > value(
            first, "algotrading_actor_messages_handled_total", actor=name
        )
    assert value(second, "algotrading_uptime_seconds") > value(first, "algotrading_uptime_seconds")
    assert value(first, "algotrading_build_info", version=__version__, python=_python()) == 1

    # at the end: equal to the session's record
    end, record = final.scrape, final.record
    assert record["orders"] >= 2
    for actor, handled in record["handled"].items():
        assert value(end, "algotrading_actor_messages_handled_total", actor=actor) == handled
        assert value(end, "algotrading_actor_queue_depth", actor=actor) == record["depths"][actor]
        restarts = value(end, "algotrading_actor_restarts_total", actor=actor)
        assert restarts == record["restarts"][actor] == (1 if actor == "strategy" else 0)
    assert value(end, "algotrading_messages_observed_total", kind="ActorFailed") == 1
    assert value(end, "algotrading_orders_total", status="submitted") == record["orders"]
    assert value(end, "algotrading_messages_observed_total", kind="Order") == record["orders"]
    assert value(end, "algotrading_fills_total", instrument="EUR_USD") == record["fills"]
    assert value(end, "algotrading_messages_observed_total", kind="Fill") == record["fills"]
    db = sqlite3.connect(tmp_path / "state" / DB_NAME)
    filled = db.execute("SELECT count(*) FROM orders WHERE status = 'FILLED'").fetchone()[0]
    assert value(end, "algotrading_orders_total", status="filled") == filled
    assert record["denials"], "the rate limit denied nothing"
    for code, count in record["denials"].items():
        assert value(end, "algotrading_order_denials_total", code=code) == count
    assert value(end, "algotrading_orders_total", 0.0, status="rejected") == record["rejections"]
    account = record["account"]
    assert value(end, "algotrading_equity", currency=account.currency) == account.equity
    assert value(end, "algotrading_balance", currency=account.currency) == account.balance
    held = value(end, "algotrading_position_quantity", instrument="EUR_USD")
    assert held == summary.positions["EUR_USD"]
    # every order was decided on a bar: each has its tick-to-order time, in wall seconds
    assert value(end, "algotrading_tick_to_order_seconds_count") == record["orders"]
    assert 0 < value(end, "algotrading_tick_to_order_seconds_sum") < record["orders"] * 1.0
    assert value(end, "algotrading_trading_state", state=record["state"]) == 1


def _python() -> str:
    import platform

    return platform.python_version()
