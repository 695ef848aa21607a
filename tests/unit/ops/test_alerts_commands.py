"""Telegram commands by long polling against a local Bot API: answers go only to allow-listed
chats, each update is confirmed by the next ``offset``, stale messages are not acted on, and the
poller outlives the service failing."""

from __future__ import annotations

import asyncio
import time

import pytest
from structlog.testing import capture_logs

from algotrading.ops.alerts.commands import CommandPoller
from algotrading.ops.alerts.transports import TelegramTransport

pytest_plugins = ("tests.fakes.chat_apis",)

OPERATOR, STRANGER = 1111, 2222


@pytest.fixture
async def poll(fake_telegram):
    """Run a poller with an answer that records what it was asked; cancel it at the end."""
    fake_telegram.chats |= {OPERATOR, STRANGER}
    transport = TelegramTransport(
        fake_telegram.token, fake_telegram.chat_id, base_url=fake_telegram.base_url, timeout_s=2
    )
    heard: list[tuple[str, int]] = []

    async def answer(command: str, chat_id: int) -> str | None:
        heard.append((command, chat_id))
        return None if command == "quiet" else f"answer to /{command}"

    poller = CommandPoller(
        transport,
        [OPERATOR],
        answer,
        not_before_s=time.time() - 1,
        poll_s=1,
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
    )
    task = asyncio.create_task(poller.run())
    yield poller, heard
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await transport.close()


@pytest.mark.asyncio
async def test_only_allow_listed_chats_get_answers(fake_telegram, poll):
    poller, heard = poll
    with capture_logs() as logs:
        fake_telegram.push_message(STRANGER, "/pause")
        fake_telegram.push_message(OPERATOR, "/status")
        fake_telegram.push_message(OPERATOR, "just chatting")
        fake_telegram.push_message(OPERATOR, "/pnl@algo_bot")
        fake_telegram.push_message(OPERATOR, "/quiet")
        await fake_telegram.wait_for(lambda: len(heard) == 3 and len(fake_telegram.messages) == 2)
    assert heard == [("status", OPERATOR), ("pnl", OPERATOR), ("quiet", OPERATOR)]
    assert fake_telegram.texts(OPERATOR) == ["answer to /status", "answer to /pnl"]
    assert fake_telegram.texts(STRANGER) == []
    assert poller.refused == 1
    [refused] = [e for e in logs if e["event"] == "telegram_command_refused"]
    assert refused["chat_id"] == STRANGER
    assert refused["log_level"] == "warning"


@pytest.mark.asyncio
async def test_each_update_is_confirmed_by_the_next_offset(fake_telegram, poll):
    _, heard = poll
    first = fake_telegram.push_message(OPERATOR, "/status")
    await fake_telegram.wait_for(lambda: heard == [("status", OPERATOR)])
    await fake_telegram.wait_for(lambda: not fake_telegram.updates, what="the update confirmed")
    polls = [r.json() for r in fake_telegram.requests if r.path.endswith("/getUpdates") and r.body]
    assert polls[0] == {"timeout": 1, "allowed_updates": ["message"]}  # no offset yet
    assert polls[-1]["offset"] == first + 1
    await asyncio.sleep(0.2)
    assert heard == [("status", OPERATOR)]  # never handled twice


@pytest.mark.asyncio
async def test_a_command_sent_before_the_start_is_not_acted_on(fake_telegram, poll):
    _, heard = poll
    fake_telegram.push_message(OPERATOR, "/pause", date=int(time.time()) - 3600)
    fake_telegram.push_message(OPERATOR, "/status")
    await fake_telegram.wait_for(lambda: len(fake_telegram.messages) == 1)
    assert heard == [("status", OPERATOR)]


@pytest.mark.asyncio
async def test_the_poller_outlives_errors_and_an_outage(fake_telegram, poll):
    _, heard = poll
    fake_telegram.fail_next(2, 500)
    await fake_telegram.go_down()
    await asyncio.sleep(0.3)
    with capture_logs() as logs:
        await fake_telegram.come_up()
        fake_telegram.push_message(OPERATOR, "/positions")
        await fake_telegram.wait_for(lambda: len(fake_telegram.messages) == 1, within_s=5)
    assert heard[-1] == ("positions", OPERATOR)
    failed = [e["status"] for e in logs if e["event"] == "telegram_poll_failed"]
    assert [status for status in failed if status][:2] == [500, 500]  # 0: refused while down
