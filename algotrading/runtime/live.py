"""Live delivery: each actor is its own task reading a bounded inbox.

A full inbox makes its senders wait (back-pressure), so nothing grows without bound. Inputs
come from *sources* — async iterables such as a feed adapter's quote stream or a timer — that
the runtime owns and stops first on shutdown. Shutdown is designed: stop the sources, let the
inboxes drain (bounded by a timeout), cancel the actor tasks, then stop the actors in graph
order so that whoever holds state flushes it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from algotrading.log import get_logger
from algotrading.messages import ActorFailed, Alert, AlertLevel, Command, Message
from algotrading.runtime.actor import Actor
from algotrading.runtime.clock import Clock, MonotonicClock
from algotrading.runtime.graph import Graph
from algotrading.runtime.supervision import Escalate, RestartPolicy
from algotrading.runtime.supervisor import Supervisor
from algotrading.state.recording import Recorder, Snapshottable

# Put in an actor's inbox to have its state snapshotted by its own task, between messages.
SNAPSHOT_BARRIER = Command(ts_event=0, name="__snapshot__")

EXIT_OK = 0
EXIT_SOURCE_FAILED = 1
EXIT_ESCALATED = 70  # EX_SOFTWARE: systemd's Restart=on-failure brings the daemon back


@dataclass(frozen=True)
class Source:
    """An input stream: ``open()`` gives the async iterator whose messages go to ``target``.
    When a finite source ends and ``stops_runtime`` is set, the runtime shuts down."""

    name: str
    open: Callable[[], AsyncIterator[Message]]
    target: str
    stops_runtime: bool = False
    # where each message goes, when not all to ``target`` (operator commands: by command)
    targets_of: Callable[[Message], tuple[str, ...]] | None = None


class LiveRuntime:
    def __init__(
        self,
        graph: Graph,
        clock: Clock,
        policy: RestartPolicy,
        *,
        queue_size: int = 1024,
        drain_timeout_s: float = 3.0,
        escalation_commands: tuple[tuple[str, str], ...] = (("risk", "halt"),),
        recorder: Recorder | None = None,
    ) -> None:
        self.graph = graph
        self.clock = clock
        self.log = get_logger("runtime")
        self.inboxes: dict[str, asyncio.Queue[Message]] = {
            name: asyncio.Queue(maxsize=queue_size) for name in graph.names
        }
        self.supervisor = Supervisor(
            graph, policy, clock, self._send, failure_clock=MonotonicClock()
        )
        self.drain_timeout_s = drain_timeout_s
        self.escalation_commands = escalation_commands
        self.sources: list[Source] = []
        self.exit_code = EXIT_OK
        self.stop_reason = ""
        self.escalated: set[str] = set()
        self._stop = asyncio.Event()
        self.started_ns = 0
        self.running = asyncio.Event()  # set once every actor has started
        self.drained = True  # false when shutdown cut handlers off half-way
        # when each actor began the message it is handling (monotonic seconds), if it is busy
        self.busy_since: dict[str, float] = {}
        self.handled: dict[str, int] = dict.fromkeys(graph.names, 0)
        self.recorder = recorder
        self._recorded = recorder.actors & set(graph.names) if recorder else frozenset()
        self._snapshots: dict[str, asyncio.Future[tuple[int, bytes]]] = {}

    def actor(self, name: str) -> Actor:
        return self.supervisor.actors[name]

    def add_source(self, source: Source) -> None:
        self.sources.append(source)

    def queue_depths(self) -> dict[str, int]:
        return {name: q.qsize() for name, q in self.inboxes.items()}

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stuck(self, longer_than_s: float) -> list[str]:
        """Actors that have been handling one message for longer than ``longer_than_s``, and
        actors given up on: the daemon is not healthy while any is."""
        now = time.monotonic()
        busy = [n for n, t in self.busy_since.items() if now - t > longer_than_s]
        return sorted({*busy, *self.escalated})

    def request_stop(self, reason: str, exit_code: int = EXIT_OK) -> None:
        """Ask for a graceful shutdown. The worst exit code wins, and its reason with it."""
        if not self._stop.is_set() or exit_code > self.exit_code:
            self.stop_reason = reason
            self.log.info("stop_requested", reason=reason, exit_code=exit_code)
        self.exit_code = max(self.exit_code, exit_code)
        self._stop.set()

    async def _send(self, actor: Actor, msg: Message) -> None:
        if actor.name in self._recorded:
            assert self.recorder is not None
            self.recorder.step(actor.name, "out", msg)
        for target in self.graph.targets(actor.name, type(msg)):
            await self.inboxes[target].put(msg)

    async def snapshot(self, timeout_s: float = 5.0) -> dict[str, tuple[int, bytes]]:
        """The states of the recorded actors that can be snapshotted, each taken by its own
        task between two messages (never half-way through one), with the journal position
        of the last input it had handled: ``{actor: (journal_seq, state)}``. An actor that
        does not get to it within ``timeout_s`` (stuck, or given up on) is left out."""
        if self.recorder is None:
            return {}
        loop = asyncio.get_running_loop()
        wanted = {
            name: loop.create_future()
            for name in sorted(self._recorded)
            if isinstance(self.supervisor.actors[name], Snapshottable)
            and name not in self.escalated
            and name not in self._snapshots
        }
        self._snapshots.update(wanted)
        for name in wanted:
            await self.inboxes[name].put(SNAPSHOT_BARRIER)
        done, _ = await asyncio.wait(wanted.values(), timeout=timeout_s) if wanted else ((), ())
        for name, future in wanted.items():
            if future not in done:
                self._snapshots.pop(name, None)
                future.cancel()
                self.log.warning("snapshot_skipped", actor=name, reason="busy or stuck")
        return {name: f.result() for name, f in wanted.items() if f in done}

    def snapshot_stopped(self) -> dict[str, tuple[int, bytes]]:
        """Like :meth:`snapshot`, once the runtime has stopped: the actors are idle, so their
        states are taken directly (a clean restart then has no journal tail to replay)."""
        if self.recorder is None or not self.drained:
            return {}
        states = {}
        for name in sorted(self._recorded - self.escalated):
            actor = self.supervisor.actors[name]
            if isinstance(actor, Snapshottable):
                states[name] = (self.recorder.position(name), actor.snapshot_state())
        return states

    def _take_snapshot(self, name: str) -> None:
        future = self._snapshots.pop(name, None)
        if future is None or future.done():
            return
        actor = self.supervisor.actors[name]
        assert self.recorder is not None
        assert isinstance(actor, Snapshottable)
        try:
            future.set_result((self.recorder.position(name), actor.snapshot_state()))
        except Exception as exc:  # an unpicklable state: no snapshot, the journal still has all
            self.log.exception("snapshot_failed", actor=name)
            future.set_exception(exc)

    async def inject(self, target: str, msg: Message) -> None:
        await self.inboxes[target].put(msg)

    async def run(self, duration_s: float | None = None) -> int:
        self.started_ns = self.clock.now_ns()
        await self.supervisor.start_all()
        actor_tasks = [
            asyncio.create_task(self._actor_loop(name), name=f"actor:{name}")
            for name in self.graph.names
        ]
        source_tasks = [
            asyncio.create_task(self._source_loop(s), name=f"source:{s.name}") for s in self.sources
        ]
        self.running.set()
        try:
            try:
                await asyncio.wait_for(self._stop.wait(), duration_s)
            except TimeoutError:
                self.request_stop(f"duration of {duration_s:g}s reached")
        finally:
            await self._shutdown(source_tasks, actor_tasks)
        return self.exit_code

    async def _shutdown(
        self, source_tasks: list[asyncio.Task[None]], actor_tasks: list[asyncio.Task[None]]
    ) -> None:
        for task in source_tasks:
            task.cancel()
        await asyncio.gather(*source_tasks, return_exceptions=True)
        try:
            await asyncio.wait_for(self._drained(), self.drain_timeout_s)
        except TimeoutError:
            self.drained = False
            self.log.warning("drain_timeout", undelivered=self.queue_depths())
        for task in actor_tasks:
            task.cancel()
        await asyncio.gather(*actor_tasks, return_exceptions=True)
        await self.supervisor.stop_all()
        self.log.info("stopped", reason=self.stop_reason, exit_code=self.exit_code)

    async def _drained(self) -> None:
        """Wait until no inbox holds or is handling a message (handlers may refill others)."""
        while True:
            for queue in self.inboxes.values():
                await queue.join()
            if all(q.qsize() == 0 for q in self.inboxes.values()):
                return

    async def _source_loop(self, source: Source) -> None:
        try:
            async for msg in source.open():
                targets = source.targets_of(msg) if source.targets_of else (source.target,)
                for target in targets:
                    await self.inboxes[target].put(msg)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.log.exception("source_failed", source=source.name)
            self.request_stop(f"source {source.name} failed: {exc}", EXIT_SOURCE_FAILED)
            return
        if source.stops_runtime:
            self.request_stop(f"source {source.name} ended")

    async def _actor_loop(self, name: str) -> None:
        inbox = self.inboxes[name]
        while True:
            msg = await inbox.get()
            if msg is SNAPSHOT_BARRIER:
                self._take_snapshot(name)
                inbox.task_done()
                continue
            if name in self.escalated:  # given up on: its messages are dropped, not handled
                inbox.task_done()
                continue
            self.busy_since[name] = time.monotonic()
            try:
                if name in self._recorded:  # a store that failed raises here: a failure
                    assert self.recorder is not None
                    self.recorder.step(name, "in", msg)
                await self.supervisor.actors[name].handle(msg)
            except Exception as exc:
                await self._on_failure(name, exc)
            finally:
                del self.busy_since[name]
                self.handled[name] += 1
                inbox.task_done()

    async def _on_failure(self, name: str, exc: Exception) -> None:
        while True:
            decision = self.supervisor.on_failure(name, exc)
            await self._notify(name, exc, decision)
            if isinstance(decision, Escalate):
                await self._escalate(name, exc)
                return
            await asyncio.sleep(decision.delay_ns / 1e9)
            try:
                await self.supervisor.restart(name)
                if name in self._recorded:  # a replay starts a fresh actor here too
                    assert self.recorder is not None
                    self.recorder.restarted(name, self.clock.now_ns())
                return
            except Exception as restart_exc:  # a failed start counts as another failure
                exc = restart_exc

    async def _notify(self, name: str, exc: Exception, decision: object) -> None:
        msg = ActorFailed(
            ts_event=self.clock.now_ns(),
            actor=name,
            error=f"{type(exc).__name__}: {exc}",
            restarts=self.supervisor.restarts(name),
            action="escalate" if isinstance(decision, Escalate) else "restart",
        )
        for target in self.graph.optional_targets("supervisor", ActorFailed):
            queue = self.inboxes[target]
            if target != name and not queue.full():  # a notice never blocks the supervisor
                queue.put_nowait(msg)

    async def _escalate(self, name: str, exc: Exception) -> None:
        """The safe stop: no new orders, tell the operator, and exit non-zero so that systemd
        restarts the daemon from its saved state."""
        self.escalated.add(name)
        now = self.clock.now_ns()
        for target, command in self.escalation_commands:
            if target in self.inboxes and target != name:
                await self.inboxes[target].put(
                    Command(ts_event=now, name=command, args={"reason": f"{name} escalated"})
                )
        for target in self.graph.optional_targets("supervisor", Alert):
            if target != name and not self.inboxes[target].full():
                self.inboxes[target].put_nowait(
                    Alert(
                        ts_event=now,
                        level=AlertLevel.CRITICAL,
                        code="actor_escalated",
                        text=f"actor {name} keeps failing ({exc}); trading halted, daemon stopping",
                        source="supervisor",
                    )
                )
        self.request_stop(f"actor {name} escalated", EXIT_ESCALATED)
