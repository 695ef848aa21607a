"""Every bad input gets a clear answer: a table of hundreds of malformed requests (wrong types,
NaN/inf/huge/negative/empty/nested values for every field of every endpoint, bodies that are
not JSON, headers that make no sense) against a real server on loopback. Each answer is a 4xx
with an ``errorMessage`` (or a 2xx where the value was valid), never a 5xx; the server never
logs ``request_failed`` (its last resort for bugs), keeps running, and after a restart on the
same state still serves prices. Also: the lock on ``--state-dir``, the listen backlog, and a
stop that does not wait for an injected order delay."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import SIM_TOKEN, run_cli, sim_server
from tests.integration.test_sim_exchange_server import Sim, bounded, running

BAD_VALUES: list[Any] = [
    None, "", " ", [], ["LIMIT"], {}, {"a": {"b": [1]}}, True, False, 0, -1, "-1", 1.5,
    "NaN", "Infinity", "-Infinity", "1e400", "1e999999999", "1e-999999999", 1e308, -1e308,
    10**30, "9" * 100, "0x10", "1_000", "\u0661\u0662\u0663", "\uff11", "\u0000", "\ud7ff",
    "é" * 300, "x" * 5000,
    [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]],
]  # fmt: skip
ORDER_FIELDS = [
    "type", "instrument", "units", "price", "priceBound", "timeInForce", "gtdTime",
    "positionFill", "triggerCondition", "clientExtensions", "tradeClientExtensions",
    "takeProfitOnFill", "stopLossOnFill", "trailingStopLossOnFill", "distance", "tradeID",
]  # fmt: skip
LEG_FIELDS = ["price", "distance", "timeInForce", "clientExtensions", "guaranteed"]
BAD_BODIES: list[bytes] = [
    b"[" * 5000, b"{" * 5000, b'{"order":' * 5000, b"\xff\xfe\x00{", b"{'a': 1}", b"hello",
    b'{"order": {"units": NaN}}', b'{"order": {"units": 1e999}}', b'{"order": 1, "order": 2}',
    b'{"order": {"instrument": "\\ud800"}}', b"1" * 5000, b'{"order": {', b"null", b"[]",
    b'"order"', b"123", b"\x00" * 100, b'{"order": {"type": "LIMIT"}}' + b" " * 10,
    b'{"order": ' + b"[" * 40 + b"]" * 40 + b"}",
]  # fmt: skip


def base_orders(mid: float, trade_id: str) -> dict[str, dict[str, Any]]:
    price = f"{mid:.5f}"
    return {
        "MARKET": {"type": "MARKET", "instrument": "EUR_USD", "units": "1"},
        "LIMIT": {"type": "LIMIT", "instrument": "EUR_USD", "units": "1", "price": price},
        "STOP": {"type": "STOP", "instrument": "EUR_USD", "units": "-1", "price": price},
        "TAKE_PROFIT": {"type": "TAKE_PROFIT", "tradeID": trade_id, "price": price},
        "TRAILING_STOP_LOSS": {
            "type": "TRAILING_STOP_LOSS",
            "tradeID": trade_id,
            "distance": "0.00500",
        },
    }


class Checker:
    """Sends requests and records every answer that breaks the rule."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.failures: list[str] = []
        self.count = 0

    async def send(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> int:
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        async with self.sim.client.request(
            method, self.sim.base + path, data=data, headers=headers, params=params
        ) as response:
            text = await response.text(errors="replace")
        self.count += 1
        what = f"{method} {path} {params or ''} {(raw or data or b'')[:120]!r}"
        if response.status >= 500:
            self.failures.append(f"{response.status} for {what}: {text[:200]}")
        elif response.status >= 400:
            try:
                message = json.loads(text).get("errorMessage")
            except (ValueError, AttributeError):
                message = None
            if not isinstance(message, str) or not message:
                self.failures.append(f"{response.status} without errorMessage for {what}")
        else:
            _check_finite(json.loads(text), what, self.failures)
        return response.status


def _check_finite(value: Any, what: str, failures: list[str]) -> None:
    """Every number a 2xx answer holds (as JSON or as a v20 decimal string) is finite."""
    if isinstance(value, dict):
        for item in value.values():
            _check_finite(item, what, failures)
    elif isinstance(value, list):
        for item in value:
            _check_finite(item, what, failures)
    elif isinstance(value, float) and not math.isfinite(value):
        failures.append(f"non-finite {value} in the answer to {what}")
    elif isinstance(value, str) and value in ("inf", "-inf", "nan"):  # as Python formats them
        failures.append(f"non-finite {value!r} in the answer to {what}")


async def open_trade(sim: Sim) -> str:
    response = await sim.post_order(units="100000", clientExtensions={"id": "fuzz-trade"})
    assert response.status == 201, await response.text()
    return str((await response.json())["orderFillTransaction"]["tradeOpened"]["tradeID"])


async def mid_of(sim: Sim) -> float:
    response = await sim.client.get(sim.url("/pricing"), params={"instruments": "EUR_USD"})
    price = (await response.json())["prices"][0]
    return (float(price["bids"][0]["price"]) + float(price["asks"][0]["price"])) / 2


async def fuzz_orders(check: Checker, sim: Sim, trade_id: str) -> None:
    account = f"/v3/accounts/{sim.account}"
    mid = await mid_of(sim)
    for kind, base in base_orders(mid, trade_id).items():
        for field, value in itertools.product(ORDER_FIELDS, BAD_VALUES):
            if kind != "MARKET" and field in ("takeProfitOnFill", "trailingStopLossOnFill"):
                continue  # the legs are fuzzed once, below
            await check.send("POST", f"{account}/orders", body={"order": base | {field: value}})
    for leg, field, value in itertools.product(
        ("takeProfitOnFill", "stopLossOnFill", "trailingStopLossOnFill"), LEG_FIELDS, BAD_VALUES
    ):
        order = base_orders(mid, trade_id)["MARKET"] | {leg: {"price": f"{mid:.5f}", field: value}}
        await check.send("POST", f"{account}/orders", body={"order": order})
    for body in (None, [], "order", {"order": []}, {"order": "MARKET"}, {"x": 1}, {"order": None}):
        await check.send("POST", f"{account}/orders", body=body)


async def fuzz_changes(check: Checker, sim: Sim, trade_id: str) -> None:
    """Replace, cancel, trade close and position close."""
    account = f"/v3/accounts/{sim.account}"
    mid = await mid_of(sim)
    pending = {"type": "LIMIT", "instrument": "EUR_USD", "units": "1", "price": f"{mid / 2:.5f}"}
    pending["clientExtensions"] = {"id": "fuzz-pending"}
    assert await check.send("POST", f"{account}/orders", body={"order": pending}) == 201
    for field, value in itertools.product(("units", "price", "type", "timeInForce"), BAD_VALUES):
        body = {"order": pending | {field: value}}
        await check.send("PUT", f"{account}/orders/@fuzz-pending", body=body)
    for specifier in (
        "",
        "abc",
        "-1",
        "0",
        "9" * 30,
        "@",
        "@" + "x" * 500,
        "1e400",
        "%00",
        "\u0661",
    ):
        await check.send("PUT", f"{account}/orders/{specifier}/cancel")
        await check.send("GET", f"{account}/orders/{specifier}")
        await check.send("GET", f"{account}/trades/{specifier}")
        await check.send("PUT", f"{account}/trades/{specifier}/close", body={"units": "1"})
        await check.send("GET", f"{account}/transactions/{specifier}")
    for value in BAD_VALUES:
        await check.send("PUT", f"{account}/trades/{trade_id}/close", body={"units": value})
        body = {"longUnits": value, "shortUnits": "NONE"}
        await check.send("PUT", f"{account}/positions/EUR_USD/close", body=body)
        body = {"longUnits": "NONE", "shortUnits": value}
        await check.send("PUT", f"{account}/positions/EUR_USD/close", body=body)
    for instrument in ("XXX_YYY", "eur_usd", "EUR_USD%00", "x" * 300):
        await check.send("PUT", f"{account}/positions/{instrument}/close", body={"longUnits": "1"})


QUERY_VALUES = [
    "", "-1", "0", "abc", "1e400", "NaN", "9" * 40, "\u0661\u0662", "2300-01-01T00:00:00Z",
    "\u0000", "1.5", "true", "x" * 2000, "2024-13-45T99:99:99Z",
]  # fmt: skip
CANDLE_PARAMS = [
    "granularity", "count", "from", "to", "price", "dailyAlignment", "alignmentTimezone",
    "includeFirst", "smooth",
]  # fmt: skip


async def fuzz_queries(check: Checker, sim: Sim) -> None:
    account = f"/v3/accounts/{sim.account}"
    candles = "/v3/instruments/EUR_USD/candles"
    for name, value in itertools.product(CANDLE_PARAMS, QUERY_VALUES):
        await check.send("GET", candles, params={name: value})
    for tz in ("America", "../../etc/passwd", "UTC/", "x" * 300):
        await check.send("GET", candles, params={"granularity": "D", "alignmentTimezone": tz})
    late, early = "2030-01-01T00:00:00Z", "2020-01-01T00:00:00Z"
    status = await check.send("GET", candles, params={"from": late, "to": early})
    assert status == 400  # v20: from after to
    for name, value in itertools.product(("state", "count", "ids", "beforeID"), QUERY_VALUES):
        await check.send("GET", f"{account}/orders", params={name: value})
        await check.send("GET", f"{account}/trades", params={name: value})
    for value in QUERY_VALUES:
        await check.send("GET", f"{account}/transactions/sinceid", params={"id": value})
        await check.send("GET", f"{account}/pricing", params={"instruments": value})
        params = {"instruments": "EUR_USD", "since": value}
        await check.send("GET", f"{account}/pricing", params=params)


FAULT_FIELDS = {
    "order_delay_ms": lambda v: v,
    "stall_streams": lambda v: {"stream": "pricing", "seconds": v},
    "reject_orders": lambda v: {"count": v},
    "http_errors": lambda v: {"status": v, "count": 1},
    "http_errors.fraction": lambda v: {"fraction": v},
    "http_errors.seed": lambda v: {"count": 1, "seed": v},
    "cut_responses": lambda v: {"method": v},
    "drop_streams": lambda v: v,
}


async def fuzz_faults(check: Checker, sim: Sim) -> None:
    for (field, wrap), value in itertools.product(FAULT_FIELDS.items(), BAD_VALUES):
        name = field.split(".")[0]
        status = await check.send("POST", "/admin/faults", body={name: wrap(value)})
        if status == 200:  # a valid value: switch it off again before the next request
            assert await check.send("DELETE", "/admin/faults") == 200
    for value in (math.nan, math.inf, 1e308, 60_001):  # Python's json writes NaN/Infinity
        raw = json.dumps({"order_delay_ms": value}).encode()
        assert await check.send("POST", "/admin/faults", raw=raw) == 400
    assert sim.service.faults.order_delay_ms == 0.0


async def fuzz_bodies_and_headers(check: Checker, sim: Sim, trade_id: str) -> None:
    account = f"/v3/accounts/{sim.account}"
    paths = [
        ("POST", f"{account}/orders"),
        ("PUT", f"{account}/orders/@fuzz-pending"),
        ("PUT", f"{account}/trades/{trade_id}/close"),
        ("PUT", f"{account}/positions/EUR_USD/close"),
        ("POST", "/admin/faults"),
    ]
    for (method, path), raw in itertools.product(paths, BAD_BODIES):
        status = await check.send(method, path, raw=raw)
        if status == 200 and path == "/admin/faults":
            await check.send("DELETE", "/admin/faults")
    huge = b'{"order": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    assert await check.send("POST", f"{account}/orders", raw=huge) == 413
    odd_headers = [
        {"Content-Type": "application/json; charset=nonsense"},
        {"Content-Type": "text/plain"},
        {"Content-Type": "application/json; charset=utf-16"},
        {"Accept-Datetime-Format": "MAYAN"},
        {"Accept-Datetime-Format": ""},
        {"Authorization": "Bearer " + "x" * 4000},
        {"Authorization": ""},
    ]
    order = json.dumps({"order": {"instrument": "EUR_USD", "units": "1"}}).encode()
    for headers in odd_headers:
        await check.send("POST", f"{account}/orders", raw=order, headers=headers)
        await check.send("GET", f"{account}/pricing?instruments=EUR_USD", headers=headers)


@bounded(240)
async def test_no_malformed_request_gets_a_5xx_and_the_server_survives_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(tmp_path, speed=50.0) as sim:
        bugs: list[str] = []
        original = sim.service.log.exception

        def record(*args: Any, **fields: Any) -> None:
            bugs.append(repr((args, fields)))
            original(*args, **fields)

        monkeypatch.setattr(sim.service.log, "exception", record)
        check = Checker(sim)
        trade_id = await open_trade(sim)
        await fuzz_orders(check, sim, trade_id)
        await fuzz_changes(check, sim, trade_id)
        await fuzz_queries(check, sim)
        await fuzz_faults(check, sim)
        await fuzz_bodies_and_headers(check, sim, trade_id)
        assert check.count > 2000
        assert not check.failures, "\n".join(check.failures[:40])
        assert not bugs, bugs[:5]
        prices_before = await sim.client.get(sim.url("/pricing"), params={"instruments": "EUR_USD"})
        assert prices_before.status == 200
    async with running(tmp_path, speed=50.0) as sim:
        first = (await (await sim.client.get(sim.url("/summary"))).json())["account"]
        assert first["openTradeCount"] >= 0
        times = []
        for _ in range(2):
            response = await sim.client.get(sim.url("/pricing"), params={"instruments": "EUR_USD"})
            assert response.status == 200
            times.append((await response.json())["prices"][0]["time"])
            await asyncio.sleep(1.0)
        assert times[1] > times[0], "the price feed froze after the restart"
        response = await sim.post_order(units="10")
        assert response.status == 201


@bounded(60)
async def test_orders_at_the_edges_of_the_band_are_accepted_and_survive_a_restart(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, speed=50.0) as sim:
        mid = await mid_of(sim)
        edges = [
            {"type": "LIMIT", "units": "1", "price": f"{mid / 9.99:.5f}"},
            {"type": "STOP", "units": "1", "price": f"{mid * 9.99:.5f}"},
            {"type": "LIMIT", "units": "-1", "price": f"{mid * 9.99:.5f}"},
            {"type": "MARKET", "units": "1000", "takeProfitOnFill": {"price": f"{mid * 9.9:.5f}"}},
            {"type": "MARKET", "units": "1000", "stopLossOnFill": {"distance": f"{mid * 0.8:.5f}"}},
            {"type": "MARKET", "units": "100000000"},
        ]
        for order in edges:
            response = await sim.post_order(**order)
            assert response.status in (201, 400), await response.text()
            assert "errorMessage" in await response.json() or response.status == 201
        for order in (
            {"type": "LIMIT", "units": "1", "price": "1e400"},
            {"type": "STOP", "units": "1", "price": f"{mid * 10.5:.5f}"},
            {"type": "MARKET", "units": "1", "takeProfitOnFill": {"price": "1e400"}},
            {"type": "MARKET", "units": "1e999999999"},
        ):
            response = await sim.post_order(**order)
            assert response.status == 400
            assert (await response.json())["errorCode"].endswith(("INVALID", "EXCEEDED"))
    async with running(tmp_path, speed=50.0) as sim:
        times = set()
        for _ in range(3):
            response = await sim.client.get(sim.url("/pricing"), params={"instruments": "EUR_USD"})
            times.add((await response.json())["prices"][0]["time"])
            await asyncio.sleep(0.6)
        assert len(times) > 1, "the price feed froze after the restart"


# --- the command: lock, backlog, stop ---------------------------------------------------------


def test_a_second_server_on_the_same_state_dir_refuses_to_start(tmp_path: Path) -> None:
    with sim_server(tmp_path):
        second = run_cli(
            "sim-exchange", "--port", "0", "--state-dir", str(tmp_path / "sim"), timeout=60
        )
    assert second.returncode == 2, second.stderr[-2000:]
    errors = [line for line in second.stderr.splitlines() if "error" in line]
    assert len(errors) == 1, second.stderr[-2000:]
    assert "in use by pid" in errors[0]


def test_five_hundred_simultaneous_connections_are_all_answered(tmp_path: Path) -> None:
    with sim_server(tmp_path) as server:
        port = int(server.url.rsplit(":", 1)[1])

        connect_seconds: list[float] = []

        async def one() -> str:
            started = time.monotonic()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            connect_seconds.append(time.monotonic() - started)
            writer.write(
                b"GET /v3/accounts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                + f"Authorization: Bearer {SIM_TOKEN}\r\n\r\n".encode()
            )
            await writer.drain()
            data = await reader.read()
            writer.close()
            return data.split(b"\r\n", 1)[0].decode()

        async def all_at_once() -> list[str | BaseException]:
            async with asyncio.timeout(60):
                return await asyncio.gather(*(one() for _ in range(500)), return_exceptions=True)

        answers = asyncio.run(all_at_once())
    bad = [a for a in answers if not (isinstance(a, str) and a.startswith("HTTP/1.1 200"))]
    assert not bad, f"{len(bad)} of 500 failed: {bad[:5]}"
    # a full accept queue drops SYNs (or resets): the client's retry comes a second later
    assert max(connect_seconds) < 0.9, sorted(connect_seconds)[-5:]


def test_a_stop_does_not_wait_for_an_injected_order_delay(tmp_path: Path) -> None:
    with sim_server(tmp_path) as server:
        server.call("/admin/faults", "POST", {"order_delay_ms": 60_000})
        order = {"order": {"type": "MARKET", "instrument": "EUR_USD", "units": "1"}}
        answers: list[Any] = []

        def submit() -> None:
            try:
                answers.append(server.call(f"/v3/accounts/{server.account}/orders", "POST", order))
            except (urllib.error.URLError, OSError) as exc:
                answers.append(exc)

        thread = threading.Thread(target=submit)
        thread.start()
        time.sleep(1.0)
        started = time.monotonic()
    stopped_in = time.monotonic() - started  # sim_server's exit: SIGTERM, exit 0 asserted
    thread.join(timeout=10)
    assert stopped_in < 10, stopped_in
    assert answers, "the delayed order got no answer"


def test_admin_faults_refuses_nan_with_a_400(tmp_path: Path) -> None:
    with sim_server(tmp_path) as server:
        request = urllib.request.Request(
            server.url + "/admin/faults",
            method="POST",
            data=b'{"order_delay_ms": NaN}',
            headers={"Authorization": f"Bearer {SIM_TOKEN}"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 400
        assert "errorMessage" in json.loads(refused.value.read())
        assert server.call("/admin/faults")["order_delay_ms"] == 0.0
