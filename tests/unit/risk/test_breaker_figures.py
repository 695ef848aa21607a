"""The breakers' running figures outlive a restart: journaled as BreakerFigures, restored at
start with the equity marks and positions journaled after them replayed on top. A restart
forgets neither the day's loss, nor the equity peak, nor a losing streak."""

from __future__ import annotations

from pathlib import Path

import pytest

from algotrading.actors.risk import RiskActor
from algotrading.daemon.warm_start import restore_breaker_figures, restore_risk_state
from algotrading.messages import AccountState, BreakerFigures, Command, Position, TradingState
from algotrading.risk.breaker_set import BreakerSet
from algotrading.risk.breakers import (
    ConsecutiveLosses,
    DailyLossLimit,
    MaxDrawdown,
    Reset,
)
from algotrading.risk.checks import RiskLimits, TradingSwitch
from algotrading.state.store import StateStore
from algotrading.timestamps import parse_utc

S = 10**9
MON = parse_utc("2024-01-08T12:00:00Z")  # Monday 07:00 New York
TUE = parse_utc("2024-01-09T12:00:00Z")


def breakers() -> BreakerSet:
    return BreakerSet(
        daily_loss=DailyLossLimit("daily_loss", limit=1_000.0, reset=Reset.AUTO),
        max_drawdown=MaxDrawdown("max_drawdown", fraction=0.10, reset=Reset.MANUAL),
        consecutive_losses=ConsecutiveLosses("consecutive_losses", count=3, reset=Reset.AUTO),
    )


def account(ts: int, equity: float) -> AccountState:
    return AccountState(ts_event=ts, currency="USD", balance=equity, equity=equity)


def position(ts: int, realized: float, instrument: str = "EUR_USD") -> Position:
    return Position(
        ts_event=ts, instrument=instrument, quantity=0.0, avg_price=0.0, realized_pnl=realized
    )


@pytest.fixture
def store(tmp_path: Path):
    s = StateStore.open(tmp_path / "state" / "algotrading.sqlite")
    s.begin_session("s1", "paper", {}, MON)
    yield s
    s.close()


def test_figures_round_trip_every_running_figure():
    b = breakers()
    for ts, equity in ((MON, 100_000.0), (MON + S, 110_000.0), (MON + 2 * S, 109_500.0)):
        b.on_equity(ts, equity)
    assert b.consecutive_losses is not None
    b.consecutive_losses.on_position(MON, "EUR_USD", -5.0)
    figures = b.figures()
    assert figures["daily_loss"] == {
        "day": b.daily_loss._day,
        "start_equity": 100_000.0,
        "tripped": None,
    }  # type: ignore[union-attr]
    assert figures["max_drawdown"] == {"peak": 110_000.0, "tripped": None}
    assert figures["consecutive_losses"]["streak"] == 1
    assert figures["consecutive_losses"]["realized"] == {"EUR_USD": -5.0}
    fresh = breakers()
    assert fresh.restore(figures) == ["daily_loss", "max_drawdown", "consecutive_losses"]
    assert fresh.figures() == figures
    figures["consecutive_losses"]["realized"]["EUR_USD"] = 0.0  # a copy, not shared
    assert fresh.consecutive_losses is not None
    assert fresh.consecutive_losses._realized == {"EUR_USD": -5.0}


def test_a_restarted_risk_actor_takes_no_position_it_has_seen_for_a_new_trade():
    """Regression: the last realized P&L lived on the risk actor, so one restarted by the
    supervisor took the next Position (the same cumulative loss) for a new losing trade."""
    b, switch = breakers(), TradingSwitch()
    first = RiskActor(limits=RiskLimits(), switch=switch, breakers=b)
    first.on_position.sync(first, position(MON, -10.0))  # type: ignore[attr-defined]
    restarted = RiskActor(limits=RiskLimits(), switch=switch, breakers=b)  # same session
    restarted.on_position.sync(restarted, position(MON + S, -10.0))  # type: ignore[attr-defined]
    assert b.consecutive_losses is not None
    assert b.consecutive_losses._streak == 1


def test_the_risk_actor_sends_figures_as_often_as_asked():
    risk = RiskActor(
        limits=RiskLimits(), switch=TradingSwitch(), breakers=breakers(), figures_every_ns=60 * S
    )
    sent = [
        m
        for t in range(0, 181, 10)
        for m in risk.on_account_state.sync(risk, account(MON + t * S, 100_000.0))  # type: ignore[attr-defined]
        if isinstance(m, BreakerFigures)
    ]
    assert [m.ts_event - MON for m in sent] == [0, 60 * S, 120 * S, 180 * S]
    assert set(sent[0].figures) == {"daily_loss", "max_drawdown", "consecutive_losses"}
    quiet = RiskActor(limits=RiskLimits(), switch=TradingSwitch(), breakers=breakers())
    assert not quiet.on_account_state.sync(quiet, account(MON, 100_000.0))  # type: ignore[attr-defined]


def test_a_restart_keeps_the_days_start_equity_and_the_peak(store: StateStore):
    live = breakers()
    marks = [(MON, 100_000.0), (MON + S, 104_000.0), (MON + 2 * S, 103_500.0)]
    for ts, equity in marks[:2]:
        live.on_equity(ts, equity)
        store.append(account(ts, equity))
    store.append(BreakerFigures(ts_event=MON + S, figures=live.figures()))
    store.append(account(*marks[2]))  # after the figures: replayed
    restored = breakers()
    assert "figures of daily_loss" in restore_breaker_figures(store, restored)
    assert restored.daily_loss is not None
    assert restored.max_drawdown is not None
    assert restored.daily_loss._start_equity == 100_000.0  # not the equity at the restart
    assert restored.max_drawdown._peak == 104_000.0
    restored.on_equity(MON + 3 * S, 99_000.0)  # 1 000 below the day's start: trips
    assert restored.daily_loss.tripped is not None


def test_a_day_past_its_loss_limit_restarts_tripped_and_the_next_day_clears(store: StateStore):
    live = breakers()
    for ts, equity in ((MON, 100_000.0), (MON + S, 98_500.0)):
        live.on_equity(ts, equity)
        store.append(account(ts, equity))
    assert live.daily_loss is not None
    assert live.daily_loss.tripped is not None
    store.append(BreakerFigures(ts_event=MON + S, figures=live.figures()))
    switch, restored = TradingSwitch(), breakers()
    said = restore_risk_state(store, switch, restored)
    assert "breaker daily_loss" in said
    assert switch.state is TradingState.HALTED
    assert "daily_loss tripped before a restart" in switch.breakers["daily_loss"][1]
    assert restored.daily_loss is not None
    restored.on_equity(TUE, 98_500.0)
    assert restored.daily_loss.tripped is None  # auto: a new day resets it


def test_a_streak_continues_across_a_restart_and_each_process_counts_from_zero(
    store: StateStore, tmp_path: Path
):
    live = breakers()
    losses = live.consecutive_losses
    assert losses is not None
    losses.on_position(MON, "EUR_USD", -5.0)  # one losing trade
    store.append(position(MON, -5.0))
    store.append(BreakerFigures(ts_event=MON, figures=live.figures()))
    store.append(position(MON + S, -9.0))  # a second, after the figures
    store.end_session(MON + 2 * S, "stopped")
    store.begin_session("s2", "paper", {}, MON + 3 * S)  # a new order manager: from 0
    store.append(position(MON + 4 * S, -1.0))  # a third loss, of 1
    restored = breakers()
    restore_breaker_figures(store, restored)
    assert restored.consecutive_losses is not None
    assert restored.consecutive_losses._streak == 3
    assert restored.consecutive_losses.tripped is not None
    assert restored.consecutive_losses._realized == {}  # this process counts from 0 too


def test_with_no_figures_the_whole_journal_is_replayed(store: StateStore):
    for ts, equity in ((MON, 100_000.0), (MON + S, 120_000.0), (MON + 2 * S, 119_000.0)):
        store.append(account(ts, equity))
    restored = breakers()
    assert restore_breaker_figures(store, restored) == ["3 equity marks replayed"]
    assert restored.max_drawdown is not None
    assert restored.max_drawdown._peak == 120_000.0


def test_a_manual_breaker_reset_by_the_operator_is_not_tripped_again_by_old_figures(
    store: StateStore,
):
    live = breakers()
    assert live.max_drawdown is not None
    live.max_drawdown.on_equity(MON, 100_000.0)
    live.max_drawdown.on_equity(MON + S, 89_000.0)
    assert live.max_drawdown.tripped is not None
    store.append(BreakerFigures(ts_event=MON + S, figures=live.figures()))
    restored = breakers()
    restore_breaker_figures(store, restored)
    assert restored.max_drawdown is not None
    assert restored.max_drawdown.tripped is None  # its trip comes from the alerts
    assert restored.max_drawdown._peak == 100_000.0


def test_with_no_breaker_that_keeps_figures_the_journal_is_not_read():
    """A start must stay quick: with no daily-loss, drawdown or streak breaker configured (the
    defaults), the journal's equity marks are not scanned."""

    class Unread:
        def __getattr__(self, name: str):
            raise AssertionError(f"the store was read: {name}")

    assert restore_breaker_figures(Unread(), BreakerSet()) == []  # type: ignore[arg-type]


def test_an_operator_reset_after_the_figures_is_kept(store: StateStore):
    live = breakers()
    losses = live.consecutive_losses
    assert losses is not None
    for i, realized in enumerate((-1.0, -2.0, -3.0)):  # three losing trades: tripped
        losses.on_position(MON + i * S, "EUR_USD", realized)
        store.append(position(MON + i * S, realized))
    assert losses.tripped is not None
    store.append(BreakerFigures(ts_event=MON + 3 * S, figures=live.figures()))
    store.append(
        Command(ts_event=MON + 4 * S, name="reset", args={"breaker": "consecutive_losses"})
    )
    restored = breakers()
    restore_breaker_figures(store, restored)
    assert restored.consecutive_losses is not None
    assert restored.consecutive_losses.tripped is None
    assert restored.consecutive_losses._streak == 3  # the next loss trips it again, as live
