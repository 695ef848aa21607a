"""A toy three-stage graph — source, doubler, sink — with an actor that can be told to fail."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from algotrading.messages import Command, Heartbeat, Quote
from algotrading.runtime.actor import Actor
from algotrading.runtime.graph import ActorSpec, Graph, Route


class Source(Actor):
    emits = (Quote,)

    async def on_quote(self, msg: Quote) -> None:
        await self.send(msg)


class Doubler(Actor):
    """Doubles the bid; raises on a bid listed in ``fail_on`` (shared across restarts)."""

    emits = (Quote, Heartbeat)

    def __init__(self, name: str, fail_on: set[float], starts: list[str]) -> None:
        super().__init__(name)
        self.fail_on = fail_on
        starts.append(name)

    async def on_quote(self, msg: Quote) -> None:
        if msg.bid in self.fail_on:
            raise RuntimeError(f"boom on {msg.bid}")
        await self.send(
            Quote(
                ts_event=msg.ts_event, instrument=msg.instrument, bid=msg.bid * 2, ask=msg.ask * 2
            )
        )
        await self.send(Heartbeat(ts_event=msg.ts_event, source=self.name))


class Sink(Actor):
    def __init__(self, name: str, seen: list[object]) -> None:
        super().__init__(name)
        self.seen = seen

    async def on_quote(self, msg: Quote) -> None:
        self.seen.append(("quote", msg.bid))

    async def on_heartbeat(self, msg: Heartbeat) -> None:
        self.seen.append(("hb", msg.ts_event))

    async def on_command(self, msg: Command) -> None:
        self.seen.append(("command", msg.name))

    async def on_actor_failed(self, msg: object) -> None:
        self.seen.append(("failed", msg.action))  # type: ignore[attr-defined]


@dataclass
class Toy:
    graph: Graph
    seen: list[object] = field(default_factory=list)
    starts: list[str] = field(default_factory=list)
    fail_on: set[float] = field(default_factory=set)


def quote(i: int, bid: float | None = None) -> Quote:
    b = float(i) if bid is None else bid
    return Quote(ts_event=i * 1_000, instrument="EUR_USD", bid=b, ask=b + 0.5)


@pytest.fixture
def toy() -> Toy:
    from algotrading.messages import ActorFailed

    t = Toy(graph=None)  # type: ignore[arg-type]
    t.graph = Graph(
        [
            ActorSpec("feed", lambda: Source("feed")),
            ActorSpec("doubler", lambda: Doubler("doubler", t.fail_on, t.starts)),
            ActorSpec("sink", lambda: Sink("sink", t.seen)),
        ],
        [
            Route("feed", Quote, ("doubler",)),
            Route("doubler", Quote, ("sink",)),
            Route("doubler", Heartbeat, ("sink",)),
            Route("supervisor", ActorFailed, ("sink",)),
        ],
    )
    return t


@pytest.fixture
def make_quote():
    return quote
