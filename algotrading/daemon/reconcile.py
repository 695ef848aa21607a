"""Reconciliation with a broker venue, at the start and then periodically.

Each check compares the venue's open positions and pending orders with the order manager's.
A difference can be transient: an order in flight, or a fill on its way through the stream.
So only a difference seen the same in two checks in a row counts. It is then logged, alerted
(``reconciliation_difference``) and resolved by rule:

- **Positions: the venue is the truth.** The order manager adopts the venue's position, and
  risk and the strategy hear it as a ``Position``.
- **An order of ours the venue no longer has** is forgotten: cancelled here. Whatever it did at
  the venue shows in the positions.
- **An order at the venue that is not ours** is reported, never touched.

Nothing is ever sent to the venue from here: no order is re-sent without the write-ahead check.
The differences found at the start (orders adopted or never sent, fills made while the daemon
was down) are alerted once the services run.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from algotrading.daemon.services import DaemonContext, cancel, fan_out, repeat
from algotrading.log import get_logger
from algotrading.messages import Alert, AlertLevel, Command

if TYPE_CHECKING:
    from algotrading.adapters.oanda.connect import OandaAccount

EPS = 1e-6


@dataclass
class Differences:
    positions: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    # instrument -> (ours, venue's, venue's average price)
    ours_not_at_venue: list[str] = field(default_factory=list)
    unknown_at_venue: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.positions or self.ours_not_at_venue or self.unknown_at_venue)

    def key(self) -> tuple[Any, ...]:
        return (
            tuple(sorted((k, v[0], v[1]) for k, v in self.positions.items())),
            tuple(sorted(self.ours_not_at_venue)),
            tuple(sorted(self.unknown_at_venue)),
        )

    def describe(self) -> str:
        parts = [
            f"{i}: ours {ours:+g}, venue {venue:+g}"
            for i, (ours, venue, _) in self.positions.items()
        ]
        if self.ours_not_at_venue:
            parts.append(f"ours, not at the venue: {', '.join(self.ours_not_at_venue)}")
        if self.unknown_at_venue:
            parts.append(f"at the venue, not ours: {', '.join(self.unknown_at_venue)}")
        return "; ".join(parts)


class ReconcileService:
    name = "reconcile"

    def __init__(
        self, broker: OandaAccount, every_s: float, startup: list[Alert] | None = None
    ) -> None:
        self.broker = broker
        self.every_s = every_s
        self.startup = list(startup or [])
        self.log = get_logger("reconcile")
        self.checks = 0
        self.resolved: list[Differences] = []
        self._last: tuple[Any, ...] | None = None
        self._ctx: DaemonContext | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, ctx: DaemonContext) -> None:
        self._ctx = ctx
        for alert in self.startup:
            self._alert(alert)
        if self.every_s > 0:  # a venue unreachable now: the next check tries again
            self._task = repeat(self.every_s, self.check, "reconcile")

    async def stop(self) -> None:
        await cancel(self._task)

    async def differences(self) -> Differences:
        from algotrading.adapters.oanda.connect import venue_positions

        ctx = self._ctx
        assert ctx is not None
        client = self.broker.client
        venue = await venue_positions(client)
        pending = await client.pending_orders()
        manager = ctx.runtime.actor("order_manager")
        book = manager.book  # type: ignore[attr-defined]
        found = Differences()
        for instrument in sorted(set(book) | set(venue)):
            ours = book[instrument].quantity if instrument in book else 0.0
            theirs = venue.get(instrument)
            quantity = theirs.quantity if theirs is not None else 0.0
            if abs(ours - quantity) > EPS:
                price = theirs.avg_price if theirs is not None else 0.0
                found.positions[instrument] = (ours, quantity, price)
        at_venue = {
            self.broker.sent.client_id(order) or f"v20:{order.get('id')}" for order in pending
        }
        ours_open = {o.client_order_id for o in manager.open_orders()}  # type: ignore[attr-defined]
        found.ours_not_at_venue = sorted(ours_open - at_venue)
        found.unknown_at_venue = sorted(at_venue - ours_open)
        return found

    async def check(self) -> Differences | None:
        """One check; the differences resolved, if any were seen twice in a row."""
        self.checks += 1
        found = await self.differences()
        key = found.key() if found else None
        seen_before, self._last = self._last, key
        if not found:
            return None
        if key != seen_before:  # perhaps in flight: look again next time
            self.log.info("reconcile_difference_seen", differences=found.describe())
            return None
        self._resolve(found)
        self._last = None
        return found

    def _resolve(self, found: Differences) -> None:
        ctx = self._ctx
        assert ctx is not None
        now = time.time_ns()
        self.log.warning("reconciliation_difference", differences=found.describe())
        self._alert(
            Alert(
                ts_event=now,
                level=AlertLevel.WARNING,
                code="reconciliation_difference",
                text=f"{found.describe()} (the venue's positions are taken as ours)",
                source="reconcile",
            )
        )
        if found.positions:
            args = {i: f"{venue!r}@{price!r}" for i, (_, venue, price) in found.positions.items()}
            ctx.control.submit(Command(ts_event=now, name="adopt_positions", args=args))
        if found.ours_not_at_venue:
            ids = ",".join(found.ours_not_at_venue)
            ctx.control.submit(Command(ts_event=now, name="forget_orders", args={"ids": ids}))
        self.resolved.append(found)

    def _alert(self, alert: Alert) -> None:
        ctx = self._ctx
        assert ctx is not None
        ctx.store.append(alert)
        fan_out(ctx.observers)(alert)


def startup_alerts(adopted: list[str], never_sent: list[str], missed: int) -> list[Alert]:
    """What the start-up resolution found, as alerts for the operator."""
    now = time.time_ns()
    alerts = []
    if adopted or never_sent:
        alerts.append(
            Alert(
                ts_event=now,
                level=AlertLevel.WARNING,
                code="reconciliation_orders",
                text=f"orders unacknowledged at the last stop: {len(adopted)} found at the venue "
                f"and adopted, {len(never_sent)} never arrived (marked never_sent)",
                source="reconcile",
            )
        )
    if missed:
        alerts.append(
            Alert(
                ts_event=now,
                level=AlertLevel.INFO,
                code="reconciliation_fills",
                text=f"{missed} fills made at the venue while the daemon was down, recorded",
                source="reconcile",
            )
        )
    return alerts
