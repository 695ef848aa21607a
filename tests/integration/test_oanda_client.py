"""``OandaClient`` and the stream loops against a real local HTTP server (aiohttp on 127.0.0.1,
a free port) that paces, fails, cuts answers in half, splits stream lines across chunks, goes
silent and refuses tokens. Every test is bounded by ``asyncio.timeout`` so a hang fails fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import traceback
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from structlog.testing import capture_logs

from algotrading.adapters.oanda.client import OandaClient, StreamDead, V20Error
from algotrading.adapters.oanda.streams import price_quotes, transaction_events
from algotrading.config import Secret
from algotrading.messages import Quote

TOKEN = "secret-token-123"
ACCOUNT = "101-004-1435156-001"
BASE = f"/v3/accounts/{ACCOUNT}"

# recorded in docs/adapters/oanda-v20-subset.md §5.1 [obs jiji2 #507]
MIT_REJECT_400 = json.loads(
    """
{"orderRejectTransaction":{"type":"MARKET_IF_TOUCHED_ORDER_REJECT","instrument":"USD_JPY","units":"300","price":"110.79999999999999","timeInForce":"GTC","triggerCondition":"DEFAULT","partialFill":"DEFAULT","positionFill":"DEFAULT","reason":"CLIENT_ORDER","rejectReason":"PRICE_PRECISION_EXCEEDED","id":"6864","accountID":"001-009-1939778-001","userID":1939778,"batchID":"6864","requestID":"78566986778195099","time":"2019-03-07T12:02:47.539716401Z"},
 "relatedTransactionIDs":["6864"],"lastTransactionID":"6864",
 "errorMessage":"The price specified contains more precision than is allowed for the instrument","errorCode":"PRICE_PRECISION_EXCEEDED"}
"""  # noqa: E501
)
# §3.2, recorded price stream lines [hn]
PRICE_LINE = b'{"type":"PRICE","time":"2016-10-27T08:38:43.094548890Z","bids":[{"price":"114.295","liquidity":1000000}],"asks":[{"price":"114.312","liquidity":1000000}],"closeoutBid":"114.291","closeoutAsk":"114.316","status":"tradeable","instrument":"EUR_JPY"}\n'  # noqa: E501
HEARTBEAT_LINE = b'{"type":"HEARTBEAT","time":"2016-10-27T08:38:44.327443673Z"}\n'
SUMMARY = {"account": {"id": ACCOUNT, "currency": "EUR", "balance": "35454.4740"}}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class V20Server:
    """A local v20 stand-in: routes are added per test, every call is counted and its headers
    kept; long-running (stream) handlers end when ``stop`` is set at teardown."""

    def __init__(self) -> None:
        self.app = web.Application()
        self.calls: Counter[str] = Counter()
        self.requests: list[tuple[float, str, dict[str, str], dict[str, str], Any]] = []
        self.peers: set[Any] = set()
        self.stop = asyncio.Event()
        self.url = ""
        self._runner: web.AppRunner | None = None

    def route(self, method: str, path: str, handler: Handler) -> None:
        async def counted(request: web.Request) -> web.StreamResponse:
            self.calls[f"{method} {path}"] += 1
            body = await request.text() if request.can_read_body else None
            self.requests.append(
                (time.monotonic(), request.path, dict(request.headers), dict(request.query), body)
            )
            self.peers.add(
                request.transport.get_extra_info("peername") if request.transport else None
            )
            return await handler(request)

        self.app.router.add_route(method, path, counted)

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self.url

    async def close(self) -> None:
        self.stop.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def chunked(self, chunks: list[bytes], then: str = "silent", gap: float = 0.02) -> Handler:
        """A stream answer: each chunk written on its own, then silence (or, with
        ``then="end"``, the end of the answer)."""

        async def handler(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
            await response.prepare(request)
            for chunk in chunks:
                await response.write(chunk)
                await asyncio.sleep(gap)  # separate chunks on the wire
            if then == "silent":
                await self.silent()
            return response

        return handler

    async def silent(self, seconds: float = 5.0) -> None:
        """Say nothing until the test ends (or ``seconds``)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), seconds)


@pytest.fixture
async def server() -> AsyncIterator[V20Server]:
    srv = V20Server()
    yield srv
    await srv.close()


@contextlib.asynccontextmanager
async def client_for(srv: V20Server, **options: Any) -> AsyncIterator[OandaClient]:
    url = srv.url or await srv.start()
    settings: dict[str, Any] = {
        "timeout_s": 2.0,
        "backoff_initial_s": 0.01,
        "backoff_max_s": 0.02,
        "connections_per_second": 1000.0,
        "seed": 3,
        **options,
    }
    client = OandaClient(url, url, ACCOUNT, Secret(TOKEN), **settings)
    try:
        yield client
    finally:
        await client.close()


def answer(data: Any, status: int = 200, **headers: str) -> Handler:
    async def handler(_: web.Request) -> web.Response:
        return web.json_response(data, status=status, headers=headers or None)

    return handler


def sequence(*handlers: Handler) -> Handler:
    """The n-th call gets the n-th handler; the last one answers every call after."""
    calls = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        return await handlers[min(calls, len(handlers)) - 1](request)

    return handler


async def cut_mid_body(request: web.Request) -> web.StreamResponse:
    """Headers promise 120 bytes of JSON; half a body arrives, then the connection is torn."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = 120
    await response.prepare(request)
    await response.write(b'{"account": {"id": "101-004-14351')
    await asyncio.sleep(0.01)
    assert request.transport is not None
    request.transport.abort()
    return response


def secrets_in(exc: BaseException) -> str:
    return str(exc) + repr(exc) + "".join(traceback.format_exception(exc))


# -- pacing ----------------------------------------------------------------------------------


async def test_requests_are_paced_evenly_without_bursts(server: V20Server) -> None:
    server.route("GET", BASE + "/summary", answer(SUMMARY))
    async with asyncio.timeout(10), client_for(server, requests_per_second=100) as client:
        await client.summary()  # the connection is open: only request pacing below
        server.requests.clear()
        start = time.monotonic()
        results = await asyncio.gather(*(client.summary() for _ in range(60)))
        elapsed = time.monotonic() - start
    assert all(r["id"] == ACCOUNT for r in results)
    assert elapsed >= 0.55, elapsed
    arrivals = sorted(r[0] for r in server.requests)
    assert len(arrivals) == 60
    # evenly spaced: never more than ~10 in any 100 ms (a late wake-up may pair two)
    for i, t in enumerate(arrivals):
        assert sum(1 for u in arrivals[i:] if u - t < 0.1) <= 12, i
    assert arrivals[-1] - arrivals[0] >= 0.5


async def test_new_connections_are_paced_at_two_per_second(server: V20Server) -> None:
    async def close_each(_: web.Request) -> web.Response:
        response = web.json_response(SUMMARY)
        response.force_close()  # "Connection: close": each request needs a new connection
        return response

    server.route("GET", BASE + "/summary", close_each)
    async with asyncio.timeout(10), client_for(server, connections_per_second=2) as client:
        start = time.monotonic()
        for _ in range(5):
            await client.summary()
        elapsed = time.monotonic() - start
        assert client.connections_opened == 5
    assert elapsed >= 1.9, elapsed
    assert len(server.peers) == 5
    arrivals = [r[0] for r in server.requests]
    assert all(b - a >= 0.45 for a, b in itertools.pairwise(arrivals)), arrivals


async def test_kept_alive_connection_is_reused_and_not_paced(server: V20Server) -> None:
    server.route("GET", BASE + "/summary", answer(SUMMARY))
    async with asyncio.timeout(10), client_for(server, connections_per_second=2) as client:
        start = time.monotonic()
        for _ in range(5):
            await client.summary()
        elapsed = time.monotonic() - start
        assert client.connections_opened == 1
    assert elapsed < 0.5, elapsed
    assert len(server.peers) == 1


# -- headers, retries, errors ----------------------------------------------------------------


async def test_requests_carry_the_v20_headers(server: V20Server) -> None:
    server.route("GET", BASE + "/summary", answer(SUMMARY))
    server.route("POST", BASE + "/orders", answer({"lastTransactionID": "1"}, status=201))
    async with asyncio.timeout(5), client_for(server) as client:
        await client.summary()
        await client.create_order({"type": "MARKET", "instrument": "EUR_USD", "units": "1"})
    for _, _, headers, _, _ in server.requests:
        assert headers["Authorization"] == f"Bearer {TOKEN}"
        assert headers["Content-Type"] == "application/json"
        assert headers["Accept-Datetime-Format"] == "RFC3339"
    post = server.requests[-1]
    assert post[1] == BASE + "/orders"
    assert json.loads(post[4]) == {
        "order": {"type": "MARKET", "instrument": "EUR_USD", "units": "1"}
    }


@pytest.mark.parametrize(
    "failure",
    [
        answer({"errorMessage": "unavailable"}, status=503),
        answer({"errorMessage": "Too many requests"}, status=429),
        cut_mid_body,
    ],
    ids=["503", "429", "cut-mid-body"],
)
async def test_get_is_retried_and_succeeds(server: V20Server, failure: Handler) -> None:
    server.route("GET", BASE + "/summary", sequence(failure, failure, answer(SUMMARY)))
    with capture_logs() as logs:
        async with asyncio.timeout(5), client_for(server) as client:
            summary = await client.summary()
    assert summary == SUMMARY["account"]
    assert server.calls[f"GET {BASE}/summary"] == 3
    retries = [e for e in logs if e["event"] == "request_retry"]
    assert len(retries) == 2
    assert all(e["method"] == "GET" for e in retries)


async def test_get_retries_are_bounded(server: V20Server) -> None:
    server.route("GET", BASE + "/summary", answer({"errorMessage": "down"}, status=503))
    async with asyncio.timeout(5), client_for(server, retries=2) as client:
        with pytest.raises(V20Error) as caught:
            await client.summary()
    assert caught.value.status == 503
    assert caught.value.code == "HTTP_503"
    assert server.calls[f"GET {BASE}/summary"] == 3


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (400, {"errorMessage": "Maximum value for 'count' exceeded"}, "HTTP_400"),
        (
            404,
            {
                "lastTransactionID": "1168",
                "errorMessage": "The order ID specified does not exist",
                "errorCode": "NO_SUCH_ORDER",
            },
            "NO_SUCH_ORDER",
        ),
        (401, {"errorMessage": "Insufficient authorization to perform request."}, "HTTP_401"),
    ],
)
async def test_get_client_errors_are_not_retried(
    server: V20Server, status: int, body: dict[str, Any], code: str
) -> None:
    server.route("GET", BASE + "/orders/{spec}", answer(body, status=status))
    async with asyncio.timeout(5), client_for(server) as client:
        with pytest.raises(V20Error) as caught:
            await client.order("@c-1")
    assert (caught.value.status, caught.value.code, caught.value.body) == (status, code, body)
    assert caught.value.message == body["errorMessage"]
    assert server.calls[f"GET {BASE}/orders/{{spec}}"] == 1


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (400, MIT_REJECT_400, "PRICE_PRECISION_EXCEEDED"),
        # a reject without errorCode: the code is the reject transaction's rejectReason
        (
            400,
            {
                "orderRejectTransaction": MIT_REJECT_400["orderRejectTransaction"],
                "errorMessage": "x",
            },
            "PRICE_PRECISION_EXCEEDED",
        ),
        (503, {"errorMessage": "unavailable"}, "HTTP_503"),
        (429, {"errorMessage": "Too many requests"}, "HTTP_429"),
    ],
)
async def test_post_is_never_retried_and_raises_v20_error(
    server: V20Server, status: int, body: dict[str, Any], code: str
) -> None:
    server.route("POST", BASE + "/orders", answer(body, status=status))
    async with asyncio.timeout(5), client_for(server) as client:
        with pytest.raises(V20Error) as caught:
            await client.create_order({"type": "MARKET", "instrument": "USD_JPY", "units": "300"})
    assert server.calls[f"POST {BASE}/orders"] == 1
    assert caught.value.status == status
    assert caught.value.code == code
    assert caught.value.body == body
    assert str(status) in str(caught.value)


async def test_post_cut_mid_body_is_not_retried(server: V20Server) -> None:
    server.route("POST", BASE + "/orders", cut_mid_body)
    async with asyncio.timeout(5), client_for(server) as client:
        with pytest.raises(aiohttp.ClientError):
            await client.create_order({"type": "MARKET", "instrument": "EUR_USD", "units": "1"})
    assert server.calls[f"POST {BASE}/orders"] == 1


async def test_put_cancel_is_not_retried(server: V20Server) -> None:
    not_there = {
        "errorMessage": "The Order specified does not exist",
        "errorCode": "ORDER_DOESNT_EXIST",
    }
    server.route("PUT", BASE + "/orders/{spec}/cancel", answer(not_there, status=404))
    server.route("PUT", BASE + "/orders/{spec}", answer({"errorMessage": "busy"}, status=503))
    async with asyncio.timeout(5), client_for(server) as client:
        with pytest.raises(V20Error) as caught:
            await client.cancel_order("@c-1")
        assert (caught.value.status, caught.value.code) == (404, "ORDER_DOESNT_EXIST")
        with pytest.raises(V20Error):
            await client.replace_order("@c-1", {"type": "LIMIT"})
    assert server.calls[f"PUT {BASE}/orders/{{spec}}/cancel"] == 1
    assert server.calls[f"PUT {BASE}/orders/{{spec}}"] == 1


# -- stream() --------------------------------------------------------------------------------


async def collect(stream: AsyncIterator[Any], into: list[Any]) -> None:
    async for item in stream:
        into.append(item)


async def test_stream_joins_split_lines_skips_garbage_and_dies_when_silent(
    server: V20Server,
) -> None:
    line = PRICE_LINE
    chunks = [
        line[:20],
        line[20:77],
        line[77:] + b"\n\r\n",  # blank lines
        b"not json at all\n",
        b"[1, 2]\n",  # JSON but not an object
        HEARTBEAT_LINE[:9],
        HEARTBEAT_LINE[9:] + PRICE_LINE,  # one chunk ends a line and holds the next
    ]
    server.route("GET", BASE + "/pricing/stream", server.chunked(chunks))
    items: list[dict[str, Any]] = []
    with capture_logs() as logs:
        async with asyncio.timeout(5), client_for(server) as client:
            start = time.monotonic()
            with pytest.raises(StreamDead, match="silent"):
                await collect(
                    client.stream("/pricing/stream", {"instruments": "EUR_JPY"}, dead_after=0.3),
                    items,
                )
            elapsed = time.monotonic() - start
    assert items == [
        json.loads(PRICE_LINE),
        json.loads(HEARTBEAT_LINE),
        json.loads(PRICE_LINE),
    ]
    assert 0.3 <= elapsed < 2.0
    rejected = [e for e in logs if e["event"] == "stream_line_rejected"]
    assert len(rejected) == 1
    assert server.requests[0][3] == {"instruments": "EUR_JPY"}


async def test_stream_dies_when_the_server_ends_it(server: V20Server) -> None:
    server.route("GET", BASE + "/transactions/stream", server.chunked([HEARTBEAT_LINE], "end"))
    items: list[dict[str, Any]] = []
    async with asyncio.timeout(5), client_for(server) as client:
        with pytest.raises(StreamDead, match="ended"):
            await collect(client.stream("/transactions/stream", dead_after=2.0), items)
    assert items == [json.loads(HEARTBEAT_LINE)]


async def test_stream_error_status_is_a_v20_error(server: V20Server) -> None:
    body = {"errorMessage": "Insufficient authorization to perform request."}
    server.route("GET", BASE + "/pricing/stream", answer(body, status=401))
    async with asyncio.timeout(5), client_for(server) as client:
        with pytest.raises(V20Error) as caught:
            await collect(client.stream("/pricing/stream", dead_after=1.0), [])
    assert (caught.value.status, caught.value.body) == (401, body)


# -- streams.price_quotes / transaction_events -----------------------------------------------


def price(t: str, bid: str, ask: str, instrument: str = "EUR_USD") -> bytes:
    item = {
        "type": "PRICE",
        "time": t,
        "bids": [{"price": bid, "liquidity": 1_000_000}],
        "asks": [{"price": ask, "liquidity": 1_000_000}],
        "status": "tradeable",
        "instrument": instrument,
    }
    return json.dumps(item).encode() + b"\n"


async def test_price_quotes_reconnect_after_drops_and_keep_yielding(server: V20Server) -> None:

    async def aborted(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(price("2024-01-08T08:00:01.000000000Z", "1.10001", "1.10011"))
        await asyncio.sleep(0.02)
        await response.write(b'{"type":"PRICE","time":"2024-01-08T')  # half a line, then cut
        await asyncio.sleep(0.02)
        assert request.transport is not None
        request.transport.abort()
        return response

    server.route(
        "GET",
        BASE + "/pricing/stream",
        sequence(
            # 1: one price, then the server ends the stream
            server.chunked([price("2024-01-08T08:00:00.000000000Z", "1.10000", "1.10010")], "end"),
            # 2: one price, then the connection is torn mid-line
            aborted,
            # 3: a heartbeat, an empty book, a price, and it stays
            server.chunked(
                [
                    HEARTBEAT_LINE,
                    price("2024-01-08T08:00:01.500000000Z", "1.1", "1.1").replace(
                        b'[{"price": "1.1", "liquidity": 1000000}]', b"[]", 1
                    ),
                    price("2024-01-08T08:00:02.000000000Z", "1.10002", "1.10012"),
                ]
            ),
        ),
    )
    quotes: list[Quote] = []
    with capture_logs() as logs:
        async with asyncio.timeout(5), client_for(server) as client:
            stream = price_quotes(client, ["EUR_USD", "USD_JPY"], clock=lambda: 42)
            async with contextlib.aclosing(stream):
                async for quote in stream:
                    quotes.append(quote)
                    if len(quotes) == 3:
                        break
    assert [(q.ts_event % 10**10, q.bid, q.ask) for q in quotes] == [
        (0, 1.1, 1.1001),
        (1_000_000_000, 1.10001, 1.10011),
        (2_000_000_000, 1.10002, 1.10012),
    ]
    assert all(q.ts_recv == 42 and q.instrument == "EUR_USD" for q in quotes)
    assert server.calls[f"GET {BASE}/pricing/stream"] == 3
    for _, _, headers, query, _ in server.requests:
        assert query == {"instruments": "EUR_USD,USD_JPY", "snapshot": "true"}
        assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert [e["event"] for e in logs].count("stream_lost") == 2


@pytest.mark.parametrize("status", [401, 404])
async def test_price_stream_auth_errors_are_raised_not_retried(
    server: V20Server, status: int
) -> None:
    body = {"errorMessage": "Insufficient authorization to perform request."}
    server.route("GET", BASE + "/pricing/stream", answer(body, status=status))
    async with asyncio.timeout(5), client_for(server) as client:
        with pytest.raises(V20Error) as caught:
            await collect(price_quotes(client, ["EUR_USD"]), [])
    assert caught.value.status == status
    assert server.calls[f"GET {BASE}/pricing/stream"] == 1


async def test_price_stream_5xx_is_retried(server: V20Server) -> None:
    server.route(
        "GET",
        BASE + "/pricing/stream",
        sequence(
            answer({"errorMessage": "down"}, status=503),
            server.chunked([price("2024-01-08T08:00:00.000000000Z", "1.1", "1.2")]),
        ),
    )
    async with asyncio.timeout(5), client_for(server) as client:
        stream = price_quotes(client, ["EUR_USD"])
        async with contextlib.aclosing(stream):
            quote = await anext(stream)
    assert (quote.bid, quote.ask) == (1.1, 1.2)
    assert server.calls[f"GET {BASE}/pricing/stream"] == 2


async def test_price_with_a_malformed_time_is_skipped(server: V20Server) -> None:
    bad = price("2024-01-08T08:00:00.000000000Z", "1.1", "1.2").replace(
        b"2024-01-08T08:00:00.000000000Z", b"bogus"
    )
    good = price("2024-01-08T08:00:01.000000000Z", "1.3", "1.4")
    server.route("GET", BASE + "/pricing/stream", server.chunked([bad, good]))
    async with asyncio.timeout(5), client_for(server) as client:
        stream = price_quotes(client, ["EUR_USD"])
        async with contextlib.aclosing(stream):
            quote = await anext(stream)
    assert (quote.bid, quote.ask) == (1.3, 1.4)


def tx_line(item: dict[str, Any]) -> bytes:
    return json.dumps(item).encode() + b"\n"


async def test_transaction_stream_announces_each_connect(server: V20Server) -> None:
    """Each (re)connection is announced before its first line: the venue actor fetches what
    the stream missed from its own cursor (the stream itself never skips or fetches)."""
    t = "2024-01-08T08:00:00.000000000Z"
    first = server.chunked(
        [tx_line({"type": "HEARTBEAT", "lastTransactionID": "3", "time": t})], "end"
    )
    second = server.chunked(
        [
            tx_line({"type": "HEARTBEAT", "lastTransactionID": "4", "time": t}),
            tx_line({"id": "5", "type": "ORDER_CANCEL", "orderID": "1", "time": t}),
        ]
    )
    server.route("GET", BASE + "/transactions/stream", sequence(first, second))
    kinds: list[str] = []
    async with asyncio.timeout(5), client_for(server) as client:
        stream = transaction_events(client)
        async with contextlib.aclosing(stream):
            async for event in stream:
                kinds.append(event.payload.get("id", event.payload["type"]))
                if event.payload.get("id") == "5":
                    break
    assert kinds == ["RECONNECTED", "HEARTBEAT", "RECONNECTED", "HEARTBEAT", "5"]
    assert not [r for r in server.requests if r[1].endswith("/sinceid")]


# -- the token -------------------------------------------------------------------------------


async def test_the_token_appears_in_no_log_repr_or_exception(server: V20Server) -> None:
    server.route(
        "GET",
        BASE + "/summary",
        sequence(answer({"errorMessage": "down"}, status=503), cut_mid_body, answer(SUMMARY)),
    )
    server.route("GET", BASE + "/openTrades", answer({"errorMessage": "down"}, status=502))
    server.route("POST", BASE + "/orders", answer(MIT_REJECT_400, status=400))
    server.route("PUT", BASE + "/orders/{spec}/cancel", cut_mid_body)
    server.route(
        "GET",
        BASE + "/pricing/stream",
        sequence(
            server.chunked([b"garbage\n", PRICE_LINE], "end"),
            answer({"errorMessage": "Insufficient authorization to perform request."}, 401),
        ),
    )
    server.route("GET", BASE + "/transactions/stream", server.chunked([HEARTBEAT_LINE]))
    raised: list[BaseException] = []
    with capture_logs() as logs:
        async with asyncio.timeout(10), client_for(server, retries=2) as client:
            assert TOKEN not in repr(client)
            assert TOKEN not in str(client)
            await client.summary()  # retried twice
            for call in (
                client.open_trades(),  # retries exhausted
                client.create_order({"type": "MARKET_IF_TOUCHED"}),  # 400 reject
                client.cancel_order("@c-1"),  # cut, not retried
                collect(price_quotes(client, ["EUR_JPY"]), []),  # garbage, drop, then 401
                collect(client.stream("/transactions/stream", dead_after=0.2), []),  # silent
            ):
                try:
                    await call
                except Exception as exc:
                    raised.append(exc)
        # a venue that cannot be reached at all
        dead = OandaClient(
            "http://127.0.0.1:9",
            "http://127.0.0.1:9",
            ACCOUNT,
            Secret(TOKEN),
            retries=1,
            backoff_initial_s=0.01,
            timeout_s=1.0,
        )
        async with asyncio.timeout(5), dead:
            try:
                await dead.summary()
            except Exception as exc:
                raised.append(exc)
    assert [type(e).__name__ for e in raised] == [
        "V20Error",
        "V20Error",
        "ClientPayloadError",
        "V20Error",
        "StreamDead",
        "ClientConnectorError",
    ]
    events = {e["event"] for e in logs}
    assert {"request_retry", "stream_line_rejected", "stream_lost"} <= events
    for exc in raised:
        assert TOKEN not in secrets_in(exc), exc
    for entry in logs:
        assert TOKEN not in repr(entry), entry
    # the token did go where it belongs
    assert all(r[2]["Authorization"] == f"Bearer {TOKEN}" for r in server.requests)
