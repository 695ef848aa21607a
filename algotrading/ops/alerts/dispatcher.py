"""Alerts to their destinations without ever making the caller wait.

``submit`` is synchronous and only touches memory: it drops a repeat of the same (code, text)
seen within the deduplication window, then appends the alert to the bounded queue of every
destination whose minimum level it reaches. A full queue drops its oldest alert of the lowest
level present (the new one, when it is the lowest) and counts it. One sender task per
destination takes alerts in order and spends a token of the destination's bucket: it holds a
minute's worth (``burst``) and refills at ``rate_per_minute``; info alerts may only use its
upper half, so that a flood of fills leaves room for warnings; a critical alert (or one whose
code is ``unlimited``) is never held back, only charged; an alert that finds no token is
suppressed and counted. It then sends with retries: network errors, timeouts, 5xx and 429 are
retried with exponential backoff and jitter, or after the ``retry_after`` the service asked
for; any other 4xx is a configuration error, logged and not retried. The counts of suppressed
and dropped alerts ride on the next message that gets through ("+N suppressed"), or on a note
of their own once the bucket allows one. ``stop`` gives the queues a bounded time to flush,
then cancels.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from algotrading.log import get_logger
from algotrading.messages import Alert, AlertLevel
from algotrading.ops.alerts.transports import Outcome, Transport

RANK = {AlertLevel.INFO: 0, AlertLevel.WARNING: 1, AlertLevel.CRITICAL: 2}
Clock = Callable[[], float]


class TokenBucket:
    """``capacity`` tokens, refilled at ``rate_per_s``; a charge may take it below zero, so
    that what a critical alert spends is paid back before the next ordinary one."""

    def __init__(self, rate_per_s: float, capacity: float, clock: Clock) -> None:
        self.rate_per_s = rate_per_s
        self.capacity = capacity
        self.clock = clock
        self.tokens = capacity
        self._last = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._last) * self.rate_per_s)
        self._last = now

    def take(self, reserve: float = 0.0) -> bool:
        """Spend a token if one is left above ``reserve`` (kept for more important alerts)."""
        self._refill()
        if self.tokens >= 1.0 + reserve:
            self.tokens -= 1.0
            return True
        return False

    def charge(self) -> None:
        self._refill()
        self.tokens -= 1.0

    def seconds_until_token(self) -> float:
        self._refill()
        return max(0.0, (1.0 - self.tokens) / self.rate_per_s)


class Deduplicator:
    """Remembers each key for ``window_s`` from when it was first let through."""

    def __init__(self, window_s: float, clock: Clock) -> None:
        self.window_s = window_s
        self.clock = clock
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()

    def repeat(self, key: tuple[str, str]) -> bool:
        if self.window_s <= 0:
            return False
        now = self.clock()
        while self._seen:  # oldest first: forget what left the window
            oldest, at = next(iter(self._seen.items()))
            if now - at < self.window_s:
                break
            del self._seen[oldest]
        if key in self._seen:
            return True
        self._seen[key] = now
        return False


@dataclass
class Lane:
    """One destination: its queue, bucket, sender task and counts."""

    transport: Transport
    min_level: AlertLevel
    bucket: TokenBucket
    queue: deque[Alert] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    sent: int = 0
    failed: int = 0
    suppressed: int = 0  # by the rate limit
    dropped: int = 0  # from a full queue
    owed_suppressed: int = 0  # not yet reported in a message
    owed_dropped: int = 0
    noted: tuple[int, int] = (0, 0)  # owed counts when a note was last tried
    paused_until: float = 0.0  # loop time before which nothing is sent (after a 429)

    @property
    def name(self) -> str:
        return self.transport.name

    def owed(self) -> tuple[int, int]:
        return self.owed_suppressed, self.owed_dropped


def tail(suppressed: int, dropped: int) -> str:
    parts = []
    if suppressed:
        parts.append(f"+{suppressed} suppressed")
    if dropped:
        parts.append(f"+{dropped} dropped, queue full")
    return f" ({'; '.join(parts)})" if parts else ""


class Dispatcher:
    def __init__(
        self,
        destinations: Sequence[tuple[Transport, AlertLevel]],
        *,
        dedup_s: float = 300.0,
        rate_per_minute: float = 20.0,
        burst: int | None = None,
        queue_size: int = 100,
        max_retries: int = 3,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        flush_timeout_s: float = 3.0,
        clock: Clock = time.monotonic,
        seed: int = 0,
        note_text: str = "alerts held back",
        unlimited: Iterable[str] = (),
    ) -> None:
        if queue_size < 1 or rate_per_minute <= 0 or max_retries < 0:
            raise ValueError("queue_size >= 1, rate_per_minute > 0 and max_retries >= 0")
        self.log = get_logger("alerts")
        capacity = float(burst if burst is not None else max(1, int(rate_per_minute)))
        self.lanes = [
            Lane(t, level, TokenBucket(rate_per_minute / 60.0, capacity, clock))
            for t, level in destinations
        ]
        self.info_reserve = float(int(capacity) // 2)  # tokens info alerts leave to warnings
        self.unlimited = frozenset(unlimited)
        self.dedup = Deduplicator(dedup_s, clock)
        self.queue_size = queue_size
        self.max_retries = max_retries
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.flush_timeout_s = flush_timeout_s
        self.deduplicated = 0
        self.note_text = note_text
        self._random = random.Random(seed)
        self._closing = False
        self._closed = False

    # --- the caller's side: memory only -------------------------------------------------------

    def submit(self, alert: Alert, *, everywhere: bool = False) -> bool:
        """Queue ``alert`` for each destination it is meant for (``everywhere``: whatever their
        minimum level); ``False`` when it went nowhere. Never waits, never raises."""
        if self._closed:
            return False
        if not everywhere and self.dedup.repeat((alert.code, alert.text)):
            self.deduplicated += 1
            return False
        queued = False
        for lane in self.lanes:
            if everywhere or RANK[alert.level] >= RANK[lane.min_level]:
                queued = self._enqueue(lane, alert) or queued
        return queued

    def _enqueue(self, lane: Lane, alert: Alert) -> bool:
        if len(lane.queue) >= self.queue_size:
            lowest = min(RANK[a.level] for a in lane.queue)
            lane.dropped += 1
            lane.owed_dropped += 1
            if RANK[alert.level] < lowest:
                self.log.debug("alert_dropped", destination=lane.name, code=alert.code)
                return False
            victim = next(a for a in lane.queue if RANK[a.level] == lowest)
            lane.queue.remove(victim)
            self.log.debug("alert_dropped", destination=lane.name, code=victim.code)
        lane.queue.append(alert)
        lane.wake.set()
        return True

    # --- the senders ---------------------------------------------------------------------------

    async def start(self, spawn: Spawn | None = None) -> None:
        """Open the transports and start a sender per destination (as tasks of ``spawn``'s
        owner: the daemon's, so a sender that dies is seen)."""
        start = spawn or _create_task
        for lane in self.lanes:
            await lane.transport.open()
            lane.task = start(self._sender(lane), f"alerts:{lane.name}")

    async def stop(self, flush_timeout_s: float | None = None) -> None:
        """Let the queues drain for at most ``flush_timeout_s``, then cancel what is left."""
        self._closing = True
        for lane in self.lanes:
            lane.wake.set()
        tasks = [lane.task for lane in self.lanes if lane.task is not None]
        timeout = self.flush_timeout_s if flush_timeout_s is None else flush_timeout_s
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self._closed = True
        for lane in self.lanes:
            if lane.queue:
                self.log.warning("alerts_unsent", destination=lane.name, count=len(lane.queue))
            await lane.transport.close()

    async def _sender(self, lane: Lane) -> None:
        while lane.queue or not self._closing:
            try:
                await self._step(lane)
            except Exception:  # a bug here must not end alerting for the rest of the session
                self.log.exception("alert_sender_failed", destination=lane.name)
                await asyncio.sleep(1.0)

    async def _step(self, lane: Lane) -> None:
        if not lane.queue:
            await self._idle(lane)
            return
        alert = lane.queue.popleft()
        reserve = self.info_reserve if alert.level is AlertLevel.INFO else 0.0
        if alert.level is AlertLevel.CRITICAL or alert.code in self.unlimited:
            lane.bucket.charge()
        elif not lane.bucket.take(reserve):
            lane.suppressed += 1
            lane.owed_suppressed += 1
            self.log.debug("alert_suppressed", destination=lane.name, code=alert.code)
            return
        await self._deliver(lane, alert.text, alert.code)

    async def _idle(self, lane: Lane) -> None:
        """Wait for an alert; while counts are owed, wake when the bucket allows a note."""
        lane.wake.clear()
        owed = lane.owed()
        timeout = None
        if any(owed) and owed != lane.noted:
            timeout = max(0.01, lane.bucket.seconds_until_token())
        try:
            await asyncio.wait_for(lane.wake.wait(), timeout)
        except TimeoutError:
            if not lane.queue and lane.owed() == owed and lane.bucket.take():
                lane.noted = owed
                await self._deliver(lane, self.note_text, "alerts_held_back")

    async def _deliver(self, lane: Lane, text: str, code: str) -> bool:
        """Send ``text`` with the counts owed so far, retrying what is worth retrying."""
        loop = asyncio.get_running_loop()
        outcome = Outcome("retry")
        for attempt in range(self.max_retries + 1):
            if lane.paused_until > loop.time():
                await asyncio.sleep(lane.paused_until - loop.time())
            owed = lane.owed()
            outcome = await lane.transport.send(text + tail(*owed))
            if outcome.sent:
                lane.sent += 1
                lane.owed_suppressed -= owed[0]
                lane.owed_dropped -= owed[1]
                lane.noted = (0, 0)
                self.log.debug("alert_sent", destination=lane.name, code=code)
                return True
            if outcome.kind == "refused":
                lane.failed += 1
                self.log.error(
                    "alert_config_error",
                    destination=lane.name,
                    status=outcome.status,
                    detail=outcome.detail,
                    code=code,
                    hint="check the chat id, bot token or webhook URL; not retried",
                )
                return False
            if attempt == self.max_retries:
                break
            delay = self._backoff(attempt)
            if outcome.retry_after is not None:
                delay = outcome.retry_after
                lane.paused_until = loop.time() + delay
            self.log.info(
                "alert_retry",
                destination=lane.name,
                attempt=attempt + 1,
                status=outcome.status,
                detail=outcome.detail,
                delay_s=round(delay, 3),
            )
            if outcome.retry_after is None:
                await asyncio.sleep(delay)
        lane.failed += 1
        self.log.error(
            "alert_undelivered",
            destination=lane.name,
            code=code,
            attempts=self.max_retries + 1,
            status=outcome.status,
            detail=outcome.detail,
        )
        return False

    def _backoff(self, attempt: int) -> float:
        """Exponential, capped, with "equal jitter": half fixed, half random."""
        delay = min(self.backoff_max_s, self.backoff_initial_s * 2.0**attempt)
        return delay / 2 + self._random.uniform(0, delay / 2)

    def stats(self) -> dict[str, dict[str, int]]:
        return {
            lane.name: {
                "sent": lane.sent,
                "failed": lane.failed,
                "suppressed": lane.suppressed,
                "dropped": lane.dropped,
                "queued": len(lane.queue),
            }
            for lane in self.lanes
        }


Spawn = Callable[[Coroutine[Any, Any, None], str], "asyncio.Task[None]"]


def _create_task(coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
    return asyncio.create_task(coro, name=name)
