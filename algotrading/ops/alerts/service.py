"""``AlertService``: the daemon service that tells the operator what happens, over Telegram
and Slack, and (optionally) answers a few Telegram commands.

It observes what the monitor handles — ``Alert`` (breaker trips and resets, model swaps,
margin closeouts, unresolved orders, escalations), ``ActorFailed``, changes of the trading
state, fills — and hands one-line texts to a :class:`Dispatcher`, whose ``submit`` only touches
memory: an unreachable or slow chat service never slows the trading path. ``daily_summary``
is for a scheduler to call (a coroutine, so apscheduler's asyncio scheduler runs it on the
loop).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from algotrading.log import get_logger
from algotrading.messages import Alert, AlertLevel, Command, Message, TradingState
from algotrading.ops.alerts.book import SessionBook
from algotrading.ops.alerts.commands import CommandPoller
from algotrading.ops.alerts.config import AlertsConfig, check_alerts_config, level_of
from algotrading.ops.alerts.dispatcher import Clock, Dispatcher
from algotrading.ops.alerts.texts import (
    Narrator,
    duration,
    line,
    money,
    pnl_text,
    positions_text,
    summary_text,
)
from algotrading.ops.alerts.transports import SlackTransport, TelegramTransport, Transport

if TYPE_CHECKING:
    from algotrading.daemon.services import DaemonContext

HELP = "commands: /status, /positions, /pnl, /pause (trading to REDUCING: positions only shrink)"


class AlertService:
    name = "alerts"

    def __init__(
        self,
        config: AlertsConfig,
        environ: Mapping[str, str] | None = None,
        *,
        flush_timeout_s: float = 3.0,
        poll_s: int = 25,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        clock: Clock = time.monotonic,
        seed: int = 0,
    ) -> None:
        """``environ`` (default ``os.environ`` at start) holds the secrets; pass a mapping
        merged with a ``.env`` file to read them from there too."""
        self.config = config
        self.flush_timeout_s = flush_timeout_s
        self.poll_s = poll_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.clock = clock
        self.seed = seed
        self.book = SessionBook()
        self.dispatcher: Dispatcher | None = None
        self.poller: CommandPoller | None = None
        self.log = get_logger("alerts")
        self._environ = environ
        self._ctx: DaemonContext | None = None
        self._narrator: Narrator | None = None
        self._precision: dict[str, int] = {}
        self._poll_task: asyncio.Task[None] | None = None

    async def start(self, ctx: DaemonContext) -> None:
        cfg = self.config
        targets = check_alerts_config(cfg, os.environ if self._environ is None else self._environ)
        destinations: list[tuple[Transport, AlertLevel]] = []
        telegram = None
        if targets.telegram and targets.telegram_chat_id is not None:
            telegram = TelegramTransport(
                targets.telegram_token,
                targets.telegram_chat_id,
                base_url=cfg.telegram.base_url,
                timeout_s=cfg.timeout_seconds,
            )
            destinations.append((telegram, level_of(cfg.telegram.min_level)))
        if targets.slack:
            slack = SlackTransport(targets.slack_webhook_url, timeout_s=cfg.timeout_seconds)
            destinations.append((slack, level_of(cfg.slack.min_level)))
        if not destinations:
            self.log.info("alerts_off")
            return
        self._ctx = ctx
        self._precision = {s: spec.price_precision for s, spec in ctx.session.instruments.items()}
        self._narrator = Narrator(
            ctx.session_id,
            fills=cfg.fills,
            precision=self._precision,
            state=ctx.session.switch.state,
        )
        self.dispatcher = Dispatcher(
            destinations,
            dedup_s=cfg.dedup_seconds,
            rate_per_minute=cfg.rate_per_minute,
            queue_size=cfg.queue_size,
            max_retries=cfg.max_retries,
            backoff_initial_s=self.backoff_initial_s,
            backoff_max_s=self.backoff_max_s,
            flush_timeout_s=self.flush_timeout_s,
            clock=self.clock,
            seed=self.seed,
            unlimited=("daemon_stopped", "daily_summary"),
            note_text=self._line(
                AlertLevel.WARNING, "alerts_held_back", "alerts held back (rate limit or queue)"
            ),
        )
        await self.dispatcher.start(ctx.tasks.spawn)
        ctx.observe(self.observe)
        self._notify(AlertLevel.INFO, "daemon_started", f"{ctx.mode} session started")
        commands = cfg.telegram.commands
        if telegram is not None and commands.enabled:
            self.poller = CommandPoller(
                telegram,
                commands.allowed_chat_ids,
                self.answer,
                not_before_s=time.time(),
                poll_s=self.poll_s,
                seed=self.seed,
            )
            self._poll_task = ctx.tasks.spawn(self._poll(self.poller), "alerts:commands")
        self.log.info(
            "alerts_started",
            destinations=[t.name for t, _ in destinations],
            commands=self.poller is not None,
        )

    async def stop(self) -> None:
        if self._poll_task is not None:
            self._poll_task.cancel()
            await asyncio.gather(self._poll_task, return_exceptions=True)
        if self.dispatcher is None:
            return
        ctx = self._ctx
        if ctx is not None:
            failed = ctx.runtime.exit_code != 0
            reason = ctx.runtime.stop_reason or "stopped"
            self._notify(
                AlertLevel.CRITICAL if failed else AlertLevel.INFO,
                "daemon_stopped",
                f"{reason} (exit code {ctx.runtime.exit_code})",
            )
        await self.dispatcher.stop(self.flush_timeout_s)

    # --- what the monitor hears: memory only ---------------------------------------------------

    def observe(self, msg: Message) -> None:
        """Called for every message the monitor handles: returns at once."""
        self.book.on_message(msg)
        if self._narrator is None or self.dispatcher is None:
            return
        alert = self._narrator.alert(msg)
        if alert is not None:
            self.dispatcher.submit(alert)

    async def daily_summary(self) -> str:
        """Equity, the day's P&L and trades, open positions — to every destination whatever
        its minimum level (it was asked for). The next day counts from here."""
        text = self._line(
            AlertLevel.INFO, "daily_summary", summary_text(self.book, self._precision)
        )
        if self.dispatcher is not None:
            self.dispatcher.submit(
                Alert(ts_event=self._now(), level=AlertLevel.INFO, code="daily_summary", text=text),
                everywhere=True,
            )
        self.book.close_day()
        return text

    # --- Telegram commands ---------------------------------------------------------------------

    async def answer(self, command: str, chat_id: int) -> str | None:
        ctx = self._ctx
        if ctx is None:
            return None
        if command == "status":
            return self.status_text()
        if command == "positions":
            return f"[{ctx.session_id}] positions: {positions_text(self.book, self._precision)}"
        if command == "pnl":
            return f"[{ctx.session_id}] {pnl_text(self.book)}"
        if command == "pause":
            held = ctx.session.switch.operator_state
            if held is not TradingState.ACTIVE:  # reduce would loosen an operator's halt
                return (
                    f"[{ctx.session_id}] trading was set to {held.value} by an operator already; "
                    "/pause changes nothing"
                )
            reason = f"/pause from Telegram chat {chat_id}"
            ctx.control.submit(
                Command(ts_event=self._now(), name="reduce", args={"reason": reason})
            )
            return (
                f"[{ctx.session_id}] pause requested: trading goes to REDUCING (positions may "
                "only shrink); /status shows it"
            )
        if command in ("help", "start"):
            return HELP
        return f"unknown command /{command}; {HELP}"

    def status_text(self) -> str:
        ctx = self._ctx
        assert ctx is not None
        switch = ctx.session.switch
        text = f"[{ctx.session_id}] {ctx.mode}, up {duration(ctx.uptime_s())}, trading "
        text += switch.state.value + (f" ({switch.reason})" if switch.reason else "")
        account = self.book.account
        if account is not None:
            text += f", equity {money(account.equity)} {account.currency}"
        text += f", orders {self.book.orders}, fills {self.book.fills}"
        supervisor = ctx.runtime.supervisor
        restarts = {n: supervisor.restarts(n) for n in supervisor.actors}
        restarted = ", ".join(f"{n} {r}" for n, r in sorted(restarts.items()) if r)
        if restarted:
            text += f", restarts: {restarted}"
        if ctx.runtime.stopping:
            text += ", stopping"
        return text

    # --- helpers -------------------------------------------------------------------------------

    async def _poll(self, poller: CommandPoller) -> None:
        try:
            await poller.run()
        except Exception:  # a bug: commands stop, alerts and trading go on
            self.log.exception("telegram_commands_failed")

    def _line(self, level: AlertLevel, code: str, text: str) -> str:
        session = self._ctx.session_id if self._ctx is not None else "-"
        return line(session, level, code, text)

    def _now(self) -> int:
        return self._ctx.runtime.clock.now_ns() if self._ctx is not None else time.time_ns()

    def _notify(self, level: AlertLevel, code: str, text: str) -> None:
        if self.dispatcher is not None:
            alert = Alert(
                ts_event=self._now(), level=level, code=code, text=self._line(level, code, text)
            )
            self.dispatcher.submit(alert)
