import io
import json
from importlib import resources
from pathlib import Path

import pytest

from algotrading.config import load_config, load_secrets, parse_duration_ns
from algotrading.errors import ConfigError
from algotrading.log import configure_logging, get_logger

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, name: str, text: str) -> Path:
    (tmp_path / name).write_text(text)
    return tmp_path


def test_repository_config_files_are_the_embedded_defaults():
    for name in ("system.yaml", "market.yaml", "model.yaml"):
        embedded = resources.files("algotrading.defaults").joinpath(name).read_text()
        assert (REPO / "config" / name).read_text() == embedded
    assert load_config(REPO / "config").as_dict() == load_config().as_dict()


def test_partial_file_overrides_only_its_keys(tmp_path):
    config = load_config(write(tmp_path, "system.yaml", "supervisor:\n  max_restarts: 7\n"))
    assert config.system.supervisor.max_restarts == 7
    assert config.system.supervisor.within_seconds == 60.0
    assert config.system.strategy.name == "sma_cross"


def test_wrong_type_names_file_line_key_and_expectation(tmp_path):
    write(tmp_path, "system.yaml", "log:\n  level: info\nsupervisor:\n  max_restarts: three\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    err = info.value
    assert err.file == str(tmp_path / "system.yaml")
    assert err.key == "supervisor.max_restarts"
    assert err.line == 4
    assert "expected `int`, got `str`" in str(err)


def test_unknown_key_lists_the_allowed_ones(tmp_path):
    write(tmp_path, "system.yaml", "runtime:\n  queue_sise: 10\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert info.value.key == "runtime.queue_sise"
    assert "unknown key" in str(info.value)
    assert "queue_size" in str(info.value)
    assert str(info.value).startswith(f"{tmp_path / 'system.yaml'}:2: runtime.queue_sise")


def test_secret_in_yaml_is_refused_with_a_hint(tmp_path):
    write(tmp_path, "system.yaml", "venue:\n  api_token: abc\n")
    with pytest.raises(ConfigError, match="secrets come only from the environment"):
        load_config(tmp_path)


@pytest.mark.parametrize(
    ("name", "text", "key"),
    [
        ("market.yaml", "bar_interval: 7 parsecs\n", "bar_interval"),
        ("market.yaml", "instruments: [EUR_USD, XXX_YYY]\n", "instruments[1]"),
        ("system.yaml", "feed:\n  speed: 0\n", "feed.speed"),
        ("system.yaml", "feed:\n  source: csv\n", "feed.path"),
        ("model.yaml", "model:\n  kind: transformer\n", "model.kind"),
        ("system.yaml", "supervisor:\n  on_escalation: panic\n", "supervisor.on_escalation"),
    ],
)
def test_semantic_errors_name_the_key(tmp_path, name, text, key):
    write(tmp_path, name, text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert info.value.key == key
    assert info.value.file.endswith(name)


def test_invalid_yaml_reports_the_line(tmp_path):
    write(tmp_path, "market.yaml", "instruments:\n  - EUR_USD\n bar_interval: [\n")
    with pytest.raises(ConfigError, match="not valid YAML") as info:
        load_config(tmp_path)
    assert info.value.line is not None


def test_invalid_yaml_is_worded_by_the_pure_python_parser(tmp_path):
    # libyaml parses when it is there; its words for a problem differ ("... in this context")
    write(tmp_path, "market.yaml", "instruments:\n  - EUR_USD\nbar_interval: 1m: 5m\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert info.value.problem == "not valid YAML (mapping values are not allowed here)"
    assert info.value.line == 3


def test_durations():
    assert parse_duration_ns("1s") == 10**9
    assert parse_duration_ns("5m") == 300 * 10**9
    assert parse_duration_ns("1h") == 3600 * 10**9
    with pytest.raises(ValueError, match="positive duration"):
        parse_duration_ns("0s")


def test_secrets_come_from_env_then_dotenv_and_never_print(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text(
        "ALGOTRADING_OANDA_TOKEN=from-file\nALGOTRADING_SLACK_WEBHOOK_URL=https://hooks.example/x\n"
    )
    monkeypatch.setenv("ALGOTRADING_OANDA_TOKEN", "from-env")
    monkeypatch.delenv("ALGOTRADING_SLACK_WEBHOOK_URL", raising=False)
    secrets = load_secrets(tmp_path / ".env")
    assert secrets["oanda_token"].reveal() == "from-env"
    assert secrets["slack_webhook_url"].reveal() == "https://hooks.example/x"
    assert "from-env" not in repr(secrets)
    assert "from-env" not in f"{secrets['oanda_token']}"


def test_logs_are_json_with_the_actor_and_secrets_masked():
    out = io.StringIO()
    configure_logging("info", "json", out)
    get_logger("risk").info("order_denied", code="halted", oanda_token="s3cret")
    get_logger().info("plain")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["actor"] == "risk"
    assert first["event"] == "order_denied"
    assert first["oanda_token"] == "***"
    assert second["actor"] == "daemon"


def test_a_configuration_directory_that_does_not_exist_is_an_error(tmp_path):
    """Regression: ``--config`` with a typo ran on the embedded defaults, silently."""
    with pytest.raises(ConfigError, match="no such configuration directory") as err:
        load_config(tmp_path / "confg")
    assert err.value.file == str(tmp_path / "confg")
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="is not a directory"):
        load_config(tmp_path / "file")


@pytest.mark.parametrize(
    ("name", "meant"),
    [("systems.yaml", "system.yaml"), ("market.yml", "market.yaml"), ("Model.yaml", "model.yaml")],
)
def test_a_near_miss_file_name_is_an_error_not_ignored(tmp_path, name, meant):
    (tmp_path / name).write_text("risk: {max_order_quantity: 5}\n")
    with pytest.raises(ConfigError, match=f"named {meant}") as err:
        load_config(tmp_path)
    assert err.value.file == str(tmp_path / name)


def test_other_files_in_the_directory_are_left_alone(tmp_path):
    (tmp_path / "notes.yaml").write_text("anything: [1, 2]\n")
    (tmp_path / "sim_exchange.yaml").write_text("{}\n")
    (tmp_path / "README.md").write_text("ours\n")
    assert load_config(tmp_path).source == str(tmp_path)


# --- every bad input refused at load, one line naming the file, line and key ----------------


@pytest.mark.parametrize(
    ("name", "text", "key", "line"),
    [
        ("system.yaml", "risk:\n  max_order_quantity: .nan\n", "risk.max_order_quantity", 2),
        ("system.yaml", "risk:\n  max_position_quantity: .nan\n", "risk.max_position_quantity", 2),
        ("system.yaml", "risk:\n  max_order_quantity: -.inf\n", "risk.max_order_quantity", 2),
        ("system.yaml", "risk:\n  max_order_quantity: -5\n", "risk.max_order_quantity", 2),
        ("system.yaml", "risk:\n  rate_window_seconds: 0\n", "risk.rate_window_seconds", 2),
        ("system.yaml", "risk:\n  max_open_orders: -1\n", "risk.max_open_orders", 2),
        ("system.yaml", "feed:\n  speed: .nan\n", "feed.speed", 2),
        ("system.yaml", "account:\n  initial_cash: .nan\n", "account.initial_cash", 2),
        ("system.yaml", "admin:\n  max_connections: 0\n", "admin.max_connections", 2),
        ("system.yaml", "admin:\n  idle_timeout_seconds: 0\n", "admin.idle_timeout_seconds", 2),
        ("system.yaml", "schedules:\n  timezone: Mars/Olympus\n", "schedules.timezone", 2),
        (
            "system.yaml",
            "schedules:\n  daily_summary_at: '25:00'\n",
            "schedules.daily_summary_at",
            2,
        ),
        ("system.yaml", "metrics:\n  port: 70000\n", "metrics", 1),
        ("market.yaml", "instruments: [EUR_USD, EUR_USD]\n", "instruments[1]", 1),
        (
            "market.yaml",
            "specs:\n  - {symbol: EUR_USD, pip_size: .nan}\n",
            "specs[0].pip_size",
            2,
        ),
        ("model.yaml", "retrain:\n  cron: every friday\n", "retrain.cron", 2),
        ("model.yaml", "features: ['rsi(100000000000000000000)']\n", "features", 1),
    ],
)
def test_unsafe_values_are_refused_at_load(tmp_path, name, text, key, line):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, name, text))
    err = info.value
    assert (err.file, err.key) == (str(tmp_path / name), key), str(err)
    assert err.line == line, str(err)
    assert "\n" not in str(err)


def test_a_limit_of_zero_turns_it_off(tmp_path):
    from algotrading.messages import OrderIntent, Side, TradingState
    from algotrading.risk.checks import RiskLimits, check_order

    text = "risk:\n  max_order_quantity: 0\n  max_position_quantity: 0\n"
    risk = load_config(write(tmp_path, "system.yaml", text)).system.risk
    assert isinstance(risk, RiskLimits)  # the one definition, as set-limit checks it
    intent = OrderIntent(
        ts_event=0, strategy_id="s", instrument="EUR_USD", side=Side.BUY, quantity=5e7
    )
    assert check_order(intent, 0.0, risk, TradingState.ACTIVE) is None


def test_duplicate_keys_are_refused_naming_both_lines(tmp_path):
    text = "risk:\n  max_order_quantity: 1000\n  max_order_quantity: 99999999\n"
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "system.yaml", text))
    assert info.value.line == 3
    assert "max_order_quantity" in str(info.value)
    assert "first at line 2, again at line 3" in str(info.value)


@pytest.mark.parametrize("kind", ["dangling", "directory", "fifo"])
def test_a_file_that_is_not_a_regular_file_is_refused(tmp_path, kind):
    import os

    path = tmp_path / "system.yaml"
    if kind == "dangling":
        path.symlink_to(tmp_path / "missing.yaml")
    elif kind == "directory":
        path.mkdir()
    else:
        os.mkfifo(path)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert info.value.file == str(path)
    assert {"dangling": "dangling", "directory": "directory", "fifo": "FIFO"}[kind] in str(
        info.value
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"log:\n  level: \xff\xfe\n", "not UTF-8"),
        (b"\x00\x01\x02binary", "NUL"),
        (b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deep"),
        (b"".join(b"  " * i + b"k%d:\n" % i for i in range(5000)), "nested too deep"),
    ],
)
def test_bad_encoding_binary_and_absurd_nesting_are_refused(tmp_path, content, problem):
    (tmp_path / "system.yaml").write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert problem in str(info.value)
