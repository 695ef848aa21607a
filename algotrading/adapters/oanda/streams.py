"""The two v20 streams as endless sources: prices as :class:`Quote` messages for the feed, and
transactions as :class:`VenueEvent` messages for the venue actor. A dead stream (no line for
10 s), a dropped connection, a 429 or a 5xx is reconnected with exponential backoff and full
jitter (reset once data flows again); a 401 or 404 — a wrong token or account — is not, it
raises and the runtime stops the source with a clear reason.

Each (re)connection of the transaction stream is announced by a ``RECONNECTED`` event before
its first transaction; the venue actor then fills the gap from ``transactions/sinceid`` and
reconciles (:mod:`algotrading.adapters.oanda.venue`), and so it does when a heartbeat names a
transaction newer than the last one applied: no fill is missed because a connection dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp

from algotrading.adapters.oanda.client import OandaClient, StreamDead, V20Error
from algotrading.adapters.oanda.mapping import quote_from_price
from algotrading.adapters.oanda.wire import WireError, parse_time
from algotrading.messages import Quote, VenueEvent

FATAL_STATUS = frozenset({400, 401, 403, 404, 405})


async def _reconnecting(
    client: OandaClient,
    suffix: str,
    params: dict[str, str] | None,
    on_connect: Callable[[], None] | None = None,
) -> AsyncIterator[dict[str, Any]]:
    attempt = 0
    connects = 0
    while True:
        try:
            if connects:
                client.log.warning("stream_reconnecting", stream=suffix, attempt=attempt)
            connects += 1
            if on_connect is not None:
                on_connect()
            async for item in client.stream(suffix, params):
                attempt = 0
                yield item
        except V20Error as exc:
            if exc.status in FATAL_STATUS:
                raise
            reason = f"HTTP {exc.status}"
        except (StreamDead, aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
            reason = str(exc) or type(exc).__name__
        delay = client.backoff(attempt)
        client.log.warning("stream_lost", stream=suffix, reason=reason, retry_in=round(delay, 3))
        attempt += 1
        await asyncio.sleep(delay)


async def price_quotes(
    client: OandaClient, instruments: list[str], clock: Callable[[], int] = time.time_ns
) -> AsyncIterator[Quote]:
    params = {"instruments": ",".join(instruments), "snapshot": "true"}
    async for item in _reconnecting(client, "/pricing/stream", params):
        if item.get("type", "PRICE") != "PRICE":
            continue
        try:
            quote = quote_from_price(item, clock())
        except (KeyError, WireError, TypeError) as exc:
            client.log.warning("price_rejected", reason=str(exc), sample=str(item)[:200])
            continue
        if quote is not None:
            yield quote


async def transaction_events(client: OandaClient) -> AsyncIterator[VenueEvent]:
    """Transactions as venue events. Every (re)connection is announced first by a
    ``RECONNECTED`` event: the venue actor then fetches what the stream missed from its own
    cursor, and reconciles."""
    connected = False

    def reconnected() -> None:
        nonlocal connected
        connected = True

    async for item in _reconnecting(client, "/transactions/stream", None, reconnected):
        if connected:
            connected = False
            yield _event({"type": "RECONNECTED"})
        yield _event(item)


def _event(item: dict[str, Any]) -> VenueEvent:
    try:
        ts = parse_time(item["time"])
    except (KeyError, WireError):
        ts = time.time_ns()
    return VenueEvent(ts_event=ts, ts_recv=time.time_ns(), venue="oanda", payload=item)


class PriceBuffer:
    """The price stream, opened ahead of the actors: quotes are held (boundedly) from the
    moment it opens. After a restart the daemon reads the first quote's time, fetches the bars
    it missed up to the bar that quote opens, and only then lets the quotes in — so the bars
    from the venue's history and the bars built live meet without a gap or an overlap."""

    def __init__(self, quotes: AsyncIterator[Quote], limit: int = 100_000) -> None:
        self._queue: asyncio.Queue[Quote | BaseException | None] = asyncio.Queue(limit)
        self._first = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._pump(quotes), name="price_buffer")

    async def _pump(self, quotes: AsyncIterator[Quote]) -> None:
        end: BaseException | None = None
        try:
            async for quote in quotes:
                if not self._first.done():
                    self._first.set_result(quote.ts_event)
                await self._queue.put(quote)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # handed to the reader: the runtime's source fails with it
            end = exc
        if not self._first.done():
            self._first.set_result(None)
        await self._queue.put(end)

    async def first_time(self, timeout_s: float) -> int | None:
        """The first quote's time, or None if none came within ``timeout_s``."""
        try:
            return await asyncio.wait_for(asyncio.shield(self._first), timeout_s)
        except TimeoutError:
            return None

    async def quotes(self) -> AsyncIterator[Quote]:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
