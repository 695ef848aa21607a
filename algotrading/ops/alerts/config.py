"""The ``alerts`` section of ``system.yaml``, and the secrets it needs from the environment.

Everything is off by default. Secrets never sit in YAML: the bot token and the webhook URL come
only from ``ALGOTRADING_TELEGRAM_BOT_TOKEN`` and ``ALGOTRADING_SLACK_WEBHOOK_URL``; the chat id
from ``ALGOTRADING_TELEGRAM_CHAT_ID`` or ``alerts.telegram.chat_id`` (the environment wins).
:func:`check_alerts_config` turns a configuration plus an environment into the resolved
:class:`AlertTargets`, or a :class:`~algotrading.errors.ConfigError` that names the variable or
key at fault. It is meant to run at startup, before anything trades.

This module must not import ``algotrading.config`` (which imports it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from algotrading.errors import ConfigError
from algotrading.messages import AlertLevel

TELEGRAM_TOKEN_ENV = "ALGOTRADING_TELEGRAM_BOT_TOKEN"
TELEGRAM_CHAT_ENV = "ALGOTRADING_TELEGRAM_CHAT_ID"
SLACK_WEBHOOK_ENV = "ALGOTRADING_SLACK_WEBHOOK_URL"
TELEGRAM_API = "https://api.telegram.org"

Level = Literal["info", "warning", "critical"]

_FILE = "system.yaml"
_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")  # "123456789:AAE..." as BotFather gives it
_CHANNEL = re.compile(r"^@[A-Za-z][A-Za-z0-9_]{3,}$")  # a public channel's @username


class _Schema(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class TelegramCommandsConfig(_Schema, frozen=True):
    """Read-only commands (``/status``, ``/positions``, ``/pnl``) and ``/pause``, answered
    only to the chats listed here."""

    enabled: bool = False
    allowed_chat_ids: list[int] = msgspec.field(default_factory=list)


class TelegramConfig(_Schema, frozen=True):
    enabled: bool = False
    chat_id: int | str | None = None  # or ALGOTRADING_TELEGRAM_CHAT_ID, which wins
    min_level: Level = "info"
    base_url: str = TELEGRAM_API  # a local server in tests
    commands: TelegramCommandsConfig = TelegramCommandsConfig()


class SlackConfig(_Schema, frozen=True):
    enabled: bool = False  # the webhook URL: ALGOTRADING_SLACK_WEBHOOK_URL
    min_level: Level = "info"


class AlertsConfig(_Schema, frozen=True):
    telegram: TelegramConfig = TelegramConfig()
    slack: SlackConfig = SlackConfig()
    dedup_seconds: float = 300.0  # the same (code, text) again within this: not sent
    rate_per_minute: int = 20  # per destination, with bursts up to a minute's worth
    queue_size: int = 100  # per destination; full: the oldest lowest-level alert goes
    fills: bool = True  # an info alert for every fill
    timeout_seconds: float = 10.0  # per HTTP request
    max_retries: int = 3  # after the first try, on network errors, 5xx and 429


@dataclass(frozen=True)
class AlertTargets:
    """Where alerts go, secrets resolved. The secrets stay out of ``repr``."""

    telegram_token: str = field(default="", repr=False)
    telegram_chat_id: int | str | None = None
    slack_webhook_url: str = field(default="", repr=False)

    @property
    def telegram(self) -> bool:
        return bool(self.telegram_token)

    @property
    def slack(self) -> bool:
        return bool(self.slack_webhook_url)


def level_of(name: Level) -> AlertLevel:
    return AlertLevel(name.upper())


def check_alerts_config(cfg: AlertsConfig, environ: Mapping[str, str]) -> AlertTargets:
    """Check ``cfg`` and resolve the secrets of its enabled destinations from ``environ``.
    Raises :class:`ConfigError` naming the environment variable or the key at fault."""
    _check_numbers(cfg)
    targets = AlertTargets()
    if cfg.telegram.enabled:
        targets = _telegram(cfg.telegram, environ)
    elif cfg.telegram.commands.enabled:
        raise ConfigError(
            _FILE, "alerts.telegram.commands.enabled", "commands need alerts.telegram.enabled"
        )
    if cfg.slack.enabled:
        url = environ.get(SLACK_WEBHOOK_ENV, "").strip()
        if not url:
            raise ConfigError(
                "environment",
                SLACK_WEBHOOK_ENV,
                "alerts.slack.enabled is true but the Slack webhook URL is not set (env or .env)",
            )
        if not url.startswith(("https://", "http://")):
            raise ConfigError(
                "environment", SLACK_WEBHOOK_ENV, "expected an http(s) URL (the webhook's URL)"
            )
        targets = AlertTargets(
            telegram_token=targets.telegram_token,
            telegram_chat_id=targets.telegram_chat_id,
            slack_webhook_url=url,
        )
    return targets


def _check_numbers(cfg: AlertsConfig) -> None:
    checks = (
        ("dedup_seconds", cfg.dedup_seconds >= 0, "expected a number >= 0 (0 turns it off)"),
        ("rate_per_minute", cfg.rate_per_minute >= 1, "expected an integer >= 1"),
        ("queue_size", cfg.queue_size >= 1, "expected an integer >= 1"),
        ("timeout_seconds", cfg.timeout_seconds > 0, "expected a number > 0"),
        ("max_retries", cfg.max_retries >= 0, "expected an integer >= 0"),
    )
    for key, ok, problem in checks:
        if not ok:
            raise ConfigError(_FILE, f"alerts.{key}", problem)


def _telegram(cfg: TelegramConfig, environ: Mapping[str, str]) -> AlertTargets:
    token = environ.get(TELEGRAM_TOKEN_ENV, "").strip()
    if not token:
        raise ConfigError(
            "environment",
            TELEGRAM_TOKEN_ENV,
            "alerts.telegram.enabled is true but the bot token is not set (env or .env)",
        )
    if not _TOKEN.match(token):
        raise ConfigError(
            "environment",
            TELEGRAM_TOKEN_ENV,
            "does not look like a bot token (digits, a colon, then letters, as BotFather gives it)",
        )
    if not cfg.base_url.startswith(("https://", "http://")):
        raise ConfigError(_FILE, "alerts.telegram.base_url", "expected an http(s) URL")
    chat_id = _chat_id(environ.get(TELEGRAM_CHAT_ENV, "").strip(), TELEGRAM_CHAT_ENV, "env")
    if chat_id is None:
        chat_id = _chat_id(cfg.chat_id, "alerts.telegram.chat_id", _FILE)
    if chat_id is None:
        raise ConfigError(
            "environment",
            TELEGRAM_CHAT_ENV,
            "alerts.telegram.enabled is true but no chat id is set: set "
            f"{TELEGRAM_CHAT_ENV} or alerts.telegram.chat_id",
        )
    if cfg.commands.enabled and not cfg.commands.allowed_chat_ids:
        raise ConfigError(
            _FILE,
            "alerts.telegram.commands.allowed_chat_ids",
            "commands are enabled but no chat is allowed to send them",
        )
    return AlertTargets(telegram_token=token, telegram_chat_id=chat_id)


def _chat_id(value: int | str | None, key: str, where: str) -> int | str | None:
    """A numeric chat id (negative for groups) or a channel's ``@username``."""
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    if _CHANNEL.match(value):
        return value
    raise ConfigError(
        "environment" if where == "env" else where,
        key,
        f"expected a numeric chat id (e.g. -1001234567890) or a channel's @username, got {value!r}",
    )
