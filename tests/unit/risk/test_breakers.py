"""Every breaker at its edge: just short of the limit nothing happens, at the limit it trips;
and each resets by its rule."""

from __future__ import annotations

from algotrading.messages import TradingState
from algotrading.risk.breakers import (
    ConsecutiveLosses,
    DailyLossLimit,
    MaxDrawdown,
    RepeatedRejections,
    Reset,
    StaleData,
    WideSpread,
    trading_day,
)
from algotrading.timestamps import parse_utc

S = 10**9
MON = parse_utc("2024-01-08T12:00:00Z")  # Monday 07:00 New York
TUE = parse_utc("2024-01-09T12:00:00Z")


def test_trading_days_roll_at_17_new_york():
    assert trading_day(parse_utc("2024-01-08T21:59:59Z")) == trading_day(MON)
    assert trading_day(parse_utc("2024-01-08T22:00:00Z")) != trading_day(MON)
    assert trading_day(parse_utc("2024-01-08T22:00:00Z")) == trading_day(TUE)


def test_daily_loss_trips_at_the_limit_and_resets_next_day():
    b = DailyLossLimit("daily_loss", limit=1_000.0, reset=Reset.AUTO)
    b.on_equity(MON, 100_000.0)
    b.on_equity(MON + S, 99_000.01)  # 999.99 lost
    assert b.tripped is None
    b.on_equity(MON + 2 * S, 99_000.00)  # exactly 1 000 lost
    assert b.tripped is not None
    assert b.tripped.action is TradingState.HALTED
    assert "1000.00" in b.tripped.reason
    b.on_equity(MON + 3 * S, 100_500.0)  # recovering the same day does not reset
    assert b.tripped is not None
    b.on_equity(TUE, 100_500.0)
    assert b.tripped is None


def test_a_manual_breaker_waits_for_the_operator():
    b = DailyLossLimit("daily_loss", limit=10.0, reset=Reset.MANUAL)
    b.on_equity(MON, 100.0)
    b.on_equity(MON + S, 90.0)
    b.on_equity(TUE, 200.0)
    assert b.tripped is not None
    assert b.operator_reset()
    assert b.tripped is None


def test_max_drawdown_from_the_peak():
    b = MaxDrawdown("drawdown", fraction=0.10, action=TradingState.REDUCING)
    for equity in (100.0, 120.0, 108.01):
        b.on_equity(MON, equity)
    assert b.tripped is None
    b.on_equity(MON, 108.0)  # 10 % below 120
    assert b.tripped is not None
    assert b.tripped.action is TradingState.REDUCING


def test_consecutive_losses():
    b = ConsecutiveLosses("losses", count=3)
    for pnl in (-1.0, -1.0, 5.0, -1.0, -1.0):
        b.on_trade(MON, pnl)
    assert b.tripped is None
    b.on_trade(MON, -0.01)
    assert b.tripped is not None
    assert "3 losing trades" in b.tripped.reason


def test_stale_data_only_while_the_market_is_open_and_clears_with_data():
    b = StaleData("stale", seconds=30.0, reset=Reset.AUTO)
    b.on_price("EUR_USD", MON)
    b.check(MON + 29 * S, {"EUR_USD": True})
    assert b.tripped is None
    b.check(MON + 30 * S, {"EUR_USD": False})  # closed market: silence is normal
    assert b.tripped is None
    b.check(MON + 30 * S, {"EUR_USD": True})
    assert b.tripped is not None
    b.on_price("EUR_USD", MON + 31 * S)
    assert b.tripped is None


def test_wide_spread():
    b = WideSpread("spread", pips=5.0, reset=Reset.AUTO)
    b.on_spread("EUR_USD", 4.9)
    assert b.tripped is None
    b.on_spread("EUR_USD", 5.0)
    assert b.tripped is not None
    b.on_spread("EUR_USD", 1.0)
    assert b.tripped is None


def test_repeated_rejections_within_a_window():
    b = RepeatedRejections("rejections", count=3, window_seconds=60)
    b.on_rejection(MON, "MARGIN")
    b.on_rejection(MON + 30 * S, "MARGIN")
    b.on_rejection(MON + 60 * S, "MARGIN")  # the first has left the window
    assert b.tripped is None
    b.on_rejection(MON + 61 * S, "MARGIN")
    assert b.tripped is not None
    assert "last: MARGIN" in b.tripped.reason
