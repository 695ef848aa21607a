"""The supervisor owns the actor instances: it makes them, starts and stops them, and decides
what an actor's failure means — a restart (a fresh instance from the actor's factory, after a
backoff) or an escalation. Both delivery modes use it; only how they wait differs."""

from __future__ import annotations

import traceback

from algotrading.log import get_logger
from algotrading.runtime.actor import Actor, SendFn
from algotrading.runtime.clock import Clock
from algotrading.runtime.graph import Graph, GraphError
from algotrading.runtime.supervision import Escalate, Restart, RestartPolicy, RestartTracker


class Escalated(Exception):
    """An actor kept failing after its restarts; the runtime must move to a safe stop."""

    def __init__(self, actor: str, failures: int, cause: BaseException) -> None:
        self.actor = actor
        self.failures = failures
        self.cause = cause
        super().__init__(
            f"actor {actor!r} failed {failures} times within the restart window; last error: "
            f"{type(cause).__name__}: {cause}"
        )


class Supervisor:
    def __init__(
        self,
        graph: Graph,
        policy: RestartPolicy,
        clock: Clock,
        send: SendFn,
        *,
        failure_clock: Clock | None = None,
    ) -> None:
        self.graph = graph
        self.policy = policy
        self.clock = clock
        # Restart windows are counted on this clock: monotonic in live mode, virtual (and so
        # deterministic) under the backtest driver.
        self.failure_clock = failure_clock or clock
        self._send = send
        self.log = get_logger("supervisor")
        self.trackers = {name: RestartTracker(policy) for name in graph.names}
        self.actors: dict[str, Actor] = {name: self._make(name) for name in graph.names}
        graph.check(self.actors)

    def _make(self, name: str) -> Actor:
        actor = self.graph.specs[name].factory()
        if actor.name != name:
            raise GraphError(f"factory for {name!r} made an actor named {actor.name!r}")
        actor.bind(self._send, self.clock)
        return actor

    def rebind(self, name: str) -> None:
        """Give ``name`` back its runtime send function (after someone borrowed the actor)."""
        actor = self.actors[name]
        actor.bind(self._send, self.clock)

    def restarts(self, name: str) -> int:
        return self.trackers[name].total_restarts

    async def start_all(self) -> None:
        for actor in self.actors.values():
            await actor.on_start()

    async def stop_all(self) -> None:
        """Stop in graph order (the feed first, the monitor last), each once, whatever fails."""
        for name, actor in self.actors.items():
            try:
                await actor.on_stop()
            except Exception:
                self.log.exception("actor_stop_failed", failed_actor=name)

    def on_failure(self, name: str, exc: BaseException) -> Restart | Escalate:
        decision = self.trackers[name].on_failure(self.failure_clock.now_ns())
        where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        self.log.error(
            "actor_failed",
            failed_actor=name,
            error=f"{type(exc).__name__}: {exc}",
            at=f"{where.filename}:{where.lineno}" if where else "",
            action="escalate" if isinstance(decision, Escalate) else "restart",
            attempt=getattr(decision, "attempt", None),
        )
        return decision

    async def restart(self, name: str) -> Actor:
        """Replace ``name`` with a fresh instance. Its inbox (owned by the runtime) survives."""
        old = self.actors[name]
        try:
            await old.on_stop()
        except Exception:
            self.log.exception("actor_stop_failed", failed_actor=name)
        actor = self._make(name)
        self.actors[name] = actor
        await actor.on_start()
        self.log.warning("actor_restarted", restarted_actor=name, restarts=self.restarts(name))
        return actor
