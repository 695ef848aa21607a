"""The admin commands, run against the daemon's context. Reads answer at once; what changes the
daemon goes in as a :class:`~algotrading.messages.Command` through ``Control`` (journaled where
it is delivered) and answers once it is queued — ``status`` then shows the effect."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from algotrading.config import Config, load_config
from algotrading.daemon.services import DaemonContext
from algotrading.errors import AlgotradingError
from algotrading.log import get_logger
from algotrading.messages import Command, TradingState
from algotrading.ops.admin import views
from algotrading.ops.admin.catalog import (
    COMMANDS,
    ReasonArgs,
    ResetArgs,
    SetLimitArgs,
    command_info,
)
from algotrading.ops.admin.protocol import AdminError, ErrorCode, Request, decode_args
from algotrading.ops.admin.server import Peer
from algotrading.risk.checks import LIMIT_NAMES, limits_with

Handler = Callable[[Any, Request], Awaitable[dict[str, Any]]]

# Operator commands the Control queue knows, by admin command, and what the answer says.
_QUEUED = {
    "pause": ("reduce", "no new entries once risk handles it (orders that reduce still pass)"),
    "resume": ("resume", "new entries allowed again once risk handles it"),
    "halt": ("halt", "no new orders at all once risk handles it"),
    "kill": ("kill", "trading halts, every order is cancelled and every position closed"),
    "flatten": (
        "flatten",
        "every position is closed (entries stay allowed: pause or halt to stay flat)",
    ),
    "cancel-all": ("cancel_all", "every open order is cancelled"),
}
_MAX_LISTED = 20


class AdminCommands:
    """The handlers of the admin socket, bound to one running daemon."""

    def __init__(
        self,
        ctx: DaemonContext,
        tracker: views.PnlTracker,
        admin_counts: Callable[[], dict[str, int]] = dict,
    ) -> None:
        self.ctx = ctx
        self.tracker = tracker
        self.admin_counts = admin_counts
        self.log = get_logger("admin")
        self._handlers: dict[str, Handler] = {
            "status": self._status,
            "positions": self._positions,
            "orders": self._orders,
            "pnl": self._pnl,
            "reset": self._reset,
            "set-limit": self._set_limit,
            "reload-config": self._reload_config,
            "snapshot": self._snapshot,
            "shutdown": self._shutdown,
            "help": self._help,
            **dict.fromkeys(_QUEUED, self._queued),
        }
        assert set(self._handlers) == set(COMMANDS), "every catalogued command has a handler"

    async def dispatch(self, request: Request, peer: Peer) -> dict[str, Any]:
        info = command_info(request.cmd)
        if info is None:
            raise AdminError(
                ErrorCode.UNKNOWN_COMMAND,
                f"unknown command {request.cmd[:60]!r}; one of: {', '.join(COMMANDS)}",
            )
        args = decode_args(info.name, request.args, info.args)
        if info.changes_state and self.ctx.runtime.stopping:
            raise AdminError(ErrorCode.REFUSED, "the daemon is shutting down")
        if info.changes_state:
            self.log.warning("admin_command", cmd=info.name, args=request.args, pid=peer.pid)
        request = msgspec.structs.replace(request, cmd=info.name)
        return await self._handlers[info.name](args, request)

    # --- reads --------------------------------------------------------------------------------

    async def _status(self, args: object, request: Request) -> dict[str, Any]:
        return views.status(self.ctx, self.tracker, self.admin_counts())

    async def _positions(self, args: object, request: Request) -> dict[str, Any]:
        return views.positions(self.ctx)

    async def _orders(self, args: object, request: Request) -> dict[str, Any]:
        return views.orders(self.ctx)

    async def _pnl(self, args: object, request: Request) -> dict[str, Any]:
        return views.pnl(self.ctx, self.tracker)

    async def _help(self, args: object, request: Request) -> dict[str, Any]:
        return {
            "commands": [
                {"name": c.name, "usage": c.usage, "summary": c.summary} for c in COMMANDS.values()
            ]
        }

    # --- changes ------------------------------------------------------------------------------

    async def _queued(self, args: ReasonArgs, request: Request) -> dict[str, Any]:
        name, effect = _QUEUED[request.cmd]
        switch = self.ctx.session.switch
        if request.cmd == "pause" and switch.operator_state is TradingState.HALTED:
            raise AdminError(
                ErrorCode.REFUSED,
                "trading is halted by the operator; pause would let reducing orders through. "
                "Use resume first if that is what you want",
            )
        reason = args.reason or f"admin: {request.cmd}"
        result = self._submit(name, {"reason": reason}, request, f"{request.cmd} queued: {effect}")
        if request.cmd == "resume" and switch.breakers:
            result["message"] += "; still tripped: " + ", ".join(sorted(switch.breakers))
        return result

    async def _reset(self, args: ResetArgs, request: Request) -> dict[str, Any]:
        names = [b.name for b in self.ctx.session.breakers.all()]
        if args.breaker and args.breaker not in names:
            raise AdminError(
                ErrorCode.BAD_ARGUMENT,
                f"reset: no breaker {args.breaker!r} is configured; configured: "
                f"{', '.join(names) or 'none'}",
            )
        which = args.breaker or "every breaker"
        command_args = {"breaker": args.breaker} if args.breaker else {}
        return self._submit("reset", command_args, request, f"reset queued: {which}")

    async def _set_limit(self, args: SetLimitArgs, request: Request) -> dict[str, Any]:
        text = repr(args.value) if isinstance(args.value, float) else str(args.value)
        current = views.live_limits(self.ctx)
        try:
            new = limits_with(current, {args.name: text})
        except ValueError as exc:
            raise AdminError(ErrorCode.BAD_ARGUMENT, f"set-limit: {exc}") from None
        value = getattr(new, args.name)
        result = self._submit(
            "set_limit",
            {args.name: text},
            request,
            f"set-limit queued: {args.name} {getattr(current, args.name)!r} -> {value!r}",
        )
        return {**result, "limit": args.name, "value": value, "was": getattr(current, args.name)}

    async def _reload_config(self, args: object, request: Request) -> dict[str, Any]:
        """Validate the configuration directory again; apply changed risk limits in one
        ``set_limit`` (risk swaps them all at once); refuse anything else, changing nothing."""
        ctx = self.ctx
        if ctx.config_dir is None:
            raise AdminError(
                ErrorCode.REFUSED,
                "the daemon runs on the embedded defaults (started without --config): "
                "there is no configuration directory to reload",
            )
        try:  # file reads and YAML parsing stay off the event loop
            new = await asyncio.to_thread(load_config, ctx.config_dir)
        except (AlgotradingError, OSError) as exc:
            raise AdminError(
                ErrorCode.REFUSED, f"invalid configuration, nothing changed: {exc}"
            ) from None
        outside = [k for k in config_changes(ctx.config, new) if not _live_key(k)]
        if outside:
            listed = ", ".join(outside[:_MAX_LISTED])
            if len(outside) > _MAX_LISTED:
                listed += f" and {len(outside) - _MAX_LISTED} more"
            raise AdminError(
                ErrorCode.REFUSED,
                f"these changes need a restart, nothing was applied: {listed}",
            )
        # Every limit goes in one set_limit, changed or not: risk swaps them all at once, and
        # a set-limit still queued cannot outlast the reload.
        values = {name: getattr(new.system.risk, name) for name in LIMIT_NAMES}
        current = views.live_limits(ctx)
        try:
            limits_with(current, {k: repr(v) for k, v in values.items()})
        except ValueError as exc:
            raise AdminError(
                ErrorCode.REFUSED, f"invalid risk limit, nothing changed: {exc}"
            ) from None
        changed = {k: v for k, v in values.items() if v != getattr(current, k)}
        ctx.config = new
        listed = ", ".join(f"{k} {getattr(current, k)!r} -> {v!r}" for k, v in changed.items())
        result = self._submit(
            "set_limit",
            {k: repr(v) for k, v in values.items()},
            request,
            f"reload-config queued: risk limits {listed or 'unchanged'}",
        )
        return {**result, "changed": changed}

    async def _snapshot(self, args: object, request: Request) -> dict[str, Any]:
        take = self.ctx.snapshot
        if take is None:
            raise AdminError(ErrorCode.REFUSED, "snapshots are not available in this daemon")
        taken = msgspec.to_builtins(await take())
        return taken if isinstance(taken, dict) else {"snapshot": taken}

    async def _shutdown(self, args: object, request: Request) -> dict[str, Any]:
        self.ctx.runtime.request_stop("admin: shutdown")
        return {"stopping": True, "message": "shutdown requested: the daemon stops gracefully"}

    def _submit(
        self, name: str, args: dict[str, str], request: Request, message: str
    ) -> dict[str, Any]:
        command = Command(
            ts_event=self.ctx.runtime.clock.now_ns(),
            name=name,
            args=args,
            request_id="" if request.id is None else f"admin:{request.id}",
        )
        self.ctx.control.submit(command)
        return {"queued": True, "command": name, "message": message}


def config_changes(old: Config, new: Config) -> list[str]:
    """The dotted keys whose values differ between two configurations (``system.feed.speed``)."""
    out: list[str] = []
    _diff(old.as_dict(), new.as_dict(), "", out)
    return out


def _diff(old: Any, new: Any, path: str, out: list[str]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted({*old, *new}, key=str):
            _diff(old.get(key), new.get(key), f"{path}.{key}" if path else str(key), out)
    elif old != new:
        out.append(path)


def _live_key(key: str) -> bool:
    """A key the running daemon can take without a restart: a pre-trade risk limit."""
    parts = key.split(".")
    return len(parts) == 3 and parts[:2] == ["system", "risk"] and parts[2] in LIMIT_NAMES
