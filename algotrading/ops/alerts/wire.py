"""The parts of the Telegram Bot API and Slack webhook wire formats that alerts use.

Telegram answers every method with ``{"ok": true, "result": ...}`` or ``{"ok": false,
"error_code": N, "description": "...", "parameters": {"retry_after": s}}``; its error code
mirrors the HTTP status. Fields we do not use are ignored, so that new ones do not break us.
"""

from __future__ import annotations

from typing import Any

import msgspec


class SendMessage(msgspec.Struct, frozen=True, kw_only=True):
    """``sendMessage``'s body; ``parse_mode`` is left out unless set (plain text)."""

    chat_id: int | str
    text: str
    parse_mode: str | msgspec.UnsetType = msgspec.UNSET
    disable_web_page_preview: bool = True


class GetUpdates(msgspec.Struct, frozen=True, kw_only=True):
    offset: int | msgspec.UnsetType = msgspec.UNSET
    timeout: int = 0  # seconds of long polling
    allowed_updates: tuple[str, ...] = ("message",)


class ResponseParameters(msgspec.Struct, frozen=True, kw_only=True):
    retry_after: float | None = None
    migrate_to_chat_id: int | None = None


class TelegramReply(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    result: Any = None
    error_code: int = 0
    description: str = ""
    parameters: ResponseParameters | None = None


class Chat(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    type: str = ""


class User(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    username: str = ""


class TelegramMessage(msgspec.Struct, frozen=True, kw_only=True):
    message_id: int
    date: int = 0  # unix seconds
    chat: Chat
    text: str = ""
    from_: User | None = msgspec.field(default=None, name="from")


class Update(msgspec.Struct, frozen=True, kw_only=True):
    update_id: int
    message: TelegramMessage | None = None


class SlackMessage(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An incoming webhook's body: ``text`` is what notifications show; ``blocks``, when
    present, is what the channel shows."""

    text: str
    blocks: list[dict[str, Any]] | None = None
