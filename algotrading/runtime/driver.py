"""Deterministic delivery for backtests and replays.

The driver takes one input event at a time, sets the virtual clock to its timestamp, and
delivers it and every message it causes — first in, first out, one handler at a time, exactly
like an actor's inbox — before it looks at the next input. No task races, no wall clock: the
same inputs give the same messages in the same order, every run. Actors are the same objects
the live runtime runs; only delivery differs.

Synchronous handlers. A handler written with :func:`sync_handler` is a plain function that
returns the messages it sends, in order — a tuple or list when it sends them after it is done,
or a generator that yields each one where the coroutine would have awaited ``self.send`` (so
what it does between two sends stays between them). The decorator makes it the coroutine
handler the live runtime awaits ("send each message the function gives, as it gives it") and
keeps the function as the handler's ``sync``. The driver calls that function and queues the
messages itself, exactly where the sends would have queued them: one definition, two ways of
calling it, and no coroutine made per delivery in a backtest.
"""

from __future__ import annotations

import functools
import inspect
from collections import deque
from collections.abc import AsyncIterable, Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar

from algotrading.messages import ActorFailed, Message
from algotrading.runtime.actor import Actor, Handler
from algotrading.runtime.clock import VirtualClock
from algotrading.runtime.graph import Graph
from algotrading.runtime.supervision import Escalate, RestartPolicy
from algotrading.runtime.supervisor import Escalated, Supervisor

SyncHandler = Callable[[Any], Iterable[Message]]
A = TypeVar("A", bound=Actor)
M = TypeVar("M", bound=Message)


def sync_handler(
    fn: Callable[[A, M], Iterable[Message]],
) -> Callable[[A, M], Coroutine[Any, Any, None]]:
    """Make ``fn`` — which handles a message and gives what to send, in order — an actor's
    handler: ``await self.send(m)`` for each message it gives, as it gives it. The
    deterministic driver calls ``fn`` itself (``handler.sync``)."""

    async def handler(actor: A, msg: M) -> None:
        for out in fn(actor, msg):
            await actor.send(out)

    functools.update_wrapper(handler, fn)
    handler.sync = fn  # type: ignore[attr-defined]
    return handler


class _Done(tuple):  # type: ignore[type-arg]
    """An awaitable that is already complete: what the driver's send returns, so a send in a
    backtest costs no coroutine (awaiting it iterates an empty tuple, all in C)."""

    __slots__ = ()
    __await__ = tuple.__iter__


_DONE: Awaitable[None] = _Done()  # type: ignore[assignment]  # tuple.__iter__ as __await__


class _Target:
    """One actor as the receiver of one message type: its handler, the handler's synchronous
    form if it has one, and the routes of what the actor sends. Rebound when the actor is
    replaced, so messages already queued for it reach the new instance."""

    __slots__ = ("handler", "msg_type", "name", "out", "sync")

    def __init__(self, name: str, msg_type: type[Message]) -> None:
        self.name = name
        self.msg_type = msg_type
        self.handler: Handler | None = None
        self.sync: SyncHandler | None = None
        self.out: dict[type[Message], tuple[_Target, ...]] = {}

    def bind(
        self, actor: Actor, out: dict[type[Message], tuple[_Target, ...]], synchronous: bool
    ) -> None:
        handler = actor.handler_for(self.msg_type)
        if handler is None:
            raise TypeError(f"actor {self.name!r} has no handler for {self.msg_type.__name__}")
        self.handler = handler
        sync = getattr(getattr(handler, "__func__", None), "sync", None)  # see sync_handler
        self.sync = sync.__get__(actor) if synchronous and inspect.isfunction(sync) else None
        self.out = out


class Driver:
    """Queue entries are a message with all its targets, in route order: the entries of one
    send are contiguous in a first-in-first-out queue, so delivering a message to each of its
    targets in turn, before the next entry, is the same order as one entry per target."""

    def __init__(
        self,
        graph: Graph,
        clock: VirtualClock,
        policy: RestartPolicy,
        *,
        synchronous: bool = True,
    ) -> None:
        """``synchronous=False`` delivers every message through its coroutine handler: the
        reference that the synchronous forms are tested against."""
        self.graph = graph
        self.clock = clock
        self.synchronous = synchronous
        self._pending: deque[tuple[tuple[_Target, ...], Message]] = deque()
        self.supervisor = Supervisor(graph, policy, clock, self._send)
        self.delivered = 0
        self._failed: tuple[str, Exception] | None = None
        # (actor, message type) -> target; actor -> message type -> targets of what it sends
        self._targets: dict[tuple[str, type[Message]], _Target] = {}
        self._inputs: dict[tuple[str, type[Message]], tuple[_Target, ...]] = {}
        self._out: dict[str, dict[type[Message], tuple[_Target, ...]]] = {
            name: {} for name in (*graph.names, "supervisor")
        }
        for (source, msg_type), names in graph.table.items():
            self._out.setdefault(source, {})[msg_type] = tuple(
                self._target(name, msg_type) for name in names
            )
        for target in self._targets.values():
            self._bind(target)

    def actor(self, name: str) -> Actor:
        return self.supervisor.actors[name]

    def _target(self, name: str, msg_type: type[Message]) -> _Target:
        key = (name, msg_type)
        target = self._targets.get(key)
        if target is None:
            target = self._targets[key] = _Target(name, msg_type)
        return target

    def _input(self, name: str, msg_type: type[Message]) -> tuple[_Target, ...]:
        """The target of an input (which no route names), bound on first use."""
        target = self._target(name, msg_type)
        if target.handler is None:
            self._bind(target)
        targets = self._inputs[(name, msg_type)] = (target,)
        return targets

    def _bind(self, target: _Target) -> None:
        target.bind(
            self.supervisor.actors[target.name],
            self._out.setdefault(target.name, {}),
            self.synchronous,
        )

    def _routes_of(self, sender: _Target | Actor, msg: Message) -> tuple[_Target, ...]:
        """Where ``msg`` sent by ``sender`` goes (maybe nowhere); GraphError if unrouted."""
        self.graph.targets(sender.name, type(msg))  # raises: no route
        return self._out[sender.name][type(msg)]

    def _send(self, actor: Actor, msg: Message) -> Awaitable[None]:
        targets = self._out[actor.name].get(type(msg)) or self._routes_of(actor, msg)
        if targets:
            self._pending.append((targets, msg))
        return _DONE

    async def start(self) -> None:
        await self.supervisor.start_all()

    async def stop(self) -> None:
        await self.supervisor.stop_all()

    async def deliver(self, msg: Message, to: str = "feed") -> None:
        """Deliver one input event and run everything it causes to completion."""
        if not self.deliver_now(msg, to):
            await self.drain()

    def deliver_now(self, msg: Message, to: str = "feed") -> bool:
        """Deliver one input event and run what it causes as far as synchronous handlers
        reach. True when all is done; False when the caller must ``await drain()`` for the
        rest (a handler with no synchronous form is next, or a handler failed)."""
        self.clock.advance_to(msg.ts_event)
        targets = self._inputs.get((to, type(msg))) or self._input(to, type(msg))
        self._pending.append((targets, msg))
        return self._drain_now()

    def inlet(self, msg_type: type[Message], to: str = "feed") -> Callable[[Message], bool]:
        """:meth:`deliver_now` for inputs of one type, bound once (a backtest delivers
        millions)."""
        targets = self._inputs.get((to, msg_type)) or self._input(to, msg_type)
        advance_to, append, drain_now = self.clock.advance_to, self._pending.append, self._drain_now

        def deliver_now(msg: Message) -> bool:
            advance_to(msg.ts_event)
            append((targets, msg))
            return drain_now()

        return deliver_now

    async def run(
        self, inputs: Iterable[Message] | AsyncIterable[Message], to: str = "feed"
    ) -> None:
        if isinstance(inputs, AsyncIterable):
            async for msg in inputs:
                await self.deliver(msg, to)
        else:
            deliver_now, drain = self.deliver_now, self.drain
            for msg in inputs:
                if not deliver_now(msg, to):
                    await drain()

    def _drain_now(self) -> bool:
        """Deliver from the head of the queue while the handlers have a synchronous form. The
        messages a handler returns are queued in order, as its sends would have queued them
        (and a send with no route fails the handler the same way). What is left of an entry
        when this stops goes back to the head of the queue."""
        pending = self._pending
        popleft, append = pending.popleft, pending.append
        delivered = 0
        try:
            while pending:
                targets, msg = popleft()
                done = 0
                for target in targets:
                    sync = target.sync
                    if sync is None:
                        pending.appendleft((targets[done:], msg))
                        return False
                    done += 1  # noqa: SIM113 (cheaper than enumerate, once per delivery)
                    delivered += 1
                    try:
                        out = sync(msg)
                        if out:
                            routes = target.out
                            for sent in out:
                                to = routes.get(type(sent)) or self._routes_of(target, sent)
                                if to:
                                    append((to, sent))
                    except Exception as exc:
                        if done < len(targets):
                            pending.appendleft((targets[done:], msg))
                        self._failed = (target.name, exc)
                        return False
            return True
        finally:
            self.delivered += delivered

    async def drain(self) -> None:
        """Run everything queued to completion, handlers with no synchronous form included."""
        pending = self._pending
        while True:
            if self._failed is not None:
                name, exc = self._failed
                self._failed = None
                await self._on_failure(name, exc)
            if self._drain_now():
                return
            if self._failed is not None:
                continue
            # the head's next target has no synchronous form
            targets, msg = pending.popleft()
            target = targets[0]
            if len(targets) > 1:
                pending.appendleft((targets[1:], msg))
            self.delivered += 1
            assert target.handler is not None
            try:
                await target.handler(msg)
            except Exception as exc:
                await self._on_failure(target.name, exc)

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
        for target in self._targets.values():  # the restarted actor is a new object
            if target.name == name:
                self._bind(target)

    async def _notify(self, msg: ActorFailed) -> None:
        targets = self._out["supervisor"].get(ActorFailed, ())
        if targets:
            self._pending.append((targets, msg))
