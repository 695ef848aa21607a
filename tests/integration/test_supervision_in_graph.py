"""Supervision in the real actor graph: a model actor that raises is restarted and trading goes
on; one that keeps raising escalates to the safe stop — halted, alerted, exit status 70."""

from __future__ import annotations

import asyncio

from algotrading.actors.model import ModelActor
from algotrading.adapters.replay import ReplayClock
from algotrading.config import load_config
from algotrading.daemon.wiring import ROUTES, build_session
from algotrading.data.instruments import BUILTIN_INSTRUMENTS
from algotrading.data.synthetic import synthetic_bars
from algotrading.messages import AlertLevel, Bar, TradingState
from algotrading.runtime.graph import ActorSpec, Graph
from algotrading.runtime.live import EXIT_ESCALATED, LiveRuntime, Source
from algotrading.runtime.supervision import RestartPolicy
from algotrading.strategies.registry import build_strategy
from algotrading.timestamps import parse_utc

H = 3600 * 10**9
BARS = synthetic_bars(
    "EUR_USD", parse_utc("2024-01-01T00:00:00Z"), parse_utc("2024-02-01T00:00:00Z"), H, seed=9
)


class FlakyModel(ModelActor):
    """Raises on the bars whose index is in ``fail_at`` (shared by all its incarnations)."""

    def __init__(self, fail_at: set[int], seen: list[int]) -> None:
        super().__init__()
        self.fail_at = fail_at
        self.seen = seen

    async def on_bar(self, msg: Bar) -> None:
        index = len(self.seen)
        self.seen.append(index)
        if index in self.fail_at:
            raise RuntimeError(f"model blew up on bar {index}")


def run_with(fail_at: set[int]):
    config = load_config()
    strategy = build_strategy("sma_cross", {"fast": 5, "slow": 15, "quantity": 10_000})
    session = build_session(
        config,
        strategy,
        {"EUR_USD": BUILTIN_INSTRUMENTS["EUR_USD"]},
        bar_interval_ns=H,
        id_prefix="t",
    )
    seen: list[int] = []
    specs = [
        spec if spec.name != "model" else ActorSpec("model", lambda: FlakyModel(fail_at, seen))
        for spec in session.graph.specs.values()
    ]
    session.graph = Graph(specs, ROUTES)
    policy = RestartPolicy(
        max_restarts=3, within_ns=60 * 10**9, backoff_initial_ns=10**6, backoff_max_ns=4 * 10**6
    )
    runtime = LiveRuntime(session.graph, ReplayClock(BARS[0].ts_event, 1e9), policy)

    async def stream():  # a bar every 2 ms: the failures happen while data still flows
        for bar in BARS:
            yield bar
            await asyncio.sleep(0.002)

    runtime.add_source(Source("history", stream, "feed", stops_runtime=True))
    code = asyncio.run(asyncio.wait_for(runtime.run(), 60))
    return code, runtime, session


def test_a_failing_actor_is_restarted_and_trading_goes_on():
    baseline_code, _, baseline = run_with(set())
    code, runtime, session = run_with({50, 120})
    assert baseline_code == code == 0
    assert runtime.supervisor.restarts("model") == 2
    assert [a.code for a in session.ledger.alerts] == ["actor_restart", "actor_restart"]
    assert [(o.side, o.quantity) for o in session.ledger.orders] == [
        (o.side, o.quantity) for o in baseline.ledger.orders
    ]
    assert session.switch.state is TradingState.ACTIVE


def test_an_actor_that_keeps_failing_escalates_to_a_safe_stop():
    code, runtime, session = run_with(set(range(100, 10_000)))
    assert code == EXIT_ESCALATED
    assert "model escalated" in runtime.stop_reason
    assert session.switch.state is TradingState.HALTED
    levels = [a.level for a in session.ledger.alerts]
    assert AlertLevel.CRITICAL in levels
    # trading stopped at the halt: fewer orders than the full run, and any later intent denied
    _, _, baseline = run_with(set())
    assert len(session.ledger.orders) < len(baseline.ledger.orders)
    assert all(d.code == "halted" for d in session.ledger.denials)
