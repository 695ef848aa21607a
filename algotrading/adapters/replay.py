"""Replaying recorded or synthetic data in (scaled) real time, for paper trading.

:class:`ReplayClock` maps the wall clock onto data time — ``start_ns`` of data time at the
moment the session starts, running ``speed`` times faster than the wall — so every actor stamps
what it does in the same time as the data it reacts to.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable

import msgspec

from algotrading.messages import Message, Timer


class ReplayClock:
    def __init__(self, start_ns: int, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.start_ns = start_ns
        self.speed = speed
        self.wall_start_ns = time.time_ns()
        self._mono_start = time.monotonic_ns()

    def now_ns(self) -> int:
        return self.start_ns + int((time.monotonic_ns() - self._mono_start) * self.speed)

    def restart_at(self, ts_ns: int) -> None:
        """Data time ``ts_ns`` is now (a restarted paper session resumes where it stopped)."""
        self.start_ns = ts_ns
        self._mono_start = time.monotonic_ns()

    def seconds_until(self, ts_ns: int) -> float:
        """Wall seconds until data time ``ts_ns`` is reached (negative when past)."""
        return (ts_ns - self.now_ns()) / self.speed / 1e9


async def paced(messages: Iterable[Message], clock: ReplayClock) -> AsyncIterator[Message]:
    """Yield each message when the clock reaches its ``ts_event``, stamped with ``ts_recv``."""
    for msg in messages:
        delay = clock.seconds_until(msg.ts_event)
        if delay > 0:
            await asyncio.sleep(delay)
        yield msgspec.structs.replace(msg, ts_recv=clock.now_ns())


async def ticks(clock: ReplayClock, every_s: float) -> AsyncIterator[Message]:
    """A :class:`Timer` every ``every_s`` wall seconds, in data time."""
    while True:
        await asyncio.sleep(every_s)
        now = clock.now_ns()
        yield Timer(ts_event=now, ts_recv=now)
