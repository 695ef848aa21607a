"""The two v20 streams, as chunked newline-delimited JSON (``application/octet-stream``, as
observed on the live servers):

* prices (``…/pricing/stream``): per instrument at most one price per window (250 ms: at most
  4 a second), the one in effect at the window's end; a snapshot of the latest prices on
  connect (``snapshot`` defaults to true: simulator's choice); ``{"type":"HEARTBEAT"}`` every
  ``heartbeat_seconds``.
* transactions (``…/transactions/stream``): every transaction from the moment of the request,
  and ``{"type":"HEARTBEAT","lastTransactionID":…}`` every ``heartbeat_seconds``.

A stall fault stops all output (heartbeats too) until it ends; a drop fault aborts the
connection. Streams end cleanly when the server shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import msgspec
from aiohttp import web

from algotrading.adapters.oanda.wire import format_time
from algotrading.sim.server.accounts import SimAccount
from algotrading.sim.server.service import REQUEST_ID, SimExchangeService, Subscriber
from algotrading.sim.server.transactions import as_unix, client_price

_encode = msgspec.json.Encoder().encode


class _Stream:
    """One open stream: its response, its fault state and the framing."""

    def __init__(
        self, request: web.Request, service: SimExchangeService, kind: str, unix: bool
    ) -> None:
        self.request = request
        self.service = service
        self.kind = kind
        self.unix = unix
        self.drops_at_start = service.faults.drops[kind]
        self.response = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "application/octet-stream",
                "RequestID": REQUEST_ID.get(),
            },
        )
        self.response.enable_chunked_encoding()

    async def open(self) -> None:
        await self.response.prepare(self.request)

    @property
    def dropped(self) -> bool:
        return self.service.faults.drops[self.kind] != self.drops_at_start

    @property
    def closing(self) -> bool:
        return self.service.closing.is_set()

    def line(self, body: dict[str, Any]) -> bytes:
        return _encode(as_unix(body) if self.unix else body) + b"\n"

    def heartbeat(self, **extra: Any) -> bytes:
        return self.line({"type": "HEARTBEAT", **extra, "time": format_time(self.service.now_ns())})

    async def write(self, data: bytes) -> bool:
        """Send; ``False`` once the client has gone."""
        try:
            await self.response.write(data)
        except (ConnectionResetError, ConnectionError):
            return False
        return True

    def abort(self) -> None:
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    async def finish(self) -> web.StreamResponse:
        if not self.dropped:
            with contextlib.suppress(ConnectionResetError, ConnectionError):
                await self.response.write_eof()
        return self.response


async def price_stream(
    request: web.Request,
    service: SimExchangeService,
    instruments: list[str],
    *,
    snapshot: bool = True,
    unix: bool = False,
) -> web.StreamResponse:
    stream = _Stream(request, service, "pricing", unix)
    await stream.open()
    market = service.market
    window = service.settings.price_window_seconds
    heartbeat = service.settings.heartbeat_seconds
    sent = {i: (-1 if snapshot else market.seq[i]) for i in instruments}
    next_beat = time.monotonic() + heartbeat
    faults = service.faults
    while not stream.closing:
        if stream.dropped:
            stream.abort()
            break
        stall = faults.stall_left("pricing")
        if stall > 0:
            await asyncio.sleep(min(stall, window))
            next_beat = time.monotonic() + heartbeat
            continue
        lines = []
        now_ns = service.now_ns()
        for instrument in instruments:
            quote = market.latest.get(instrument)
            if quote is not None and market.seq[instrument] != sent[instrument]:
                sent[instrument] = market.seq[instrument]
                price = client_price(
                    quote,
                    market.instruments[instrument].price_precision,
                    tradeable=market.tradeable(instrument, now_ns),
                )
                lines.append(stream.line(price))
        if time.monotonic() >= next_beat:
            lines.append(stream.heartbeat())
            next_beat += heartbeat
        if lines and not await stream.write(b"".join(lines)):
            break
        await asyncio.sleep(window)
    return await stream.finish()


async def transaction_stream(
    request: web.Request, service: SimExchangeService, account: SimAccount, *, unix: bool = False
) -> web.StreamResponse:
    stream = _Stream(request, service, "transactions", unix)
    subscriber: Subscriber = service.subscribe(account.id)
    try:
        await stream.open()
        heartbeat = service.settings.heartbeat_seconds
        next_beat = time.monotonic() + heartbeat
        poll = service.settings.price_window_seconds
        faults = service.faults
        while not stream.closing:
            if stream.dropped or subscriber.overflowed:
                stream.abort()
                break
            stall = faults.stall_left("transactions")
            if stall > 0:
                await asyncio.sleep(min(stall, poll))
                next_beat = time.monotonic() + heartbeat
                continue
            subscriber.ready.clear()  # before draining: a push from now on wakes the next wait
            lines = [stream.line(subscriber.queue.popleft()) for _ in range(len(subscriber.queue))]
            if time.monotonic() >= next_beat:
                lines.append(stream.heartbeat(lastTransactionID=account.last_transaction_id))
                next_beat += heartbeat
            if lines and not await stream.write(b"".join(lines)):
                break
            wait = max(0.0, min(poll, next_beat - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(subscriber.ready.wait(), timeout=wait)
    finally:
        service.unsubscribe(account.id, subscriber)
    return await stream.finish()
