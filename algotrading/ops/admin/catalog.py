"""The admin commands: names, arguments and what each is for. Shared by the daemon (which runs
them) and ``algotrading ctl`` (which checks a command line before it connects), and light to
import: no daemon code here."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec


class NoArgs(msgspec.Struct, forbid_unknown_fields=True):
    pass


class ReasonArgs(msgspec.Struct, forbid_unknown_fields=True):
    reason: str = ""  # journaled with the command and logged


class ResetArgs(msgspec.Struct, forbid_unknown_fields=True):
    breaker: str = ""  # "" = every breaker


class SetLimitArgs(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    value: int | float | str  # a number, or its text as typed on a command line


@dataclass(frozen=True)
class CommandInfo:
    name: str
    summary: str
    args: type[msgspec.Struct] = NoArgs
    usage: str = ""  # the arguments on a ctl command line
    changes_state: bool = False


def _changes(
    name: str, summary: str, args: type[msgspec.Struct] = NoArgs, usage: str = ""
) -> CommandInfo:
    return CommandInfo(name, summary, args, usage, changes_state=True)


_REASON = "[REASON...]"

COMMANDS: dict[str, CommandInfo] = {
    c.name: c
    for c in (
        CommandInfo("status", "the daemon at a glance: trading state, actors, feed, P&L"),
        CommandInfo("positions", "positions by instrument"),
        CommandInfo("orders", "open orders"),
        CommandInfo("pnl", "equity, balance, realized, unrealized and day P&L"),
        _changes(
            "pause", "no new entries; orders that reduce a position still pass", ReasonArgs, _REASON
        ),
        _changes("resume", "allow new entries again", ReasonArgs, _REASON),
        _changes("flatten", "close every position (entries stay allowed)", ReasonArgs, _REASON),
        _changes("cancel-all", "cancel every open order", ReasonArgs, _REASON),
        _changes("halt", "no new orders at all", ReasonArgs, _REASON),
        _changes(
            "kill",
            "the kill switch: halt, cancel every order, close every position",
            ReasonArgs,
            _REASON,
        ),
        _changes(
            "reset", "reset tripped circuit breakers (one by name, or all)", ResetArgs, "[BREAKER]"
        ),
        _changes("set-limit", "set one risk limit", SetLimitArgs, "NAME VALUE"),
        _changes(
            "reload-config",
            "reload the configuration; risk limits apply live, the rest needs a restart",
        ),
        _changes("snapshot", "snapshot the actors' state now"),
        _changes("shutdown", "stop the daemon gracefully"),
        CommandInfo("help", "list the commands"),
    )
}


def command_info(name: str) -> CommandInfo | None:
    """The command called ``name``; ``cancel_all`` and ``cancel-all`` are the same."""
    return COMMANDS.get(name.strip().lower().replace("_", "-"))
