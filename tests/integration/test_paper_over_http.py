"""Paper trading as two processes: the sim-exchange server speaking OANDA v20 over HTTP, and the
daemon trading through the OANDA adapter against it — orders with client ids, fills from the
transaction stream, the kill switch over the wire, and faults the adapter rides out."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from algotrading.config import load_config
from algotrading.daemon.app import run_daemon
from algotrading.daemon.control import Control
from algotrading.messages import Command

TOKEN = "test-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def v20(url: str, path: str, method: str = "GET", body: dict | None = None) -> dict:
    request = urllib.request.Request(
        url + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture
def server(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "ALGOTRADING_SIM_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "algotrading",
            "sim-exchange",
            "--port",
            str(port),
            "--state-dir",
            str(tmp_path / "sim"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    account = None
    while time.monotonic() < deadline and account is None:
        try:
            account = v20(url, "/v3/accounts")["accounts"][0]["id"]
        except OSError:
            time.sleep(0.2)
    assert account, proc.stderr.read() if proc.poll() is not None else "server did not start"
    yield url, account
    proc.terminate()
    proc.wait(timeout=10)


def daemon_config(tmp_path, url):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "system.yaml").write_text(
        "venue:\n  kind: oanda\n  oanda: {environment: custom, rest_url: "
        f"'{url}'}}\n"
        "strategy:\n  params: {fast: 2, slow: 4}\n"
        "  exits: {stop_loss: {pips: 50}}\n"
    )
    return load_config(conf)


def test_the_daemon_trades_through_the_v20_adapter_and_the_kill_switch_empties_the_account(
    tmp_path, server, monkeypatch
):
    url, account = server
    monkeypatch.setenv("ALGOTRADING_OANDA_TOKEN", TOKEN)
    config = daemon_config(tmp_path, url)
    control = Control()
    runtimes = []

    async def main():
        daemon = asyncio.create_task(
            run_daemon(
                config,
                tmp_path / "state",
                duration_s=90,
                control=control,
                on_started=lambda s, r: runtimes.append(r),
            )
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            positions = await asyncio.to_thread(v20, url, f"/v3/accounts/{account}/openPositions")
            pending = await asyncio.to_thread(v20, url, f"/v3/accounts/{account}/pendingOrders")
            if positions["positions"] and pending["orders"]:
                break
            await asyncio.sleep(0.3)
        control.submit(Command(ts_event=0, name="kill", args={"reason": "test"}))
        await asyncio.sleep(4)
        runtimes[0].request_stop("test done")
        return await daemon

    summary = asyncio.run(main())
    assert summary.exit_code == 0
    assert summary.fills >= 1
    assert summary.trading_state == "HALTED"
    positions = v20(url, f"/v3/accounts/{account}/openPositions")["positions"]
    pending = v20(url, f"/v3/accounts/{account}/pendingOrders")["orders"]
    assert positions == []
    assert pending == []
    transactions = v20(url, f"/v3/accounts/{account}/transactions/sinceid?id=0")["transactions"]
    created = [t for t in transactions if t["type"] == "MARKET_ORDER"]
    ids = [t.get("clientExtensions", {}).get("id") for t in created]
    assert all(ids)
    assert len(ids) == len(set(ids))  # no client order id was ever sent twice
    assert any(t["type"] == "STOP_LOSS_ORDER" for t in transactions)  # brackets on fill
