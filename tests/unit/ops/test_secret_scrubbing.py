"""Configured secrets never reach a log line, an alert outcome or an error's text, even where a
server echoes them back — the path of a Slack webhook included."""

from __future__ import annotations

import io
import json

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer

from algotrading.log import add_secrets, configure_logging, get_logger, scrub
from algotrading.ops.alerts.transports import SlackTransport, TelegramTransport

WEBHOOK_PATH = "/services/T0ABCDEF/B0GHIJKL/s3cr3tW3bh00kP4thValue"
BOT_TOKEN = "123456789:AAHsecretBotTokenValue_abcdefghijkl"
OANDA_TOKEN = "abcdef0123456789-oanda-secret-0123456789abcdef"


async def echo(request: web.Request) -> web.Response:
    """An error answer that repeats everything it was sent: path, headers, body."""
    body = await request.text()
    return web.Response(
        status=404,
        text=f"Cannot POST {request.path} (headers {dict(request.headers)}, body {body})",
    )


@pytest.fixture
async def echo_server():
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


@pytest.fixture
def logs():
    out = io.StringIO()
    configure_logging("debug", "json", out)
    yield out
    structlog.reset_defaults()


async def test_echoing_servers_never_get_a_secret_into_outcomes_or_logs(echo_server, logs):
    url = str(echo_server.make_url(WEBHOOK_PATH))
    add_secrets([url, BOT_TOKEN, OANDA_TOKEN])
    slack = SlackTransport(url)
    telegram = TelegramTransport(BOT_TOKEN, 42, base_url=str(echo_server.make_url("")))
    try:
        outcomes = [await slack.send("hello"), await telegram.send("hello")]
    finally:
        await slack.close()
        await telegram.close()
    assert [o.kind for o in outcomes] == ["refused", "refused"]
    assert "Cannot POST" in outcomes[0].detail
    log = get_logger("alerts")
    for outcome in outcomes:
        log.warning("alert_refused", detail=outcome.detail, raw=[{"again": outcome.detail}])
    try:
        raise RuntimeError(f"GET {url} with Bearer {OANDA_TOKEN} failed")
    except RuntimeError as exc:
        log.exception("failed", error=exc, nested={"tuple": (str(exc),)})
    text = logs.getvalue() + "".join(o.detail for o in outcomes)
    for secret in (url, WEBHOOK_PATH, "s3cr3tW3bh00kP4thValue", BOT_TOKEN, OANDA_TOKEN):
        assert secret not in text
    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert "***" in lines[-1]["exception"]


def test_scrub_masks_every_form_of_a_url_secret():
    add_secrets(["https://hooks.slack.com/services/T1/B2/Zz9Yy8Xx7Ww6"])
    assert scrub("Cannot POST /services/T1/B2/Zz9Yy8Xx7Ww6") == "Cannot POST ***"
    assert scrub("token Zz9Yy8Xx7Ww6 leaked") == "token *** leaked"
    assert scrub("short ab and ordinary words stay") == "short ab and ordinary words stay"
