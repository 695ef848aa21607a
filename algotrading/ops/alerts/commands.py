"""Telegram commands, by long polling ``getUpdates`` with an ``offset``.

Only chats on the allow-list get an answer; any other chat gets none (silence tells a stranger
nothing) and is logged. Messages sent well before the service started are not acted on: a
``/pause`` typed yesterday must not pause today's session. What each command does is the
caller's ``answer`` function; this module only reads, filters and replies.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import msgspec

from algotrading.log import get_logger
from algotrading.ops.alerts.transports import TelegramTransport
from algotrading.ops.alerts.wire import Update

Answer = Callable[[str, int], Awaitable[str | None]]
# Telegram dates are whole seconds from another clock: a message dated this little before the
# start is still taken as meant for this run (one typed while the daemon restarted, say).
STALE_GRACE_S = 30.0


def parse_command(text: str) -> str | None:
    """``"/status@my_bot extra"`` -> ``"status"``; ``None`` when the text is not a command."""
    words = text.strip().split()
    if not words or not words[0].startswith("/"):
        return None
    return words[0][1:].split("@", 1)[0].lower() or None


class CommandPoller:
    def __init__(
        self,
        transport: TelegramTransport,
        allowed_chat_ids: Iterable[int],
        answer: Answer,
        *,
        not_before_s: float,
        poll_s: int = 25,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 60.0,
        seed: int = 0,
    ) -> None:
        self.transport = transport
        self.allowed = frozenset(allowed_chat_ids)
        self.answer = answer
        self.not_before_s = not_before_s
        self.poll_s = poll_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.offset: int | None = None
        self.refused = 0  # messages from chats not on the allow-list
        self.log = get_logger("alerts")
        self._random = random.Random(seed)

    async def run(self) -> None:
        """Poll until cancelled; failures back off and never end the loop."""
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            began = loop.time()
            outcome = await self.transport.get_updates(self.offset, self.poll_s)
            if outcome.sent and isinstance(outcome.result, list):
                failures = 0
                for raw in outcome.result:
                    await self._update(raw)
                if not outcome.result and loop.time() - began < 1.0:
                    await asyncio.sleep(1.0)  # a server that does not hold the poll open
                continue
            failures += 1
            delay = min(self.backoff_max_s, self.backoff_initial_s * 2.0 ** min(failures, 16))
            if outcome.kind == "refused":  # bad token, a webhook set (409): no use hurrying
                delay = self.backoff_max_s
            delay = delay / 2 + self._random.uniform(0, delay / 2)
            self.log.warning(
                "telegram_poll_failed",
                status=outcome.status,
                detail=outcome.detail or "result is not a list",
                delay_s=round(delay, 3),
            )
            await asyncio.sleep(delay)

    async def _update(self, raw: Any) -> None:
        update_id = raw.get("update_id") if isinstance(raw, dict) else None
        if not isinstance(update_id, int):
            self.log.warning("telegram_update_unreadable")
            return
        self.offset = max(self.offset or 0, update_id + 1)  # confirmed by the next call
        try:
            update = msgspec.convert(raw, Update)
        except msgspec.ValidationError as exc:
            self.log.warning("telegram_update_unreadable", update_id=update_id, error=str(exc))
            return
        await self.handle(update)

    async def handle(self, update: Update) -> None:
        message = update.message
        if message is None or not message.text:
            return
        chat_id = message.chat.id
        if chat_id not in self.allowed:
            self.refused += 1
            self.log.warning(
                "telegram_command_refused",
                chat_id=chat_id,
                user=message.from_.username if message.from_ else "",
                text=message.text[:40],
            )
            return
        command = parse_command(message.text)
        if command is None:
            return
        if message.date and message.date < self.not_before_s - STALE_GRACE_S:
            self.log.info("telegram_command_stale", chat_id=chat_id, command=command)
            return
        reply = await self.answer(command, chat_id)
        self.log.info("telegram_command", chat_id=chat_id, command=command)
        if reply is None:
            return
        outcome = await self.transport.send_to(chat_id, reply)
        if not outcome.sent:
            self.log.warning(
                "telegram_reply_failed",
                chat_id=chat_id,
                status=outcome.status,
                detail=outcome.detail,
            )
