"""The pure parts behind the admin commands: which configuration changes can apply live, how a
risk limit is set (and survives a restarted risk actor), day P&L, and ctl's command lines."""

from __future__ import annotations

import io
import re
from pathlib import Path

import msgspec
import pytest
from rich.console import Console

from algotrading.actors.risk import RiskActor
from algotrading.config import load_config
from algotrading.messages import (
    AccountState,
    ApprovedOrder,
    Command,
    Message,
    OrderDenied,
    OrderIntent,
    Side,
)
from algotrading.ops.admin.catalog import COMMANDS
from algotrading.ops.admin.commands import _live_key, config_changes
from algotrading.ops.admin.config import AdminConfig, socket_path
from algotrading.ops.admin.views import PnlTracker
from algotrading.ops.ctl import UsageError, find_socket, render, request_arguments
from algotrading.risk.checks import LIMIT_NAMES, RiskLimits, TradingSwitch, limits_with
from algotrading.runtime.actor import Actor
from algotrading.runtime.clock import VirtualClock
from algotrading.timestamps import parse_utc


def write(conf: Path, text: str) -> Path:
    conf.mkdir(exist_ok=True)
    (conf / "system.yaml").write_text(text)
    return conf


def test_config_changes_name_every_differing_key(tmp_path):
    base = load_config(write(tmp_path / "a", "risk: {max_open_orders: 3}\n"))
    assert config_changes(base, base) == []
    other = load_config(
        write(
            tmp_path / "b",
            "risk: {max_open_orders: 4, breakers: {daily_loss: {limit: 500}}}\n"
            "feed: {speed: 5}\nstrategy: {params: {fast: 3, slow: 12}}\n",
        )
    )
    changed = config_changes(base, other)
    assert changed == [
        "system.feed.speed",
        "system.risk.breakers.daily_loss.limit",
        "system.risk.max_open_orders",
        "system.strategy.params.fast",
    ]
    assert [k for k in changed if _live_key(k)] == ["system.risk.max_open_orders"]


def test_only_pre_trade_risk_limits_apply_live():
    assert all(_live_key(f"system.risk.{name}") for name in LIMIT_NAMES)
    for key in ("system.risk.breakers", "system.risk.breakers.daily_loss.limit", "system.feed",
                "market.instruments", "system.risk", "model.model.kind"):  # fmt: skip
        assert not _live_key(key), key


def test_limits_with_sets_all_or_nothing():
    limits = RiskLimits(max_order_quantity=1000)
    new = limits_with(limits, {"max_order_quantity": "250.5", "max_open_orders": "3.0"})
    assert (new.max_order_quantity, new.max_open_orders) == (250.5, 3)
    assert isinstance(new.max_open_orders, int)
    assert new.price_collar == limits.price_collar
    assert limits_with(limits, {"max_position_quantity": "0"}).max_position_quantity == 0
    for values, problem in (
        ({"max_open_orders": "2", "bogus": "1"}, "unknown risk limit 'bogus'"),
        ({"max_open_orders": "2.5"}, "max_open_orders: expected an integer"),
        ({"price_collar": "-0.1"}, "expected a number >= 0"),
        ({"price_collar": "inf"}, "expected a number >= 0"),
        ({"max_position_quantity": "nan"}, "expected a number >= 0 (0 turns it off)"),
        ({"rate_window_seconds": "0"}, "expected a number > 0"),
        ({"max_order_notional": "a lot"}, "expected a number"),
        ({}, "no limit named"),
    ):
        with pytest.raises(ValueError, match=re.escape(problem)):
            limits_with(limits, values)
    assert limits == RiskLimits(max_order_quantity=1000)  # frozen: never changed in place


class Sent:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def __call__(self, actor: Actor, msg: Message) -> None:
        self.messages.append(msg)


def intent(quantity: float) -> OrderIntent:
    return OrderIntent(
        ts_event=1, strategy_id="s", instrument="EUR_USD", side=Side.BUY, quantity=quantity
    )


@pytest.mark.asyncio
async def test_set_limit_swaps_the_risk_actors_limits_and_outlives_a_restart():
    switch = TradingSwitch()
    configured = RiskLimits(max_order_quantity=1000)
    risk = RiskActor(limits=configured, switch=switch)
    sent = Sent()
    risk.bind(sent, VirtualClock(1))
    await risk.on_command(
        Command(
            ts_event=1, name="set_limit", args={"max_order_quantity": "100", "price_collar": "0.02"}
        )
    )
    assert (risk.limits.max_order_quantity, risk.limits.price_collar) == (100, 0.02)
    await risk.on_order_intent(intent(150))
    assert isinstance(sent.messages[-1], OrderDenied)
    assert sent.messages[-1].code == "max_order_quantity"

    await risk.on_command(
        Command(ts_event=2, name="set_limit", args={"max_order_quantity": "500", "nope": "1"})
    )
    assert risk.limits.max_order_quantity == 100  # refused as a whole

    restarted = RiskActor(limits=configured, switch=switch)  # the factory's limits
    restarted.bind(sent, VirtualClock(1))
    assert restarted.limits.max_order_quantity == 100
    await restarted.on_order_intent(intent(50))
    assert isinstance(sent.messages[-1], ApprovedOrder)


def account(ts: str, equity: float, balance: float = 100_000.0) -> AccountState:
    return AccountState(ts_event=parse_utc(ts), currency="USD", balance=balance, equity=equity)


def test_day_pnl_starts_at_the_first_mark_of_each_trading_day():
    tracker = PnlTracker()
    tracker.observe(account("2024-01-08T08:00:00Z", 100_000.0, 99_000.0))
    assert tracker.start_balance == 99_000.0
    tracker.observe(account("2024-01-08T21:00:00Z", 100_500.0))  # 16:00 New York: same day
    assert tracker.day_start_equity == 100_000.0
    tracker.observe(account("2024-01-08T22:00:01Z", 100_700.0))  # past 17:00 New York
    assert tracker.day_start_equity == 100_700.0
    assert tracker.day_start_ns == parse_utc("2024-01-08T22:00:01Z")
    tracker.observe(account("2024-01-09T12:00:00Z", 100_100.0))
    assert tracker.day_start_equity == 100_700.0
    assert tracker.start_balance == 99_000.0  # the session's, kept
    tracker.observe(intent(1))  # anything else is ignored
    assert PnlTracker(start_balance=5.0).start_balance == 5.0


@pytest.mark.parametrize(
    ("command", "words", "expected"),
    [
        ("status", [], {}),
        ("pause", [], {}),
        ("pause", ["going", "to", "lunch"], {"reason": "going to lunch"}),
        ("reset", [], {}),
        ("reset", ["daily_loss"], {"breaker": "daily_loss"}),
        ("set-limit", ["max_open_orders", "5"], {"name": "max_open_orders", "value": "5"}),
    ],
)
def test_ctl_turns_words_into_request_arguments(command, words, expected):
    assert request_arguments(COMMANDS[command], words) == expected


@pytest.mark.parametrize(
    ("command", "words"),
    [("status", ["x"]), ("reset", ["a", "b"]), ("set-limit", ["a"]), ("set-limit", [])],
)
def test_ctl_refuses_a_wrong_number_of_words(command, words):
    with pytest.raises(UsageError, match="usage: algotrading ctl"):
        request_arguments(COMMANDS[command], words)


def test_ctl_finds_the_socket(tmp_path):
    assert find_socket("/run/x.sock", None, "st") == Path("/run/x.sock")
    assert find_socket(None, None, None) == Path("state/admin.sock")
    assert find_socket(None, None, str(tmp_path)) == tmp_path / "admin.sock"
    conf = write(tmp_path / "conf", "feed: {speed: 2}\n")
    assert find_socket(None, str(conf), str(tmp_path)) == tmp_path / "admin.sock"
    assert socket_path(AdminConfig(socket="/run/a.sock"), tmp_path) == Path("/run/a.sock")
    assert socket_path(AdminConfig(), tmp_path) == tmp_path / "admin.sock"


def test_admin_config_defaults_and_problems():
    config = msgspec.convert({"idle_timeout_seconds": 3}, AdminConfig)
    assert (config.enabled, config.socket, config.max_line_bytes) == (True, "", 65536)
    assert config.problems() == []
    bad = AdminConfig(idle_timeout_seconds=0, max_connections=0, max_line_bytes=10)
    assert len(bad.problems()) == 3
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.convert({"sockets": "x"}, AdminConfig)


def test_ctl_prints_text_from_the_daemon_literally():
    out = io.StringIO()
    console = Console(file=out, width=120, no_color=True)
    render("pause", {"queued": True, "message": "pause queued: [bold]not markup[/bold]"}, console)
    render(
        "help", {"commands": [{"name": "pause", "usage": "[REASON...]", "summary": "s"}]}, console
    )
    render("snapshot", {"id": 3, "nested": {"a": [1]}}, console)
    text = out.getvalue()
    assert "[bold]not markup[/bold]" in text
    assert "[REASON...]" in text
    assert '{"a": [1]}' in text
