"""Alerts from the paper daemon, run in-process with ``AlertService`` pointed at local Telegram and
Slack servers: fills, an operator ``halt`` and a Telegram ``/pause`` arrive as one-line alerts,
the commands answer only the operator's chat, and the daily summary goes out. With the chat
services down, or answering in 2 s, the daemon trades exactly as it does without alerts: the
same orders and the same fills over the same CSV of bars."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path

import msgspec
import pytest

from algotrading.adapters.csv_bars import write_bars_csv
from algotrading.config import Config, load_config
from algotrading.daemon.app import DB_NAME, run_daemon
from algotrading.daemon.control import Control
from algotrading.data.synthetic import synthetic_bars
from algotrading.messages import Command
from algotrading.ops.alerts.config import AlertsConfig
from algotrading.ops.alerts.service import AlertService
from algotrading.timestamps import iso_utc, parse_utc

pytest_plugins = ("tests.fakes.chat_apis",)

MINUTE = 60 * 10**9
OPERATOR, STRANGER = 4242, 5151
FILL = re.compile(
    r"^INFO \[(p[0-9a-f]+)\] fill: (BUY|SELL) 10,000 EUR_USD @ \d\.\d{5} \(order \S+\)$"
)


def paper_config(tmp_path: Path, bars: int, speed: float, strategy: str = "") -> Config:
    """One-minute EUR/USD bars from a Monday morning, paced ``speed`` times real time: every
    bar is handled before the next one comes, so a run's orders depend only on the data. The
    first bar comes a few minutes of data time after the start, once the daemon runs."""
    start = parse_utc("2024-01-08T08:00:00Z")
    history = synthetic_bars("EUR_USD", start, start + bars * MINUTE, MINUTE, seed=3)
    csv = write_bars_csv(tmp_path / "EURUSD_M1.csv", history)
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "system.yaml").write_text(
        f"feed: {{source: csv, path: '{csv}', speed: {speed}, "
        f"start: '{iso_utc(history[0].ts_event - 5 * MINUTE)}'}}\n{strategy}"
    )
    return load_config(conf)


def alerts(telegram, *, commands: bool = False, slack: str = "warning", **extra) -> AlertsConfig:
    return msgspec.convert(
        {
            "telegram": {
                "enabled": True,
                "base_url": telegram.base_url,
                "commands": {"enabled": commands, "allowed_chat_ids": [OPERATOR]},
            },
            "slack": {"enabled": True, "min_level": slack},
            **extra,
        },
        AlertsConfig,
    )


def fills(state: Path) -> list[tuple]:
    db = sqlite3.connect(state / DB_NAME)
    try:
        return db.execute(
            "SELECT ts_event, instrument, side, quantity, price FROM fills "
            "ORDER BY ts_event, side, quantity, price"
        ).fetchall()
    finally:
        db.close()


@pytest.mark.asyncio
async def test_fills_state_changes_commands_and_the_summary_reach_the_operator(
    tmp_path, fake_telegram, fake_slack
):
    config = paper_config(tmp_path, bars=600, speed=3000)
    fake_telegram.chats |= {OPERATOR, STRANGER}
    service = AlertService(
        alerts(fake_telegram, commands=True),
        {**fake_telegram.environ(), **fake_slack.environ()},
        poll_s=1,
    )
    control = Control()
    runtimes = []
    daemon = asyncio.create_task(
        run_daemon(
            config,
            tmp_path / "state",
            control=control,
            services=[service],
            on_started=lambda session, runtime: runtimes.append(runtime),
        )
    )

    def telegram_has(pattern: str, chat: int | None = None) -> bool:
        return any(re.search(pattern, t) for t in fake_telegram.texts(chat))

    def slack_has(pattern: str) -> bool:
        return any(re.search(pattern, t) for t in fake_slack.texts())

    try:
        await fake_telegram.wait_for(lambda: telegram_has(" fill: "), 8, "a fill alert")
        fake_telegram.push_message(STRANGER, "/status")
        fake_telegram.push_message(OPERATOR, "/pause")
        await fake_telegram.wait_for(
            lambda: telegram_has("trading ACTIVE -> REDUCING: /pause from Telegram chat 4242"),
            5,
            "the /pause state change",
        )
        control.submit(Command(ts_event=0, name="halt", args={"reason": "operator test"}))
        await fake_slack.wait_for(
            lambda: slack_has("trading REDUCING -> HALTED: operator test"), 5, "the halt"
        )
        fake_telegram.push_message(OPERATOR, "/pause")
        fake_telegram.push_message(OPERATOR, "/status")
        await fake_telegram.wait_for(
            lambda: telegram_has(r"paper, up .*, trading HALTED \(operator test\)", OPERATOR),
            5,
            "the /status answer",
        )
        summary_text = await service.daily_summary()
        await fake_slack.wait_for(lambda: slack_has("daily_summary"), 5, "the daily summary")
    finally:
        if runtimes:
            runtimes[0].request_stop("test done")
        summary = await asyncio.wait_for(daemon, 30)

    session = summary.session_id
    assert summary.exit_code == 0
    assert summary.trading_state == "HALTED"
    telegram = fake_telegram.texts(fake_telegram.chat_id)
    fill_alerts = [t for t in telegram if " fill: " in t]
    assert fill_alerts
    assert all(FILL.match(t) and FILL.match(t).group(1) == session for t in fill_alerts)
    assert telegram[0] == f"INFO [{session}] daemon_started: paper session started"
    assert (
        f"CRITICAL [{session}] trading_state: trading REDUCING -> HALTED: operator test" in telegram
    )
    assert telegram[-1] == f"INFO [{session}] daemon_stopped: test done (exit code 0)"
    assert all(f"[{session}]" in t for t in telegram)
    # Slack's minimum level is warning: no fills there, but the state changes and the summary
    slack = fake_slack.texts()
    assert not any(" fill: " in t for t in slack)
    assert f"WARNING [{session}] trading_state: trading ACTIVE -> REDUCING: " in slack[0]
    assert summary_text in slack
    assert re.search(
        r"daily_summary: equity [\d,]+\.\d\d USD, day P&L [+-][\d,]+\.\d\d, trades \d+",
        summary_text,
    )
    # the wire formats, exactly
    assert all(
        set(m) == {"chat_id", "text", "disable_web_page_preview"} and m["disable_web_page_preview"]
        for m in fake_telegram.messages
    )
    assert all(set(m) == {"text"} for m in fake_slack.messages)
    # the commands: answers to the operator only, and /pause never loosens a halt
    answers = fake_telegram.texts(OPERATOR)
    assert answers[0].startswith(f"[{session}] pause requested: trading goes to REDUCING")
    assert answers[1] == (
        f"[{session}] trading was set to HALTED by an operator already; /pause changes nothing"
    )
    assert fake_telegram.texts(STRANGER) == []
    assert service.poller is not None
    assert service.poller.refused == 1


def quick_run(tmp_path: Path) -> Config:
    """40 bars, 100 ms apart: an order decided on a bar reaches the venue before the next bar
    opens (a later arrival would fill a bar later), with room to spare on a loaded machine; a
    fast strategy so that a short run trades often."""
    return paper_config(tmp_path, 40, 600, "strategy: {params: {fast: 2, slow: 5}}\n")


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """The orders and fills of a run without alerts (once for the module)."""
    tmp = tmp_path_factory.mktemp("baseline")
    summary = asyncio.run(run_daemon(quick_run(tmp), tmp / "state", services=[]))
    assert summary.exit_code == 0
    return summary.orders, fills(tmp / "state")


@pytest.mark.asyncio
@pytest.mark.parametrize("trouble", ["down", "slow"])
async def test_a_down_or_slow_chat_service_does_not_change_what_the_daemon_trades(
    trouble, baseline, tmp_path, fake_telegram, fake_slack
):
    for server in (fake_telegram, fake_slack):
        if trouble == "down":
            await server.go_down()
        else:
            server.slow(2.0)
    service = AlertService(
        alerts(fake_telegram, slack="info", queue_size=10, timeout_seconds=5),
        {**fake_telegram.environ(), **fake_slack.environ()},
        flush_timeout_s=0.5,
    )
    summary = await run_daemon(quick_run(tmp_path), tmp_path / "state", services=[service])
    orders, baseline_fills = baseline
    assert summary.exit_code == 0
    assert len(baseline_fills) >= 6
    assert summary.orders == orders
    assert fills(tmp_path / "state") == baseline_fills
    # the alerts were really attempted, and really held up
    assert service.book.fills == len(baseline_fills)
    assert service.dispatcher is not None
    telegram = service.dispatcher.stats()["telegram"]
    assert telegram["sent"] <= 3
    assert telegram["dropped"] > 0
    if trouble == "slow":
        assert fake_telegram.requests
        assert fake_slack.requests


@pytest.mark.asyncio
async def test_alerts_asked_for_without_their_secret_stop_the_daemon_naming_it(
    tmp_path, fake_telegram
):
    service = AlertService(alerts(fake_telegram), {})  # no token, no webhook URL
    summary = await asyncio.wait_for(
        run_daemon(quick_run(tmp_path), tmp_path / "state", services=[service]), 30
    )
    assert summary.exit_code == 1
    assert "service alerts failed to start" in summary.reason
    assert "ALGOTRADING_TELEGRAM_BOT_TOKEN" in summary.reason
    assert fake_telegram.requests == []
