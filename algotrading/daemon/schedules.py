"""The daemon's schedules, on one apscheduler scheduler in the event loop:

- ``session:<instrument>``: the trading session of each instrument's calendar opening and
  closing (the forex week from Sunday 17:00 to Friday 17:00 New York time, index sessions):
  an alert and a journal record at each, so an operator sees why the market went quiet;
- ``daily_summary``: equity, the day's P&L and trades, open positions (to the alert channels
  when they are set up, to the log always), at the end of the trading day;
- ``retrain``: scheduled retraining (``model.yaml`` ``retrain``; :mod:`.retraining`);
- ``rotate_journal``: database maintenance — old sessions archived to Parquet and deleted,
  old snapshot sets pruned, the WAL checkpointed (``state.retention``;
  :mod:`algotrading.state.retention`), in a thread.

``algotrading ctl status`` lists them with their next run time (``ctx.schedules``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from algotrading.config import RetentionConfig, SchedulesConfig
from algotrading.daemon.services import DaemonContext, fan_out
from algotrading.data.calendars import is_open
from algotrading.log import get_logger
from algotrading.messages import Alert, AlertLevel

if TYPE_CHECKING:
    from algotrading.daemon.retraining import Retrainer

MINUTE_NS = 60 * 10**9
SEARCH_MINUTES = 9 * 24 * 60  # a session change is looked for up to nine days ahead


def next_session_change(calendar: str, ts_ns: int) -> tuple[int, bool] | None:
    """The first whole minute after ``ts_ns`` at which ``calendar`` opens or closes, and
    whether it is then open; None if it does not change within nine days."""
    now_open = is_open(calendar, ts_ns)
    t = ts_ns - ts_ns % MINUTE_NS
    for _ in range(SEARCH_MINUTES):
        t += MINUTE_NS
        if is_open(calendar, t) != now_open:
            return t, not now_open
    return None


class ScheduleService:
    name = "schedules"

    def __init__(
        self,
        config: SchedulesConfig,
        *,
        retention: RetentionConfig | None = None,
        retrainer: Retrainer | None = None,
        daily_summary: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        self.config = config
        self.retention = retention
        self.retrainer = retrainer
        self.daily_summary_hook = daily_summary
        self.log = get_logger("schedules")
        self.scheduler: AsyncIOScheduler | None = None
        self._ctx: DaemonContext | None = None
        self.fired: list[str] = []

    async def start(self, ctx: DaemonContext) -> None:
        self._ctx = ctx
        scheduler = self.scheduler = AsyncIOScheduler(timezone=UTC)
        cfg = self.config
        if cfg.daily_summary_at:
            hour, minute = _hh_mm(cfg.daily_summary_at)
            scheduler.add_job(
                self.daily_summary,
                CronTrigger(hour=hour, minute=minute, timezone=cfg.timezone),
                id="daily_summary",
                coalesce=True,
                max_instances=1,
            )
        if self.retrainer is not None:
            from algotrading.daemon.retraining import retrain_trigger

            trigger = retrain_trigger(self.retrainer.retrain)
            if trigger is not None:
                scheduler.add_job(
                    self.retrainer.run_once, trigger, id="retrain", max_instances=1, coalesce=True
                )
        if self.retention is not None and self.retention.enabled:
            scheduler.add_job(
                self.rotate_journal,
                IntervalTrigger(hours=self.retention.every_hours),
                id="rotate_journal",
                coalesce=True,
                max_instances=1,
            )
        if cfg.sessions:
            for symbol, spec in ctx.session.instruments.items():
                self._schedule_session(symbol, spec.calendar, time.time_ns())
        events = EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED
        scheduler.add_listener(self._refresh, events)
        scheduler.start()
        self._refresh()

    async def stop(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    # -- jobs ----------------------------------------------------------------------------

    async def daily_summary(self) -> None:
        ctx = self._ctx
        assert ctx is not None
        self.fired.append("daily_summary")
        account = ctx.session.ledger.last_account
        self.log.info(
            "daily_summary",
            equity=round(account.equity, 2) if account else None,
            orders=ctx.session.ledger.n_orders,
            fills=ctx.session.ledger.n_fills,
        )
        if self.daily_summary_hook is not None:
            await self.daily_summary_hook()

    async def rotate_journal(self) -> None:
        from algotrading.state.retention import rotate

        ctx = self._ctx
        assert ctx is not None
        assert self.retention is not None
        self.fired.append("rotate_journal")
        ctx.store.flush()
        result = await asyncio.to_thread(
            rotate, ctx.store.path, self.retention, now_ns=time.time_ns()
        )
        if result is not None:
            self.log.info(
                "journal_rotated",
                archived=[a.session_id for a in result.archived],
                deleted=result.deleted,
                snapshot_sets_pruned=result.snapshot_sets_pruned,
                problems=dict(result.problems) or None,
            )

    def _schedule_session(self, symbol: str, calendar: str, after_ns: int) -> None:
        change = next_session_change(calendar, after_ns)
        if change is None or self.scheduler is None:
            return
        at_ns, opens = change
        self.scheduler.add_job(
            self._session_changed,
            DateTrigger(run_date=datetime.fromtimestamp(at_ns / 1e9, UTC)),
            args=(symbol, calendar, at_ns, opens),
            id=f"session:{symbol}",
            replace_existing=True,
            misfire_grace_time=None,
        )

    async def _session_changed(self, symbol: str, calendar: str, at_ns: int, opens: bool) -> None:
        ctx = self._ctx
        assert ctx is not None
        code = "session_open" if opens else "session_closed"
        self.fired.append(f"{code}:{symbol}")
        alert = Alert(
            ts_event=at_ns,
            level=AlertLevel.INFO,
            code=code,
            text=f"{symbol}: the {calendar} session {'opened' if opens else 'closed'}",
            source="schedules",
        )
        ctx.store.append(alert)
        fan_out(ctx.observers)(alert)
        self._schedule_session(symbol, calendar, at_ns)
        self._refresh()

    def _refresh(self, _: object = None) -> None:
        """``ctx.schedules``: every job and its next run, for ``ctl status``."""
        if self._ctx is None or self.scheduler is None:
            return
        self._ctx.schedules[:] = [
            (job.id, getattr(job, "next_run_time", None)) for job in self.scheduler.get_jobs()
        ]


def _hh_mm(text: str) -> tuple[int, int]:
    hour, _, minute = text.partition(":")
    return int(hour), int(minute or 0)
