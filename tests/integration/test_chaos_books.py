"""Chaos on the books: the daemon and the sim-exchange server as separate processes, the
strategy trading with a stop-loss and a take-profit resting at the venue as legs, every order
held 150 ms by the venue, the transaction stream stalled now and then; the daemon is killed
with SIGKILL at random instants (while starting, while orders are in flight, while legs rest)
and restarted on its state directory, and the venue is killed and restarted on its own.

At the end the books equal the venue's own records: every fill the venue made is in the
daemon's ``fills`` table exactly once (legs' fills included, and those made while the daemon
was down), no client id reached the venue twice, the daemon's positions equal the venue's per
instrument, and the state file passes ``integrity_check``.

Smaller in CI (``CI=true``); ``CHAOS_KILLS`` sets the number of daemon kills locally."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import SIM_TOKEN, SimServer, free_port, v20
from tests.integration.conftest import daemon_process as _daemon


def _kills() -> tuple[int, int]:
    if os.environ.get("CHAOS_KILLS"):
        daemon = int(os.environ["CHAOS_KILLS"])
        return daemon, max(1, daemon // 10)
    return (8, 1) if os.environ.get("CI") else (24, 3)


class Venue:
    """The sim-exchange server on a fixed port and state directory, killable and restartable."""

    def __init__(self, tmp_path: Path, conf: Path) -> None:
        self.tmp_path = tmp_path
        self.conf = conf
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.account = ""

    def start(self) -> SimServer:
        env = {**os.environ, "ALGOTRADING_SIM_TOKEN": SIM_TOKEN, "PYTHONUNBUFFERED": "1"}
        log = (self.tmp_path / f"venue{self.starts}.log").open("w")
        self.starts += 1
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "algotrading", "sim-exchange", "--port", str(self.port),
             "--state-dir", str(self.tmp_path / "sim"), "--speed", "5",
             "--config", str(self.conf)],
            env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.account = v20(self.url, "/v3/accounts")["accounts"][0]["id"]
                break
            except OSError:
                time.sleep(0.1)
        assert self.account, "the venue did not start"
        self.faults({"order_delay_ms": 150})
        return SimServer(self.url, self.account)

    def faults(self, spec: dict) -> None:
        request = urllib.request.Request(
            self.url + "/admin/faults",
            method="POST",
            data=json.dumps(spec).encode(),
            headers={"Authorization": f"Bearer {SIM_TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5):
            pass

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@contextlib.contextmanager
def _venue(tmp_path: Path) -> Iterator[Venue]:
    conf = tmp_path / "venue-conf"
    conf.mkdir()
    (conf / "system.yaml").write_text("feed:\n  rate_hz: 1.0\n")  # a quote every s of data
    venue = Venue(tmp_path, conf)
    venue.start()
    try:
        yield venue
    finally:
        venue.stop()


def _conf(tmp_path: Path, venue: Venue, state: str) -> tuple[Path, dict[str, str]]:
    """The daemon's configuration against ``venue`` (sma_cross 2/4 on 5 s bars, a stop-loss
    and a take-profit 2 pips away resting at the venue), ``state`` its state section; and its
    environment."""
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "system.yaml").write_text(
        f"venue:\n  kind: oanda\n  oanda: {{environment: custom, rest_url: '{venue.url}'}}\n"
        "strategy:\n  params: {fast: 2, slow: 4}\n"
        "  exits: {stop_loss: {pips: 2}, take_profit: {pips: 2}}\n"
        f"state: {state}\n"
    )
    (conf / "market.yaml").write_text("bar_interval: 5s\n")
    env = {**os.environ, "ALGOTRADING_OANDA_TOKEN": SIM_TOKEN, "PYTHONUNBUFFERED": "1"}
    return conf, env


@pytest.mark.slow
def test_legs_resting_at_the_venue_kills_and_stalls_lose_no_fill(tmp_path):
    daemon_kills, venue_kills = _kills()
    rng = random.Random(15)
    with _venue(tmp_path) as venue:
        state_section = "{snapshot_every_seconds: 2.0, reconcile_every_seconds: 2.0}"
        conf, env = _conf(tmp_path, venue, state_section)
        state = tmp_path / "state"
        venue_kill_at = set(rng.sample(range(1, daemon_kills), venue_kills))
        for i in range(daemon_kills):
            proc = _daemon(tmp_path, conf, state, env, log=f"run{i}")
            time.sleep(rng.uniform(0.5, 5.0))  # while starting, or trading
            if i % 4 == 2:  # the transaction stream goes silent for a while
                venue.faults({"stall_streams": {"stream": "transactions", "seconds": 3}})
                time.sleep(rng.uniform(0.5, 3.0))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            if i in venue_kill_at:  # the venue too, while the daemon is down
                venue.kill()
                time.sleep(rng.uniform(0.0, 1.0))
                venue.start()
            time.sleep(rng.uniform(0.0, 1.5))  # down: the venue trades the legs on
        last = _daemon(tmp_path, conf, state, env, "--duration", "12", log="final")
        assert last.wait(timeout=90) == 0, (tmp_path / "final.err").read_text()[-3000:]

        server = SimServer(venue.url, venue.account)
        transactions = server.call(f"/v3/accounts/{venue.account}/transactions/sinceid?id=0")[
            "transactions"
        ]
        positions = server.call(f"/v3/accounts/{venue.account}/openPositions")["positions"]

    created = [
        t["clientExtensions"]["id"]
        for t in transactions
        if t["type"] in ("MARKET_ORDER", "LIMIT_ORDER", "STOP_ORDER") and t.get("clientExtensions")
    ]
    assert created, "the daemon never traded"
    assert [c for c, n in Counter(created).items() if n > 1] == []  # nothing sent twice
    refused = [t for t in transactions if t.get("rejectReason") == "CLIENT_ORDER_ID_ALREADY_EXISTS"]
    assert refused == []

    db = sqlite3.connect(state / "algotrading.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = db.execute("SELECT fill_id, client_order_id FROM fills").fetchall()
    recorded = Counter(fid for fid, _ in rows)
    venue_fills = [t for t in transactions if t["type"] == "ORDER_FILL"]
    legs = [t for t in venue_fills if str(t.get("clientOrderID", "")).endswith((".sl", ".tp"))]
    assert legs, "no leg filled: the test did not test the legs"
    lost = [t["id"] for t in venue_fills if recorded[t["id"]] == 0]
    assert lost == [], f"{len(lost)} of {len(venue_fills)} venue fills lost"
    assert [f for f, n in recorded.items() if n > 1] == []
    entries = [fid for fid, cid in rows if cid == "reconciliation"]
    assert entries == [], "a position no fill explains: the books lost something"

    venue_positions = {
        p["instrument"]: float(p["long"]["units"]) + float(p["short"]["units"]) for p in positions
    }
    ours = {i: q for i, q in db.execute("SELECT instrument, quantity FROM positions") if q}
    assert ours == {i: q for i, q in venue_positions.items() if q}


@pytest.mark.slow
def test_after_a_stream_stall_the_books_equal_the_venues_within_one_reconciliation(tmp_path):
    """The transaction stream goes silent while the strategy trades (legs fill at the venue,
    on prices, which only the stream would tell): within one reconciliation period after it
    recovers, every fill the venue had made by then is in the books."""
    stall_s = 12.0 if os.environ.get("CI") else 30.0
    every_s = 3.0
    with _venue(tmp_path) as venue:
        conf, env = _conf(tmp_path, venue, f"{{reconcile_every_seconds: {every_s}}}")
        state = tmp_path / "state"
        server = SimServer(venue.url, venue.account)
        since = f"/v3/accounts/{venue.account}/transactions/sinceid?id=0"
        proc = _daemon(tmp_path, conf, state, env, log="run")
        try:
            time.sleep(4.0)
            venue.faults({"stall_streams": {"stream": "transactions", "seconds": stall_s}})
            time.sleep(stall_s)
            at_recovery = [t for t in server.call(since)["transactions"]]
            time.sleep(every_s + 1.5)  # one period, and a moment for the check to run
            db = sqlite3.connect(f"file:{state / 'algotrading.sqlite'}?mode=ro", uri=True)
            recorded = {fid for (fid,) in db.execute("SELECT fill_id FROM fills")}
            db.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0, (tmp_path / "run.err").read_text()[-3000:]
        positions = server.call(f"/v3/accounts/{venue.account}/openPositions")["positions"]
        final = server.call(since)["transactions"]

    fills = [t["id"] for t in at_recovery if t["type"] == "ORDER_FILL"]
    assert fills, "the daemon never traded"
    missing = [f for f in fills if f not in recorded]
    assert missing == [], f"{len(missing)} of {len(fills)} fills not in the books"
    db = sqlite3.connect(state / "algotrading.sqlite")
    all_fills = {t["id"] for t in final if t["type"] == "ORDER_FILL"}
    ours = {fid for (fid,) in db.execute("SELECT fill_id FROM fills WHERE fill_id NOT LIKE 're%'")}
    assert ours == all_fills
    venue_positions = {
        p["instrument"]: float(p["long"]["units"]) + float(p["short"]["units"]) for p in positions
    }
    held = {i: q for i, q in db.execute("SELECT instrument, quantity FROM positions") if q}
    assert held == {i: q for i, q in venue_positions.items() if q}
