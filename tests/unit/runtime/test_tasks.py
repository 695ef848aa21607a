"""Owned tasks: a task that dies with an exception is seen and handed on (none vanishes); one
cancelled is not a failure; closing cancels and awaits what still runs."""

from __future__ import annotations

import asyncio

from algotrading.runtime.tasks import OwnedTasks


async def test_a_failing_task_is_handed_to_its_owner():
    seen: list[tuple[str, str]] = []
    tasks = OwnedTasks(lambda name, exc: seen.append((name, str(exc))))

    async def broken() -> None:
        raise RuntimeError("boom")

    task = tasks.spawn(broken(), "service:broken")
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0)  # the done callback runs on the next turn of the loop
    assert seen == [("service:broken", "boom")]
    assert len(tasks) == 0


async def test_close_cancels_and_awaits_what_still_runs_without_calling_it_a_failure():
    seen: list[str] = []
    tasks = OwnedTasks(lambda name, exc: seen.append(name))
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    task = tasks.spawn(forever(), "service:loop")
    await started.wait()
    assert len(tasks) == 1
    await tasks.close()
    assert task.cancelled()
    assert seen == []
    assert tasks.failed == []
