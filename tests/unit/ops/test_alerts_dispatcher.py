"""The dispatcher against local Telegram and Slack servers: levels per destination,
deduplication, the token bucket and its "+N suppressed", retries (500, 429 with retry_after,
none on 400), the bounded queue with the service down, and a bounded stop with a hung server."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from structlog.testing import capture_logs

from algotrading.messages import Alert, AlertLevel
from algotrading.ops.alerts.dispatcher import Deduplicator, Dispatcher, TokenBucket
from algotrading.ops.alerts.transports import SlackTransport, TelegramTransport

pytest_plugins = ("tests.fakes.chat_apis",)

INFO, WARNING, CRITICAL = AlertLevel.INFO, AlertLevel.WARNING, AlertLevel.CRITICAL
_ids = itertools.count()


def alert(text: str, level: AlertLevel = INFO, code: str = "test") -> Alert:
    return Alert(ts_event=next(_ids), level=level, code=code, text=text)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def telegram_at(server) -> TelegramTransport:
    return TelegramTransport(server.token, server.chat_id, base_url=server.base_url, timeout_s=2)


def dispatcher(*destinations, **kwargs) -> Dispatcher:
    kwargs.setdefault("backoff_initial_s", 0.02)
    kwargs.setdefault("backoff_max_s", 0.1)
    kwargs.setdefault("rate_per_minute", 600)
    return Dispatcher(list(destinations), **kwargs)


@pytest.fixture
async def running():
    """Start dispatchers; stop whatever a test left running."""
    started: list[Dispatcher] = []

    async def start(d: Dispatcher) -> Dispatcher:
        await d.start()
        started.append(d)
        return d

    yield start
    for d in started:
        await d.stop(flush_timeout_s=0.5)


def test_token_bucket_refills_at_its_rate_and_a_charge_is_paid_back():
    clock = FakeClock()
    bucket = TokenBucket(rate_per_s=0.5, capacity=2, clock=clock)
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    assert bucket.seconds_until_token() == pytest.approx(2.0)
    clock.now += 2.0
    assert bucket.take()
    bucket.charge()  # a critical alert: below zero
    clock.now += 2.0
    assert not bucket.take()
    clock.now += 2.0
    assert bucket.take()


def test_deduplicator_forgets_a_key_after_its_window():
    clock = FakeClock()
    dedup = Deduplicator(60, clock)
    assert not dedup.repeat(("a", "x"))
    assert dedup.repeat(("a", "x"))
    assert not dedup.repeat(("a", "y"))
    clock.now += 59.9
    assert dedup.repeat(("a", "x"))
    clock.now += 0.2
    assert not dedup.repeat(("a", "x"))
    assert Deduplicator(0, clock).repeat(("a", "x")) is False


@pytest.mark.asyncio
async def test_each_destination_gets_what_reaches_its_minimum_level(
    fake_telegram, fake_slack, running
):
    d = await running(
        dispatcher(
            (telegram_at(fake_telegram), INFO), (SlackTransport(fake_slack.webhook_url), WARNING)
        )
    )
    assert d.submit(alert("filled", INFO))
    assert d.submit(alert("halted", CRITICAL))
    assert d.submit(alert("restarted", WARNING))
    await fake_telegram.wait_for(lambda: len(fake_telegram.messages) == 3, what="3 messages")
    await fake_slack.wait_for(lambda: len(fake_slack.messages) == 2, what="2 messages")
    assert fake_telegram.texts() == ["filled", "halted", "restarted"]  # in order
    assert fake_slack.texts() == ["halted", "restarted"]
    assert d.stats()["telegram"]["sent"] == 3


@pytest.mark.asyncio
async def test_the_same_code_and_text_within_the_window_is_sent_once(fake_telegram, running):
    clock = FakeClock()
    d = await running(dispatcher((telegram_at(fake_telegram), INFO), dedup_s=60, clock=clock))
    assert d.submit(alert("stale data", WARNING, "breaker_stale_data"))
    assert not d.submit(alert("stale data", WARNING, "breaker_stale_data"))
    assert d.submit(alert("stale data", WARNING, "breaker_other"))  # another code
    assert d.submit(alert("stale data again", WARNING, "breaker_stale_data"))  # another text
    clock.now += 61
    assert d.submit(alert("stale data", WARNING, "breaker_stale_data"))
    await fake_telegram.wait_for(lambda: len(fake_telegram.messages) == 4)
    assert d.deduplicated == 1
    await asyncio.sleep(0.1)
    assert len(fake_telegram.requests) == 4


@pytest.mark.asyncio
async def test_the_rate_limit_suppresses_and_the_next_message_says_how_many(fake_telegram, running):
    clock = FakeClock()
    d = await running(
        dispatcher((telegram_at(fake_telegram), INFO), rate_per_minute=4, clock=clock)
    )
    for i in range(4):  # info alerts use only the upper half of the 4 tokens
        d.submit(alert(f"fill {i}"))
    await fake_telegram.wait_for(lambda: d.stats()["telegram"]["suppressed"] == 2)
    assert fake_telegram.texts() == ["fill 0", "fill 1"]
    for text in ("breaker reset", "stale data", "stale data again"):  # warnings: the rest
        d.submit(alert(text, WARNING))
    await fake_telegram.wait_for(lambda: d.stats()["telegram"]["suppressed"] == 3)
    await fake_telegram.wait_for(lambda: len(fake_telegram.messages) == 4)
    assert fake_telegram.texts()[2:] == ["breaker reset (+2 suppressed)", "stale data"]
    d.submit(alert("margin closeout", CRITICAL))  # never suppressed, only charged
    await fake_telegram.wait_for(lambda: len(fake_telegram.messages) == 5)
    assert fake_telegram.texts()[4] == "margin closeout (+1 suppressed)"
    d.submit(alert("fill 4"))  # the critical alert took the bucket below zero
    await fake_telegram.wait_for(lambda: d.stats()["telegram"]["suppressed"] == 4)
    clock.now += 60  # a minute's tokens back, less what the critical alert borrowed
    d.submit(alert("fill 5"))
    await fake_telegram.wait_for(lambda: len(fake_telegram.messages) == 6)
    assert fake_telegram.texts()[5] == "fill 5 (+1 suppressed)"
    assert d.stats()["telegram"] == {
        "sent": 6,
        "failed": 0,
        "suppressed": 4,
        "dropped": 0,
        "queued": 0,
    }


@pytest.mark.asyncio
async def test_a_quiet_spell_after_suppression_brings_a_note_of_its_own(fake_slack, running):
    d = await running(
        dispatcher(
            (SlackTransport(fake_slack.webhook_url), INFO),
            rate_per_minute=120,  # a token every 0.5 s
            burst=1,
            note_text="WARNING [p1] alerts_held_back: alerts held back",
        )
    )
    for i in range(3):
        d.submit(alert(f"fill {i}"))
    await fake_slack.wait_for(lambda: len(fake_slack.messages) == 2, within_s=5)
    assert fake_slack.texts() == [
        "fill 0",
        "WARNING [p1] alerts_held_back: alerts held back (+2 suppressed)",
    ]


@pytest.mark.asyncio
async def test_a_server_error_is_retried_until_it_goes_through(fake_telegram, running):
    fake_telegram.fail_next(2, 500)
    d = await running(dispatcher((telegram_at(fake_telegram), INFO), max_retries=3))
    d.submit(alert("halted", CRITICAL))
    await fake_telegram.wait_for(lambda: len(fake_telegram.messages) == 1)
    assert [r.status for r in fake_telegram.requests] == [500, 500, 200]
    assert fake_telegram.texts() == ["halted"]


@pytest.mark.asyncio
@pytest.mark.parametrize("service", ["telegram", "slack"])
async def test_a_429_is_retried_after_the_wait_the_service_asked_for(
    service, fake_telegram, fake_slack, running
):
    server = fake_telegram if service == "telegram" else fake_slack
    transport = (
        telegram_at(fake_telegram)
        if service == "telegram"
        else SlackTransport(fake_slack.webhook_url)
    )
    server.fail_next(1, 429, retry_after=1)
    d = await running(dispatcher((transport, INFO), backoff_initial_s=0.01))
    d.submit(alert("first"))
    d.submit(alert("second"))
    await server.wait_for(lambda: len(server.messages) == 2, within_s=5)
    first, retried, second = server.requests
    assert first.status == 429
    assert retried.at - first.at >= 1.0  # not the 10 ms backoff: the service's retry_after
    assert second.at - first.at >= 1.0
    assert [m["text"] for m in server.messages] == ["first", "second"]


@pytest.mark.asyncio
async def test_a_4xx_is_a_configuration_error_logged_and_not_retried(fake_slack, running):
    fake_slack.fail_next(1, 400)
    d = await running(dispatcher((SlackTransport(fake_slack.webhook_url), INFO), max_retries=5))
    with capture_logs() as logs:
        d.submit(alert("first"))
        d.submit(alert("second"))
        await fake_slack.wait_for(lambda: len(fake_slack.messages) == 1)
    assert [r.status for r in fake_slack.requests] == [400, 200]
    assert fake_slack.texts() == ["second"]
    [error] = [e for e in logs if e["event"] == "alert_config_error"]
    assert error["log_level"] == "error"
    assert (error["destination"], error["status"], error["detail"]) == (
        "slack",
        400,
        "invalid_payload",
    )
    assert d.stats()["slack"]["failed"] == 1


@pytest.mark.asyncio
async def test_retries_end_after_max_retries_and_the_next_alert_still_goes(fake_telegram, running):
    fake_telegram.fail_next(3, 503)
    d = await running(dispatcher((telegram_at(fake_telegram), INFO), max_retries=2))
    with capture_logs() as logs:
        d.submit(alert("lost"))
        d.submit(alert("next"))
        await fake_telegram.wait_for(lambda: len(fake_telegram.messages) == 1)
    assert [r.status for r in fake_telegram.requests] == [503, 503, 503, 200]
    assert fake_telegram.texts() == ["next"]
    assert [e["attempts"] for e in logs if e["event"] == "alert_undelivered"] == [3]


@pytest.mark.asyncio
async def test_with_the_service_down_submit_never_blocks_and_the_queue_stays_bounded(
    fake_telegram, running
):
    await fake_telegram.go_down()
    d = await running(
        dispatcher((telegram_at(fake_telegram), INFO), queue_size=5, max_retries=1000)
    )
    d.submit(alert("first"))
    await asyncio.sleep(0.05)  # the sender holds "first", retrying
    for i in range(2000):
        level = CRITICAL if i % 500 == 0 else INFO
        assert d.submit(alert(f"{level.value.lower()} {i}", level)) in (True, False)
    lane = d.lanes[0]
    assert len(lane.queue) == 5
    queued = [a.text for a in lane.queue]
    assert queued[:4] == ["critical 0", "critical 500", "critical 1000", "critical 1500"]
    assert queued[4] == "info 1999"  # the newest of the lowest level stays, older ones went
    assert lane.dropped == 2000 - 5
    await fake_telegram.come_up()
    await fake_telegram.wait_for(lambda: len(fake_telegram.messages) == 6, within_s=5)
    texts = fake_telegram.texts()
    assert texts[0] == "first (+1995 dropped, queue full)"
    assert texts[1:] == queued


@pytest.mark.asyncio
async def test_stop_with_a_hung_server_gives_up_after_the_flush_time(fake_telegram):
    fake_telegram.slow(30)
    d = dispatcher((telegram_at(fake_telegram), INFO), rate_per_minute=60)
    await d.start()
    for i in range(3):
        d.submit(alert(f"alert {i}"))
    await fake_telegram.wait_for(lambda: len(fake_telegram.requests) == 1)
    with capture_logs() as logs:
        await asyncio.wait_for(d.stop(flush_timeout_s=0.3), 5)
    assert d.stats()["telegram"]["queued"] == 2
    assert [e["count"] for e in logs if e["event"] == "alerts_unsent"] == [2]
    assert not d.submit(alert("after stop"))
    assert d.lanes[0].task is not None
    assert d.lanes[0].task.done()


@pytest.mark.asyncio
async def test_stop_flushes_what_is_queued(fake_telegram, fake_slack):
    d = dispatcher(
        (telegram_at(fake_telegram), INFO), (SlackTransport(fake_slack.webhook_url), INFO)
    )
    for i in range(5):
        d.submit(alert(f"alert {i}"))  # before start: kept until the senders run
    await d.start()
    await d.stop(flush_timeout_s=5)
    expected = [f"alert {i}" for i in range(5)]
    assert fake_telegram.texts() == expected
    assert fake_slack.texts() == expected
