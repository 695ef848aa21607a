"""Chaos: the daemon and the sim-exchange server as separate processes; the daemon is killed
with SIGKILL at random instants, several times in one session, and restarted each time (the
venue keeps trading its stops meanwhile). At the end: no client order id reached the venue
twice, every fill the venue made for our orders is in the daemon's store (none lost, even
those made while it was down), and the daemon's positions equal the venue's.

Smaller in CI (``CI=true``): fewer kills."""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pytest


@pytest.mark.slow
def test_kill_9_at_random_instants_loses_nothing_and_sends_nothing_twice(tmp_path, server):
    kills = 2 if os.environ.get("CI") else 5
    rng = random.Random(11)
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "system.yaml").write_text(
        f"venue:\n  kind: oanda\n  oanda: {{environment: custom, rest_url: '{server.url}'}}\n"
        "strategy:\n  params: {fast: 2, slow: 4}\n  exits: {stop_loss: {pips: 3}}\n"
    )
    env = {**os.environ, "ALGOTRADING_OANDA_TOKEN": server.token, "PYTHONUNBUFFERED": "1"}
    state = tmp_path / "state"

    def start(*extra: str, log: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "algotrading", "run", "--config", str(conf),
             "--state-dir", str(state), *extra],
            env=env, stdout=(tmp_path / f"{log}.out").open("w"),
            stderr=(tmp_path / f"{log}.err").open("w"), text=True,
        )  # fmt: skip

    for i in range(kills):
        proc = start(log=f"run{i}")
        time.sleep(rng.uniform(6.0, 10.0))  # start-up takes 2-3 s of it
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        time.sleep(rng.uniform(0.0, 2.0))  # down for a moment: the venue goes on
    last = start("--duration", "15", log="final")
    assert last.wait(timeout=60) == 0, (tmp_path / "final.err").read_text()[-3000:]

    transactions = server.call(f"/v3/accounts/{server.account}/transactions/sinceid?id=0")[
        "transactions"
    ]
    created = [
        t["clientExtensions"]["id"]
        for t in transactions
        if t["type"] in ("MARKET_ORDER", "LIMIT_ORDER", "STOP_ORDER") and t.get("clientExtensions")
    ]
    assert created, "the daemon never traded"
    assert len(created) == len(set(created))  # nothing sent twice

    db = sqlite3.connect(state / "algotrading.sqlite")
    ours = {cid for (cid,) in db.execute("SELECT client_order_id FROM orders")}
    recorded = {fid for (fid,) in db.execute("SELECT fill_id FROM fills")}
    venue_fills = [
        t for t in transactions if t["type"] == "ORDER_FILL" and t.get("clientOrderID") in ours
    ]
    assert venue_fills
    missing = [t["id"] for t in venue_fills if t["id"] not in recorded]
    assert missing == [], f"fills lost: {missing}"

    venue = {
        p["instrument"]: float(p["long"]["units"]) + float(p["short"]["units"])
        for p in server.call(f"/v3/accounts/{server.account}/openPositions")["positions"]
    }
    summary = (tmp_path / "final.out").read_text()
    held = {
        name: float(qty)
        for name, qty in re.findall(r"([A-Z0-9]+_[A-Z0-9]+) ([+-]?[0-9.e+]+)", summary)
    }
    assert {k: v for k, v in held.items() if v} == venue
