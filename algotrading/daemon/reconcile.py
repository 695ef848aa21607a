"""Reconciliation while the daemon runs: every ``state.reconcile_every_seconds`` (and after
every reconnect of a venue's report stream, which its actor does by itself) the venue is asked
for mass status at one cursor.

The check goes through the actors, in order, so it holds while the strategy trades:

1. the ``reconcile`` command reaches the venue actor, which reads the venue's positions and
   working orders as of one venue transaction L, and first applies every report up to L that
   it had not (a stalled stream, a lost connection: nothing is skipped);
2. it then sends :class:`~algotrading.messages.VenuePositions` at L to the order manager,
   behind those reports, so the books it compares are exactly the books at L;
3. the order manager compares (:func:`algotrading.execution.reconciliation.diff`). A position
   that still differs is one no fill explains: it is alerted and the venue's adopted through a
   journaled reconciliation entry; an acknowledged order the venue no longer works is
   cancelled here; an order working at the venue that is not ours is reported once.

Nothing is ever sent to the venue from here. The start-up reconciliation is
:mod:`algotrading.daemon.recovery`; what it found is alerted once the services run.
"""

from __future__ import annotations

import asyncio
import time

from algotrading.daemon.services import DaemonContext, cancel, fan_out, repeat
from algotrading.messages import Alert, Command


class ReconcileService:
    name = "reconcile"

    def __init__(self, every_s: float, startup: list[Alert] | None = None) -> None:
        self.every_s = every_s
        self.startup = list(startup or [])
        self.checks = 0
        self._ctx: DaemonContext | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, ctx: DaemonContext) -> None:
        self._ctx = ctx
        for alert in self.startup:
            self._alert(alert)
        if self.every_s > 0:
            self._task = repeat(ctx.tasks, self.every_s, self.check, "reconcile")

    async def stop(self) -> None:
        await cancel(self._task)

    async def check(self) -> None:
        """Ask for one check (it runs in the actors, in order with everything else)."""
        ctx = self._ctx
        assert ctx is not None
        self.checks += 1
        ctx.control.submit(Command(ts_event=time.time_ns(), name="reconcile"))

    def _alert(self, alert: Alert) -> None:
        ctx = self._ctx
        assert ctx is not None
        ctx.store.append(alert)
        fan_out(ctx.observers)(alert)
