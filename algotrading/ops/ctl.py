"""``algotrading ctl``: the admin socket's command line, attached to the CLI by cli.py.

Exit status: 0 done; 1 the daemon refused or failed the command; 2 bad usage (nothing was
sent); 3 no daemon answered on the socket.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from algotrading.cli_args import non_empty, positive_float
from algotrading.errors import AlgotradingError
from algotrading.ops.admin.catalog import (
    COMMANDS,
    CommandInfo,
    NoArgs,
    ReasonArgs,
    ResetArgs,
    SetLimitArgs,
    command_info,
)
from algotrading.ops.admin.client import CannotConnect, call
from algotrading.ops.admin.config import AdminConfig, socket_path

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_NO_DAEMON = 3


class UsageError(Exception):
    pass


def add_ctl_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``ctl`` command to the ``subparsers`` of the main parser."""
    listed = "\n".join(
        f"  {c.name} {c.usage}".rstrip().ljust(30) + c.summary for c in COMMANDS.values()
    )
    ctl: argparse.ArgumentParser = subparsers.add_parser(
        "ctl",
        help="talk to the running daemon over its admin socket (status, pause, kill, ...)",
        description="Send one command to the running daemon over its admin socket and print "
        "the answer. Exit status: 0 done, 1 refused or failed by the daemon, 2 bad usage, "
        "3 no daemon listening.",
        epilog=f"commands:\n{listed}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ctl.add_argument(
        "--socket",
        type=non_empty,
        metavar="PATH",
        help="the admin socket (default: system.yaml's admin.socket, else STATE_DIR/admin.sock)",
    )
    ctl.add_argument(
        "--config",
        type=non_empty,
        metavar="DIR",
        help="configuration directory, to find the socket",
    )
    ctl.add_argument(
        "--state-dir",
        type=non_empty,
        metavar="DIR",
        default="state",
        help="the daemon's state directory (default: ./state)",
    )
    ctl.add_argument("--json", action="store_true", help="print the daemon's answer as JSON")
    ctl.add_argument(
        "--timeout",
        type=positive_float,
        default=10.0,
        metavar="S",
        help="seconds to wait (default: 10)",
    )
    ctl.add_argument("ctl_command", metavar="COMMAND", help="what to do (see below)")
    ctl.add_argument("ctl_args", nargs="*", metavar="ARGS", help="the command's arguments")
    return ctl


def run_ctl_command(
    args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run ``algotrading ctl``; returns the exit status (never raises for bad input)."""
    out = out or sys.stdout
    err = err or sys.stderr
    info = command_info(args.ctl_command)
    try:
        if info is None:
            raise UsageError(f"unknown command {args.ctl_command!r}; one of: {', '.join(COMMANDS)}")
        if not args.timeout > 0:
            raise UsageError("--timeout: expected a number of seconds > 0")
        request_args = request_arguments(info, args.ctl_args)
        path = find_socket(args.socket, args.config, args.state_dir)
    except (UsageError, AlgotradingError) as exc:
        print(f"algotrading ctl: error: {exc}", file=err)
        return EXIT_USAGE
    try:
        response = call(path, info.name, request_args, timeout_s=args.timeout)
    except CannotConnect as exc:
        print(f"algotrading ctl: {exc}", file=err)
        return EXIT_NO_DAEMON
    if not response.ok:
        problem = response.error
        code, message = (problem.code, problem.message) if problem else ("internal", "no error")
        if args.json:
            print(json.dumps({"code": code, "message": message}, indent=2), file=out)
        print(f"algotrading ctl: {info.name}: {code}: {message}", file=err)
        return EXIT_REFUSED
    result = response.result or {}
    if args.json:
        print(json.dumps(result, indent=2), file=out)
    else:
        render(info.name, result, _console(out))
    return EXIT_OK


def request_arguments(info: CommandInfo, words: list[str]) -> dict[str, Any]:
    """The request's ``args`` from the words after the command, checked for their count."""
    usage = f"usage: algotrading ctl {info.name} {info.usage}".rstrip()
    if info.args is NoArgs:
        if words:
            raise UsageError(f"{info.name} takes no arguments ({usage})")
        return {}
    if info.args is ReasonArgs:
        return {"reason": " ".join(words)} if words else {}
    if info.args is ResetArgs:
        if len(words) > 1:
            raise UsageError(usage)
        return {"breaker": words[0]} if words else {}
    if info.args is SetLimitArgs:
        if len(words) != 2:
            raise UsageError(usage)
        return {"name": words[0], "value": words[1]}
    raise UsageError(f"{info.name}: no command-line form")  # a catalog entry ctl lacks


def find_socket(socket: str | None, config_dir: str | None, state_dir: str | None) -> Path:
    """``--socket``, else the configuration's ``admin.socket``, else ``STATE_DIR/admin.sock``."""
    if socket:
        return Path(socket)
    admin = None
    if config_dir is not None:
        from algotrading.config import load_config

        section = getattr(load_config(config_dir).system, "admin", None)
        admin = section if isinstance(section, AdminConfig) else None
    return socket_path(admin, state_dir or "state")


# --- printing ------------------------------------------------------------------------------------


def _console(out: TextIO) -> Console:
    tty = out.isatty()
    return Console(file=out, width=None if tty else 120, highlight=False, no_color=not tty)


def render(command: str, result: dict[str, Any], console: Console) -> None:
    printer = _PRINTERS.get(command)
    if printer is not None:
        printer(result, console)
    elif "message" in result:
        console.print(escape(str(result["message"])), soft_wrap=True)
    else:
        console.print(_key_values(result))


def _status(r: dict[str, Any], c: Console) -> None:
    trading = r["trading"]
    colour = {"ACTIVE": "green", "REDUCING": "yellow", "HALTED": "red"}.get(trading["state"], "")
    c.print(
        f"session [bold]{r['session_id']}[/] ({escape(r['mode'])}), pid {r['pid']}, up "
        f"{_duration(r['uptime_s'])}{', STOPPING' if r['stopping'] else ''}"
    )
    reason = f" ({escape(trading['reason'])})" if trading["reason"] else ""
    c.print(f"trading [bold {colour}]{trading['state']}[/]{reason}")
    equity = "n/a" if r["equity"] is None else f"{r['equity']:,.2f} {r['currency']}"
    c.print(
        f"equity {equity}; {r['orders']} orders, {r['fills']} fills, {r['open_orders']} open; "
        f"{r['messages_handled']:,} messages handled"
    )
    feed = r["feed"]
    behind = "no data yet" if feed["behind_s"] is None else f"{feed['behind_s']:g}s behind"
    c.print(
        f"feed: {behind} (last bar {feed['last_event'] or '-'}), {feed['bars']:,} bars; "
        f"clock {r['clock']}"
    )
    actors = Table("actor", "restarts", "queue", "handled", "busy s", "escalated", title="actors")
    for a in r["actors"]:
        actors.add_row(
            a["name"], str(a["restarts"]), str(a["queue"]), f"{a['handled']:,}",
            f"{a['busy_s']:g}", "yes" if a["escalated"] else "",
        )  # fmt: skip
    c.print(actors)
    positions = Table("instrument", "quantity", title="positions")
    for symbol, quantity in r["positions"].items():
        positions.add_row(symbol, f"{quantity:+,g}")
    c.print(positions)
    if r["breakers"]:
        breakers = Table(
            "breaker", "state", "action", "reset", "figures", "reason", title="breakers"
        )
        for b in r["breakers"]:
            state = "[red]TRIPPED[/]" if b["tripped"] else "ok"
            figures = ", ".join(
                f"{k} {v:,.2f}" if isinstance(v, float) else f"{k} {v}"
                for k, v in b.get("figures", {}).items()
            )
            breakers.add_row(
                b["name"], state, b["action"], b["reset"], figures, escape(b["reason"])
            )
        c.print(breakers)
    if r["schedules"]:
        schedules = Table("job", "next run", title="schedules")
        for s in r["schedules"]:
            schedules.add_row(escape(s["name"]), s["next_run"] or "paused")
        c.print(schedules)
    limits = ", ".join(f"{k} {v:g}" for k, v in r["limits"].items() if v)
    c.print(f"risk limits: {limits or 'none'}")


def _positions(r: dict[str, Any], c: Console) -> None:
    table = Table("instrument", "quantity", "avg price", "price", "unrealized", "realized", "ccy")
    for p in r["positions"]:
        table.add_row(
            p["instrument"], f"{p['quantity']:+,g}", _num(p["avg_price"], 5),
            _num(p["price"], 5), _num(p["unrealized"]), _num(p["realized"]),
            p["quote_currency"],
        )  # fmt: skip
    c.print(table)


def _orders(r: dict[str, Any], c: Console) -> None:
    if not r["orders"]:
        c.print("no open orders")
        return
    table = Table("client id", "instrument", "side", "type", "quantity", "filled", "limit", "stop")
    for o in r["orders"]:
        table.add_row(
            o["client_order_id"], o["instrument"], o["side"], o["type"], f"{o['quantity']:,g}",
            _num(o["filled"], 0), _num(o["limit_price"], 5), _num(o["stop_price"], 5),
        )  # fmt: skip
    c.print(table)


def _pnl(r: dict[str, Any], c: Console) -> None:
    table = Table("", r.get("currency", ""), title="P&L")
    for key in ("equity", "balance", "unrealized", "realized", "day", "margin_used", "commission"):
        if key in r:
            table.add_row(key, _num(r[key]))
    c.print(table)
    if r.get("day_since"):
        c.print(f"day P&L since {r['day_since']}")


def _help(r: dict[str, Any], c: Console) -> None:
    table = Table("command", "arguments", "what it does")
    for cmd in r["commands"]:
        table.add_row(cmd["name"], escape(cmd["usage"]), escape(cmd["summary"]))
    c.print(table)


def _reload(r: dict[str, Any], c: Console) -> None:
    c.print(escape(r["message"]), soft_wrap=True)


_PRINTERS = {
    "status": _status,
    "positions": _positions,
    "orders": _orders,
    "pnl": _pnl,
    "help": _help,
    "reload-config": _reload,
}


def _key_values(result: dict[str, Any]) -> Table:
    table = Table("key", "value")
    for key, value in result.items():
        text = value if isinstance(value, str) else json.dumps(value)
        table.add_row(escape(str(key)), escape(text))
    return table


def _num(value: float | None, decimals: int = 2) -> str:
    return "-" if value is None else f"{value:,.{decimals}f}"


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{seconds:.1f}s"
    h, rest = divmod(s, 3600)
    return f"{h}h {rest // 60:02d}m" if h else f"{rest // 60}m {rest % 60:02d}s"
