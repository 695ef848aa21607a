"""Paper trading as two processes: the sim-exchange server speaking OANDA v20 over HTTP, and the
daemon trading through the OANDA adapter against it — orders with client ids, fills from the
transaction stream, the kill switch over the wire, and faults the adapter rides out."""

from __future__ import annotations

import asyncio
import time

from algotrading.config import load_config
from algotrading.daemon.app import run_daemon
from algotrading.daemon.control import Control
from algotrading.messages import Command


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
    url, account, token = server.url, server.account, server.token
    monkeypatch.setenv("ALGOTRADING_OANDA_TOKEN", token)
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
            positions = await asyncio.to_thread(
                server.call, f"/v3/accounts/{account}/openPositions"
            )
            pending = await asyncio.to_thread(server.call, f"/v3/accounts/{account}/pendingOrders")
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
    positions = server.call(f"/v3/accounts/{account}/openPositions")["positions"]
    pending = server.call(f"/v3/accounts/{account}/pendingOrders")["orders"]
    assert positions == []
    assert pending == []
    transactions = server.call(f"/v3/accounts/{account}/transactions/sinceid?id=0")["transactions"]
    created = [t for t in transactions if t["type"] == "MARKET_ORDER"]
    ids = [t.get("clientExtensions", {}).get("id") for t in created]
    assert all(ids)
    assert len(ids) == len(set(ids))  # no client order id was ever sent twice
    assert any(t["type"] == "STOP_LOSS_ORDER" for t in transactions)  # brackets on fill


def test_faults_never_send_an_order_twice(tmp_path, server, monkeypatch):
    """Answers cut mid-body after the server took the order (the client cannot know whether
    it arrived), 5xx and 429 answers, dropped and stalled streams, slow order acks: every order
    whose fate is unknown is looked up by its client id before anything is sent again, so no
    client id reaches the venue twice, and the daemon's positions end equal to the venue's."""
    url, account, token = server.url, server.account, server.token
    monkeypatch.setenv("ALGOTRADING_OANDA_TOKEN", token)
    config = daemon_config(tmp_path, url)
    runtimes = []

    async def main():
        daemon = asyncio.create_task(
            run_daemon(
                config,
                tmp_path / "state",
                duration_s=90,
                on_started=lambda s, r: runtimes.append(r),
            )
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            fills = await asyncio.to_thread(
                server.call, f"/v3/accounts/{account}/transactions/sinceid?id=0"
            )
            if any(t["type"] == "ORDER_FILL" for t in fills["transactions"]):
                break
            await asyncio.sleep(0.3)
        await asyncio.to_thread(
            server.call,
            "/admin/faults",
            "POST",
            {
                "cut_responses": {"count": 3, "method": "POST"},
                "drop_streams": "all",
                "http_errors": {"status": 503, "count": 2},
            },
        )
        await asyncio.sleep(10)
        await asyncio.to_thread(server.call, "/admin/faults", "DELETE")
        await asyncio.to_thread(  # then 429s and slow order acks ...
            server.call,
            "/admin/faults",
            "POST",
            {"http_errors": {"status": 429, "count": 3}, "order_delay_ms": 800},
        )
        await asyncio.sleep(10)
        await asyncio.to_thread(  # ... and a price stream that stalls past the dead time
            server.call,
            "/admin/faults",
            "POST",
            {"stall_streams": {"stream": "pricing", "seconds": 11}},
        )
        await asyncio.sleep(14)
        await asyncio.to_thread(server.call, "/admin/faults", "DELETE")
        await asyncio.sleep(4)  # let the last orders settle
        runtimes[0].request_stop("test done")
        return await daemon

    summary = asyncio.run(main())
    assert summary.exit_code == 0
    history = server.call("/admin/faults")["history"]
    cut_posts = [
        h for h in history if h.get("kind") == "cut_response" and h["path"].endswith("/orders")
    ]
    assert cut_posts, "no order submission was cut: the scenario did not happen"
    kinds = {h.get("kind") for h in history}
    assert {"cut_response", "http_error", "order_delay"} <= kinds
    assert any(h["event"] == "stall_streams" for h in history)
    transactions = server.call(f"/v3/accounts/{account}/transactions/sinceid?id=0")["transactions"]
    ids = [
        t.get("clientExtensions", {}).get("id")
        for t in transactions
        if t["type"].endswith("ORDER")
        and t["type"] in ("MARKET_ORDER", "LIMIT_ORDER", "STOP_ORDER")
    ]
    assert len(ids) == len(set(ids))
    venue = {
        p["instrument"]: float(p["long"]["units"]) + float(p["short"]["units"])
        for p in server.call(f"/v3/accounts/{account}/openPositions")["positions"]
    }
    ours = {k: v for k, v in summary.positions.items() if v}
    assert ours == venue


def test_after_a_restart_unacknowledged_orders_are_adopted_or_marked_never_sent(
    tmp_path, server, monkeypatch
):
    """Orders written ahead by a daemon that died before hearing back: the one the venue has
    (by its client id) is adopted with its fill; the one it never got is marked never sent."""
    from algotrading.adapters.venue import build_venue
    from algotrading.config import load_config
    from algotrading.daemon.recovery import reconcile_at_start
    from algotrading.messages import Order, Side, VenueCursor
    from algotrading.state.store import StateStore

    url, account = server.url, server.account
    monkeypatch.setenv("ALGOTRADING_OANDA_TOKEN", server.token)
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "system.yaml").write_text(
        f"venue:\n  kind: oanda\n  oanda: {{environment: custom, rest_url: '{url}'}}\n"
    )
    config = load_config(conf)
    last = server.call(f"/v3/accounts/{account}/summary")["account"]["lastTransactionID"]
    store = StateStore.open(tmp_path / "state.sqlite")
    store.begin_session("old", "paper", {}, 0)
    # the dead daemon's books stood at the venue's transaction `last`
    store.append(VenueCursor(ts_event=1, venue="oanda", account=account, transaction_id=last))
    for cid in ("old-000001", "old-000002"):
        store.write_ahead(
            Order(ts_event=1, client_order_id=cid, strategy_id="s", instrument="EUR_USD",
                  side=Side.BUY, quantity=1_000)
        )  # fmt: skip
    store.flush()
    arrived = server.call(# the first one reached the venue just before the crash
f"/v3/accounts/{account}/orders", "POST",
        {"order": {"type": "MARKET", "instrument": "EUR_USD", "units": "1000",
                   "clientExtensions": {"id": "old-000001"}}},
    )  # fmt: skip
    assert "orderFillTransaction" in arrived

    async def resolve():
        venue = build_venue(config, ["EUR_USD"])
        await venue.connect()
        try:
            return await reconcile_at_start(store, venue)
        finally:
            await venue.close()

    result = asyncio.run(resolve())
    assert result.adopted == []  # written ahead: the books hold it already
    assert result.never_sent == ["old-000002"]
    assert [f.client_order_id for f in result.fills] == ["old-000001"]
    assert result.fills[0].strategy_id == "s"
    assert result.differences == []  # the fill explains the venue's position
    assert store.order("old-000001")["status"] == "FILLED"
    assert store.order("old-000002")["status"] == "REJECTED"
    assert "never_sent" in store.order("old-000002")["reason"]
    fills = store.fills("old-000001")
    assert [f["quantity"] for f in fills] == [1_000.0]
    assert store.positions()["EUR_USD"]["quantity"] == 1_000.0
    store.close()
