"""Operator commands into a running daemon: which actors each command goes to, journaled like
every other input. The admin socket and the tests hand commands in through :class:`Control`.

- ``halt`` / ``reduce`` / ``resume``: the trading state (risk); ``reset``: breakers reset by an
  operator (risk, ``args.breaker`` names one, or all);
- ``cancel_all`` / ``flatten``: cancel every working order / close every position (order
  manager);
- ``kill``: the kill switch — risk halts first, then the order manager cancels every order and
  flattens every position;
- ``set_limit``: risk swaps in its limits with ``args`` (limit name -> value) applied, all at
  once or none (the admin socket's ``set-limit`` and ``reload-config``);
- ``model_swap``: the model actor loads ``args.model_id`` (or the registry's active model) and
  puts it in place between two bars;
- ``reconcile``: the venue reports its positions and working orders at one cursor, for the
  order manager to compare with its books (:mod:`algotrading.execution.reconciliation`);
- ``recover``: after a restart, the venue's positions for the warmed-up strategy
  (:mod:`algotrading.daemon.warm_start`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from algotrading.messages import Command, Message
from algotrading.state.journal import Journal

COMMAND_TARGETS: dict[str, tuple[str, ...]] = {
    "halt": ("risk",),
    "reduce": ("risk",),
    "resume": ("risk", "order_manager"),
    "reset": ("risk",),
    "set_limit": ("risk",),
    "cancel_all": ("order_manager",),
    "flatten": ("order_manager",),
    "kill": ("risk", "order_manager"),
    "model_swap": ("model",),
    "recover": ("strategy",),
    "reconcile": ("venue",),
}


class Control:
    """A queue of operator commands, delivered in order by the daemon."""

    def __init__(self, journal: Journal | None = None) -> None:
        self._queue: asyncio.Queue[Command] = asyncio.Queue()
        self.journal = journal

    def submit(self, command: Command) -> None:
        if command.name not in COMMAND_TARGETS:
            raise ValueError(
                f"unknown command {command.name!r}; one of {', '.join(sorted(COMMAND_TARGETS))}"
            )
        self._queue.put_nowait(command)

    async def commands(self) -> AsyncIterator[Command]:
        while True:
            command = await self._queue.get()
            if self.journal is not None:
                self.journal.append(command)
            yield command


def command_targets(msg: Message) -> tuple[str, ...]:
    return COMMAND_TARGETS.get(msg.name, ()) if isinstance(msg, Command) else ()
