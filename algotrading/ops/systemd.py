"""The daemon under systemd: the sd_notify protocol, and a service that speaks it.

``Type=notify`` units hand the daemon ``$NOTIFY_SOCKET``; each notification is one datagram of
newline-separated ``KEY=value`` assignments sent to it (a leading ``@`` names a socket in the
abstract namespace). :class:`SdNotifier` writes that protocol by hand, so the daemon needs no
libsystemd, and it never raises: a daemon must not stop trading because systemd went away.

:class:`SystemdService` sends ``READY=1`` once the actors run, pings the watchdog only while the
daemon is healthy (so that systemd kills and restarts a daemon whose actor hangs), keeps a
one-line ``STATUS=`` current for ``systemctl status``, and sends ``STOPPING=1`` as soon as a
stop is requested.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

import msgspec

from algotrading.log import get_logger

if TYPE_CHECKING:
    from algotrading.daemon.services import DaemonContext

STOP_POLL_S = 0.25  # how soon after a stop is requested STOPPING=1 goes out


class SystemdConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``system.yaml`` key ``systemd``. The notifier only speaks when systemd started the
    daemon (``$NOTIFY_SOCKET`` is set), so these defaults are harmless anywhere else."""

    # how long one message may keep an actor busy before the daemon counts as hung and the
    # watchdog pings stop (keep it well below the unit's WatchdogSec=)
    watchdog_stuck_seconds: float = 10.0
    # how often the one-line STATUS= summary is refreshed
    status_every_seconds: float = 5.0

    def __post_init__(self) -> None:
        if not self.watchdog_stuck_seconds > 0:
            raise ValueError("watchdog_stuck_seconds: expected a number of seconds > 0")
        if not self.status_every_seconds > 0:
            raise ValueError("status_every_seconds: expected a number of seconds > 0")


def _positive_int(text: str | None) -> int | None:
    if text is None or not text.strip().isdigit():
        return None
    value = int(text)
    return value if value > 0 else None


class SdNotifier:
    """A client of systemd's notification socket.

    Every method returns whether the datagram went out; none raises. With no socket (the
    daemon was not started by systemd) every method is a no-op returning ``False``. A failed
    send is logged once, and once more when sending works again."""

    def __init__(
        self,
        notify_socket: str | None,
        *,
        watchdog_usec: int | None = None,
        watchdog_pid: int | None = None,
        pid: int | None = None,
    ) -> None:
        self.log = get_logger("systemd")
        self.socket_name = notify_socket or ""
        self.address = self._address(self.socket_name)
        pid = os.getpid() if pid is None else pid
        # WATCHDOG_PID names the process the watchdog is meant for; a child that inherited
        # the environment must not ping on behalf of the daemon
        self.watchdog_for_us = watchdog_pid is None or watchdog_pid == pid
        self.watchdog_usec = watchdog_usec if self.watchdog_for_us else None
        self._sock: socket.socket | None = None
        self._failing = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SdNotifier:
        """The notifier systemd set up for this process: ``$NOTIFY_SOCKET``,
        ``$WATCHDOG_USEC`` and ``$WATCHDOG_PID``."""
        env = os.environ if environ is None else environ
        usec_text, pid_text = env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID")
        usec, pid = _positive_int(usec_text), _positive_int(pid_text)
        notifier = cls(env.get("NOTIFY_SOCKET"), watchdog_usec=usec, watchdog_pid=pid)
        if usec_text is not None and usec is None:
            notifier.log.warning("watchdog_usec_invalid", value=usec_text)
        if pid_text is not None and pid is None:  # unreadable: never ping for someone else
            notifier.log.warning("watchdog_pid_invalid", value=pid_text)
            notifier.watchdog_for_us, notifier.watchdog_usec = False, None
        return notifier

    def _address(self, name: str) -> str | None:
        if not name:
            return None
        if name.startswith("@"):  # abstract namespace: a leading NUL byte in sun_path
            return "\0" + name[1:]
        if name.startswith("/"):
            return name
        self.log.warning("notify_socket_unsupported", socket=name)
        return None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_interval_s(self) -> float | None:
        """How often to ping: half the watchdog timeout, as sd_watchdog_enabled(3) advises;
        ``None`` when systemd does not watch this process."""
        if not self.enabled or self.watchdog_usec is None:
            return None
        return self.watchdog_usec / 2e6

    def notify(self, *assignments: str) -> bool:
        """Send ``assignments`` (``"READY=1"``, ``"STATUS=..."``) as one datagram."""
        if self.address is None:
            return False
        data = "\n".join(assignments).encode("utf-8", "replace")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.setblocking(False)  # a backlogged systemd costs a ping, not the loop
            self._sock.sendto(data, self.address)
        except OSError as exc:
            if not self._failing:
                self.log.warning("sd_notify_failed", socket=self.socket_name, error=str(exc))
            self._failing = True
            return False
        if self._failing:
            self.log.info("sd_notify_recovered", socket=self.socket_name)
            self._failing = False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *_status(status))

    def stopping(self, status: str | None = None) -> bool:
        return self.notify("STOPPING=1", *_status(status))

    def status(self, text: str) -> bool:
        return self.notify(*_status(text))

    def watchdog(self) -> bool:
        """Tell systemd the daemon is alive (only when the watchdog is meant for us)."""
        return self.watchdog_for_us and self.notify("WATCHDOG=1")

    def watchdog_trigger(self) -> bool:
        """Ask systemd to act as if the watchdog had expired: kill and restart now."""
        return self.watchdog_for_us and self.notify("WATCHDOG=trigger")

    def extend_timeout(self, usec: int) -> bool:
        """Push the start, runtime or stop timeout ``usec`` microseconds out from now."""
        if usec <= 0:
            self.log.warning("extend_timeout_ignored", usec=usec)
            return False
        return self.notify(f"EXTEND_TIMEOUT_USEC={int(usec)}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _status(text: str | None) -> tuple[str, ...]:
    """A STATUS= assignment; a newline would start another assignment, so none survives."""
    if text is None:
        return ()
    return ("STATUS=" + " ".join(text.split()),)


def status_line(ctx: DaemonContext) -> str:
    """The one-line summary ``systemctl status`` shows: trading state, orders, fills, equity,
    restarts."""
    book, runtime = ctx.book, ctx.runtime
    account = book.account
    equity = f"{account.equity:.2f} {account.currency}" if account is not None else "n/a"
    restarts = sum(runtime.supervisor.restarts(name) for name in runtime.supervisor.actors)
    return (
        f"{ctx.mode} {book.trading_state}: {book.orders} orders, {book.fills} fills, "
        f"equity {equity}, {restarts} restarts"
    )


class SystemdService:
    """READY, WATCHDOG, STATUS and STOPPING for the running daemon (a daemon service).

    The pings come from a task on the daemon's own event loop, so a blocked loop sends none;
    they are also withheld while an actor has been busy with one message for longer than
    ``watchdog_stuck_seconds`` (or was given up on) and once a stop is requested. systemd then
    kills the daemon after ``WatchdogSec=`` and ``Restart=on-failure`` starts it again from
    its saved state."""

    name = "systemd"

    def __init__(
        self, config: SystemdConfig | None = None, *, notifier: SdNotifier | None = None
    ) -> None:
        self.config = config or SystemdConfig()
        self.notifier = notifier if notifier is not None else SdNotifier.from_env()
        self.log = get_logger("systemd")
        self._ctx: DaemonContext | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping_sent = False
        self._unhealthy: str | None = None  # why pings are withheld, while they are
        self._status_failed = False
        self.pings = 0

    async def start(self, ctx: DaemonContext) -> None:
        self._ctx = ctx
        if not self.notifier.enabled:
            return
        self.notifier.ready(self._status())
        self.log.info(
            "systemd_ready",
            watchdog_interval_s=self.notifier.watchdog_interval_s,
            stuck_after_s=self.config.watchdog_stuck_seconds,
        )
        self._task = ctx.tasks.spawn(self._run(), "service:systemd")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.notifier.enabled and self._ctx is not None and not self._stopping_sent:
            self._send_stopping()
        self.notifier.close()

    def health(self) -> str | None:
        """Why the daemon is not healthy now, or ``None`` when it is."""
        assert self._ctx is not None
        runtime = self._ctx.runtime
        if runtime.stopping:
            return f"stopping ({runtime.stop_reason})"
        stuck = runtime.stuck(self.config.watchdog_stuck_seconds)
        if stuck:
            escalated = sorted(set(stuck) & runtime.escalated)
            busy = [name for name in stuck if name not in escalated]
            parts = []
            if busy:
                limit = f"{self.config.watchdog_stuck_seconds:g}s"
                parts.append(f"{', '.join(busy)} busy with one message for over {limit}")
            if escalated:
                parts.append(f"{', '.join(escalated)} given up on")
            return "; ".join(parts)
        return None

    async def _run(self) -> None:
        try:
            await self._loop()
        except Exception:  # pings stop with it: systemd restarts the daemon, as it should
            self.log.exception("systemd_task_failed")

    async def _loop(self) -> None:
        interval = self.notifier.watchdog_interval_s
        now = time.monotonic()
        next_ping = now if interval is not None else float("inf")
        next_status = now + self.config.status_every_seconds
        while True:
            now = time.monotonic()
            wake = min(next_ping, next_status, now + STOP_POLL_S)
            await asyncio.sleep(max(0.0, wake - now))
            now = time.monotonic()
            if now - wake > self.config.watchdog_stuck_seconds:  # nothing ran on the loop
                self.log.warning("event_loop_stalled", seconds=round(now - wake, 3))
            assert self._ctx is not None
            if self._ctx.runtime.stopping and not self._stopping_sent:
                self._send_stopping()
            if interval is not None and now >= next_ping:
                self._watchdog()
                next_ping += interval
                if next_ping <= now:  # after a stall: back on the beat, not a burst
                    next_ping = now + interval
            if now >= next_status:
                if not self._stopping_sent:
                    self.notifier.status(self._status())
                next_status = now + self.config.status_every_seconds

    def _watchdog(self) -> None:
        try:
            reason = self.health()
        except Exception as exc:  # a health check that cannot tell is not a healthy daemon
            reason = f"health check failed: {type(exc).__name__}: {exc}"
        if reason is None:
            if self._unhealthy is not None:
                self.log.warning("watchdog_resumed", was=self._unhealthy)
                self._unhealthy = None
            if self.notifier.watchdog():
                self.pings += 1
            return
        if self._unhealthy is None and not self._stopping_sent:
            self.log.error("watchdog_withheld", reason=reason)
            self.notifier.status(f"unhealthy: {reason}")
        self._unhealthy = reason

    def _send_stopping(self) -> None:
        self._stopping_sent = True
        assert self._ctx is not None
        reason = self._ctx.runtime.stop_reason or "stop requested"
        self.notifier.stopping(f"stopping: {reason}")
        self.log.info("systemd_stopping", reason=reason)

    def _status(self) -> str:
        assert self._ctx is not None
        try:
            text = status_line(self._ctx)
        except Exception:  # a summary is not worth a failure: say so once and go on
            if not self._status_failed:
                self.log.exception("status_line_failed")
            self._status_failed = True
            return "running"
        if self._unhealthy is not None:
            text += f"; unhealthy: {self._unhealthy}"
        return text
