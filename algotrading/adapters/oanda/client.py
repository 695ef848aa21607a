"""An OANDA v20 REST and streaming client over aiohttp, within OANDA's rules.

- **Pacing**: at most ``requests_per_second`` (100) requests on the REST connection and at most
  two new connections per second (an aiohttp trace hook makes every new connection wait its
  turn); connections are kept alive.
- **Errors**: a non-2xx answer raises :class:`V20Error` with the status, ``errorCode``,
  ``errorMessage`` and the body (a rejected order's ``orderRejectTransaction`` is in it).
- **Retries**: reads (GET) are retried on connection errors, timeouts, 429 and 5xx, with
  exponential backoff and full jitter; a request that changes something (POST, PUT) is never
  retried here — whether an order arrived is settled by looking its client id up
  (``order("@<id>")``) before anything is sent again, by the caller.
- **Streams**: :meth:`OandaClient.stream` yields the JSON objects of a stream; a stream silent
  for longer than ``dead_after`` (10 s, twice the heartbeat) is dead and raises
  :class:`StreamDead`; reconnection with backoff is the caller's loop (:mod:`.streams`).
- The token is sent in the ``Authorization`` header and appears nowhere else: not in a log
  line, a repr or an exception.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from algotrading.adapters.oanda.wire import DEAD_STREAM_SECONDS
from algotrading.config import Secret
from algotrading.log import get_logger

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class V20Error(Exception):
    def __init__(self, status: int, body: dict[str, Any], method: str, path: str) -> None:
        self.status = status
        self.body = body
        self.code = str(
            body.get("errorCode")
            or body.get("orderRejectTransaction", {}).get("rejectReason", f"HTTP_{status}")
        )
        self.message = str(body.get("errorMessage", ""))
        super().__init__(f"{method} {path}: {status} {self.code}: {self.message}")


class StreamDead(Exception):
    """A stream sent nothing — not even a heartbeat — for too long, or ended."""


class Pacer:
    """At most ``rate`` acquisitions per second, evenly spaced (no bursts)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            now = time.monotonic()
            wait = self._next - now
            self._next = max(now, self._next) + self.interval
        if wait > 0:
            await asyncio.sleep(wait)


class OandaClient:
    def __init__(
        self,
        rest_url: str,
        stream_url: str,
        account_id: str,
        token: Secret,
        *,
        requests_per_second: float = 100.0,
        connections_per_second: float = 2.0,
        timeout_s: float = 10.0,
        retries: int = 4,
        backoff_initial_s: float = 0.25,
        backoff_max_s: float = 8.0,
        seed: int | None = None,
    ) -> None:
        self.rest_url = rest_url.rstrip("/")
        self.stream_url = stream_url.rstrip("/")
        self.account_id = account_id
        self._token = token
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self._requests = Pacer(requests_per_second)
        self._connections = Pacer(connections_per_second)
        self._random = random.Random(seed)
        self._session: aiohttp.ClientSession | None = None
        self.log = get_logger("oanda")
        self.requests_sent = 0
        self.connections_opened = 0

    def __repr__(self) -> str:
        return f"OandaClient({self.rest_url!r}, account={self.account_id!r})"

    # -- session ---------------------------------------------------------------------------

    async def _on_connection(self, *_: Any) -> None:
        await self._connections.acquire()
        self.connections_opened += 1

    def _new_session(self, limit: int = 4) -> aiohttp.ClientSession:
        trace = aiohttp.TraceConfig()
        trace.on_connection_create_start.append(self._on_connection)
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=limit, keepalive_timeout=60),
            headers={
                "Authorization": f"Bearer {self._token.reveal()}",
                "Content-Type": "application/json",
                "Accept-Datetime-Format": "RFC3339",
            },
            trace_configs=[trace],
        )

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = self._new_session()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> OandaClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max, initial * 2**attempt)]."""
        cap = min(self.backoff_max_s, self.backoff_initial_s * 2**attempt)
        return self._random.uniform(0, cap)

    # -- REST ------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """One REST call; reads are retried, writes are not (see the module)."""
        retry = method == "GET"
        attempt = 0
        while True:
            try:
                return await self._request_once(method, path, body, params)
            except V20Error as exc:
                if not retry or exc.status not in RETRYABLE_STATUS or attempt >= self.retries:
                    raise
                reason = f"HTTP {exc.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                if not retry or attempt >= self.retries:
                    raise
                reason = type(exc).__name__
            delay = self.backoff(attempt)
            self.log.warning("request_retry", method=method, path=path, reason=reason, delay=delay)
            await asyncio.sleep(delay)
            attempt += 1

    async def _request_once(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        params: dict[str, str] | None,
    ) -> dict[str, Any]:
        await self._requests.acquire()
        self.requests_sent += 1
        async with self.session.request(
            method,
            self.rest_url + path,
            data=None if body is None else json.dumps(body),
            params=params,
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
        ) as response:
            text = await response.text()
        data = _json_object(text)
        if response.status >= 300:
            raise V20Error(response.status, data, method, path)
        return data

    def _account(self, suffix: str) -> str:
        return f"/v3/accounts/{self.account_id}{suffix}"

    async def accounts(self) -> list[dict[str, Any]]:
        return list((await self.request("GET", "/v3/accounts"))["accounts"])

    async def summary(self) -> dict[str, Any]:
        return dict((await self.request("GET", self._account("/summary")))["account"])

    async def instruments(self) -> list[dict[str, Any]]:
        return list((await self.request("GET", self._account("/instruments")))["instruments"])

    async def pricing(self, instruments: list[str]) -> list[dict[str, Any]]:
        data = await self.request(
            "GET", self._account("/pricing"), params={"instruments": ",".join(instruments)}
        )
        return list(data["prices"])

    async def server_time(self, instrument: str) -> str:
        """The venue's current time (the ``time`` of a pricing answer), as it writes times."""
        data = await self.request(
            "GET", self._account("/pricing"), params={"instruments": instrument}
        )
        return str(data["time"])

    async def candles(self, instrument: str, **params: str) -> list[dict[str, Any]]:
        data = await self.request("GET", f"/v3/instruments/{instrument}/candles", params=params)
        return list(data["candles"])

    async def create_order(self, order: dict[str, Any]) -> dict[str, Any]:
        return await self.request("POST", self._account("/orders"), body={"order": order})

    async def order(self, specifier: str) -> dict[str, Any]:
        """An order by id or by ``@<client id>``; raises V20Error 404 when there is none."""
        return dict((await self.request("GET", self._account(f"/orders/{specifier}")))["order"])

    async def pending_orders(self) -> list[dict[str, Any]]:
        return (await self.pending_orders_at())[0]

    async def pending_orders_at(self) -> tuple[list[dict[str, Any]], str]:
        """The pending orders and the last transaction they include."""
        data = await self.request("GET", self._account("/pendingOrders"))
        return list(data["orders"]), str(data.get("lastTransactionID", ""))

    async def cancel_order(self, specifier: str) -> dict[str, Any]:
        return await self.request("PUT", self._account(f"/orders/{specifier}/cancel"))

    async def replace_order(self, specifier: str, order: dict[str, Any]) -> dict[str, Any]:
        return await self.request(
            "PUT", self._account(f"/orders/{specifier}"), body={"order": order}
        )

    async def open_positions(self) -> list[dict[str, Any]]:
        return (await self.open_positions_at())[0]

    async def open_positions_at(self) -> tuple[list[dict[str, Any]], str]:
        """The open positions and the last transaction they include (one consistent view)."""
        data = await self.request("GET", self._account("/openPositions"))
        return list(data["positions"]), str(data["lastTransactionID"])

    async def open_trades(self) -> list[dict[str, Any]]:
        return list((await self.request("GET", self._account("/openTrades")))["trades"])

    async def transactions_since(self, transaction_id: str) -> tuple[list[dict[str, Any]], str]:
        data = await self.request(
            "GET", self._account("/transactions/sinceid"), params={"id": transaction_id}
        )
        return list(data["transactions"]), str(data["lastTransactionID"])

    # -- streams ---------------------------------------------------------------------------

    async def stream(
        self,
        suffix: str,
        params: dict[str, str] | None = None,
        dead_after: float = DEAD_STREAM_SECONDS,
    ) -> AsyncIterator[dict[str, Any]]:
        """The JSON objects of one stream connection, one per line, until it dies."""
        session = self._new_session(limit=1)  # a stream holds its own connection
        try:
            async with session.get(
                self.stream_url + self._account(suffix),
                params=params,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.timeout_s),
            ) as response:
                if response.status >= 300:
                    body = _json_object(await response.text())
                    raise V20Error(response.status, body, "GET", suffix)
                while True:
                    try:
                        line = await asyncio.wait_for(response.content.readline(), dead_after)
                    except TimeoutError:
                        raise StreamDead(f"{suffix}: silent for {dead_after:g} s") from None
                    if not line:
                        raise StreamDead(f"{suffix}: the server ended the stream")
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        item = json.loads(line)
                    except json.JSONDecodeError:
                        self.log.warning("stream_line_rejected", stream=suffix, sample=line[:200])
                        continue
                    if isinstance(item, dict):
                        yield item
        finally:
            await session.close()


def _json_object(text: str) -> dict[str, Any]:
    """A response body as a JSON object; anything else becomes an ``errorMessage``."""
    if not text:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return {"errorMessage": f"not JSON: {text[:200]!r}"}
    if not isinstance(data, dict):
        return {"errorMessage": f"unexpected body: {text[:200]!r}"}
    return data
