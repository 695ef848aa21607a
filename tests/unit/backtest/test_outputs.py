import itertools

import msgspec
import pytest

from algotrading.backtest.ledger import closed_trades
from algotrading.backtest.outputs import OhlcThinned, Thinned
from algotrading.messages import Fill, Side


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
    trades = closed_trades(fills)
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
    trades = closed_trades(fills)
    assert [(t.quantity, t.entry_price, t.exit_price) for t in trades] == [
        (50, 1.5, 3.0),
        (150, 1.5, 1.0),
    ]
    # first: 75 gross - 0.5 entry share - 0.5 exit; second: -75 - 1.5 - 1.5 (exit share 150/250)
    assert trades[0].pnl == pytest.approx(74.0)
    assert trades[1].pnl == pytest.approx(-78.0)
    # the 100 units left short after the last fill are open, not a closed trade
    assert sum(t.quantity for t in trades) == 200


def test_jpy_pnl_converted_at_the_exit_fills_rate():
    exit_ = msgspec.structs.replace(
        fill(2, Side.SELL, 10_000, 151.0, "USD_JPY"), quote_rate=1 / 151.0
    )
    trades = closed_trades([fill(1, Side.BUY, 10_000, 150.0, "USD_JPY"), exit_])
    assert trades[0].pnl == pytest.approx(10_000 / 151.0)


def test_thinned_sample_stays_bounded_and_even():
    sample = Thinned(10)
    for i in range(1000):
        sample.add(i)
    assert len(sample.items) < 20
    gaps = {b - a for a, b in itertools.pairwise(sample.items)}
    assert gaps == {sample.stride}


def test_ohlc_thinning_keeps_the_extremes():
    candles = OhlcThinned(8)
    for i in range(100):
        candles.add(i, 1.0 + i, 2.0 + i, 0.5 + i, 1.5 + i)
    rows = candles.rows()
    assert len(rows) < 16
    assert rows[0][:2] == (0, 1.0)
    assert max(r[2] for r in rows) == 101.0
    assert min(r[3] for r in rows) == 0.5
    assert rows[-1][4] == 100.5
