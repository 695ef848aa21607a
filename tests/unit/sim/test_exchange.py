import pytest

from algotrading.data.instruments import BUILTIN_INSTRUMENTS
from algotrading.messages import (
    AccountState,
    Bar,
    Fill,
    Order,
    OrderAccepted,
    OrderCancelled,
    OrderRejected,
    OrderType,
    Quote,
    RequestRejected,
    Side,
)
from algotrading.sim.exchange import CostModel, SimExchange

H = 3600 * 10**9


def bar(i: int, o: float, c: float, instrument: str = "EUR_USD") -> Bar:
    return Bar(
        ts_event=(i + 1) * H,
        instrument=instrument,
        interval_ns=H,
        ts_open=i * H,
        open=o,
        high=max(o, c) + 0.001,
        low=min(o, c) - 0.001,
        close=c,
    )


def order(cid: str, side: Side, qty: float = 10_000, instrument: str = "EUR_USD", **kw) -> Order:
    return Order(
        ts_event=0,
        client_order_id=cid,
        strategy_id="t",
        instrument=instrument,
        side=side,
        quantity=qty,
        **kw,
    )


def exchange(costs: CostModel | None = None, *symbols: str) -> SimExchange:
    syms = symbols or ("EUR_USD",)
    return SimExchange(
        {s: BUILTIN_INSTRUMENTS[s] for s in syms}, initial_cash=100_000.0, costs=costs
    )


def fills(messages):
    return [m for m in messages if isinstance(m, Fill)]


def test_market_order_fills_at_next_bar_open_with_that_bars_time():
    ex = exchange()
    ex.on_bar(bar(0, 1.1000, 1.1010))
    out = ex.submit(order("a", Side.BUY), now_ns=H)
    assert isinstance(out[0], OrderAccepted)
    events = ex.on_bar(bar(1, 1.1012, 1.1030))
    (fill,) = fills(events)
    assert (fill.price, fill.ts_event, fill.quantity) == (1.1012, 1 * H, 10_000)
    account = events[-1]
    assert isinstance(account, AccountState)
    assert account.equity == pytest.approx(100_000 + (1.1030 - 1.1012) * 10_000)
    assert account.ts_event == 2 * H


def test_equity_is_marked_to_market_and_balance_moves_on_close():
    ex = exchange()
    ex.on_bar(bar(0, 1.1, 1.1))
    ex.submit(order("a", Side.SELL), 0)
    ex.on_bar(bar(1, 1.1000, 1.0950))
    assert ex.balance == 100_000
    assert ex.equity() == pytest.approx(100_050)
    ex.submit(order("b", Side.BUY), 0)
    ex.on_bar(bar(2, 1.0940, 1.0900))
    assert ex.balance == pytest.approx(100_060)
    assert ex.position("EUR_USD").is_flat


def test_quote_fills_buy_at_ask_sell_at_bid():
    ex = exchange()
    ex.submit(order("a", Side.BUY), 0)
    ex.submit(order("b", Side.SELL, 5_000), 0)
    out = ex.on_quote(Quote(ts_event=5, instrument="EUR_USD", bid=1.10000, ask=1.10008))
    assert [(f.side, f.price) for f in fills(out)] == [(Side.BUY, 1.10008), (Side.SELL, 1.1)]


def test_costs_spread_slippage_commission():
    costs = CostModel(
        spread_pips=1.0, slippage_pips=0.5, commission_per_unit=0.00002, commission_bps=0.1
    )
    ex = exchange(costs)
    ex.submit(order("a", Side.BUY), 0)
    (fill,) = fills(ex.on_bar(bar(0, 1.1000, 1.1000)))
    assert fill.price == pytest.approx(1.1000 + 0.00005 + 0.00005)
    notional = 10_000 * fill.price
    assert fill.commission == pytest.approx(0.2 + notional * 0.1 / 1e4)
    assert ex.commission_paid == pytest.approx(fill.commission)
    assert ex.balance == pytest.approx(100_000 - fill.commission)


def test_usd_jpy_pnl_is_converted_to_the_account_currency():
    ex = exchange(None, "USD_JPY")
    ex.submit(order("a", Side.BUY, 10_000, "USD_JPY"), 0)
    ex.on_bar(bar(0, 150.000, 150.000, "USD_JPY"))
    ex.submit(order("b", Side.SELL, 10_000, "USD_JPY"), 0)
    ex.on_bar(bar(1, 151.000, 151.000, "USD_JPY"))
    # 10 000 units * 1 JPY = 10 000 JPY = 10 000 / 151 USD
    assert ex.balance == pytest.approx(100_000 + 10_000 / 151.0)


def test_rejections_are_messages_with_reasons():
    ex = exchange()
    ex.on_bar(bar(0, 1.1, 1.1))
    ex.submit(order("a", Side.BUY), 0)
    dup = ex.submit(order("a", Side.BUY), 0)[0]
    assert isinstance(dup, OrderRejected)
    assert dup.code == "duplicate_client_order_id"
    limit = ex.submit(order("l", Side.BUY, order_type=OrderType.LIMIT), 0)[0]
    assert limit.code == "invalid_terms"
    assert "limit_price" in limit.reason
    assert ex.submit(order("x", Side.BUY, instrument="GBP_USD"), 0)[0].code == "unknown_instrument"
    assert ex.submit(order("z", Side.BUY, 0.5), 0)[0].code == "invalid_terms"
    huge = ex.submit(order("m", Side.BUY, 90_000_000), 0)[0]
    assert huge.code == "insufficient_margin"


def test_cancel_working_order():
    ex = exchange()
    ex.submit(order("a", Side.BUY), 0)
    assert isinstance(ex.cancel("a", 1)[0], OrderCancelled)
    assert fills(ex.on_bar(bar(0, 1.1, 1.1))) == []
    refused = ex.cancel("a", 2)[0]
    assert isinstance(refused, RequestRejected)
    assert refused.code == "order_not_found"


def test_ids_are_numbered_under_the_prefix_a_paper_session_gives():
    plain = exchange()
    prefixed = SimExchange({"EUR_USD": BUILTIN_INSTRUMENTS["EUR_USD"]}, id_prefix="p1-")
    for ex in (plain, prefixed):
        ex.on_bar(bar(0, 1.1000, 1.1010))
        ex.submit(order("a", Side.BUY), now_ns=H)
    (a,) = fills(plain.on_bar(bar(1, 1.1012, 1.1030)))
    (b,) = fills(prefixed.on_bar(bar(1, 1.1012, 1.1030)))
    assert (a.fill_id, a.venue_order_id) == ("F1", "S1")  # a backtest's, as ever
    assert (b.fill_id, b.venue_order_id) == ("p1-F1", "p1-S1")
