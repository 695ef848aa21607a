"""The websocket feed against a real local vendor: a websockets server on a free port that checks
the subscription, sends quotes and garbage, drops connections, goes silent, stops answering
pings. Each test is bounded by ``asyncio.timeout`` so a hang fails fast."""

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from http import HTTPStatus
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from algotrading.adapters.websocket_feed import (
    FeedRefused,
    QuoteMapping,
    WebsocketFeed,
    WebsocketFeedConfig,
)
from algotrading.messages import Quote


@pytest.fixture(autouse=True)
def _all_log_levels():
    """capture_logs sees only what the configured wrapper lets through; another test may have
    configured it to drop info events (configure_logging at warning). Start from structlog's
    defaults here, and put the configuration back after."""
    saved = structlog.get_config()
    structlog.reset_defaults()
    yield
    structlog.configure(**saved)


T_MS = 1704700800123  # 2024-01-08T08:00:00.123Z
SUBSCRIPTION = {"action": "subscribe", "symbols": "EURUSD,GBPUSD"}

Handler = Callable[[ServerConnection, int], Awaitable[None]]


@contextlib.asynccontextmanager
async def vendor(
    handler: Handler, refuse: Callable[[int], int] | None = None
) -> AsyncIterator[str]:
    """A vendor on 127.0.0.1 and a free port; ``handler`` gets each connection and its number
    (1, 2, ...). The server sends no pings of its own: those seen are the feed's. ``refuse``
    gives, for each handshake by number, an HTTP status to answer it with instead (0: accept).
    """
    count = 0
    handshakes = 0

    def process_request(connection: ServerConnection, request: Any) -> Any:
        nonlocal handshakes
        handshakes += 1
        status = refuse(handshakes) if refuse is not None else 0
        return connection.respond(HTTPStatus(status), "no\n") if status else None

    async def on_connect(ws: ServerConnection) -> None:
        nonlocal count
        count += 1
        with contextlib.suppress(ConnectionClosed):
            await handler(ws, count)

    async with serve(
        on_connect,
        "127.0.0.1",
        0,
        ping_interval=None,
        close_timeout=0.5,
        process_request=process_request,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/quotes?apikey=k"


def feed_config(url: str, **changes: Any) -> WebsocketFeedConfig:
    settings: dict[str, Any] = {
        "reconnect_initial_seconds": 0.05,
        "reconnect_max_seconds": 0.2,
        "close_timeout_seconds": 0.5,
        "seed": 1,
        **changes,
    }
    return WebsocketFeedConfig(
        url=url,
        symbols={"EUR_USD": "EURUSD", "GBP_USD": "GBPUSD"},
        subscribe=[{"action": "subscribe", "symbols": "{instruments}"}],
        mapping=QuoteMapping(
            instrument="s", bid="b", ask="a", time="t", filter_path="type", filter_value="quote"
        ),
        **settings,
    )


def quote(symbol: str, bid: object, ask: object, t_ms: int = T_MS) -> str:
    return json.dumps({"type": "quote", "s": symbol, "b": bid, "a": ask, "t": t_ms})


async def subscribed(ws: ServerConnection, seen: list[Any]) -> None:
    seen.append(json.loads(await ws.recv()))


def _nothing(count: int) -> None:
    pass


async def collect(
    feed: WebsocketFeed, n: int, on_quote: Callable[[int], None] = _nothing
) -> list[Quote]:
    """The first ``n`` quotes of the feed; ``on_quote`` is told each count as it arrives."""
    got: list[Quote] = []
    async with contextlib.aclosing(feed.quotes()) as stream:
        async for q in stream:
            got.append(q)
            on_quote(len(got))
            if len(got) == n:
                break
    return got


async def test_skips_garbage_and_resubscribes_after_an_abrupt_drop() -> None:
    seen: list[Any] = []
    two_delivered = asyncio.Event()

    async def handler(ws: ServerConnection, n: int) -> None:
        await subscribed(ws, seen)
        if n == 1:
            await ws.send(quote("EURUSD", "1.1", "1.1002"))
            await ws.send("garbage{")
            await ws.send(quote("EURUSD", "x", "1.1"))
            await ws.send(json.dumps({"type": "subscribed", "symbols": ["EURUSD"]}))
            await ws.send(quote("GBPUSD", 1.27, 1.2702, T_MS + 1))
            await two_delivered.wait()
            ws.transport.abort()  # no close frame: as if the vendor's process died
        else:
            await ws.send(quote("EURUSD", "1.1001", "1.1003", T_MS + 2))
            await ws.wait_closed()

    def on_quote(count: int) -> None:
        if count == 2:
            two_delivered.set()

    async with asyncio.timeout(5), vendor(handler) as url:
        ticks = iter(range(1, 100))
        async with WebsocketFeed(feed_config(url), clock=lambda: next(ticks)) as feed:
            got = await collect(feed, 3, on_quote)

    assert [(q.instrument, q.bid, q.ask, q.ts_event) for q in got] == [
        ("EUR_USD", 1.1, 1.1002, T_MS * 10**6),
        ("GBP_USD", 1.27, 1.2702, (T_MS + 1) * 10**6),
        ("EUR_USD", 1.1001, 1.1003, (T_MS + 2) * 10**6),
    ]
    assert [q.ts_recv for q in got] == [1, 5, 6]  # one clock read per frame, garbage included
    assert seen == [SUBSCRIPTION, SUBSCRIPTION]
    assert (feed.connects, feed.reconnects) == (2, 1)
    assert (feed.received, feed.rejected, feed.ignored) == (3, 2, 1)


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_a_refused_handshake_raises_and_is_not_retried(status: int) -> None:
    """Regression: a wrong key (HTTP 401 at the handshake) was retried forever, the daemon up
    and trading on no data; it now raises, and the daemon stops saying why."""

    async def handler(ws: ServerConnection, n: int) -> None:
        await ws.wait_closed()

    async with asyncio.timeout(5), vendor(handler, refuse=lambda n: status) as url:
        feed = WebsocketFeed(feed_config(url))
        async with feed:
            with pytest.raises(FeedRefused, match=f"HTTP {status}") as refused:
                await collect(feed, 1)
    assert feed.reconnects == 0
    assert "apikey" not in str(refused.value)  # the key stays out of the message


async def test_a_vendor_error_at_the_handshake_is_retried() -> None:
    async def handler(ws: ServerConnection, n: int) -> None:
        await subscribed(ws, [])
        await ws.send(quote("EURUSD", "1.1", "1.1002"))
        await ws.wait_closed()

    refuse = lambda n: 503 if n < 3 else 0  # noqa: E731
    async with asyncio.timeout(5), vendor(handler, refuse=refuse) as url:
        feed = WebsocketFeed(feed_config(url))
        async with feed:
            got = await collect(feed, 1)
    assert [q.bid for q in got] == [1.1]
    assert feed.reconnects == 2


async def test_silent_vendor_is_stale_and_reconnected() -> None:
    seen: list[Any] = []

    async def handler(ws: ServerConnection, n: int) -> None:
        await subscribed(ws, seen)
        await ws.send(quote("EURUSD", 1.1, 1.1002, T_MS + n))
        await ws.wait_closed()  # then nothing at all, though pings are answered

    async with asyncio.timeout(5), vendor(handler) as url:
        feed = WebsocketFeed(feed_config(url, stale_after_seconds=0.3, ping_interval_seconds=0.05))
        stamps: list[float] = []
        with capture_logs() as logs:
            await collect(feed, 2, lambda _: stamps.append(time.monotonic()))
        await feed.close()

    assert stamps[1] - stamps[0] >= 0.3
    assert (feed.connects, feed.reconnects) == (2, 1)
    assert seen == [SUBSCRIPTION, SUBSCRIPTION]
    events = [e["event"] for e in logs]
    assert "feed_stale" in events
    assert all(e["url"] == url.split("?")[0] for e in logs)  # the api key stays out of logs


async def test_pings_are_answered_and_keep_a_quiet_connection() -> None:
    latencies: list[float | None] = []

    async def handler(ws: ServerConnection, n: int) -> None:
        await ws.recv()
        await ws.send(quote("EURUSD", 1.1, 1.1002))
        await asyncio.sleep(0.4)  # quiet for eight ping intervals
        await ws.send(quote("EURUSD", 1.1, 1.1002, T_MS + 1))
        await ws.wait_closed()

    async with asyncio.timeout(5), vendor(handler) as url:
        config = feed_config(
            url, ping_interval_seconds=0.05, ping_timeout_seconds=1.0, stale_after_seconds=2.0
        )
        feed = WebsocketFeed(config)
        async with feed:
            await collect(feed, 2, lambda _: latencies.append(feed.latency))

    assert (feed.connects, feed.reconnects) == (1, 0)
    assert latencies[-1] is not None
    assert latencies[-1] > 0  # a pong came back


async def test_unanswered_pings_reconnect_even_while_data_flows() -> None:
    async def handler(ws: ServerConnection, n: int) -> None:
        await ws.recv()
        await ws.send(quote("EURUSD", 1.1, 1.1002, T_MS + n))
        if n == 1:
            ws.transport.pause_reading()  # pings are never read, so never answered
            for _ in range(60):  # ... but heartbeats keep coming: not stale
                await ws.send(json.dumps({"type": "heartbeat"}))
                await asyncio.sleep(0.05)
        else:
            await ws.wait_closed()

    async with asyncio.timeout(5), vendor(handler) as url:
        config = feed_config(
            url, ping_interval_seconds=0.05, ping_timeout_seconds=0.2, stale_after_seconds=5.0
        )
        feed = WebsocketFeed(config)
        started = time.monotonic()
        with capture_logs() as logs:
            async with feed:
                got = await collect(feed, 2)

    assert time.monotonic() - started < 3
    assert [q.ts_event for q in got] == [(T_MS + 1) * 10**6, (T_MS + 2) * 10**6]
    assert (feed.connects, feed.reconnects) == (2, 1)
    assert feed.ignored > 0
    assert "feed_stale" not in [e["event"] for e in logs]
    assert "feed_disconnected" in [e["event"] for e in logs]


async def test_backoff_grows_while_failing_and_resets_after_quotes() -> None:
    async def handler(ws: ServerConnection, n: int) -> None:
        await ws.recv()
        if n in (1, 2, 3):
            await ws.close()  # accepted, then closed before any quote
        elif n == 4:
            await ws.send(quote("EURUSD", 1.1, 1.1002))
            await ws.close()
        else:
            await ws.send(quote("EURUSD", 1.1, 1.1002, T_MS + 1))
            await ws.wait_closed()

    async with asyncio.timeout(5), vendor(handler) as url:
        with capture_logs() as logs:
            async with WebsocketFeed(feed_config(url, reconnect_max_seconds=0.1)) as feed:
                await collect(feed, 2)

    scheduled = [e for e in logs if e["event"] == "reconnect_scheduled"]
    assert [e["attempt"] for e in scheduled] == [1, 2, 3, 1]  # the fourth connection delivered
    for e in scheduled:
        assert 0 <= e["delay_s"] <= min(0.1, 0.05 * 2 ** (e["attempt"] - 1))
    assert feed.connects == 5


async def test_close_ends_the_stream_while_connected_and_while_waiting() -> None:
    closed_codes: list[int | None] = []

    async def handler(ws: ServerConnection, n: int) -> None:
        await ws.recv()
        await ws.send(quote("EURUSD", 1.1, 1.1002))
        await ws.wait_closed()
        closed_codes.append(ws.close_code)

    async with asyncio.timeout(5), vendor(handler) as url:
        feed = WebsocketFeed(feed_config(url, stale_after_seconds=5.0))
        first = asyncio.Event()
        got: list[Quote] = []

        async def consume() -> None:
            async with contextlib.aclosing(feed.quotes()) as stream:
                async for q in stream:
                    got.append(q)
                    first.set()

        async with asyncio.TaskGroup() as tasks:
            task = tasks.create_task(consume())
            await first.wait()
            await feed.close()
        assert task.done()
    assert len(got) == 1
    assert closed_codes == [1000]

    with socket.socket() as probe:  # a port where nobody listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with asyncio.timeout(5):
        feed = WebsocketFeed(feed_config(f"ws://127.0.0.1:{port}/"))
        async with asyncio.TaskGroup() as tasks:
            collecting = tasks.create_task(collect(feed, 1))
            await asyncio.sleep(0.3)  # refused, again and again, within reconnect_max_seconds
            await feed.close()
        assert collecting.result() == []
        assert feed.connects == 0
        assert feed.reconnects >= 2
