"""``AdminService``: the admin socket as a daemon service (see docs/operations/admin-socket.md)."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from algotrading.daemon.services import DaemonContext
from algotrading.log import get_logger
from algotrading.ops.admin.commands import AdminCommands
from algotrading.ops.admin.config import AdminConfig, socket_path
from algotrading.ops.admin.protocol import Request
from algotrading.ops.admin.server import AdminServer, Peer
from algotrading.ops.admin.views import PnlTracker


class AdminService:
    """Listens on ``<state-dir>/admin.sock`` (or ``admin.socket``) while the daemon runs.
    ``config`` defaults to the configuration's ``admin`` section; ``socket`` and
    ``allowed_uids`` (default: the daemon's own uid) override it, for tests."""

    name = "admin"

    def __init__(
        self,
        config: AdminConfig | None = None,
        *,
        socket: Path | None = None,
        allowed_uids: Collection[int] | None = None,
    ) -> None:
        self.config = config
        self.socket = socket
        self.allowed_uids = allowed_uids
        self.server: AdminServer | None = None
        self.commands: AdminCommands | None = None

    async def start(self, ctx: DaemonContext) -> None:
        config = self.config or _configured(ctx) or AdminConfig()
        if not config.enabled:
            get_logger("admin").info("admin_disabled")
            return
        problems = config.problems()
        if problems:
            raise ValueError("system.yaml: admin: " + "; ".join(problems))
        first = ctx.book.account  # the session's first mark, if one came already
        tracker = PnlTracker(start_balance=first.balance if first is not None else None)
        ctx.observe(tracker.observe)
        server = AdminServer(
            self.socket or socket_path(config, ctx.state_dir),
            self._dispatch,
            idle_timeout_s=config.idle_timeout_seconds,
            max_connections=config.max_connections,
            max_line_bytes=config.max_line_bytes,
            allowed_uids=self.allowed_uids,
        )
        self.commands = AdminCommands(
            ctx, tracker, lambda: {**server.counts, "open": server.open_connections}
        )
        await server.start()
        self.server = server

    async def _dispatch(self, request: Request, peer: Peer) -> dict[str, Any]:
        assert self.commands is not None
        return await self.commands.dispatch(request, peer)

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None


def _configured(ctx: DaemonContext) -> AdminConfig | None:
    """``system.yaml``'s ``admin`` section, once SystemConfig has one."""
    section = getattr(ctx.config.system, "admin", None)
    return section if isinstance(section, AdminConfig) else None
