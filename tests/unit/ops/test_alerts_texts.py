"""What alerts say: one readable line with the session id, from each kind of message, and the
summaries and command answers made from what the service heard."""

from __future__ import annotations

from algotrading.messages import (
    AccountState,
    ActorFailed,
    Alert,
    AlertLevel,
    Bar,
    Fill,
    Order,
    Position,
    RiskState,
    Side,
    TradingState,
)
from algotrading.ops.alerts.book import SessionBook
from algotrading.ops.alerts.commands import parse_command
from algotrading.ops.alerts.texts import (
    Narrator,
    duration,
    one_line,
    pnl_text,
    positions_text,
    summary_text,
)

PRECISION = {"EUR_USD": 5, "USD_JPY": 3}


def fill(side=Side.BUY, qty=10_000.0, price=1.08512, instrument="EUR_USD", commission=0.0):
    return Fill(
        ts_event=1,
        fill_id="f1",
        client_order_id="p18c-7",
        venue_order_id="v7",
        strategy_id="sma_cross",
        instrument=instrument,
        side=side,
        quantity=qty,
        price=price,
        commission=commission,
    )


def test_a_fill_is_one_info_line_with_instrument_side_quantity_and_price():
    narrator = Narrator("p18c", precision=PRECISION)
    alert = narrator.alert(fill())
    assert alert is not None
    assert alert.level is AlertLevel.INFO
    assert alert.code == "fill"
    assert alert.text == "INFO [p18c] fill: BUY 10,000 EUR_USD @ 1.08512 (order p18c-7)"
    jpy = narrator.alert(fill(Side.SELL, 2500.5, 151.2, "USD_JPY", commission=1.5))
    assert jpy is not None
    assert jpy.text == (
        "INFO [p18c] fill: SELL 2,500.5 USD_JPY @ 151.200 (order p18c-7), commission 1.50 USD"
    )
    assert Narrator("p18c", fills=False).alert(fill()) is None


def test_an_alert_keeps_its_level_and_code_and_folds_to_one_line():
    narrator = Narrator("p1")
    msg = Alert(
        ts_event=5,
        level=AlertLevel.CRITICAL,
        code="breaker_daily_loss",
        text="daily_loss tripped:\n  loss 512.30 >= limit 500.00",
        source="risk",
    )
    alert = narrator.alert(msg)
    assert alert is not None
    assert (alert.level, alert.code, alert.ts_event) == (
        AlertLevel.CRITICAL,
        "breaker_daily_loss",
        5,
    )
    assert alert.text == (
        "CRITICAL [p1] breaker_daily_loss: daily_loss tripped: loss 512.30 >= limit 500.00 (risk)"
    )
    assert "\n" not in alert.text


def test_actor_failures_warn_on_restart_and_are_critical_on_escalation():
    narrator = Narrator("p1")
    restart = narrator.alert(
        ActorFailed(
            ts_event=1, actor="model", error="ValueError: nan", restarts=1, action="restart"
        )
    )
    escalate = narrator.alert(
        ActorFailed(
            ts_event=2, actor="model", error="ValueError: nan", restarts=3, action="escalate"
        )
    )
    assert restart is not None
    assert escalate is not None
    assert (restart.level, restart.code) == (AlertLevel.WARNING, "actor_restart")
    assert restart.text == (
        "WARNING [p1] actor_restart: actor model failed (ValueError: nan); restarting "
        "(restarts so far: 1)"
    )
    assert (escalate.level, escalate.code) == (AlertLevel.CRITICAL, "actor_escalate")
    assert "after 3 restarts" in escalate.text


def test_only_a_change_of_the_trading_state_is_an_alert():
    narrator = Narrator("p1", state=TradingState.ACTIVE)
    assert narrator.alert(RiskState(ts_event=1, state=TradingState.ACTIVE)) is None
    halted = narrator.alert(RiskState(ts_event=2, state=TradingState.HALTED, reason="kill"))
    assert halted is not None
    assert halted.level is AlertLevel.CRITICAL
    assert halted.text == "CRITICAL [p1] trading_state: trading ACTIVE -> HALTED: kill"
    again = RiskState(ts_event=3, state=TradingState.HALTED, reason="daily_loss tripped")
    assert narrator.alert(again) is None
    resumed = narrator.alert(RiskState(ts_event=4, state=TradingState.ACTIVE))
    assert resumed is not None
    assert resumed.level is AlertLevel.INFO
    assert resumed.text == "INFO [p1] trading_state: trading HALTED -> ACTIVE"


def test_other_messages_say_nothing():
    bar = Bar(
        ts_event=1, instrument="EUR_USD", interval_ns=1, ts_open=0, open=1, high=1, low=1, close=1
    )
    assert Narrator("p1").alert(bar) is None


def test_the_book_summarises_the_day_and_starts_a_new_one():
    book = SessionBook()
    assert summary_text(book, PRECISION) == (
        "equity unknown (no account state yet), trades 0, open positions: no open positions"
    )
    book.on_message(AccountState(ts_event=1, currency="USD", balance=100_000, equity=100_000))
    book.on_message(fill())
    book.on_message(
        Order(
            ts_event=1,
            client_order_id="c",
            strategy_id="s",
            instrument="EUR_USD",
            side=Side.BUY,
            quantity=1,
        )
    )
    book.on_message(
        Position(
            ts_event=2, instrument="EUR_USD", quantity=10_000, avg_price=1.085, unrealized_pnl=12.3
        )
    )
    book.on_message(
        Position(ts_event=2, instrument="USD_JPY", quantity=0, avg_price=0, realized_pnl=-450.0)
    )
    book.on_message(AccountState(ts_event=3, currency="USD", balance=100_100, equity=100_123.456))
    assert (book.orders, book.fills) == (1, 1)
    assert summary_text(book, PRECISION) == (
        "equity 100,123.46 USD, day P&L +123.46, trades 1, open positions: "
        "EUR_USD +10,000 @ 1.08500 (unrealized +12.30)"
    )
    assert pnl_text(book) == (
        "equity 100,123.46 USD, balance 100,100.00, P&L since the day began +123.46; "
        "realized (quote currency): USD_JPY -450.00"
    )
    book.close_day()
    assert book.day_pnl() == 0.0
    assert "trades 0" in summary_text(book, PRECISION)
    book.on_message(Position(ts_event=4, instrument="EUR_USD", quantity=0, avg_price=0))
    assert positions_text(book, PRECISION) == "no open positions"


def test_helpers():
    assert one_line("a\n\tb  c", limit=100) == "a b c"
    assert one_line("x" * 20, limit=10) == "x" * 9 + "…"
    assert duration(59) == "0m59s"
    assert duration(3723) == "1h02m03s"
    assert duration(90061) == "1d01h01m"
    assert parse_command("/status") == "status"
    assert parse_command("/PnL@algo_bot now") == "pnl"
    assert parse_command("status") is None
    assert parse_command("/") is None
    assert parse_command("   ") is None
