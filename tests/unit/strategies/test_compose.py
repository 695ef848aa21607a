"""The composition of entry, exits and sizing, decision by decision."""

from __future__ import annotations

import pytest

from algotrading.data.instruments import BUILTIN_INSTRUMENTS
from algotrading.errors import ConfigError
from algotrading.messages import Bar
from algotrading.strategies.compose import Composition, InstrumentStrategy, Sides
from algotrading.strategies.exits import Distance, ExitRules, bracket_levels
from algotrading.strategies.position_sizing import Sizing
from algotrading.strategies.registry import StrategySpec, build_strategy

EURUSD = BUILTIN_INSTRUMENTS["EUR_USD"]
USDJPY = BUILTIN_INSTRUMENTS["USD_JPY"]
SPX = BUILTIN_INSTRUMENTS["SPX500_USD"]


class Scripted:
    """An entry rule that says what it is told, bar by bar."""

    def __init__(self, signals: list[int | None]) -> None:
        self.signals = list(signals)

    def on_bar(self, bar: Bar) -> int | None:
        return self.signals.pop(0) if self.signals else None


def run(signals, account, *, bars=None, **composition):
    composition.setdefault("sizing", Sizing(units=1000))
    composition.setdefault("exits", ExitRules())
    strategy = InstrumentStrategy(EURUSD, Scripted(signals), Composition(**composition))
    bars = bars or [
        Bar(
            ts_event=i + 1,
            instrument="EUR_USD",
            interval_ns=1,
            ts_open=i,
            open=1.1,
            high=1.1,
            low=1.1,
            close=1.1,
        )
        for i in range(len(signals))
    ]
    out = []
    for i, bar in enumerate(bars):
        d = strategy.on_bar(bar, account)
        if d is not None:
            out.append((i, d.target, d.reason))
    return strategy, out


def test_entry_reversal_and_the_rules_own_exit(account):
    _, got = run([1, None, -1, None, 0], account)
    assert got == [(0, 1000, "entry"), (2, -1000, "signal_reversal"), (4, 0.0, "signal_exit")]


def test_long_only_closes_on_a_short_signal_and_never_sells_short(account):
    _, got = run([-1, 1, -1, 1], account, sides=Sides.LONG)
    assert got == [(1, 1000, "entry"), (2, 0.0, "signal_reversal"), (3, 1000, "entry")]


def test_without_signal_reversal_the_position_is_held(account):
    _, got = run([1, -1, None, 0], account, exits=ExitRules(signal_reversal=False))
    assert got == [(0, 1000, "entry"), (3, 0.0, "signal_exit")]


def test_time_stop_closes_after_n_bars_and_waits_for_a_fresh_signal(account):
    _, got = run([1, None, None, None, None, -1], account, exits=ExitRules(time_stop_bars=3))
    assert got == [(0, 1000, "entry"), (3, 0.0, "time_stop"), (5, -1000, "entry")]


def test_a_bracket_exit_at_the_venue_leaves_it_flat_until_a_new_signal(account):
    strategy, _ = run([1], account)
    strategy.on_exit_fill(-1000.0)  # the stop-loss sold the position
    assert strategy.position == 0.0
    bar = Bar(
        ts_event=9,
        instrument="EUR_USD",
        interval_ns=1,
        ts_open=8,
        open=1.1,
        high=1.1,
        low=1.1,
        close=1.1,
    )
    assert strategy.on_bar(bar, account) is None


@pytest.mark.parametrize(
    ("distance", "spec", "price", "atr", "sl", "tp"),
    [
        (Distance(pips=20), EURUSD, 1.10000, None, 1.098, 1.102),
        (Distance(pips=50), USDJPY, 150.000, None, 149.5, 150.5),
        (Distance(percent=1.0), SPX, 5000.0, None, 4950.0, 5050.0),
        (Distance(atr=2.0), EURUSD, 1.10000, 0.0015, 1.097, 1.103),
    ],
)
def test_bracket_levels_in_pips_percent_and_atr(distance, spec, price, atr, sl, tp):
    rules = ExitRules(stop_loss=distance, take_profit=distance)
    long = bracket_levels(rules, spec, 1, price, atr)
    short = bracket_levels(rules, spec, -1, price, atr)
    assert (long.stop_loss, long.take_profit) == pytest.approx((sl, tp))
    assert (short.stop_loss, short.take_profit) == pytest.approx((tp, sl))


def test_no_entry_while_an_atr_stop_has_no_atr(account):
    bars = [
        Bar(
            ts_event=i + 1,
            instrument="EUR_USD",
            interval_ns=1,
            ts_open=i,
            open=1.1,
            high=1.1 + 0.001,
            low=1.1 - 0.001,
            close=1.1,
        )
        for i in range(4)
    ]
    exits = ExitRules(stop_loss=Distance(atr=1.5))
    _, got = run([1, None, None, 0], account, bars=bars, exits=exits, atr_period=3)
    assert got == []  # the signal came before the ATR existed; no trade on a stale signal
    _, got = run([None, None, 1, 0], account, bars=bars, exits=exits, atr_period=3)
    assert got == [(2, 1000, "entry"), (3, 0.0, "signal_exit")]


def test_fixed_fraction_sizes_from_the_stop_distance(account):
    # 1 % of 100 000 at risk over a 20-pip stop on EUR/USD: 1000 / 0.0020 = 500 000 units
    sizing = Sizing(kind="fixed_fraction", fraction=0.01)
    exits = ExitRules(stop_loss=Distance(pips=20))
    _, got = run([1], account, sizing=sizing, exits=exits)
    assert got == [(0, 500_000, "entry")]


def test_trailing_stop_alone_is_the_risk_for_sizing(account):
    sizing = Sizing(kind="fixed_fraction", fraction=0.005)
    exits = ExitRules(stop_loss=Distance(pips=25), trailing_stop=Distance(pips=10))
    strategy = InstrumentStrategy(EURUSD, Scripted([-1]), Composition(sizing=sizing, exits=exits))
    bar = Bar(
        ts_event=1,
        instrument="EUR_USD",
        interval_ns=1,
        ts_open=0,
        open=1.2,
        high=1.2,
        low=1.2,
        close=1.2,
    )
    d = strategy.on_bar(bar, account)
    assert d.target == -200_000  # 500 / 0.0025
    assert d.levels.stop_loss == pytest.approx(1.2025)
    assert d.levels.trailing_distance == pytest.approx(0.001)


def test_composition_from_config_and_params():
    spec = StrategySpec(
        sizing=Sizing(kind="fixed_fraction"), exits=ExitRules(stop_loss=Distance(pips=10))
    )
    f = build_strategy(
        "sma_cross", {"fast": 3, "exits.stop_loss.pips": "15", "sides": "long"}, spec=spec
    )
    assert f.composition.exits.stop_loss == Distance(pips=15.0)
    assert f.composition.sides is Sides.LONG
    with pytest.raises(ConfigError, match="exactly one of pips"):
        build_strategy("sma_cross", {"exits.stop_loss.percent": 1}, spec=spec)
    with pytest.raises(ConfigError, match="stop-loss"):
        build_strategy("sma_cross", {"sizing.kind": "kelly"})


def test_bad_distance_and_sizing_are_refused():
    with pytest.raises(ValueError, match="exactly one"):
        Distance(pips=10, atr=2)
    with pytest.raises(ValueError, match="exactly one"):
        Distance()
    with pytest.raises(ValueError, match="unknown sizing kind"):
        Sizing(kind="martingale")


def test_a_stop_that_fills_after_the_reversal_decision_changes_nothing(account):
    """The venue's stop fill can reach the strategy after it decided, on the same bar, to
    reverse: its close (reduce-only) then finds nothing to close at the venue, and the late
    stop fill must not move the position the strategy asked for (it once doubled it)."""
    strategy, got = run([-1, 1], account)
    assert got[-1] == (1, 1000, "signal_reversal")
    strategy.on_exit_fill(+1000.0)  # the short's stop-loss bought 1000 before the reversal
    assert strategy.position == 1000
