"""The sim-exchange server over real sockets, driven by a plain aiohttp client the way a v20
client written against OANDA's documentation would drive OANDA: REST, both streams, faults,
a restart on the same state directory, and the command's graceful stop. Every test is bounded
by ``asyncio.timeout`` so that a hang fails fast."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from algotrading.config import load_config
from algotrading.sim.server.app import create_app, service_of
from algotrading.sim.server.service import SimExchangeService
from algotrading.sim.server.settings import AccountSettings, ServerSettings

TOKEN = "test-token"
PRICE = re.compile(r"^\d+\.\d{5}$")  # EUR_USD: displayPrecision 5
JPY_PRICE = re.compile(r"^\d+\.\d{3}$")


def bounded(seconds: float) -> Callable[[Callable[..., Awaitable[None]]], Any]:
    def wrap(test: Callable[..., Awaitable[None]]) -> Any:
        @functools.wraps(test)
        async def run(*args: Any, **kwargs: Any) -> None:
            async with asyncio.timeout(seconds):
                await test(*args, **kwargs)

        return run

    return wrap


@dataclass
class Sim:
    client: aiohttp.ClientSession
    base: str
    service: SimExchangeService
    account: str

    def url(self, path: str) -> str:
        return f"{self.base}/v3/accounts/{self.account}{path}"

    async def post_order(self, **order: Any) -> aiohttp.ClientResponse:
        body = {"type": "MARKET", "instrument": "EUR_USD", "units": "1000"} | order
        return await self.client.post(self.url("/orders"), json={"order": body})

    async def faults(self, **spec: Any) -> dict[str, Any]:
        response = await self.client.post(f"{self.base}/admin/faults", json=spec)
        assert response.status == 200, await response.text()
        result: dict[str, Any] = await response.json()
        return result


def config_dir(tmp: Path) -> Path:
    path = tmp / "config"
    path.mkdir(exist_ok=True)
    (path / "market.yaml").write_text("instruments: [EUR_USD, USD_JPY]\n")
    return path


@contextlib.asynccontextmanager
async def running(tmp: Path, state: str = "state", **settings: Any) -> AsyncIterator[Sim]:
    options: dict[str, Any] = {
        "token": TOKEN,
        "heartbeat_seconds": 0.3,
        "price_window_seconds": 0.25,
        "speed": 1.0,
    } | settings
    app = create_app(
        ServerSettings(config=load_config(config_dir(tmp)), state_dir=tmp / state, **options)
    )
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    service = service_of(app)
    try:
        async with aiohttp.ClientSession(headers=headers) as client:
            yield Sim(client, base, service, next(iter(service.accounts)))
    finally:
        await runner.cleanup()


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[Sim]:
    async with running(tmp_path) as server:
        yield server


async def lines(response: aiohttp.ClientResponse, seconds: float) -> list[tuple[float, dict]]:
    """Stream lines read for ``seconds``, each with its arrival time from the start."""
    out: list[tuple[float, dict]] = []
    start = time.monotonic()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            async for raw in response.content:
                out.append((time.monotonic() - start, json.loads(raw)))
    return out


# --- REST -----------------------------------------------------------------------------------


@bounded(10)
async def test_accounts_summary_and_instruments(sim: Sim):
    response = await sim.client.get(f"{sim.base}/v3/accounts")
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["RequestID"]
    assert await response.json() == {"accounts": [{"id": "101-001-0000001-001", "tags": []}]}
    summary = await (await sim.client.get(sim.url("/summary"))).json()
    account = summary["account"]
    assert (account["id"], account["currency"], account["balance"]) == (
        sim.account,
        "USD",
        "100000.0000",
    )
    assert account["openTradeCount"] == account["pendingOrderCount"] == 0
    assert summary["lastTransactionID"] == account["lastTransactionID"] == "0"
    instruments = await (await sim.client.get(sim.url("/instruments"))).json()
    by_name = {i["name"]: i for i in instruments["instruments"]}
    assert set(by_name) == {"EUR_USD", "USD_JPY"}
    assert (by_name["EUR_USD"]["displayPrecision"], by_name["EUR_USD"]["pipLocation"]) == (5, -4)
    assert by_name["USD_JPY"]["displayPrecision"] == 3
    pricing = await (await sim.client.get(sim.url("/pricing?instruments=EUR_USD,USD_JPY"))).json()
    assert {p["instrument"] for p in pricing["prices"]} == {"EUR_USD", "USD_JPY"}
    assert all(PRICE.match(p["bids"][0]["price"]) for p in pricing["prices"][:1])


@bounded(10)
async def test_market_order_fills_at_once_with_prices_as_strings(sim: Sim):
    response = await sim.post_order(units="1000")
    assert response.status == 201
    assert response.headers["Location"].endswith(f"/v3/accounts/{sim.account}/orders/1")
    body = await response.json()
    create, fill = body["orderCreateTransaction"], body["orderFillTransaction"]
    assert (create["type"], create["units"], create["timeInForce"]) == (
        "MARKET_ORDER",
        "1000",
        "FOK",
    )
    assert fill["type"] == "ORDER_FILL"
    assert PRICE.match(fill["price"])
    assert fill["tradeOpened"]["units"] == "1000"
    assert body["relatedTransactionIDs"] == ["1", "2"]
    jpy = await sim.post_order(instrument="USD_JPY", units="-100")
    assert JPY_PRICE.match((await jpy.json())["orderFillTransaction"]["price"])
    trades = (await (await sim.client.get(sim.url("/openTrades"))).json())["trades"]
    assert [(t["instrument"], t["currentUnits"]) for t in trades] == [
        ("USD_JPY", "-100"),
        ("EUR_USD", "1000"),
    ]
    position = (await (await sim.client.get(sim.url("/positions/EUR_USD"))).json())["position"]
    assert position["long"]["units"] == "1000"
    assert len((await (await sim.client.get(sim.url("/openPositions"))).json())["positions"]) == 2


@bounded(10)
async def test_limit_order_pending_then_cancelled_by_client_id(sim: Sim):
    response = await sim.post_order(type="LIMIT", price="1.00000", clientExtensions={"id": "lim-1"})
    body = await response.json()
    assert response.status == 201
    assert "orderFillTransaction" not in body
    got = await (await sim.client.get(sim.url("/orders/@lim-1"))).json()
    assert (got["order"]["state"], got["order"]["price"]) == ("PENDING", "1.00000")
    pending = await (await sim.client.get(sim.url("/pendingOrders"))).json()
    assert [o["id"] for o in pending["orders"]] == ["1"]
    cancelled = await sim.client.put(sim.url("/orders/@lim-1/cancel"))
    assert cancelled.status == 200
    assert (await cancelled.json())["orderCancelTransaction"]["reason"] == "CLIENT_REQUEST"
    got = await (await sim.client.get(sim.url("/orders/@lim-1"))).json()
    assert got["order"]["state"] == "CANCELLED"
    assert got["order"]["cancellingTransactionID"] == "2"
    assert (await (await sim.client.get(sim.url("/pendingOrders"))).json())["orders"] == []
    duplicate = await sim.post_order(type="LIMIT", price="1.0", clientExtensions={"id": "lim-1"})
    assert duplicate.status == 400
    error = await duplicate.json()
    assert error["errorCode"] == "CLIENT_ORDER_ID_ALREADY_EXISTS"
    assert error["orderRejectTransaction"]["type"] == "LIMIT_ORDER_REJECT"


@bounded(10)
@pytest.mark.parametrize("tif", ["IOC", "FOK"])
async def test_an_immediate_limit_away_from_the_market_is_cancelled_not_left_pending(
    sim: Sim, tif: str
):
    response = await sim.post_order(
        type="LIMIT", price="1.00000", timeInForce=tif, clientExtensions={"id": f"now-{tif}"}
    )
    assert response.status == 201, await response.text()
    body = await response.json()
    assert body["orderCreateTransaction"]["timeInForce"] == tif
    assert "orderFillTransaction" not in body
    got = await (await sim.client.get(sim.url(f"/orders/@now-{tif}"))).json()
    assert got["order"]["state"] == "CANCELLED"
    assert (await (await sim.client.get(sim.url("/pendingOrders"))).json())["orders"] == []


@bounded(10)
async def test_replace_a_pending_order_then_move_a_trades_stop(sim: Sim):
    await sim.post_order(type="STOP", price="1.50000", clientExtensions={"id": "stp"})
    replaced = await sim.client.put(
        sim.url("/orders/@stp"),
        json={"order": {"type": "STOP", "instrument": "EUR_USD", "units": "10", "price": "1.4"}},
    )
    assert replaced.status == 201
    assert replaced.headers["Location"].endswith("/orders/3")
    body = await replaced.json()
    assert body["orderCancelTransaction"]["reason"] == "CLIENT_REQUEST_REPLACED"
    assert (body["orderCreateTransaction"]["price"], body["relatedTransactionIDs"]) == (
        "1.40000",
        ["2", "3"],
    )
    quote = sim.service.market.latest["EUR_USD"]
    opened = await (await sim.post_order(stopLossOnFill={"distance": "0.01000"})).json()
    trade_id = opened["orderFillTransaction"]["tradeOpened"]["tradeID"]
    trade = (await (await sim.client.get(sim.url(f"/trades/{trade_id}"))).json())["trade"]
    stop_id = trade["stopLossOrder"]["id"]
    stop = quote.bid - 0.005
    moved = await sim.client.put(
        sim.url(f"/orders/{stop_id}"),
        json={"order": {"type": "STOP_LOSS", "tradeID": trade_id, "price": f"{stop:.5f}"}},
    )
    assert moved.status == 201
    new_stop = (await moved.json())["orderCreateTransaction"]
    trade = (await (await sim.client.get(sim.url(f"/trades/{trade_id}"))).json())["trade"]
    assert trade["stopLossOrder"]["id"] == new_stop["id"]
    closed = await sim.client.put(sim.url(f"/trades/{trade_id}/close"), json={"units": "ALL"})
    assert closed.status == 200
    body = await closed.json()
    assert body["orderFillTransaction"]["reason"] == "MARKET_ORDER_TRADE_CLOSE"
    since = await sim.client.get(sim.url(f"/transactions/sinceid?id={new_stop['id']}"))
    after = (await since.json())["transactions"]
    assert [(t["type"], t.get("reason")) for t in after] == [
        ("MARKET_ORDER", "TRADE_CLOSE"),
        ("ORDER_FILL", "MARKET_ORDER_TRADE_CLOSE"),
        ("ORDER_CANCEL", "LINKED_TRADE_CLOSED"),
    ]


@bounded(10)
async def test_unknown_orders_get_v20_not_found_bodies(sim: Sim):
    missing = await sim.client.get(sim.url("/orders/@nobody"))
    assert missing.status == 404
    assert missing.headers["Content-Type"] == "application/json"
    assert await missing.json() == {
        "errorCode": "NO_SUCH_ORDER",
        "errorMessage": "The order ID specified does not exist",
        "lastTransactionID": "0",
    }
    cancel = await sim.client.put(sim.url("/orders/42/cancel"))
    assert cancel.status == 404
    assert (await cancel.json())["errorCode"] == "ORDER_DOESNT_EXIST"
    wrong_account = await sim.client.get(f"{sim.base}/v3/accounts/101-001-9999999-001/summary")
    assert wrong_account.status == 403


@bounded(10)
async def test_requests_without_the_token_get_401(sim: Sim):
    async with aiohttp.ClientSession() as anonymous:
        for path in ("/v3/accounts", sim.url("/summary")[len(sim.base) :], "/admin/faults"):
            response = await anonymous.get(sim.base + path)
            assert response.status == 401
            assert response.headers["Content-Type"] == "application/json"
            assert await response.json() == {
                "errorMessage": "Insufficient authorization to perform request."
            }
        wrong = await anonymous.get(
            f"{sim.base}/v3/accounts", headers={"Authorization": "Bearer nope"}
        )
        assert wrong.status == 401


@bounded(10)
async def test_bracket_on_fill_and_sinceid(sim: Sim):
    quote = sim.service.market.latest["EUR_USD"]
    response = await sim.post_order(
        units="2000",
        takeProfitOnFill={"price": f"{quote.ask + 0.01:.5f}"},
        stopLossOnFill={"distance": "0.00500"},
    )
    body = await response.json()
    assert body["relatedTransactionIDs"] == ["1", "2", "3", "4"]
    since = await (await sim.client.get(sim.url("/transactions/sinceid?id=1"))).json()
    assert [t["type"] for t in since["transactions"]] == [
        "ORDER_FILL",
        "TAKE_PROFIT_ORDER",
        "STOP_LOSS_ORDER",
    ]
    assert since["lastTransactionID"] == "4"
    assert all(t["tradeID"] == "2" for t in since["transactions"][1:])
    trade = (await (await sim.client.get(sim.url("/trades/2"))).json())["trade"]
    assert trade["takeProfitOrder"]["state"] == "PENDING"
    assert trade["stopLossOrder"]["type"] == "STOP_LOSS"
    beyond = await sim.client.get(sim.url("/transactions/sinceid?id=9"))
    assert beyond.status == 416
    unix = await sim.client.get(
        sim.url("/transactions/sinceid?id=3"), headers={"Accept-Datetime-Format": "UNIX"}
    )
    assert re.match(r"^\d{10}\.\d{9}$", (await unix.json())["transactions"][0]["time"])


@bounded(10)
async def test_candles_from_the_prices_seen(tmp_path: Path):
    async with running(tmp_path, speed=600.0) as sim:  # ten minutes of data a second
        await asyncio.sleep(0.6)
        response = await sim.client.get(
            f"{sim.base}/v3/instruments/EUR_USD/candles?granularity=M1&price=BA&count=3"
        )
        body = await response.json()
        assert (body["instrument"], body["granularity"]) == ("EUR_USD", "M1")
        candles = body["candles"]
        assert len(candles) == 3
        assert [c["complete"] for c in candles] == [True, True, False]
        assert set(candles[0]) == {"time", "volume", "complete", "bid", "ask"}
        assert PRICE.match(candles[0]["bid"]["o"])
        s5 = await sim.client.get(sim.url("/instruments/EUR_USD/candles?granularity=S5"))
        assert "mid" in (await s5.json())["candles"][0]
        h1 = await sim.client.get(f"{sim.base}/v3/instruments/EUR_USD/candles?granularity=H1")
        assert len((await h1.json())["candles"]) == 1
        too_many = await sim.client.get(
            f"{sim.base}/v3/instruments/EUR_USD/candles?granularity=M1&count=5001"
        )
        assert too_many.status == 400
        assert await too_many.json() == {"errorMessage": "Maximum value for 'count' exceeded"}


@bounded(10)
async def test_several_accounts_each_with_its_own_engine(tmp_path: Path):
    accounts = (
        AccountSettings(alias="main"),
        AccountSettings(id="101-001-0000002-001", currency="EUR", balance=5000.0),
    )
    async with running(tmp_path, accounts=accounts) as sim:
        listed = await (await sim.client.get(f"{sim.base}/v3/accounts")).json()
        assert [a["id"] for a in listed["accounts"]] == [sim.account, "101-001-0000002-001"]
        assert (await sim.post_order(units="1000")).status == 201
        other = f"{sim.base}/v3/accounts/101-001-0000002-001/summary"
        summary = (await (await sim.client.get(other)).json())["account"]
        assert (summary["currency"], summary["balance"], summary["openTradeCount"]) == (
            "EUR",
            "5000.0000",
            0,
        )
        assert summary["lastTransactionID"] == "0"
        main = (await (await sim.client.get(sim.url("/summary"))).json())["account"]
        assert (main["alias"], main["openTradeCount"]) == ("main", 1)


# --- streams --------------------------------------------------------------------------------


@bounded(10)
async def test_price_stream_sends_at_most_four_prices_a_second_and_heartbeats(tmp_path: Path):
    async with running(tmp_path, speed=30.0) as sim:  # ~130 quotes a second per instrument
        response = await sim.client.get(sim.url("/pricing/stream?instruments=EUR_USD,USD_JPY"))
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert response.headers["Transfer-Encoding"] == "chunked"
        got = await lines(response, 1.6)
    prices = [(t, line) for t, line in got if line["type"] == "PRICE"]
    beats = [line for _, line in got if line["type"] == "HEARTBEAT"]
    assert len(beats) >= 4
    assert set(beats[0]) == {"type", "time"}
    for instrument in ("EUR_USD", "USD_JPY"):
        times = [t for t, line in prices if line["instrument"] == instrument]
        assert 4 <= len(times) <= 1.6 * 4 + 2  # the snapshot, then one per 250 ms window
        gaps = [b - a for a, b in itertools.pairwise(times[1:])]  # after the snapshot
        assert min(gaps) > 0.15
    first = prices[0][1]
    assert set(first) >= {"type", "instrument", "time", "bids", "asks", "closeoutBid", "status"}
    assert first["tradeable"] is True


@bounded(10)
async def test_transaction_stream_gets_fills_and_heartbeats(sim: Sim):
    response = await sim.client.get(sim.url("/transactions/stream"))
    assert response.status == 200
    await asyncio.sleep(0.05)
    await sim.post_order(units="500")
    got = [line for _, line in await lines(response, 0.8)]
    kinds = [line["type"] for line in got]
    assert kinds[:2] == ["MARKET_ORDER", "ORDER_FILL"]
    fill = got[1]
    assert (fill["units"], fill["orderID"]) == ("500", "1")
    beats = [line for line in got if line["type"] == "HEARTBEAT"]
    assert beats
    assert beats[-1]["lastTransactionID"] == "2"
    assert set(beats[-1]) == {"type", "lastTransactionID", "time"}


# --- faults ---------------------------------------------------------------------------------


@bounded(10)
async def test_dropped_price_stream_is_closed_under_the_client(sim: Sim):
    response = await sim.client.get(sim.url("/pricing/stream?instruments=EUR_USD"))
    await response.content.readline()
    await sim.faults(drop_streams="pricing")
    with pytest.raises(aiohttp.ClientPayloadError):
        await asyncio.wait_for(response.read(), 2)
    again = await sim.client.get(sim.url("/pricing/stream?instruments=EUR_USD"))
    assert json.loads(await again.content.readline())["type"] == "PRICE"  # reconnecting works
    again.close()


@bounded(10)
async def test_stalled_price_stream_sends_nothing_not_even_heartbeats(sim: Sim):
    response = await sim.client.get(sim.url("/pricing/stream?instruments=EUR_USD"))
    await response.content.readline()
    await sim.faults(stall_streams={"stream": "pricing", "seconds": 1.2})
    got = await lines(response, 2.2)
    times = [t for t, _ in got]
    assert times
    assert times[0] > 1.0  # a gap of the stall, heartbeats included
    assert any(line["type"] == "HEARTBEAT" for _, line in got)
    response.close()


@bounded(10)
async def test_order_delay_and_forced_rejects(sim: Sim):
    await sim.faults(order_delay_ms=300, reject_orders={"count": 1, "reason": "MARKET_HALTED"})
    start = time.monotonic()
    rejected = await sim.post_order()
    assert time.monotonic() - start >= 0.3
    assert rejected.status == 400
    body = await rejected.json()
    assert body["errorCode"] == "MARKET_HALTED"
    assert body["orderRejectTransaction"]["rejectReason"] == "MARKET_HALTED"
    assert (await sim.post_order()).status == 201
    await sim.client.delete(f"{sim.base}/admin/faults")
    start = time.monotonic()
    assert (await sim.post_order()).status == 201
    assert time.monotonic() - start < 0.3
    state = await (await sim.client.get(f"{sim.base}/admin/faults")).json()
    assert any(h.get("kind") == "reject_order" for h in state["history"])


@bounded(10)
async def test_injected_http_errors_then_recovery(sim: Sim):
    await sim.faults(http_errors={"status": 503, "count": 2})
    statuses = [(await sim.client.get(sim.url("/summary"))).status for _ in range(3)]
    assert statuses == [503, 503, 200]
    await sim.faults(http_errors={"status": 429, "fraction": 1.0})
    limited = await sim.client.get(sim.url("/summary"))
    assert limited.status == 429
    assert limited.headers["Content-Type"] == "application/json"
    assert "errorMessage" in await limited.json()
    await sim.client.delete(f"{sim.base}/admin/faults")
    assert (await sim.client.get(sim.url("/summary"))).status == 200
    bad = await sim.client.post(f"{sim.base}/admin/faults", json={"meteor": True})
    assert bad.status == 400


@bounded(10)
async def test_response_cut_mid_body(sim: Sim):
    await sim.faults(cut_responses={"count": 1})
    response = await sim.client.get(sim.url("/summary"))
    with pytest.raises(aiohttp.ClientPayloadError):
        await response.read()
    assert (await sim.client.get(sim.url("/summary"))).status == 200


@bounded(10)
async def test_shutdown_ends_open_streams_cleanly(tmp_path: Path):
    app = create_app(
        ServerSettings(config=load_config(config_dir(tmp_path)), state_dir=tmp_path, token=TOKEN)
    )
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/v3/accounts/101-001-0000001-001"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as client:
        prices = await client.get(f"{url}/pricing/stream?instruments=EUR_USD")
        transactions = await client.get(f"{url}/transactions/stream")
        await prices.content.readline()
        stopping = asyncio.create_task(runner.cleanup())
        await prices.read()  # the end of the chunked body: no error
        await transactions.read()
        await stopping


# --- restart --------------------------------------------------------------------------------


@bounded(15)
async def test_restart_keeps_accounts_orders_positions_and_ids(tmp_path: Path):
    async with running(tmp_path) as sim:
        await sim.post_order(units="3000", clientExtensions={"id": "entry"})
        await sim.post_order(type="LIMIT", price="1.00000", clientExtensions={"id": "rest"})
        await sim.post_order(units="-1000")
        before = (await (await sim.client.get(sim.url("/summary"))).json())["account"]
        data_time = sim.service.now_ns()
    async with running(tmp_path) as sim:
        after = (await (await sim.client.get(sim.url("/summary"))).json())["account"]
        for key in ("id", "balance", "pl", "openTradeCount", "pendingOrderCount"):
            assert after[key] == before[key]
        assert after["lastTransactionID"] == before["lastTransactionID"] == "5"
        assert sim.service.now_ns() >= data_time  # the clock goes on from where it was
        trades = (await (await sim.client.get(sim.url("/openTrades"))).json())["trades"]
        assert [(t["id"], t["currentUnits"]) for t in trades] == [("2", "2000")]
        pending = await (await sim.client.get(sim.url("/orders/@rest"))).json()
        assert pending["order"]["state"] == "PENDING"
        assert [o.limit_price for o in sim.service.accounts[sim.account].exchange.working_orders()]
        response = await sim.post_order(units="1", clientExtensions={"id": "entry"})
        rejected = await response.json()
        assert rejected["errorCode"] == "CLIENT_ORDER_ID_ALREADY_EXISTS"
        assert rejected["orderRejectTransaction"]["id"] == "6"  # ids go on where they were
        response = await sim.post_order(units="1")
        assert (await response.json())["orderCreateTransaction"]["id"] == "7"
        cancel = await sim.client.put(sim.url("/orders/@rest/cancel"))
        assert cancel.status == 200


# --- the command ----------------------------------------------------------------------------

COMMAND = """
import argparse, sys
from algotrading.sim.server.cli import add_sim_exchange_parser, run_sim_exchange_command
parser = argparse.ArgumentParser()
add_sim_exchange_parser(parser.add_subparsers(dest="command"))
sys.exit(run_sim_exchange_command(parser.parse_args(sys.argv[1:])))
"""


def test_command_serves_and_stops_gracefully_on_sigterm(tmp_path: Path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "ALGOTRADING_SIM_TOKEN": TOKEN}
    process = subprocess.Popen(
        [
            *(sys.executable, "-c", COMMAND, "sim-exchange", "--port", "0", "--speed", "5"),
            *("--state-dir", str(tmp_path / "state")),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", first)
        assert match, first
        assert process.stdout.readline().startswith("account 101-001-0000001-001")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert (tmp_path / "state" / "sim-exchange.sqlite").is_file()
