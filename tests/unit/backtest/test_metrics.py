import json
import math
import random

import empyrical
import numpy as np
import pandas as pd
import pytest

from algotrading.backtest.ledger import ClosedTrade
from algotrading.backtest.metrics import (
    NS_PER_DAY,
    EquityTracker,
    compute_metrics,
    daily_returns,
    return_ratios,
    trade_statistics,
)
from algotrading.backtest.outputs import write_equity
from algotrading.messages import Side

MONDAY = 1_704_067_200 * 10**9  # 2024-01-01T00:00:00Z
HOUR = 3_600 * 10**9
PPY = 252


def random_marks(seed: int, days: int, *, drift: float, weekends: bool) -> list[tuple[int, float]]:
    """Hourly marks from 08:00 to 20:00, skipping Saturdays and Sundays when ``weekends``."""
    rng = random.Random(seed)
    equity, marks = 100_000.0, []
    for d in range(days):
        if weekends and d % 7 in (5, 6):
            continue
        for h in range(8, 21):
            equity *= 1.0 + rng.gauss(drift, 0.002)
            marks.append((MONDAY + d * NS_PER_DAY + h * HOUR, round(equity, 2)))
    return marks


def losing_streak(seed: int) -> list[tuple[int, float]]:
    rng = random.Random(seed)
    equity, marks = 50_000.0, []
    for d in range(60):
        step = -0.01 if 10 <= d < 30 else rng.gauss(0.001, 0.01)
        equity *= 1.0 + step
        marks.append((MONDAY + d * NS_PER_DAY + 12 * HOUR, equity))
    return marks


def track(marks, exposed=lambda i: False) -> EquityTracker:
    tracker = EquityTracker()
    for i, (ts, value) in enumerate(marks):
        tracker.mark(ts, value, exposed(i))
    return tracker


def pandas_daily_returns(marks) -> pd.Series:
    times = pd.to_datetime([ts for ts, _ in marks], unit="ns", utc=True)
    series = pd.Series([v for _, v in marks], index=times)
    return series.resample("1D").last().dropna().pct_change().dropna()


SERIES = [
    random_marks(1, 120, drift=0.0002, weekends=True),
    random_marks(2, 400, drift=-0.0001, weekends=True),
    random_marks(3, 30, drift=0.0, weekends=False),
    losing_streak(4),
    losing_streak(5)[:25],  # ends inside the streak: never recovers
]


@pytest.mark.parametrize("marks", SERIES)
def test_ratios_agree_with_empyrical(marks):
    returns = pandas_daily_returns(marks)
    ours = compute_metrics(
        track(marks), [], initial=marks[0][1], costs_paid={}, traded_notional=0.0
    )
    expected = {
        "cagr": empyrical.annual_return(returns, annualization=PPY),
        "annual_volatility": empyrical.annual_volatility(returns, annualization=PPY),
        "sharpe": empyrical.sharpe_ratio(returns, annualization=PPY),
        "sortino": empyrical.sortino_ratio(returns, annualization=PPY),
        "max_drawdown": empyrical.max_drawdown(returns),
        "calmar": empyrical.calmar_ratio(returns, annualization=PPY),
    }
    for name, value in expected.items():
        assert ours[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
    assert ours["n_days"] == len(returns) + 1


def test_daily_returns_equal_pandas_resample_of_equity_csv(tmp_path):
    marks = random_marks(7, 50, drift=0.0001, weekends=True)
    path = tmp_path / "equity.csv"
    write_equity(path, marks)
    frame = pd.read_csv(path)
    times = pd.to_datetime(frame["time"], utc=True)
    expected = (
        pd.Series(frame["equity"].to_numpy(), index=times)
        .resample("1D")
        .last()
        .dropna()
        .pct_change()
        .dropna()
    )
    ours = daily_returns(track(marks).daily)
    assert len(ours) == len(expected)
    assert ours == pytest.approx(expected.to_list(), rel=1e-12, abs=1e-15)


def test_daily_keeps_the_last_mark_of_each_utc_day_and_skips_empty_days():
    marks = [
        (MONDAY + 1, 100.0),
        (MONDAY + NS_PER_DAY - 1, 110.0),  # last nanosecond of Monday
        (MONDAY + NS_PER_DAY, 99.0),  # first of Tuesday
        (MONDAY + 4 * NS_PER_DAY + HOUR, 121.0),  # Friday; Wednesday and Thursday empty
    ]
    tracker = track(marks)
    assert tracker.daily == [
        (MONDAY, 110.0),
        (MONDAY + NS_PER_DAY, 99.0),
        (MONDAY + 4 * NS_PER_DAY, 121.0),
    ]
    assert daily_returns(tracker.daily) == pytest.approx([99 / 110 - 1, 121 / 99 - 1])


def test_drawdown_depth_and_duration_over_marks():
    day = NS_PER_DAY
    marks = [
        (0, 100.0),
        (1 * day, 120.0),  # peak
        (2 * day, 90.0),  # -25%
        (4 * day, 119.0),
        (5 * day, 120.0),  # regained after 4 days
        (6 * day, 130.0),  # new peak
        (7 * day, 125.0),
        (8 * day, 131.0),  # regained after 2 days
        (9 * day, 130.0),  # under water to the end: 1 day
    ]
    tracker = track(marks)
    assert tracker.max_drawdown_marks == pytest.approx(-0.25)
    assert tracker.max_drawdown_duration_ns == 4 * day
    metrics = compute_metrics(tracker, [], initial=100.0, costs_paid={}, traded_notional=0.0)
    assert metrics["max_drawdown_duration_days"] == 4.0
    assert metrics["max_drawdown_marks"] == -0.25


def test_drawdown_never_regained_runs_to_the_last_mark():
    day = NS_PER_DAY
    tracker = track([(0, 100.0), (day, 105.0), (2 * day, 101.0), (12 * day, 104.0)])
    assert tracker.max_drawdown_duration_ns == 11 * day
    assert tracker.max_drawdown_marks == pytest.approx(101 / 105 - 1)


def test_intraday_drawdown_is_seen_by_marks_but_not_by_daily_closes():
    marks = [(MONDAY + HOUR, 100.0), (MONDAY + 2 * HOUR, 80.0), (MONDAY + 3 * HOUR, 100.0)]
    marks += [(MONDAY + NS_PER_DAY + HOUR, 101.0), (MONDAY + 2 * NS_PER_DAY, 102.0)]
    metrics = compute_metrics(track(marks), [], initial=100.0, costs_paid={}, traded_notional=0.0)
    assert metrics["max_drawdown_marks"] == -0.2
    assert metrics["max_drawdown"] == 0.0
    assert metrics["calmar"] is None


def test_memory_grows_per_day_not_per_mark():
    tracker = EquityTracker()
    per_day = 10_000
    for i in range(100_000):
        day, k = divmod(i, per_day)
        tracker.mark(MONDAY + day * NS_PER_DAY + k * 1_000_000, 100.0 + (i % 7), i % 2 == 0)
    assert tracker.n_marks == 100_000
    assert len(tracker._days) == 10
    assert len(tracker._closes) == 10
    assert len(tracker.daily) == 10
    assert tracker.exposure == 0.5
    assert tracker.first_ts == MONDAY
    assert tracker.last_ts == MONDAY + 9 * NS_PER_DAY + (per_day - 1) * 1_000_000


def test_marks_out_of_order_are_a_bug():
    tracker = EquityTracker()
    tracker.mark(10, 1.0, False)
    with pytest.raises(ValueError, match="before the previous"):
        tracker.mark(9, 1.0, False)


def trade(pnl: float, side: Side = Side.BUY) -> ClosedTrade:
    return ClosedTrade("EUR_USD", side, 1000.0, 0, 1, 1.1, 1.1, pnl)


def test_trade_statistics_by_hand():
    stats = trade_statistics(
        [t.pnl for t in [trade(30.0), trade(-10.0), trade(50.0, Side.SELL), trade(-20.0)]]
    )
    assert stats == {
        "n_trades": 4,
        "win_rate": 0.5,
        "profit_factor": 80.0 / 30.0,
        "expectancy": 12.5,
        "avg_win": 40.0,
        "avg_loss": -15.0,
        "largest_win": 50.0,
        "largest_loss": -20.0,
        "net_pnl_closed_trades": 50.0,
    }


def test_zero_pnl_trade_counts_but_is_neither_win_nor_loss():
    stats = trade_statistics([t.pnl for t in [trade(10.0), trade(0.0)]])
    assert stats["win_rate"] == 0.5
    assert stats["profit_factor"] is None  # no losses
    assert stats["avg_loss"] is None
    assert stats["largest_loss"] is None
    assert stats["expectancy"] == 5.0


def test_no_trades_and_too_few_returns_are_none_not_nan():
    tracker = track([(MONDAY, 100.0), (MONDAY + NS_PER_DAY, 101.0)])  # one daily return
    metrics = compute_metrics(tracker, [], initial=100.0, costs_paid={}, traded_notional=0.0)
    for name in ("sharpe", "sortino", "annual_volatility", "calmar", "win_rate"):
        assert metrics[name] is None, name
    for name in ("profit_factor", "expectancy", "avg_win", "avg_loss"):
        assert metrics[name] is None, name
    assert metrics["n_trades"] == 0
    assert metrics["max_drawdown"] == 0.0
    assert metrics["cagr"] == pytest.approx(1.01**252 - 1, rel=1e-11)
    json.dumps(metrics, allow_nan=False)


def test_empty_tracker_and_constant_equity():
    empty = compute_metrics(EquityTracker(), [], initial=1e4, costs_paid={}, traded_notional=0.0)
    assert empty["final_equity"] == 1e4
    assert empty["total_return"] == 0.0
    assert empty["cagr"] is None
    assert empty["max_drawdown"] is None
    assert empty["exposure"] is None
    assert empty["turnover"] is None
    assert empty["n_days"] == 0
    flat = [(MONDAY + d * NS_PER_DAY, 1e4) for d in range(5)]
    metrics = compute_metrics(track(flat), [], initial=1e4, costs_paid={}, traded_notional=0.0)
    assert metrics["sharpe"] is None
    assert metrics["sortino"] is None
    assert metrics["annual_volatility"] == 0.0
    json.dumps(empty, allow_nan=False)
    json.dumps(metrics, allow_nan=False)


def test_a_wiped_out_account_gives_valid_json():
    marks = [(MONDAY + d * NS_PER_DAY, v) for d, v in enumerate([100.0, 50.0, 0.0, 0.0, 10.0])]
    metrics = compute_metrics(track(marks), [], initial=100.0, costs_paid={}, traded_notional=1.0)
    assert metrics["max_drawdown_marks"] == -1.0
    assert metrics["final_equity"] == 10.0
    json.dumps(metrics, allow_nan=False)


def test_only_gains_leave_sortino_and_calmar_undefined():
    ratios = return_ratios([0.01, 0.02, 0.005], PPY)
    assert ratios["sortino"] is None
    assert ratios["calmar"] is None
    assert ratios["max_drawdown"] == 0.0
    assert ratios["sharpe"] == pytest.approx(
        empyrical.sharpe_ratio(np.array([0.01, 0.02, 0.005]), annualization=PPY), rel=1e-12
    )


def test_exposure_turnover_costs_and_rounding():
    marks = [(MONDAY + d * NS_PER_DAY, 1000.0 + 100.0 * (d % 2)) for d in range(4)]
    tracker = track(marks, exposed=lambda i: i != 0)
    costs = {"spread": 2.5, "commission": 1.0 / 3.0, "slippage": 0.0, "financing": -0.25}
    metrics = compute_metrics(
        tracker, [], initial=1000.0, costs_paid=costs, traded_notional=21_000.0
    )
    assert metrics["exposure"] == 0.75
    # average daily equity 1050: 20 times equity in 4 days, 252 days a year
    assert metrics["turnover"] == pytest.approx(20.0 * 252 / 4)
    assert list(metrics["costs"]) == ["commission", "financing", "slippage", "spread", "total"]
    assert metrics["costs"]["commission"] == 0.333333333333
    assert metrics["costs"]["total"] == pytest.approx(2.5 + 1 / 3 - 0.25)
    assert metrics["final_equity"] == 1100.0
    assert metrics["total_return"] == pytest.approx(0.1)
    text = json.dumps(metrics, sort_keys=True, allow_nan=False)
    again = compute_metrics(
        track(marks, exposed=lambda i: i != 0),
        [],
        initial=1000.0,
        costs_paid=costs,
        traded_notional=21_000.0,
    )
    assert json.dumps(again, sort_keys=True) == text
    for value in metrics.values():
        if isinstance(value, float):
            assert math.isfinite(value)
            assert len(repr(abs(value)).replace(".", "").lstrip("0")) <= 13
