"""The actor base: a name, a lifecycle, and handlers found by message type.

A handler for message type ``OrderIntent`` is the coroutine method ``on_order_intent``. An actor
never delivers anything itself: ``await self.send(msg)`` hands the message to whichever runtime
runs it — the live runtime puts it on the bounded inboxes of the routed actors, the
deterministic driver appends it to its work queue. The handlers are identical in both.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from algotrading.log import get_logger
from algotrading.messages import Message
from algotrading.runtime.clock import Clock, VirtualClock

SendFn = Callable[["Actor", Message], Awaitable[None]]
Handler = Callable[[Any], Awaitable[None]]

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def handler_name(msg_type: type[Message]) -> str:
    return "on_" + _CAMEL.sub("_", msg_type.__name__).lower()


async def _unbound_send(actor: Actor, msg: Message) -> None:
    raise RuntimeError(f"actor {actor.name!r} sent {type(msg).__name__} before it was started")


class Actor:
    """Base class of the seven actors. Subclasses define ``on_<message>`` coroutines and may
    override :meth:`on_start` / :meth:`on_stop`. State belongs to the actor alone."""

    #: Message types the actor may emit (checked against the graph's routes at build time).
    emits: ClassVar[tuple[type[Message], ...]] = ()

    def __init__(self, name: str) -> None:
        self.name = name
        self.clock: Clock = VirtualClock()
        self.log = get_logger(name)
        self._send: SendFn = _unbound_send
        self._handlers: dict[type[Message], Handler | None] = {}

    def bind(self, send: SendFn, clock: Clock) -> None:
        """Called by the runtime before :meth:`on_start`."""
        self._send = send
        self.clock = clock

    def send(self, msg: Message) -> Awaitable[None]:
        """Hand ``msg`` to the runtime; await the result (the live runtime may apply
        back-pressure, the driver returns at once)."""
        return self._send(self, msg)

    def handler_for(self, msg_type: type[Message]) -> Handler | None:
        try:
            return self._handlers[msg_type]
        except KeyError:
            handler: Handler | None = getattr(self, handler_name(msg_type), None)
            self._handlers[msg_type] = handler
            return handler

    def handles(self, msg_type: type[Message]) -> bool:
        return self.handler_for(msg_type) is not None

    async def handle(self, msg: Message) -> None:
        handler = self.handler_for(type(msg))
        if handler is None:
            raise TypeError(f"actor {self.name!r} has no handler for {type(msg).__name__}")
        await handler(msg)

    async def on_start(self) -> None:
        """Open what the actor needs (files, connections)."""

    async def on_stop(self) -> None:
        """Release what :meth:`on_start` opened; called once, after the inbox is drained."""
