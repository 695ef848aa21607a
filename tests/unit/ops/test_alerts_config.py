"""``AlertsConfig`` as YAML gives it, and ``check_alerts_config``: off by default, secrets only
from the environment, and every missing or malformed one named."""

from __future__ import annotations

import msgspec
import pytest
import yaml

from algotrading.errors import ConfigError
from algotrading.messages import AlertLevel
from algotrading.ops.alerts.config import AlertsConfig, check_alerts_config, level_of

TOKEN = "123456789:AAExampleExampleExample_0123"
HOOK = "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX"


def from_yaml(text: str) -> AlertsConfig:
    return msgspec.convert(yaml.safe_load(text) or {}, AlertsConfig, strict=True)


def test_everything_is_off_by_default_and_needs_no_secret():
    cfg = from_yaml("")
    assert not cfg.telegram.enabled
    assert not cfg.slack.enabled
    assert not cfg.telegram.commands.enabled
    targets = check_alerts_config(cfg, {})
    assert not targets.telegram
    assert not targets.slack


def test_a_full_section_reads_as_written():
    cfg = from_yaml(
        """
telegram:
  enabled: true
  chat_id: -1001234567890
  min_level: warning
  base_url: http://127.0.0.1:8081
  commands: {enabled: true, allowed_chat_ids: [1234, -1001234567890]}
slack: {enabled: true, min_level: critical}
dedup_seconds: 60
rate_per_minute: 10
queue_size: 50
fills: false
timeout_seconds: 5
max_retries: 2
"""
    )
    assert cfg.telegram.commands.allowed_chat_ids == [1234, -1001234567890]
    assert level_of(cfg.telegram.min_level) is AlertLevel.WARNING
    assert level_of(cfg.slack.min_level) is AlertLevel.CRITICAL
    targets = check_alerts_config(
        cfg, {"ALGOTRADING_TELEGRAM_BOT_TOKEN": TOKEN, "ALGOTRADING_SLACK_WEBHOOK_URL": HOOK}
    )
    assert targets.telegram_chat_id == -1001234567890
    assert targets.telegram_token == TOKEN
    assert targets.slack_webhook_url == HOOK
    assert TOKEN not in repr(targets)
    assert HOOK not in repr(targets)


@pytest.mark.parametrize(
    "text",
    [
        "slack: {enabled: true, webhook_url: 'https://hooks.slack.com/x'}",
        "telegram: {token: '1:abc'}",
        "telegram: {min_level: debug}",
        "rate_per_minute: many",
    ],
)
def test_unknown_keys_and_wrong_values_are_refused(text):
    with pytest.raises(msgspec.ValidationError):
        from_yaml(text)


@pytest.mark.parametrize(
    ("yaml_text", "environ", "variable"),
    [
        ("telegram: {enabled: true, chat_id: 1}", {}, "ALGOTRADING_TELEGRAM_BOT_TOKEN"),
        (
            "telegram: {enabled: true}",
            {"ALGOTRADING_TELEGRAM_BOT_TOKEN": TOKEN},
            "ALGOTRADING_TELEGRAM_CHAT_ID",
        ),
        (
            "telegram: {enabled: true, chat_id: 1}",
            {"ALGOTRADING_TELEGRAM_BOT_TOKEN": "  "},
            "ALGOTRADING_TELEGRAM_BOT_TOKEN",
        ),
        ("slack: {enabled: true}", {}, "ALGOTRADING_SLACK_WEBHOOK_URL"),
        (
            "slack: {enabled: true}",
            {"ALGOTRADING_SLACK_WEBHOOK_URL": "hooks.slack.com/services/x"},
            "ALGOTRADING_SLACK_WEBHOOK_URL",
        ),
        (
            "telegram: {enabled: true, chat_id: 1}",
            {"ALGOTRADING_TELEGRAM_BOT_TOKEN": "not a token"},
            "ALGOTRADING_TELEGRAM_BOT_TOKEN",
        ),
        (
            "telegram: {enabled: true}",
            {"ALGOTRADING_TELEGRAM_BOT_TOKEN": TOKEN, "ALGOTRADING_TELEGRAM_CHAT_ID": "my chat"},
            "ALGOTRADING_TELEGRAM_CHAT_ID",
        ),
    ],
)
def test_an_enabled_destination_without_its_secret_names_the_variable(yaml_text, environ, variable):
    with pytest.raises(ConfigError) as raised:
        check_alerts_config(from_yaml(yaml_text), environ)
    assert raised.value.key == variable
    assert raised.value.file == "environment"
    assert variable in str(raised.value)


def test_a_malformed_token_is_named_but_never_shown():
    secret = "12345:has spaces in it"
    with pytest.raises(ConfigError) as raised:
        check_alerts_config(
            from_yaml("telegram: {enabled: true, chat_id: 1}"),
            {"ALGOTRADING_TELEGRAM_BOT_TOKEN": secret},
        )
    assert secret not in str(raised.value)
    assert "BotFather" in str(raised.value)


def test_the_chat_id_comes_from_the_environment_first_then_the_config():
    cfg = from_yaml("telegram: {enabled: true, chat_id: 111}")
    env = {"ALGOTRADING_TELEGRAM_BOT_TOKEN": TOKEN}
    assert check_alerts_config(cfg, env).telegram_chat_id == 111
    env["ALGOTRADING_TELEGRAM_CHAT_ID"] = "-100222"
    assert check_alerts_config(cfg, env).telegram_chat_id == -100222
    env["ALGOTRADING_TELEGRAM_CHAT_ID"] = "@ops_channel"
    assert check_alerts_config(cfg, env).telegram_chat_id == "@ops_channel"
    cfg = from_yaml("telegram: {enabled: true, chat_id: '@x'}")  # too short for a username
    with pytest.raises(ConfigError) as raised:
        check_alerts_config(cfg, {"ALGOTRADING_TELEGRAM_BOT_TOKEN": TOKEN})
    assert raised.value.key == "alerts.telegram.chat_id"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("rate_per_minute: 0", "alerts.rate_per_minute"),
        ("queue_size: 0", "alerts.queue_size"),
        ("dedup_seconds: -1", "alerts.dedup_seconds"),
        ("timeout_seconds: 0", "alerts.timeout_seconds"),
        ("max_retries: -1", "alerts.max_retries"),
        ("telegram: {commands: {enabled: true}}", "alerts.telegram.commands.enabled"),
        (
            "telegram: {enabled: true, chat_id: 1, commands: {enabled: true}}",
            "alerts.telegram.commands.allowed_chat_ids",
        ),
        (
            "telegram: {enabled: true, chat_id: 1, base_url: 'api.telegram.org'}",
            "alerts.telegram.base_url",
        ),
    ],
)
def test_values_out_of_range_name_their_key(text, key):
    with pytest.raises(ConfigError) as raised:
        check_alerts_config(from_yaml(text), {"ALGOTRADING_TELEGRAM_BOT_TOKEN": TOKEN})
    assert raised.value.key == key
    assert raised.value.file == "system.yaml"
