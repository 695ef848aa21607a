"""Local stand-ins for Telegram's Bot API and a Slack incoming webhook: real aiohttp servers on
127.0.0.1 that answer as the documented services do, and can be told to be down, slow, or to
fail the next N requests.

- Telegram: ``POST /bot<token>/<method>`` (method names case-insensitive); a wrong token gets
  ``401 {"ok": false, "error_code": 401, "description": "Unauthorized"}``, an unknown method
  ``404 Not Found``; ``sendMessage`` checks ``chat_id`` and ``text`` (1-4096 characters) and
  the chat (``400 Bad Request: chat not found``); ``getUpdates`` long-polls for up to
  ``timeout`` seconds and forgets updates below ``offset``; a 429 carries
  ``parameters.retry_after``.
- Slack: ``POST <webhook path>`` with a JSON body holding ``text`` (or ``blocks``); ``200 ok``;
  ``400 invalid_payload`` / ``no_text``, ``404 no_service`` for an unknown hook,
  ``429`` with ``Retry-After``, ``500 rollup_error``.

Use them through the fixtures ``fake_telegram`` and ``fake_slack``: a test module names this
module in ``pytest_plugins``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

TELEGRAM_TOKEN = "123456789:AAFakeTokenForTests_0123456789abcdef"
CHAT_ID = -1001234567890
SLACK_PATH = "/services/T0000FAKE/B0000FAKE/abcdefghijklmnopqrstuvwx"
MAX_TEXT = 4096


@dataclass(frozen=True)
class Seen:
    """One request as it arrived: when (monotonic), where, and its body."""

    at: float
    method: str
    path: str
    body: bytes
    status: int = 0  # what was answered (0: no answer: dropped or still pending)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Failure:
    status: int
    retry_after: float | None = None
    body: str | None = None


class FakeChatServer:
    """What both fakes share: the listening socket, the request log and the faults."""

    def __init__(self) -> None:
        self.app = web.Application()
        self.requests: list[Seen] = []
        self.port = 0
        self.delay_s = 0.0
        self.failures: deque[Failure] = deque()
        self._runner: web.AppRunner | None = None
        self._release = asyncio.Event()
        self._changed = asyncio.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._release.clear()
        self._runner = web.AppRunner(self.app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        self._release.set()  # slow and long-polling handlers answer now
        self._changed.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def go_down(self) -> None:
        """Close the socket and every open connection: the next request is refused."""
        await self.stop()

    async def come_up(self) -> None:
        await self.start()

    def slow(self, seconds: float) -> None:
        """Hold every answer this long (0: answer at once)."""
        self.delay_s = seconds

    def fail_next(self, n: int, status: int = 500, retry_after: float | None = None) -> None:
        self.failures.extend(Failure(status, retry_after) for _ in range(n))

    async def wait_for(
        self, predicate: Callable[[], bool], within_s: float = 5.0, what: str = "condition"
    ) -> None:
        """Until ``predicate()`` holds, re-checked whenever a request arrives."""
        deadline = time.monotonic() + within_s
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{type(self).__name__}: timed out waiting for {what}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 0.1))

    async def _arrived(self, request: web.Request) -> tuple[int, bytes]:
        body = await request.read()
        index = len(self.requests)
        self.requests.append(Seen(time.monotonic(), request.method, request.path, body))
        self._changed.set()
        if self.delay_s:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), self.delay_s)
        return index, body

    def _answered(self, index: int, response: web.Response) -> web.Response:
        seen = self.requests[index]
        self.requests[index] = Seen(seen.at, seen.method, seen.path, seen.body, response.status)
        self._changed.set()
        return response


class FakeTelegram(FakeChatServer):
    def __init__(self, token: str = TELEGRAM_TOKEN, chats: tuple[int, ...] = (CHAT_ID,)) -> None:
        super().__init__()
        self.token = token
        self.chat_id = chats[0]  # where alerts go
        self.chats = set(chats)
        self.messages: list[dict[str, Any]] = []  # accepted sendMessage bodies
        self.updates: list[dict[str, Any]] = []  # not yet confirmed by an offset
        self._next_update = 1000
        self._next_message = 1
        self.app.router.add_route("*", "/{bot}/{method}", self._handle)

    def environ(self, chat_id: int | str | None = CHAT_ID) -> dict[str, str]:
        env = {"ALGOTRADING_TELEGRAM_BOT_TOKEN": self.token}
        if chat_id is not None:
            env["ALGOTRADING_TELEGRAM_CHAT_ID"] = str(chat_id)
        return env

    def texts(self, chat_id: int | str | None = None) -> list[str]:
        return [m["text"] for m in self.messages if chat_id is None or m["chat_id"] == chat_id]

    def push_message(
        self, chat_id: int, text: str, *, date: int | None = None, username: str = "operator"
    ) -> int:
        """A user's message, for ``getUpdates``; returns its ``update_id``."""
        self._next_update += 1
        self.updates.append(
            {
                "update_id": self._next_update,
                "message": {
                    "message_id": self._next_update,
                    "date": int(time.time()) if date is None else date,
                    "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
                    "from": {"id": abs(chat_id), "is_bot": False, "username": username},
                    "text": text,
                },
            }
        )
        self._changed.set()
        return self._next_update

    @staticmethod
    def _error(status: int, description: str, retry_after: float | None = None) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        return web.json_response(body, status=status)

    async def _handle(self, request: web.Request) -> web.Response:
        index, raw = await self._arrived(request)
        return self._answered(index, await self._answer(request, raw))

    async def _answer(self, request: web.Request, raw: bytes) -> web.Response:
        bot, method = request.match_info["bot"], request.match_info["method"].lower()
        if not bot.startswith("bot") or ":" not in bot:
            return self._error(404, "Not Found")
        if bot[3:] != self.token:
            return self._error(401, "Unauthorized")
        if self.failures:
            failure = self.failures.popleft()
            if failure.status == 429:
                wait = failure.retry_after if failure.retry_after is not None else 1
                return self._error(429, f"Too Many Requests: retry after {wait:g}", wait)
            return self._error(failure.status, failure.body or _REASONS.get(failure.status, ""))
        params: dict[str, Any] = dict(request.query)
        if raw:
            if request.content_type != "application/json":
                return self._error(400, "Bad Request: expected a JSON body")
            try:
                params.update(json.loads(raw))
            except ValueError:
                return self._error(400, "Bad Request: can't parse JSON")
        if method == "sendmessage":
            return self._send_message(params)
        if method == "getupdates":
            return await self._get_updates(params)
        return self._error(404, "Not Found")

    def _send_message(self, params: dict[str, Any]) -> web.Response:
        chat_id, text = params.get("chat_id"), params.get("text")
        if chat_id in (None, ""):
            return self._error(400, "Bad Request: chat_id is empty")
        if not isinstance(text, str) or not text.strip():
            return self._error(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT:
            return self._error(400, "Bad Request: message is too long")
        if params.get("parse_mode") not in (None, "HTML", "Markdown", "MarkdownV2"):
            return self._error(400, "Bad Request: unsupported parse_mode")
        if not isinstance(params.get("disable_web_page_preview", False), bool):
            return self._error(400, "Bad Request: disable_web_page_preview must be a boolean")
        if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
            chat_id = int(chat_id)  # the API takes either form
        if chat_id not in self.chats:
            return self._error(400, "Bad Request: chat not found")
        self.messages.append(params)
        self._next_message += 1
        result = {
            "message_id": self._next_message,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "text": text,
        }
        return web.json_response({"ok": True, "result": result})

    async def _get_updates(self, params: dict[str, Any]) -> web.Response:
        offset, timeout = params.get("offset"), params.get("timeout", 0)
        if not isinstance(timeout, int) or timeout < 0:
            return self._error(400, "Bad Request: wrong timeout")
        if isinstance(offset, int):  # everything below the offset is confirmed: forgotten
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        deadline = time.monotonic() + timeout
        while not self.updates and time.monotonic() < deadline and not self._release.is_set():
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), deadline - time.monotonic())
        limit = int(params.get("limit", 100))
        return web.json_response({"ok": True, "result": self.updates[:limit]})


_REASONS = {
    400: "Bad Request: chat not found",
    403: "Forbidden: bot was blocked by the user",
    409: "Conflict: terminated by other getUpdates request",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


class FakeSlack(FakeChatServer):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[dict[str, Any]] = []
        self.app.router.add_route("*", "/{tail:.*}", self._handle)

    @property
    def webhook_url(self) -> str:
        return self.base_url + SLACK_PATH

    def environ(self) -> dict[str, str]:
        return {"ALGOTRADING_SLACK_WEBHOOK_URL": self.webhook_url}

    def texts(self) -> list[str]:
        return [m["text"] for m in self.messages]

    async def _handle(self, request: web.Request) -> web.Response:
        index, raw = await self._arrived(request)
        return self._answered(index, self._answer(request, raw))

    def _answer(self, request: web.Request, raw: bytes) -> web.Response:
        if request.path != SLACK_PATH:
            return web.Response(status=404, text="no_service")
        if request.method != "POST":
            return web.Response(status=405, text="invalid_method")
        if self.failures:
            failure = self.failures.popleft()
            if failure.status == 429:
                wait = failure.retry_after if failure.retry_after is not None else 1
                return web.Response(
                    status=429, text="rate_limited", headers={"Retry-After": f"{wait:g}"}
                )
            reasons = {400: "invalid_payload", 403: "action_prohibited", 404: "no_service"}
            text = failure.body or reasons.get(failure.status, "rollup_error")
            return web.Response(status=failure.status, text=text)
        try:
            body = json.loads(raw)
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        if not isinstance(body, dict):
            return web.Response(status=400, text="invalid_payload")
        text, blocks = body.get("text"), body.get("blocks")
        if blocks is not None and not _valid_blocks(blocks):
            return web.Response(status=400, text="invalid_blocks")
        if not (isinstance(text, str) and text.strip()) and not blocks:
            return web.Response(status=400, text="no_text")
        self.messages.append(body)
        return web.Response(text="ok")


def _valid_blocks(blocks: Any) -> bool:
    """Section blocks with a plain_text or mrkdwn text of at most 3000 characters."""
    if not isinstance(blocks, list):
        return False
    for block in blocks:
        text = block.get("text") if isinstance(block, dict) else None
        if not (isinstance(block, dict) and block.get("type") == "section"):
            return False
        if not isinstance(text, dict) or text.get("type") not in ("plain_text", "mrkdwn"):
            return False
        if not isinstance(text.get("text"), str) or not 0 < len(text["text"]) <= 3000:
            return False
    return True


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    server = FakeSlack()
    await server.start()
    yield server
    await server.stop()
