"""Tasks with an owner. Every task the daemon starts beside its actors (the services' loops,
the alert senders, the start of the services) is started here: kept until it ends, an
exception it ends with is logged and handed to ``on_error`` (the daemon stops, non-zero), and
``close()`` cancels and awaits whatever still runs. No task is started that nobody awaits, and
no exception vanishes with one (Trio's nurseries, ``asyncio.TaskGroup`` — without cancelling
the daemon's graceful shutdown when a service fails)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from algotrading.log import get_logger

T = TypeVar("T")


class OwnedTasks:
    def __init__(self, on_error: Callable[[str, BaseException], None] | None = None) -> None:
        self.on_error = on_error
        self._tasks: set[asyncio.Task[Any]] = set()
        self.failed: list[tuple[str, BaseException]] = []
        self.log = get_logger("tasks")

    def spawn(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        name = task.get_name()
        self.failed.append((name, exc))
        self.log.error("task_failed", task=name, error=f"{type(exc).__name__}: {exc}")
        if self.on_error is not None:
            self.on_error(name, exc)

    def __len__(self) -> int:
        return len(self._tasks)

    async def close(self) -> None:
        """Cancel every task still running and wait for them all."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
