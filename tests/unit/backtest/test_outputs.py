import pytest

from algotrading.backtest.outputs import closed_trades, compute_metrics
from algotrading.data.instruments import BUILTIN_INSTRUMENTS
from algotrading.messages import Fill, Side

SPECS = {s: BUILTIN_INSTRUMENTS[s] for s in ("EUR_USD", "USD_JPY")}


def fill(i: int, side: Side, qty: float, price: float, instrument="EUR_USD", commission=0.0):
    return Fill(
        ts_event=i,
        fill_id=f"f{i}",
        client_order_id=f"c{i}",
        venue_order_id="v",
        strategy_id="s",
        instrument=instrument,
        side=side,
        quantity=qty,
        price=price,
        commission=commission,
    )


def test_reversal_through_flat_gives_one_trade_per_round_trip():
    fills = [
        fill(1, Side.BUY, 100, 1.10),
        fill(2, Side.SELL, 100, 1.12),
        fill(3, Side.SELL, 100, 1.12),
        fill(4, Side.BUY, 100, 1.11),
    ]
    trades = closed_trades(fills, SPECS, "USD")
    assert [(t.side, t.entry_time, t.exit_time) for t in trades] == [
        (Side.BUY, 1, 2),
        (Side.SELL, 3, 4),
    ]
    assert [t.pnl for t in trades] == pytest.approx([2.0, 1.0])


def test_partial_exits_and_averaged_entries_with_commissions():
    fills = [
        fill(1, Side.BUY, 100, 1.0, commission=1.0),
        fill(2, Side.BUY, 100, 2.0, commission=1.0),
        fill(3, Side.SELL, 50, 3.0, commission=0.5),
        fill(4, Side.SELL, 250, 1.0, commission=2.5),
    ]
    trades = closed_trades(fills, SPECS, "USD")
    assert [(t.quantity, t.entry_price, t.exit_price) for t in trades] == [
        (50, 1.5, 3.0),
        (150, 1.5, 1.0),
    ]
    # first: 75 gross - 0.5 entry share - 0.5 exit; second: -75 - 1.5 - 1.5 (exit share 150/250)
    assert trades[0].pnl == pytest.approx(74.0)
    assert trades[1].pnl == pytest.approx(-78.0)
    # the 100 units left short after the last fill are open, not a closed trade
    assert sum(t.quantity for t in trades) == 200


def test_jpy_pnl_converted_at_exit():
    trades = closed_trades(
        [fill(1, Side.BUY, 10_000, 150.0, "USD_JPY"), fill(2, Side.SELL, 10_000, 151.0, "USD_JPY")],
        SPECS,
        "USD",
    )
    assert trades[0].pnl == pytest.approx(10_000 / 151.0)


def test_metrics_on_a_known_equity_curve():
    day = 86_400 * 10**9
    equity = [(day * 1, 101.0), (day * 2, 99.99), (day * 3, 102.0)]
    m = compute_metrics(equity, [], 100.0, 0.0)
    assert m["total_return"] == pytest.approx(0.02)
    assert m["max_drawdown"] == pytest.approx(99.99 / 101.0 - 1)
    returns = [0.01, 99.99 / 101 - 1, 102 / 99.99 - 1]
    mean = sum(returns) / 3
    std = (sum((r - mean) ** 2 for r in returns) / 2) ** 0.5
    assert m["sharpe"] == pytest.approx(mean / std * 252**0.5)
    assert m["n_trades"] == 0
    assert m["win_rate"] is None
