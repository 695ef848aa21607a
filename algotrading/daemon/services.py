"""Operational services that run beside the actor graph in the daemon: the admin socket, the
alert dispatcher, the metrics endpoint, the systemd notifier, schedules.

A service never sits in the trading path. It sees the running daemon through a
:class:`DaemonContext`, hears what the monitor hears through an *observer* (a plain callback
that must return at once and never raise into the monitor), and steers the daemon only through
:class:`~algotrading.daemon.control.Control` commands or the runtime's ``request_stop``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from algotrading.log import get_logger
from algotrading.messages import Message

if TYPE_CHECKING:
    from algotrading.config import Config
    from algotrading.daemon.control import Control
    from algotrading.daemon.read_model import ReadModel
    from algotrading.daemon.wiring import Session
    from algotrading.runtime.live import LiveRuntime
    from algotrading.runtime.tasks import OwnedTasks
    from algotrading.state.store import StateStore

Observer = Callable[[Message], None]


@dataclass
class DaemonContext:
    """What a service may look at. ``config`` is replaced by a successful reload."""

    config: Config
    config_dir: Path | None
    state_dir: Path
    store: StateStore
    session: Session
    runtime: LiveRuntime
    control: Control
    session_id: str
    mode: str
    book: ReadModel  # positions, orders, fills, account, trading state: what services read
    tasks: OwnedTasks  # every task a service starts is started here
    started_wall_ns: int = field(default_factory=time.time_ns)
    started_mono: float = field(default_factory=time.monotonic)
    observers: list[Observer] = field(default_factory=list)
    # (job name, next run: a datetime, ns since the epoch, or None when paused), for status
    schedules: list[tuple[str, datetime | int | None]] = field(default_factory=list)
    # takes a snapshot of the actors' state now (the admin socket's ``snapshot``); None: none
    snapshot: Callable[[], Awaitable[object]] | None = None

    def observe(self, observer: Observer) -> None:
        """Call ``observer`` with every message the monitor handles."""
        self.observers.append(observer)

    def uptime_s(self) -> float:
        return time.monotonic() - self.started_mono


class Service(Protocol):
    name: str

    async def start(self, ctx: DaemonContext) -> None:
        """Open what the service needs; called once the actors run, before READY."""

    async def stop(self) -> None:
        """Release it; called once on shutdown, after the actors stopped."""


def fan_out(observers: list[Observer]) -> Observer:
    """One observer calling all of ``observers``; a failing one is logged, never raised."""
    log = get_logger("services")

    def observe(msg: Message) -> None:
        for observer in observers:
            try:
                observer(msg)
            except Exception:
                log.exception("observer_failed", observer=getattr(observer, "__qualname__", ""))

    return observe


def repeat(
    tasks: OwnedTasks, every_s: float, job: Callable[[], Awaitable[object]], name: str
) -> asyncio.Task[None]:
    """Run ``job`` every ``every_s`` seconds until cancelled, as a task of ``tasks``; a failing
    run is logged and the next one tries again (a service's periodic work never ends the
    service)."""
    log = get_logger("services")

    async def loop() -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await job()
            except Exception as exc:
                log.warning(f"{name}_failed", reason=f"{type(exc).__name__}: {exc}")

    return tasks.spawn(loop(), name)


async def cancel(task: asyncio.Task[None] | None) -> None:
    """Stop a task of :func:`repeat` and wait for it."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
