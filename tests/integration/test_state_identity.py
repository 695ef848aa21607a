"""The books never diverge from the venue: paper sessions in a row on one state dir keep every
fill and end every order in the state its fills imply, and a daemon pointed at another venue
than its state's is refused before it sends anything."""

from __future__ import annotations

import os
import re
import sqlite3
from collections import defaultdict
from pathlib import Path

import pytest

from algotrading.messages import Fill, decode_msgpack
from tests.integration.conftest import run_cli

SUMMARY = re.compile(r"session (\S+) stopped .*?: (\d+) orders, (\d+) fills")
OPEN = ("PENDING_SUBMIT", "SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED")


def _paper_sessions(state: Path, n: int) -> list[tuple[str, int, int]]:
    logged = []
    for _ in range(n):
        done = run_cli("run", "--state-dir", str(state), "--speed", "600", "--duration", "4")
        assert done.returncode == 0, done.stderr[-3000:]
        session, orders, fills = SUMMARY.search(done.stdout).groups()
        logged.append((session, int(orders), int(fills)))
    return logged


def _check_books(state: Path, logged: list[tuple[str, int, int]]) -> None:
    conn = sqlite3.connect(f"file:{state / 'algotrading.sqlite'}?mode=ro", uri=True)
    journaled = [
        decode_msgpack(body)
        for (body,) in conn.execute("SELECT body FROM journal WHERE kind = 'Fill' ORDER BY seq")
    ]
    assert all(isinstance(f, Fill) for f in journaled)
    # a position the dead in-process venue took with it is booked flat by a marked entry
    journaled = [f for f in journaled if f.client_order_id != "reconciliation"]
    stored = {
        fid: (cid, qty)
        for fid, cid, qty in conn.execute("SELECT fill_id, client_order_id, quantity FROM fills")
        if cid != "reconciliation"
    }
    # every fill the sessions logged is in the fills table, once
    assert len(journaled) == sum(fills for _, _, fills in logged) == len(stored)
    assert {f.fill_id for f in journaled} == set(stored)
    assert conn.execute("SELECT count(*) FROM fill_conflicts").fetchone() == (0,)
    per_order: dict[str, float] = defaultdict(float)
    for cid, qty in stored.values():
        per_order[cid] += qty
    orders = conn.execute(
        "SELECT client_order_id, session_id, status, quantity, filled_quantity, reason FROM orders"
    ).fetchall()
    assert len(orders) == sum(n for _, n, _ in logged)
    for cid, session, status, quantity, filled, reason in orders:
        assert filled == pytest.approx(per_order.get(cid, 0.0)), cid
        # every order ends in the state its fills imply: none left open by an ended session
        assert status not in OPEN, (cid, session, status)
        assert (status == "FILLED") == (filled >= quantity - 1e-9), (cid, status, filled)
        if status == "CANCELLED":
            assert reason.startswith("venue_gone"), (cid, reason)
    conn.close()


def test_two_paper_sessions_in_a_row_keep_every_fill(tmp_path):
    state = tmp_path / "state"
    _check_books(state, _paper_sessions(state, 2))


@pytest.mark.slow
def test_many_paper_sessions_in_a_row_keep_every_fill(tmp_path):
    state = tmp_path / "state"
    _check_books(state, _paper_sessions(state, 3 if os.environ.get("CI") else 20))


def _oanda_config(tmp_path: Path, url: str) -> Path:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "system.yaml").write_text(
        "venue:\n  kind: oanda\n  oanda: {environment: custom, rest_url: "
        f"'{url}'}}\nstrategy:\n  params: {{fast: 2, slow: 4}}\n"
    )
    return conf


def _orders_sent(server) -> list[dict]:
    txs = server.call(f"/v3/accounts/{server.account}/transactions/sinceid?id=0")
    return [t for t in txs["transactions"] if t["type"].endswith("ORDER") or "FILL" in t["type"]]


def test_a_daemon_on_another_venue_than_its_state_is_refused_and_sends_nothing(
    tmp_path, server, monkeypatch
):
    monkeypatch.setenv("ALGOTRADING_OANDA_TOKEN", server.token)
    state = tmp_path / "state"
    paper = run_cli("run", "--state-dir", str(state), "--speed", "600", "--duration", "2")
    assert paper.returncode == 0, paper.stderr[-3000:]
    conf = _oanda_config(tmp_path, server.url)
    refused = run_cli("run", "--config", str(conf), "--state-dir", str(state), "--duration", "3")
    assert refused.returncode == 2, refused.stderr[-3000:]
    (line,) = [x for x in refused.stderr.splitlines() if x.startswith("algotrading run: error")]
    assert "simulated venue (in-process)" in line
    assert f"oanda account {server.account} at {server.url}" in line
    assert "Traceback" not in refused.stderr
    assert _orders_sent(server) == []
    # the state is as it was: one session, bound to the in-process venue
    with sqlite3.connect(state / "algotrading.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM sessions").fetchone() == (1,)
        assert conn.execute("SELECT kind FROM venue_binding").fetchall() == [("simulated",)]

    # told to start fresh, it sets the old state aside and trades the new venue
    fresh = run_cli(
        "run", "--config", str(conf), "--state-dir", str(state), "--duration", "2",
        "--fresh-state",
    )  # fmt: skip
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    (kept,) = state.glob("algotrading-*.sqlite")
    assert "set aside" in fresh.stdout
    with sqlite3.connect(kept) as conn:
        assert conn.execute("SELECT count(*) FROM sessions").fetchone() == (1,)
    with sqlite3.connect(state / "algotrading.sqlite") as conn:
        bound = conn.execute("SELECT kind, endpoint, account FROM venue_binding").fetchall()
    assert bound == [("oanda", server.url, server.account)]
