"""The Telegram and Slack transports against local servers that answer as the real services
do: the exact request each sends, and how each answer is classified (sent, retry, refused)."""

from __future__ import annotations

import asyncio

import pytest

from algotrading.ops.alerts.transports import SlackTransport, TelegramTransport

pytest_plugins = ("tests.fakes.chat_apis",)


@pytest.fixture
async def telegram(fake_telegram):
    transport = TelegramTransport(
        fake_telegram.token, fake_telegram.chat_id, base_url=fake_telegram.base_url, timeout_s=2
    )
    yield transport
    await transport.close()


@pytest.fixture
async def slack(fake_slack):
    transport = SlackTransport(fake_slack.webhook_url, timeout_s=2)
    yield transport
    await transport.close()


@pytest.mark.asyncio
async def test_telegram_posts_send_message_with_the_token_in_the_path(fake_telegram, telegram):
    outcome = await telegram.send("WARNING [p1] breaker_daily_loss: tripped")
    assert outcome.sent, outcome
    assert outcome.result["text"] == "WARNING [p1] breaker_daily_loss: tripped"
    [seen] = fake_telegram.requests
    assert (seen.method, seen.path) == ("POST", f"/bot{fake_telegram.token}/sendMessage")
    assert seen.json() == {
        "chat_id": fake_telegram.chat_id,
        "text": "WARNING [p1] breaker_daily_loss: tripped",
        "disable_web_page_preview": True,
    }


@pytest.mark.asyncio
async def test_telegram_parse_mode_is_sent_only_when_set(fake_telegram):
    transport = TelegramTransport(
        fake_telegram.token,
        fake_telegram.chat_id,
        base_url=fake_telegram.base_url + "/",
        parse_mode="HTML",
    )
    try:
        assert (await transport.send("<b>halted</b>")).sent
    finally:
        await transport.close()
    assert fake_telegram.requests[0].json()["parse_mode"] == "HTML"
    assert fake_telegram.requests[0].path.startswith("/bot")  # no doubled slash


@pytest.mark.asyncio
async def test_a_wrong_token_is_refused_and_never_shown(fake_telegram):
    wrong = "987654321:WrongTokenWrongTokenWrongToken"
    transport = TelegramTransport(wrong, fake_telegram.chat_id, base_url=fake_telegram.base_url)
    try:
        outcome = await transport.send("hello")
    finally:
        await transport.close()
    assert (outcome.kind, outcome.status, outcome.detail) == ("refused", 401, "Unauthorized")
    assert wrong not in repr(transport)
    assert wrong not in repr(outcome)
    assert fake_telegram.messages == []


@pytest.mark.asyncio
async def test_an_unknown_chat_is_refused(fake_telegram):
    transport = TelegramTransport(fake_telegram.token, 42, base_url=fake_telegram.base_url)
    try:
        outcome = await transport.send("hello")
    finally:
        await transport.close()
    assert (outcome.kind, outcome.status) == ("refused", 400)
    assert outcome.detail == "Bad Request: chat not found"


@pytest.mark.asyncio
async def test_telegram_flood_control_and_server_errors_are_worth_retrying(fake_telegram, telegram):
    fake_telegram.fail_next(1, 429, retry_after=7)
    fake_telegram.fail_next(1, 502)
    flood = await telegram.send("a")
    assert (flood.kind, flood.status, flood.retry_after) == ("retry", 429, 7)
    assert "retry after 7" in flood.detail
    bad_gateway = await telegram.send("a")
    assert (bad_gateway.kind, bad_gateway.status) == ("retry", 502)
    assert (await telegram.send("a")).sent


@pytest.mark.asyncio
async def test_telegram_text_is_clipped_to_the_api_limit(fake_telegram, telegram):
    outcome = await telegram.send("x" * 5000)
    assert outcome.sent, outcome
    assert len(fake_telegram.messages[0]["text"]) == 4096


@pytest.mark.asyncio
async def test_slack_posts_the_text_and_reads_ok(fake_slack, slack):
    outcome = await slack.send("CRITICAL [p1] actor_escalate: model keeps failing")
    assert outcome.sent, outcome
    assert outcome.detail == "ok"
    [seen] = fake_slack.requests
    assert (seen.method, seen.path) == (
        "POST",
        "/services/T0000FAKE/B0000FAKE/abcdefghijklmnopqrstuvwx",
    )
    assert seen.json() == {"text": "CRITICAL [p1] actor_escalate: model keeps failing"}


@pytest.mark.asyncio
async def test_slack_blocks_carry_the_same_text(fake_slack):
    transport = SlackTransport(fake_slack.webhook_url, blocks=True)
    try:
        assert (await transport.send("fill: BUY 10,000 EUR_USD @ 1.08512")).sent
    finally:
        await transport.close()
    assert fake_slack.requests[0].json() == {
        "text": "fill: BUY 10,000 EUR_USD @ 1.08512",
        "blocks": [
            {
                "type": "section",
                "text": {"type": "plain_text", "text": "fill: BUY 10,000 EUR_USD @ 1.08512"},
            }
        ],
    }


@pytest.mark.asyncio
async def test_slack_errors_are_classified_by_status(fake_slack, slack):
    fake_slack.fail_next(1, 400)
    fake_slack.fail_next(1, 429, retry_after=3)
    fake_slack.fail_next(1, 500)
    bad = await slack.send("a")
    assert (bad.kind, bad.status, bad.detail) == ("refused", 400, "invalid_payload")
    limited = await slack.send("a")
    assert (limited.kind, limited.status, limited.retry_after) == ("retry", 429, 3)
    broken = await slack.send("a")
    assert (broken.kind, broken.status, broken.detail) == ("retry", 500, "rollup_error")
    assert (await slack.send("a")).sent


@pytest.mark.asyncio
async def test_a_revoked_webhook_is_refused_and_its_url_never_shown(fake_slack):
    url = fake_slack.base_url + "/services/T0000FAKE/B0000FAKE/revokedrevokedrevoked000"
    transport = SlackTransport(url)
    try:
        outcome = await transport.send("hello")
    finally:
        await transport.close()
    assert (outcome.kind, outcome.status, outcome.detail) == ("refused", 404, "no_service")
    assert "revoked" not in repr(transport)


@pytest.mark.asyncio
async def test_an_unreachable_or_silent_service_is_worth_retrying(fake_telegram, fake_slack):
    telegram = TelegramTransport(
        fake_telegram.token, fake_telegram.chat_id, base_url=fake_telegram.base_url
    )
    slack = SlackTransport(fake_slack.webhook_url, timeout_s=0.3)
    try:
        await fake_telegram.go_down()
        down = await telegram.send("a")
        assert down.kind == "retry"
        assert down.status == 0
        assert "ClientConnectorError" in down.detail
        assert fake_telegram.token not in down.detail
        fake_slack.slow(5)
        silent = await asyncio.wait_for(slack.send("a"), 3)
        assert (silent.kind, silent.detail) == ("retry", "no answer within 0.3s")
        await fake_telegram.come_up()
        assert (await telegram.send("back")).sent
    finally:
        await telegram.close()
        await slack.close()
