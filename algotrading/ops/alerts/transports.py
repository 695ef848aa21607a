"""Telegram's ``sendMessage`` and Slack's incoming webhooks over aiohttp, one session each.

A transport makes one attempt and says what came of it as an :class:`Outcome` — sent, worth
retrying (network error, timeout, 5xx, 429 with how long to wait), or refused (any other 4xx:
a bad token, an unknown chat, a revoked webhook; retrying cannot help). Retrying is the
dispatcher's business. Secrets (the bot token sits in Telegram's URL path; the whole webhook
URL is one) never appear in an outcome's detail, a repr or a log line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import aiohttp
import msgspec

from algotrading.log import secret_forms
from algotrading.ops.alerts.config import TELEGRAM_API
from algotrading.ops.alerts.wire import (
    GetUpdates,
    SendMessage,
    SlackMessage,
    TelegramReply,
)

TELEGRAM_MAX_TEXT = 4096  # characters, after entities parsing (Bot API, sendMessage)
SLACK_MAX_SECTION = 3000  # characters in a section block's text
_json = msgspec.json.Encoder()
_reply = msgspec.json.Decoder(TelegramReply)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt came to. ``status`` is the HTTP status (0: no answer)."""

    kind: Literal["sent", "retry", "refused"]
    detail: str = ""
    status: int = 0
    retry_after: float | None = None  # seconds the service asked us to wait
    result: Any = None  # Telegram's ``result`` on success

    @property
    def sent(self) -> bool:
        return self.kind == "sent"


class Transport(Protocol):
    """One chat service; ``send`` never raises for anything the network or the service does."""

    name: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def send(self, text: str) -> Outcome: ...


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Http:
    """One ``aiohttp.ClientSession`` with a total timeout per request, opened lazily."""

    def __init__(self, timeout_s: float, secrets: tuple[str, ...]) -> None:
        self.timeout_s = timeout_s
        self._secrets = tuple(sorted((s for s in secrets if s), key=len, reverse=True))
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s)
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    async def post(
        self, url: str, body: bytes, timeout_s: float | None = None
    ) -> tuple[int, bytes, str | None] | Outcome:
        """``(status, body, Retry-After)``, or a retry outcome when no answer came."""
        await self.open()
        assert self._session is not None
        timeout = aiohttp.ClientTimeout(total=timeout_s or self.timeout_s)
        try:
            async with self._session.post(
                url, data=body, headers={"Content-Type": "application/json"}, timeout=timeout
            ) as response:
                return response.status, await response.read(), response.headers.get("Retry-After")
        except TimeoutError:
            return Outcome("retry", f"no answer within {timeout.total:g}s")
        except aiohttp.ClientError as exc:
            return Outcome("retry", self.scrub(f"{type(exc).__name__}: {exc}"))


def _seconds(header: str | None) -> float | None:
    """A ``Retry-After`` of delta-seconds (the form Slack sends); a date is ignored."""
    if header is None:
        return None
    try:
        value = float(header.strip())
    except ValueError:
        return None
    return value if value >= 0 else None


class TelegramTransport:
    """The Bot API: ``POST {base_url}/bot{token}/{method}`` with a JSON body."""

    name = "telegram"

    def __init__(
        self,
        token: str,
        chat_id: int | str,
        *,
        base_url: str = TELEGRAM_API,
        timeout_s: float = 10.0,
        parse_mode: str | None = None,
    ) -> None:
        self._token = token
        self.chat_id = chat_id
        self.base_url = base_url.rstrip("/")
        self.parse_mode = parse_mode
        self._http = _Http(timeout_s, (token,))

    def __repr__(self) -> str:
        return f"TelegramTransport(chat_id={self.chat_id!r}, base_url={self.base_url!r})"

    async def open(self) -> None:
        await self._http.open()

    async def close(self) -> None:
        await self._http.close()

    async def send(self, text: str) -> Outcome:
        return await self.send_to(self.chat_id, text)

    async def send_to(self, chat_id: int | str, text: str) -> Outcome:
        body = SendMessage(
            chat_id=chat_id,
            text=clip(text, TELEGRAM_MAX_TEXT),
            parse_mode=self.parse_mode if self.parse_mode else msgspec.UNSET,
        )
        return await self.call("sendMessage", body)

    async def get_updates(self, offset: int | None, poll_s: int) -> Outcome:
        """Long polling: the server holds the request up to ``poll_s`` seconds."""
        body = GetUpdates(offset=msgspec.UNSET if offset is None else offset, timeout=poll_s)
        return await self.call("getUpdates", body, timeout_s=poll_s + self._http.timeout_s)

    async def call(
        self, method: str, body: msgspec.Struct, timeout_s: float | None = None
    ) -> Outcome:
        url = f"{self.base_url}/bot{self._token}/{method}"
        answer = await self._http.post(url, _json.encode(body), timeout_s)
        if isinstance(answer, Outcome):
            return answer
        status, raw, retry_header = answer
        try:
            reply: TelegramReply | None = _reply.decode(raw)
        except msgspec.DecodeError:  # a proxy's HTML page, a cut answer
            reply = None
        if reply is not None and reply.ok and status == 200:
            return Outcome("sent", status=status, result=reply.result)
        code = reply.error_code if reply is not None and reply.error_code else status
        detail = self._http.scrub(
            reply.description if reply is not None else raw[:200].decode(errors="replace")
        )
        if code == 429:
            wait = reply.parameters.retry_after if reply and reply.parameters else None
            wait = wait if wait is not None else _seconds(retry_header)
            return Outcome("retry", detail, code, wait)
        if code >= 500 or code < 400:
            return Outcome("retry", detail or f"HTTP {code}", code)
        return Outcome("refused", detail or f"HTTP {code}", code)


class SlackTransport:
    """An incoming webhook: ``POST <url>`` with ``{"text": ...}``; ``200 ok`` on success,
    4xx with a plain-text reason (``invalid_payload``, ``no_service``, ...) on failure."""

    name = "slack"

    def __init__(self, webhook_url: str, *, timeout_s: float = 10.0, blocks: bool = False) -> None:
        self._url = webhook_url
        self.blocks = blocks
        # the whole URL is the secret, and so is its path alone: servers echo paths in errors
        self._http = _Http(timeout_s, tuple(secret_forms(webhook_url)))

    def __repr__(self) -> str:
        return f"SlackTransport(blocks={self.blocks})"

    async def open(self) -> None:
        await self._http.open()

    async def close(self) -> None:
        await self._http.close()

    async def send(self, text: str) -> Outcome:
        blocks = None
        if self.blocks:
            section = {"type": "plain_text", "text": clip(text, SLACK_MAX_SECTION)}
            blocks = [{"type": "section", "text": section}]
        body = SlackMessage(text=clip(text, SLACK_MAX_SECTION), blocks=blocks)
        answer = await self._http.post(self._url, _json.encode(body))
        if isinstance(answer, Outcome):
            return answer
        status, raw, retry_header = answer
        detail = self._http.scrub(raw[:200].decode(errors="replace").strip())
        if status == 200:
            return Outcome("sent", detail, status)
        if status == 429:
            return Outcome("retry", detail or "rate_limited", status, _seconds(retry_header))
        if status >= 500 or status < 400:
            return Outcome("retry", detail or f"HTTP {status}", status)
        return Outcome("refused", detail or f"HTTP {status}", status)
