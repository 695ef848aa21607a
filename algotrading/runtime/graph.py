"""The actor graph, declared as data: which actors exist and where each message type goes.

A route says "messages of type T sent by actor A go to actors B, C, in that order". The graph is
checked when it is built: every route names existing actors, and every target has a handler for
the type, so wiring mistakes fail at start, not at the first fill.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from algotrading.messages import Message
from algotrading.runtime.actor import Actor, handler_name

#: Senders that are not actors: the runtime's own inputs and the supervisor's notices.
PSEUDO_SOURCES = frozenset({"input", "clock", "supervisor"})


class GraphError(Exception):
    """The graph is wired wrongly: a bug in the wiring, not an input problem."""


@dataclass(frozen=True)
class Route:
    source: str
    message: type[Message]
    targets: tuple[str, ...]


@dataclass(frozen=True)
class ActorSpec:
    """How to make an actor. The supervisor calls ``factory`` again to restart it."""

    name: str
    factory: Callable[[], Actor]


class Graph:
    def __init__(self, specs: Iterable[ActorSpec], routes: Iterable[Route]) -> None:
        self.specs: dict[str, ActorSpec] = {}
        for spec in specs:
            if spec.name in self.specs:
                raise GraphError(f"two actors are named {spec.name!r}")
            self.specs[spec.name] = spec
        self.routes = tuple(routes)
        self._table: dict[tuple[str, type[Message]], tuple[str, ...]] = {}
        for route in self.routes:
            key = (route.source, route.message)
            if key in self._table:
                raise GraphError(f"{route.message.__name__} from {route.source!r} routed twice")
            for name in (route.source, *route.targets):
                if name not in self.specs and name not in PSEUDO_SOURCES:
                    raise GraphError(f"route {route} names unknown actor {name!r}")
            self._table[key] = route.targets

    @property
    def table(self) -> dict[tuple[str, type[Message]], tuple[str, ...]]:
        """The routing table itself, for runtimes that look it up per message."""
        return self._table

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.specs)

    def targets(self, source: str, msg_type: type[Message]) -> tuple[str, ...]:
        try:
            return self._table[(source, msg_type)]
        except KeyError:
            raise GraphError(
                f"actor {source!r} sent {msg_type.__name__}, which has no route"
            ) from None

    def optional_targets(self, source: str, msg_type: type[Message]) -> tuple[str, ...]:
        return self._table.get((source, msg_type), ())

    def check(self, actors: dict[str, Actor]) -> None:
        """Every route's targets handle its type, and declared emissions have routes."""
        for route in self.routes:
            for target in route.targets:
                if not actors[target].handles(route.message):
                    raise GraphError(
                        f"{target!r} receives {route.message.__name__} but has no "
                        f"{handler_name(route.message)}()"
                    )
        for name, actor in actors.items():
            for msg_type in actor.emits:
                if (name, msg_type) not in self._table:
                    raise GraphError(f"{name!r} emits {msg_type.__name__}, which has no route")

    def describe(self) -> list[str]:
        """One line per route, for docs and ``--help``-style listings."""
        return [f"{r.source} --{r.message.__name__}--> {', '.join(r.targets)}" for r in self.routes]
