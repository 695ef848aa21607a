"""Periodic reconciliation against the sim-exchange server. A trade made at the venue behind
the daemon's back (by hand, in the broker's web page) is booked from the transaction stream; an
order it does not know and a position of ours that drifted from the venue's (a lost event, a
bug) are found, alerted and resolved by rule — the venue's position is adopted, the unknown
order only reported — and nothing is sent to the venue."""

from __future__ import annotations

import asyncio
import sqlite3
import time

from algotrading.config import load_config
from algotrading.daemon.app import DB_NAME, run_daemon
from algotrading.messages import Alert, decode_msgpack
from algotrading.sim.accounting import PositionState


def test_a_trade_made_behind_the_daemons_back_is_found_and_its_position_adopted(
    tmp_path, server, monkeypatch
):
    monkeypatch.setenv("ALGOTRADING_OANDA_TOKEN", server.token)
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "system.yaml").write_text(
        f"venue:\n  kind: oanda\n  oanda: {{environment: custom, rest_url: '{server.url}'}}\n"
        "strategy:\n  params: {fast: 2, slow: 100000}\n"  # never trades by itself
        "state:\n  reconcile_every_seconds: 0.5\n"
    )
    config = load_config(conf)
    runtimes = []
    orders = f"/v3/accounts/{server.account}/orders"

    async def main():
        daemon = asyncio.create_task(
            run_daemon(
                config,
                tmp_path / "state",
                duration_s=60,
                on_started=lambda s, r: runtimes.append(r),
            )
        )
        while not runtimes:  # noqa: ASYNC110 - set by on_started
            await asyncio.sleep(0.1)
        await runtimes[0].running.wait()
        await asyncio.sleep(1.0)
        market = {"order": {"type": "MARKET", "instrument": "EUR_USD", "units": "1500"}}
        await asyncio.to_thread(server.call, orders, "POST", market)
        limit = {
            "order": {"type": "LIMIT", "instrument": "EUR_USD", "units": "100", "price": "0.50000"}
        }
        await asyncio.to_thread(server.call, orders, "POST", limit)
        manager = runtimes[0].actor("order_manager")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # the manual trade comes in by the stream
            if manager.book.get("EUR_USD", PositionState()).quantity == 1500:
                break
            await asyncio.sleep(0.2)
        assert manager.book["EUR_USD"].quantity == 1500
        manager.book["EUR_USD"] = PositionState(500.0, 1.1)  # our state drifts
        while time.monotonic() < deadline:
            if manager.book["EUR_USD"].quantity == 1500:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.3)
        assert runtimes[0].actor("risk").positions["EUR_USD"] == 1500  # risk heard it too
        runtimes[0].request_stop("test done")
        return await daemon

    summary = asyncio.run(main())
    assert summary.exit_code == 0
    assert summary.positions == {"EUR_USD": 1500.0}  # the venue's position, adopted
    db = sqlite3.connect(tmp_path / "state" / DB_NAME)
    alerts = [
        decode_msgpack(b) for (b,) in db.execute("SELECT body FROM journal WHERE kind = 'Alert'")
    ]
    texts = [
        a.text for a in alerts if isinstance(a, Alert) and a.code == "reconciliation_difference"
    ]
    assert any("EUR_USD: ours +500, venue +1500" in t for t in texts), texts
    assert any("at the venue, not ours: v20:" in t for t in texts), texts
    assert db.execute("SELECT count(*) FROM orders").fetchone()[0] == 0  # nothing sent
    pending = server.call(f"/v3/accounts/{server.account}/pendingOrders")["orders"]
    assert len(pending) == 1  # the unknown order is left alone
