"""Deterministic delivery for backtests and replays.

The driver takes one input event at a time, sets the virtual clock to its timestamp, and
delivers it and every message it causes — first in, first out, one handler at a time, exactly
like an actor's inbox — before it looks at the next input. No task races, no wall clock: the
same inputs give the same messages in the same order, every run. Actors are the same objects
the live runtime runs; only delivery differs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterable, Awaitable, Generator, Iterable

from algotrading.messages import ActorFailed, Message
from algotrading.runtime.actor import Actor, Handler
from algotrading.runtime.clock import VirtualClock
from algotrading.runtime.graph import Graph
from algotrading.runtime.supervision import Escalate, RestartPolicy
from algotrading.runtime.supervisor import Escalated, Supervisor


class _Done:
    """An awaitable that is already complete: what the driver's send returns, so a send in a
    backtest costs no coroutine."""

    __slots__ = ()

    def __await__(self) -> Generator[None, None, None]:
        return
        yield  # a generator that finishes at once


_DONE = _Done()


class Driver:
    def __init__(self, graph: Graph, clock: VirtualClock, policy: RestartPolicy) -> None:
        self.graph = graph
        self.clock = clock
        self._pending: deque[tuple[str, Message]] = deque()
        self.supervisor = Supervisor(graph, policy, clock, self._send)
        self.delivered = 0
        self._routes = graph.table
        # (actor, message type) -> bound handler; cleared when an actor is replaced
        self._handlers: dict[tuple[str, type[Message]], Handler] = {}

    def actor(self, name: str) -> Actor:
        return self.supervisor.actors[name]

    def _send(self, actor: Actor, msg: Message) -> Awaitable[None]:
        targets = self._routes.get((actor.name, type(msg)))
        if targets is None:
            targets = self.graph.targets(actor.name, type(msg))  # raises: no route
        append = self._pending.append
        for target in targets:
            append((target, msg))
        return _DONE

    async def start(self) -> None:
        await self.supervisor.start_all()

    async def stop(self) -> None:
        await self.supervisor.stop_all()

    async def deliver(self, msg: Message, to: str = "feed") -> None:
        """Deliver one input event and run everything it causes to completion."""
        self.clock.advance_to(msg.ts_event)
        self._pending.append((to, msg))
        await self._drain()

    async def run(
        self, inputs: Iterable[Message] | AsyncIterable[Message], to: str = "feed"
    ) -> None:
        if isinstance(inputs, AsyncIterable):
            async for msg in inputs:
                await self.deliver(msg, to)
        else:
            for msg in inputs:
                await self.deliver(msg, to)

    async def _drain(self) -> None:
        pending = self._pending
        handlers = self._handlers
        delivered = 0
        try:
            while pending:
                name, msg = pending.popleft()
                delivered += 1
                key = (name, type(msg))
                handler = handlers.get(key)
                if handler is None:
                    handler = handlers[key] = self._lookup(name, key[1])
                try:
                    await handler(msg)
                except Exception as exc:
                    await self._on_failure(name, exc)
        finally:
            self.delivered += delivered

    def _lookup(self, name: str, msg_type: type[Message]) -> Handler:
        actor = self.supervisor.actors[name]
        handler = actor.handler_for(msg_type)
        if handler is None:
            raise TypeError(f"actor {name!r} has no handler for {msg_type.__name__}")
        return handler

    async def _on_failure(self, name: str, exc: Exception) -> None:
        decision = self.supervisor.on_failure(name, exc)
        escalate = isinstance(decision, Escalate)
        await self._notify(
            ActorFailed(
                ts_event=self.clock.now_ns(),
                actor=name,
                error=f"{type(exc).__name__}: {exc}",
                restarts=self.supervisor.restarts(name),
                action="escalate" if escalate else "restart",
            )
        )
        if isinstance(decision, Escalate):
            self._pending.clear()
            raise Escalated(name, decision.failures, exc) from exc
        # Virtual time: the backoff is not waited for, the restart is immediate.
        await self.supervisor.restart(name)
        self._handlers.clear()  # the restarted actor is a new object

    async def _notify(self, msg: ActorFailed) -> None:
        for target in self.graph.optional_targets("supervisor", ActorFailed):
            self._pending.append((target, msg))
