"""Periodic snapshots of the deciding actors (:mod:`algotrading.state.recording`), and the one
an operator asks for (``algotrading ctl snapshot``). A snapshot only shortens recovery: the
journal alone is enough to warm a restarted daemon, so a snapshot that fails costs time at the
next start, never state."""

from __future__ import annotations

import asyncio
from typing import Any

from algotrading.daemon.services import DaemonContext, cancel, repeat
from algotrading.log import get_logger


class SnapshotService:
    name = "snapshots"

    def __init__(self, every_s: float, meta: dict[str, Any]) -> None:
        self.every_s = every_s
        self.meta = meta
        self.log = get_logger("snapshots")
        self.taken = 0
        self._ctx: DaemonContext | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def start(self, ctx: DaemonContext) -> None:
        self._ctx = ctx
        ctx.snapshot = self.take
        if self.every_s > 0:
            self._task = repeat(ctx.tasks, self.every_s, self.take, "snapshot")

    async def stop(self) -> None:
        """The last snapshot, of the stopped actors (the daemon stops services after them)."""
        await cancel(self._task)
        ctx = self._ctx
        if ctx is None or not self.every_s or ctx.runtime.exit_code:
            return  # after a failure, the journal is the safer account of what happened
        states = ctx.runtime.snapshot_stopped()
        if states:
            ctx.store.save_snapshots(ctx.runtime.clock.now_ns(), states, self._meta(ctx))
            self.log.info("snapshot_taken", at="stop", actors=sorted(states))

    async def take(self) -> dict[str, Any]:
        """Snapshot the recorded actors now; what was stored."""
        ctx = self._ctx
        assert ctx is not None
        async with self._lock:
            states = await ctx.runtime.snapshot()
            if not states:
                return {"set_id": None, "actors": {}}
            ts = ctx.runtime.clock.now_ns()
            set_id = ctx.store.save_snapshots(ts, states, self._meta(ctx))
        self.taken += 1
        actors = {name: {"journal_seq": seq, "bytes": len(s)} for name, (seq, s) in states.items()}
        self.log.info("snapshot_taken", set_id=set_id, actors=actors)
        return {"set_id": set_id, "actors": actors}

    def _meta(self, ctx: DaemonContext) -> dict[str, Any]:
        """What the set is valid for, and where in the data its actors had got to (a warm
        start with nothing after the snapshot knows from here where the backfill begins)."""
        recorder = ctx.runtime.recorder
        return {**self.meta, "data_ns": recorder.data_times() if recorder else {}}
