"""``algotrading ctl`` against a running paper daemon: every command, through the real admin
socket, with the daemon in this process (so the tests can look inside it) and, once, both as
real processes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from algotrading.config import load_config
from algotrading.daemon.app import DB_NAME, run_daemon
from algotrading.daemon.services import DaemonContext
from algotrading.messages import Command, decode_msgpack
from algotrading.ops.admin.catalog import COMMANDS
from algotrading.ops.admin.config import AdminConfig
from algotrading.ops.admin.service import AdminService
from algotrading.ops.ctl import add_ctl_parser, run_ctl_command

FAST = "feed: {speed: 600}\n"
BRACKETS = "strategy:\n  exits: {stop_loss: {pips: 40}, take_profit: {pips: 40}}\n"


@dataclass
class Daemon:
    socket: Path
    conf: Path
    state: Path
    session: Any
    runtime: Any
    task: asyncio.Task[Any]


async def wait_until(predicate: Callable[[], Any], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds}s waiting for {predicate}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def paper_daemon(
    tmp_path: Path, system_yaml: str = FAST, extra_services: tuple[Any, ...] = ()
) -> AsyncIterator[Daemon]:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "system.yaml").write_text(system_yaml)
    state = tmp_path / "state"
    seen: dict[str, Any] = {}
    admin = AdminService(AdminConfig(idle_timeout_seconds=2.0))
    task = asyncio.create_task(
        run_daemon(
            load_config(conf),
            state,
            duration_s=60,
            services=[*extra_services, admin],
            config_dir=conf,
            on_started=lambda session, runtime: seen.update(session=session, runtime=runtime),
        )
    )
    try:
        await wait_until(lambda: admin.server is not None or task.done())
        assert not task.done(), task.result()
        daemon = Daemon(state / "admin.sock", conf, state, seen["session"], seen["runtime"], task)
        await wait_until(lambda: daemon.session.ledger.n_fills > 0)
        yield daemon
    finally:
        if not task.done():
            seen["runtime"].request_stop("test done")
        await asyncio.wait_for(task, 15)


def admin_commands(state: Path) -> list[Command]:
    """The commands the admin socket handed in, as the journal recorded them."""
    db = sqlite3.connect(state / DB_NAME)
    try:
        rows = db.execute("SELECT body FROM journal WHERE kind = 'Command' ORDER BY seq")
        commands = [decode_msgpack(body) for (body,) in rows]
    finally:
        db.close()
    return [c for c in commands if c.request_id.startswith("admin:")]


def parse(*words: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="algotrading")
    add_ctl_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["ctl", *words])


async def ctl(daemon: Daemon | Path, *words: str) -> tuple[int, str, str]:
    """Run ``algotrading ctl --socket SOCKET WORDS...`` on a thread (the daemon runs on this
    loop); the exit status, stdout and stderr."""
    socket = daemon.socket if isinstance(daemon, Daemon) else daemon
    args = parse("--socket", str(socket), *words)
    out, err = io.StringIO(), io.StringIO()
    code = await asyncio.to_thread(run_ctl_command, args, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


async def ctl_json(daemon: Daemon, *words: str) -> dict[str, Any]:
    code, out, err = await ctl(daemon, "--json", *words)
    assert code == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


async def status(daemon: Daemon) -> dict[str, Any]:
    return await ctl_json(daemon, "status")


async def wait_for_status(
    daemon: Daemon, predicate: Callable[[dict[str, Any]], bool], seconds: float = 30.0
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        now = await status(daemon)
        if predicate(now):
            return now
        assert time.monotonic() < deadline, f"status never matched: {now}"
        await asyncio.sleep(0.05)


@pytest.mark.asyncio
async def test_read_commands_show_the_running_daemon(tmp_path):
    async with paper_daemon(tmp_path) as daemon:
        now = await status(daemon)
        code, out, err = await ctl(daemon, "status")
        assert code == 0, err
        assert f"session {now['session_id']} (paper)" in out
        assert "trading ACTIVE" in out
        for name in daemon.runtime.supervisor.actors:
            assert name in out

        assert now["mode"] == "paper"
        assert now["trading"]["state"] == "ACTIVE"
        assert {a["name"] for a in now["actors"]} == set(daemon.runtime.supervisor.actors)
        assert all(a["restarts"] == 0 for a in now["actors"])
        assert now["fills"] > 0
        assert now["orders"] >= now["fills"]
        assert now["messages_handled"] > now["fills"]
        assert now["feed"]["bars"] > 0
        assert now["feed"]["behind_s"] is not None
        assert now["feed"]["behind_s"] >= 0
        assert set(now["positions"]) == {"EUR_USD"}
        assert now["limits"]["max_order_quantity"] == 10_000_000.0
        assert now["schedules"] == []
        later = await status(daemon)
        assert later["uptime_s"] > now["uptime_s"]
        assert later["fills"] >= now["fills"]

        positions = (await ctl_json(daemon, "positions"))["positions"]
        assert [p["instrument"] for p in positions] == ["EUR_USD"]
        assert positions[0]["quote_currency"] == "USD"
        assert (await ctl(daemon, "positions"))[1].count("EUR_USD") == 1

        for order in (await ctl_json(daemon, "orders"))["orders"]:  # a market order, if any,
            assert order["instrument"] == "EUR_USD"  # waiting for its next quote
            assert order["client_order_id"].startswith(now["session_id"])
        code, out, _ = await ctl(daemon, "orders")
        assert code == 0
        assert "no open orders" in out or "client id" in out

        pnl = await ctl_json(daemon, "pnl")
        assert pnl["currency"] == "USD"
        assert pnl["equity"] == pytest.approx(pnl["balance"] + pnl["unrealized"])
        assert pnl["realized"] == pytest.approx(pnl["balance"] - 100_000.0)
        assert pnl["day"] is not None
        code, out, _ = await ctl(daemon, "pnl")
        assert code == 0
        assert "equity" in out
        assert "unrealized" in out

        listed = (await ctl_json(daemon, "help"))["commands"]
        assert [c["name"] for c in listed] == list(COMMANDS)
        assert "set-limit" in (await ctl(daemon, "help"))[1]


@pytest.mark.asyncio
async def test_status_shows_the_breakers_running_figures(tmp_path):
    breakers = (
        "risk:\n  breakers:\n"
        "    daily_loss: {limit: 1000000, action: halt, reset: auto}\n"
        "    max_drawdown: {limit: 0.9, action: halt, reset: manual}\n"
        "    consecutive_losses: {limit: 1000, action: reduce, reset: auto}\n"
    )
    async with paper_daemon(tmp_path, FAST + breakers) as daemon:
        now = await wait_for_status(
            daemon, lambda s: any(b["figures"].get("peak") for b in s["breakers"])
        )
        shown = {b["name"]: b for b in now["breakers"]}
        assert set(shown) == {"daily_loss", "max_drawdown", "consecutive_losses"}
        assert shown["daily_loss"]["figures"]["start_equity"] > 0
        assert shown["max_drawdown"]["figures"]["peak"] >= 100_000.0 - 1_000
        assert shown["consecutive_losses"]["figures"]["streak"] >= 0
        assert not any(b["tripped"] for b in shown.values())
        code, out, _ = await ctl(daemon, "status")
        assert code == 0
        assert "start_equity" in out
        assert "peak" in out


@pytest.mark.asyncio
async def test_pause_resume_halt_and_reset(tmp_path):
    async with paper_daemon(tmp_path) as daemon:
        code, out, _ = await ctl(daemon, "pause", "lunch", "break")
        assert code == 0
        assert "queued" in out
        paused = await wait_for_status(daemon, lambda s: s["trading"]["state"] == "REDUCING")
        assert paused["trading"]["reason"] == "lunch break"

        code, out, _ = await ctl(daemon, "resume")
        assert code == 0
        assert "queued" in out
        await wait_for_status(daemon, lambda s: s["trading"]["state"] == "ACTIVE")

        assert (await ctl(daemon, "halt"))[0] == 0
        await wait_for_status(daemon, lambda s: s["trading"]["state"] == "HALTED")
        code, _, err = await ctl(daemon, "pause")  # would loosen the halt
        assert code == 1
        assert "refused" in err
        assert "halted" in err
        await settle(daemon)
        orders = (await status(daemon))["orders"]
        await asyncio.sleep(0.5)  # the strategy keeps deciding; nothing new is sent
        assert (await status(daemon))["orders"] == orders

        code, out, _ = await ctl(daemon, "reset")
        assert code == 0
        assert "every breaker" in out
        code, _, err = await ctl(daemon, "reset", "no_such_breaker")
        assert code == 1
        assert "bad_argument" in err
        assert "no_such_breaker" in err
        assert (await ctl(daemon, "reset", "a", "b"))[0] == 2

        assert (await ctl(daemon, "resume"))[0] == 0
        await wait_for_status(daemon, lambda s: s["trading"]["state"] == "ACTIVE")
        await wait_for_status(daemon, lambda s: s["orders"] > orders)
    commands = admin_commands(daemon.state)
    assert [c.name for c in commands] == ["reduce", "resume", "halt", "reset", "resume"]
    assert commands[0].args == {"reason": "lunch break"}


async def settle(daemon: Daemon) -> None:
    """Wait until no order has been sent for 0.3 s: intents risk approved just before a halt
    still reach the venue after it."""
    ledger = daemon.session.ledger
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        sent = ledger.n_orders
        await asyncio.sleep(0.3)
        if ledger.n_orders == sent:
            return


async def halt_holding_a_bracket(daemon: Daemon) -> dict[str, Any]:
    """Trade until a position rests with its bracket, then halt; again if what was approved
    before the halt left nothing resting."""
    for _ in range(5):
        assert (await ctl(daemon, "resume"))[0] == 0
        await wait_for_status(
            daemon,
            lambda s: (
                s["trading"]["state"] == "ACTIVE"
                and s["open_orders"] > 0
                and s["positions"]["EUR_USD"] != 0
            ),
        )
        assert (await ctl(daemon, "halt"))[0] == 0
        await wait_for_status(daemon, lambda s: s["trading"]["state"] == "HALTED")
        await settle(daemon)
        now = await status(daemon)
        if now["open_orders"] > 0 and now["positions"]["EUR_USD"] != 0:
            return now
    raise AssertionError("the daemon never halted holding a position with a resting bracket")


@pytest.mark.asyncio
async def test_cancel_all_flatten_and_kill(tmp_path):
    async with paper_daemon(tmp_path, FAST + BRACKETS) as daemon:
        held = await halt_holding_a_bracket(daemon)
        orders = (await ctl_json(daemon, "orders"))["orders"]
        assert len(orders) == held["open_orders"]
        assert {o["client_order_id"][-3:] for o in orders} == {".sl", ".tp"}
        assert all(o["instrument"] == "EUR_USD" for o in orders)
        assert orders[0]["client_order_id"] in (await ctl(daemon, "orders"))[1]

        code, out, _ = await ctl(daemon, "cancel-all")
        assert code == 0
        assert "cancelled" in out
        cancelled = await wait_for_status(daemon, lambda s: s["open_orders"] == 0)
        assert cancelled["positions"] == held["positions"]  # cancelling closes nothing

        code, out, _ = await ctl(daemon, "flatten")
        assert code == 0
        assert "queued" in out
        await wait_for_status(daemon, lambda s: s["positions"]["EUR_USD"] == 0)

        await halt_holding_a_bracket(daemon)
        code, out, _ = await ctl(daemon, "kill", "operator", "test")
        assert code == 0
        assert "queued" in out
        killed = await wait_for_status(
            daemon,
            lambda s: (
                s["trading"]["reason"] == "operator test"
                and s["open_orders"] == 0
                and s["positions"]["EUR_USD"] == 0
            ),
        )
        assert killed["trading"]["state"] == "HALTED"
        await asyncio.sleep(0.5)
        still = await status(daemon)
        assert (still["open_orders"], still["positions"]["EUR_USD"]) == (0, 0)


@pytest.mark.asyncio
async def test_set_limit_and_reload_config(tmp_path):
    async with paper_daemon(tmp_path) as daemon:
        code, out, _ = await ctl(daemon, "set-limit", "max_open_orders", "7")
        assert code == 0
        assert "0 -> 7" in out
        await wait_for_status(daemon, lambda s: s["limits"]["max_open_orders"] == 7)
        assert (await ctl_json(daemon, "set-limit", "price_collar", "0.05"))["value"] == 0.05

        for words, problem in (
            (("max_open_orders", "1.5"), "expected an integer"),
            (("max_open_orders", "-1"), "expected a number >= 0"),
            (("max_order_quantity", "nan"), "expected a number >= 0 (0 turns it off)"),
            (("rate_window_seconds", "0"), "expected a number > 0"),
            (("max_order_quantity", "lots"), "expected a number"),
            (("no_such_limit", "1"), "unknown risk limit"),
        ):
            code, _, err = await ctl(daemon, "set-limit", *words)
            assert code == 1, words
            assert "bad_argument" in err, err
            assert problem in err, err
        assert (await ctl(daemon, "set-limit", "max_open_orders"))[0] == 2

        (daemon.conf / "system.yaml").write_text(FAST + "risk: {max_order_quantity: 50000}\n")
        code, out, err = await ctl(daemon, "reload-config")
        assert code == 0, err
        assert "max_order_quantity 10000000.0 -> 50000.0" in out
        live = await wait_for_status(daemon, lambda s: s["limits"]["max_order_quantity"] == 50_000)
        assert live["limits"]["max_open_orders"] == 0  # the file's value again
        assert live["limits"]["price_collar"] == 0.0

        (daemon.conf / "system.yaml").write_text(
            "feed: {speed: 60}\nrisk: {max_order_quantity: 40000}\n"
            "strategy: {params: {fast: 3, slow: 12}}\n"
        )
        code, _, err = await ctl(daemon, "reload-config")
        assert code == 1
        assert "need a restart" in err
        assert "system.feed.speed" in err
        assert "system.strategy.params.fast" in err

        (daemon.conf / "system.yaml").write_text(FAST + "risk: {max_order_quantity: [1}\n")
        code, _, err = await ctl(daemon, "reload-config")
        assert code == 1
        assert "system.yaml" in err
        assert "not valid YAML" in err

        (daemon.conf / "system.yaml").write_text(FAST + "risk: {max_order_quantity: .nan}\n")
        code, _, err = await ctl(daemon, "reload-config")
        assert code == 1
        assert "max_order_quantity" in err

        await asyncio.sleep(0.2)
        assert (await status(daemon))["limits"]["max_order_quantity"] == 50_000  # unchanged
        fills = daemon.session.ledger.n_fills
        await wait_until(lambda: daemon.session.ledger.n_fills > fills)  # and still trading
    commands = admin_commands(daemon.state)
    assert [c.name for c in commands] == ["set_limit"] * 3
    assert commands[0].args == {"max_open_orders": "7"}
    assert commands[2].args["max_order_quantity"] == "50000.0"


class SnapshotProvider:
    """Stands in for the snapshot service being built beside this one."""

    name = "snapshots"

    def __init__(self) -> None:
        self.taken = 0

    async def start(self, ctx: DaemonContext) -> None:
        async def snapshot() -> dict[str, Any]:
            self.taken += 1
            return {"snapshot_id": self.taken, "actors": sorted(ctx.runtime.supervisor.actors)}

        ctx.snapshot = snapshot

    async def stop(self) -> None:
        pass


@pytest.mark.asyncio
async def test_snapshot_refused_without_a_provider_then_shutdown(tmp_path):
    async with paper_daemon(tmp_path) as daemon:
        code, _, err = await ctl(daemon, "snapshot")
        assert code == 1
        assert "refused" in err
        assert "not available" in err
        code, out, _ = await ctl(daemon, "shutdown")
        assert code == 0
        assert "shutdown" in out
        summary = await asyncio.wait_for(daemon.task, 15)
    assert summary.exit_code == 0
    assert summary.reason == "admin: shutdown"
    assert not daemon.socket.exists()  # removed on the way out
    code, _, err = await ctl(daemon, "status")
    assert code == 3
    assert f"no daemon listening on {daemon.socket}" in err


@pytest.mark.asyncio
async def test_snapshot_through_the_context(tmp_path):
    provider = SnapshotProvider()
    async with paper_daemon(tmp_path, extra_services=(provider,)) as daemon:
        taken = await ctl_json(daemon, "snapshot")
        assert taken["snapshot_id"] == 1
        assert "risk" in taken["actors"]
        assert provider.taken == 1


@pytest.mark.asyncio
async def test_bad_usage_exits_2_and_sends_nothing(tmp_path):
    missing = tmp_path / "nothing-here.sock"
    code, _, err = await ctl(missing, "frobnicate")
    assert code == 2
    assert "unknown command 'frobnicate'" in err
    code, _, err = await ctl(missing, "status", "extra")
    assert code == 2
    assert "takes no arguments" in err
    with pytest.raises(SystemExit) as refused:  # by the parser, before run_ctl_command
        parse("--socket", str(missing), "--timeout", "0", "status")
    assert refused.value.code == 2
    code, _, err = await ctl(missing, "status")
    assert code == 3
    assert err.strip() == f"algotrading ctl: no daemon listening on {missing}"


def test_daemon_and_ctl_as_processes(tmp_path):
    """``algotrading run`` opens the admin socket by default; ``algotrading ctl`` finds it in
    the state directory."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    state = tmp_path / "state"
    out_path, err_path = tmp_path / "daemon.out", tmp_path / "daemon.err"
    with out_path.open("w") as out, err_path.open("w") as err:  # a pipe nobody reads would fill
        daemon = subprocess.Popen(
            [sys.executable, "-m", "algotrading", "run", "--state-dir", str(state),
             "--speed", "600", "--duration", "60"],
            stdout=out, stderr=err, env=env,
        )  # fmt: skip

    def run_ctl(*words: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "algotrading", "ctl", "--state-dir", str(state), *words],
            capture_output=True, text=True, timeout=30, env=env,
        )  # fmt: skip

    try:
        deadline = time.monotonic() + 30
        while not (state / "admin.sock").exists():
            assert daemon.poll() is None, err_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "no admin socket"
            time.sleep(0.05)
        assert (state / "admin.sock").stat().st_mode & 0o777 == 0o600
        shown = run_ctl("status")
        assert shown.returncode == 0, shown.stderr
        assert "trading ACTIVE" in shown.stdout
        raw = run_ctl("--json", "status")
        assert raw.returncode == 0, raw.stderr
        assert json.loads(raw.stdout)["pid"] == daemon.pid
        stop = run_ctl("shutdown")
        assert stop.returncode == 0, stop.stderr
        assert daemon.wait(timeout=20) == 0, err_path.read_text()[-3000:]
        assert "admin: shutdown" in out_path.read_text()
        gone = run_ctl("status")
        assert gone.returncode == 3
        assert "no daemon listening on" in gone.stderr
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
