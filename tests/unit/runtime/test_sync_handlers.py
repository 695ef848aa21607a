"""Synchronous handlers: the driver calls the function a handler is written as and queues what
it gives; the coroutine form (what the live runtime awaits, and what the driver runs with
``synchronous=False``) must deliver the same messages, to the same actors, in the same order —
failures, restarts and unrouted sends included."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

import pytest

from algotrading.messages import ActorFailed, Heartbeat, Message, Quote, Timer
from algotrading.runtime.actor import Actor
from algotrading.runtime.clock import VirtualClock
from algotrading.runtime.driver import Driver, sync_handler
from algotrading.runtime.graph import ActorSpec, Graph, Route
from algotrading.runtime.supervision import RestartPolicy
from algotrading.runtime.supervisor import Escalated

Trace = list[tuple[str, str, float]]


def _tag(msg: Message) -> tuple[str, float]:
    if isinstance(msg, Quote):
        return ("quote", msg.bid)
    if isinstance(msg, Heartbeat):
        return ("hb:" + msg.source, float(msg.ts_event))
    if isinstance(msg, ActorFailed):
        return ("failed:" + msg.actor + ":" + msg.action, float(msg.restarts))
    return (type(msg).__name__, float(msg.ts_event))


class Splitter(Actor):
    """Sends two quotes per quote (a tuple, after it is done)."""

    emits = (Quote,)

    def __init__(self, name: str, trace: Trace) -> None:
        super().__init__(name)
        self.trace = trace

    @sync_handler
    def on_quote(self, msg: Quote) -> Sequence[Quote]:
        self.trace.append((self.name, *_tag(msg)))
        return (
            Quote(ts_event=msg.ts_event, instrument="A", bid=msg.bid * 10, ask=msg.ask),
            Quote(ts_event=msg.ts_event, instrument="B", bid=msg.bid * 100, ask=msg.ask),
        )


class Echo(Actor):
    """A generator handler: notes something between its sends, and fails on request."""

    emits = (Heartbeat,)

    def __init__(self, name: str, trace: Trace, fail_on: set[float]) -> None:
        super().__init__(name)
        self.trace = trace
        self.fail_on = fail_on

    @sync_handler
    def on_quote(self, msg: Quote) -> Iterator[Heartbeat]:
        self.trace.append((self.name, *_tag(msg)))
        yield Heartbeat(ts_event=msg.ts_event, source=self.name)
        self.trace.append((self.name + ":between", *_tag(msg)))
        if msg.bid in self.fail_on:
            raise RuntimeError(f"boom on {msg.bid}")
        yield Heartbeat(ts_event=msg.ts_event + 1, source=self.name)

    @sync_handler
    def on_timer(self, msg: Timer) -> Sequence[Message]:
        return (Quote(ts_event=msg.ts_event, instrument="X", bid=-1.0, ask=-1.0),)  # unrouted


class Slow(Actor):
    """A plain coroutine handler, in the middle of synchronous ones."""

    emits = (Heartbeat,)

    def __init__(self, name: str, trace: Trace) -> None:
        super().__init__(name)
        self.trace = trace

    async def on_quote(self, msg: Quote) -> None:
        self.trace.append((self.name, *_tag(msg)))
        await asyncio.sleep(0)
        await self.send(Heartbeat(ts_event=msg.ts_event + 2, source=self.name))


class Sink(Actor):
    def __init__(self, name: str, trace: Trace) -> None:
        super().__init__(name)
        self.trace = trace

    @sync_handler
    def on_heartbeat(self, msg: Heartbeat) -> Sequence[Message]:
        self.trace.append((self.name, *_tag(msg)))
        return ()

    @sync_handler
    def on_quote(self, msg: Quote) -> Sequence[Message]:
        self.trace.append((self.name, *_tag(msg)))
        return ()

    async def on_actor_failed(self, msg: ActorFailed) -> None:
        self.trace.append((self.name, *_tag(msg)))


def graph(trace: Trace, fail_on: set[float]) -> Graph:
    specs = [
        ActorSpec("feed", lambda: Splitter("feed", trace)),
        ActorSpec("echo", lambda: Echo("echo", trace, fail_on)),
        ActorSpec("slow", lambda: Slow("slow", trace)),
        ActorSpec("sink", lambda: Sink("sink", trace)),
        ActorSpec("tap", lambda: Sink("tap", trace)),
    ]
    routes = [
        Route("feed", Quote, ("echo", "slow", "tap", "echo")),  # fan-out, a target twice
        Route("echo", Heartbeat, ("sink", "tap")),
        Route("slow", Heartbeat, ("sink",)),
        Route("supervisor", ActorFailed, ("sink",)),
    ]
    return Graph(specs, routes)


async def run(synchronous: bool, fail_on: set[float], policy: RestartPolicy) -> tuple[Trace, int]:
    trace: Trace = []
    driver = Driver(graph(trace, fail_on), VirtualClock(), policy, synchronous=synchronous)
    await driver.start()
    try:
        await driver.run([Quote(ts_event=i, instrument="X", bid=i, ask=i) for i in range(1, 6)])
    except Escalated as exc:
        trace.append(("escalated", exc.actor, float(exc.failures)))
    return trace, driver.delivered


async def run_plainly(fail_on: set[float], policy: RestartPolicy) -> tuple[Trace, int]:
    """The delivery rule written out plainly: one queue entry per target, each handler's
    coroutine awaited, first in first out (what the driver did before synchronous forms)."""
    from collections import deque

    from algotrading.runtime.supervision import Escalate
    from algotrading.runtime.supervisor import Supervisor

    trace: Trace = []
    g = graph(trace, fail_on)
    clock = VirtualClock()
    pending: deque[tuple[str, Message]] = deque()

    async def send(actor: Actor, msg: Message) -> None:
        pending.extend((name, msg) for name in g.targets(actor.name, type(msg)))

    supervisor = Supervisor(g, policy, clock, send)
    delivered = 0
    try:
        for q in [Quote(ts_event=i, instrument="X", bid=i, ask=i) for i in range(1, 6)]:
            clock.advance_to(q.ts_event)
            pending.append(("feed", q))
            while pending:
                name, msg = pending.popleft()
                delivered += 1
                try:
                    await supervisor.actors[name].handle(msg)
                except Exception as exc:
                    decision = supervisor.on_failure(name, exc)
                    escalate = isinstance(decision, Escalate)
                    failed = ActorFailed(
                        ts_event=clock.now_ns(),
                        actor=name,
                        error=str(exc),
                        restarts=supervisor.restarts(name),
                        action="escalate" if escalate else "restart",
                    )
                    pending.extend((n, failed) for n in g.targets("supervisor", ActorFailed))
                    if escalate:
                        raise Escalated(name, decision.failures, exc) from exc  # type: ignore[union-attr]
                    await supervisor.restart(name)
    except Escalated as exc:
        trace.append(("escalated", exc.actor, float(exc.failures)))
    return trace, delivered


@pytest.mark.parametrize(
    ("fail_on", "policy"),
    [
        (set(), RestartPolicy()),
        ({20.0, 300.0}, RestartPolicy(max_restarts=5)),  # restarted, the stream goes on
        ({10.0, 20.0, 30.0}, RestartPolicy(max_restarts=2)),  # escalates
    ],
)
async def test_synchronous_forms_deliver_exactly_as_the_coroutines(fail_on, policy):
    fast, fast_count = await run(True, fail_on, policy)
    reference, reference_count = await run(False, fail_on, policy)
    plain, plain_count = await run_plainly(fail_on, policy)
    assert fast == reference == plain
    assert fast_count == reference_count == plain_count
    assert len(fast) > 30
    if fail_on:
        assert any(t[0] == "sink" and t[1].startswith("failed:echo") for t in fast)
    assert (fast[-1][0] == "escalated") == (policy.max_restarts == 2)


async def test_the_coroutine_form_sends_between_the_steps_of_a_generator():
    sent: list[str] = []
    trace: Trace = []
    echo = Echo("echo", trace, set())

    async def send(actor: Actor, msg: Message) -> None:
        sent.append(f"{msg.source}@{msg.ts_event} after {len(trace)} steps")  # type: ignore[attr-defined]

    echo.bind(send, VirtualClock())
    await echo.handle(Quote(ts_event=7, instrument="X", bid=1.0, ask=1.0))
    assert sent == ["echo@7 after 1 steps", "echo@8 after 2 steps"]
    assert Echo.on_quote.sync.__name__ == "on_quote"  # type: ignore[attr-defined]


async def test_an_unrouted_message_from_a_synchronous_form_fails_the_handler():
    for synchronous in (True, False):
        trace: Trace = []
        driver = Driver(
            graph(trace, set()),
            VirtualClock(),
            RestartPolicy(max_restarts=0),
            synchronous=synchronous,
        )
        await driver.start()
        with pytest.raises(Escalated, match="has no route"):
            await driver.deliver(Timer(ts_event=1), to="echo")


async def test_a_subclass_overriding_a_handler_with_a_coroutine_is_awaited():
    trace: Trace = []

    class Loud(Splitter):
        async def on_quote(self, msg: Quote) -> None:  # type: ignore[override]
            self.trace.append(("loud", *_tag(msg)))
            await self.send(Quote(ts_event=msg.ts_event, instrument="L", bid=-msg.bid, ask=0.0))

    g = Graph(
        [
            ActorSpec("feed", lambda: Loud("feed", trace)),
            ActorSpec("tap", lambda: Sink("tap", trace)),
        ],
        [Route("feed", Quote, ("tap",))],
    )
    driver = Driver(g, VirtualClock(), RestartPolicy())
    await driver.start()
    assert not driver.deliver_now(Quote(ts_event=1, instrument="X", bid=2.0, ask=2.0))
    await driver.drain()
    assert trace == [("loud", "quote", 2.0), ("tap", "quote", -2.0)]
