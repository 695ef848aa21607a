"""The matching engine on hand-computed cases: every order type on bars and on quotes, time in
force, brackets, modify, latency, costs, conversion, financing and margin."""

from __future__ import annotations

import pytest

from algotrading.data.instruments import BUILTIN_INSTRUMENTS
from algotrading.messages import (
    Alert,
    Bar,
    Fill,
    Financing,
    ModifyOrder,
    Order,
    OrderCancelled,
    OrderModified,
    OrderRejected,
    OrderType,
    Quote,
    RequestRejected,
    Side,
    TimeInForce,
)
from algotrading.sim.costs import CostModel, FinancingModel, FinancingRate, LatencyModel
from algotrading.sim.exchange import SimExchange
from algotrading.timestamps import parse_utc

M = 60 * 10**9
T0 = parse_utc("2024-01-08T10:00:00Z")  # a Monday morning, New York still asleep


def bar(i: int, o: float, h: float, lo: float, c: float, instrument: str = "EUR_USD") -> Bar:
    return Bar(
        ts_event=T0 + (i + 1) * M,
        instrument=instrument,
        interval_ns=M,
        ts_open=T0 + i * M,
        open=o,
        high=h,
        low=lo,
        close=c,
    )


def quote(i: int, bid: float, ask: float, instrument: str = "EUR_USD") -> Quote:
    return Quote(ts_event=T0 + i * M, instrument=instrument, bid=bid, ask=ask)


def order(cid: str, side: Side, kind: OrderType = OrderType.MARKET, **kw) -> Order:
    kw.setdefault("quantity", 10_000.0)
    kw.setdefault("instrument", "EUR_USD")
    return Order(
        ts_event=T0, client_order_id=cid, strategy_id="t", side=side, order_type=kind, **kw
    )


def venue(*symbols: str, **kw) -> SimExchange:
    return SimExchange({s: BUILTIN_INSTRUMENTS[s] for s in symbols or ("EUR_USD",)}, **kw)


def of(kind, messages):
    return [m for m in messages if isinstance(m, kind)]


def prices(messages) -> list[float]:
    return [f.price for f in of(Fill, messages)]


# --- bars -------------------------------------------------------------------------------------

BAR = (1.1000, 1.1050, 1.0950, 1.1020)  # open, high, low, close


@pytest.mark.parametrize(
    ("side", "kind", "terms", "expected"),
    [
        (Side.BUY, OrderType.MARKET, {}, [1.1000]),
        (Side.SELL, OrderType.MARKET, {}, [1.1000]),
        # limits: at the limit when the range reaches it, at the open when it gaps through
        (Side.BUY, OrderType.LIMIT, {"limit_price": 1.0960}, [1.0960]),
        (Side.BUY, OrderType.LIMIT, {"limit_price": 1.1010}, [1.1000]),
        (Side.BUY, OrderType.LIMIT, {"limit_price": 1.0940}, []),
        (Side.SELL, OrderType.LIMIT, {"limit_price": 1.1040}, [1.1040]),
        (Side.SELL, OrderType.LIMIT, {"limit_price": 1.0990}, [1.1000]),
        (Side.SELL, OrderType.LIMIT, {"limit_price": 1.1060}, []),
        # stops: at the stop inside the range, at the (worse) open on a gap
        (Side.BUY, OrderType.STOP, {"stop_price": 1.1030}, [1.1030]),
        (Side.BUY, OrderType.STOP, {"stop_price": 1.0990}, [1.1000]),
        (Side.BUY, OrderType.STOP, {"stop_price": 1.1060}, []),
        (Side.SELL, OrderType.STOP, {"stop_price": 1.0970}, [1.0970]),
        (Side.SELL, OrderType.STOP, {"stop_price": 1.1010}, [1.1000]),
        # stop-limit: triggered inside the bar, fills at the stop if the limit allows
        (Side.BUY, OrderType.STOP_LIMIT, {"stop_price": 1.1030, "limit_price": 1.1035}, [1.1030]),
        (Side.BUY, OrderType.STOP_LIMIT, {"stop_price": 1.1030, "limit_price": 1.1020}, []),
        # ... triggered at the open, it works as a limit for the whole bar
        (Side.BUY, OrderType.STOP_LIMIT, {"stop_price": 1.0990, "limit_price": 1.0980}, [1.0980]),
        (Side.SELL, OrderType.STOP_LIMIT, {"stop_price": 1.0970, "limit_price": 1.0960}, [1.0970]),
    ],
)
def test_bar_fills(side, kind, terms, expected):
    ex = venue()
    ex.submit(order("a", side, kind, **terms), T0)
    assert prices(ex.on_bar(bar(0, *BAR))) == pytest.approx(expected)


def test_an_order_fills_no_earlier_than_the_bar_that_opens_after_it_arrives():
    ex = venue()
    ex.on_bar(bar(0, *BAR))
    ex.submit(order("a", Side.BUY), T0 + M)  # decided at bar 0's close
    fill = of(Fill, ex.on_bar(bar(1, 1.1020, 1.1030, 1.1010, 1.1025)))[0]
    assert (fill.price, fill.ts_event) == (1.1020, T0 + M)


def test_latency_moves_a_market_order_to_the_next_bar():
    ex = venue(latency=LatencyModel(fixed_ms=50))
    ex.submit(order("a", Side.BUY), T0)
    assert of(Fill, ex.on_bar(bar(0, *BAR))) == []
    assert prices(ex.on_bar(bar(1, 1.1020, 1.1030, 1.1010, 1.1025))) == [1.1020]


def test_latency_jitter_is_seeded():
    a = [LatencyModel(fixed_ms=1, jitter_ms=5, seed=7).delay_ns() for _ in range(1)]
    b = [LatencyModel(fixed_ms=1, jitter_ms=5, seed=7).delay_ns() for _ in range(1)]
    assert a == b
    assert 1_000_000 <= a[0] <= 6_000_000


def test_a_limit_rests_until_the_price_comes():
    ex = venue()
    ex.submit(order("a", Side.BUY, OrderType.LIMIT, limit_price=1.0900), T0)
    assert of(Fill, ex.on_bar(bar(0, *BAR))) == []
    assert prices(ex.on_bar(bar(1, 1.0950, 1.0960, 1.0890, 1.0920))) == [1.0900]


def test_trailing_stop_trails_bar_highs_and_fills_at_its_level():
    ex = venue()
    ex.submit(order("long", Side.BUY), T0)
    ex.on_bar(bar(0, 1.1000, 1.1010, 1.0995, 1.1005))
    ex.submit(order("trail", Side.SELL, OrderType.TRAILING_STOP, trailing_distance=0.0020), T0)
    # bar 1: best = open 1.1005, stop 1.0985 not reached; best moves to the high 1.1040
    assert of(Fill, ex.on_bar(bar(1, 1.1005, 1.1040, 1.1000, 1.1030))) == []
    # bar 2: stop 1.1020 is reached inside the bar
    assert prices(ex.on_bar(bar(2, 1.1030, 1.1035, 1.1010, 1.1015))) == [1.1020]


def test_a_gap_through_a_trailing_stop_fills_at_the_open():
    ex = venue()
    ex.submit(order("trail", Side.BUY, OrderType.TRAILING_STOP, trailing_distance=0.0010), T0)
    ex.on_bar(bar(0, 1.1000, 1.1005, 1.0990, 1.0995))  # best low 1.0990 -> stop 1.1000
    assert prices(ex.on_bar(bar(1, 1.1012, 1.1020, 1.1008, 1.1010))) == [1.1012]


def test_spread_and_slippage_on_bars_are_paid_and_counted():
    costs = CostModel(spread_pips=1.0, slippage_pips=0.5)
    ex = venue(costs=costs)
    ex.submit(order("b", Side.BUY), T0)
    ex.submit(order("l", Side.SELL, OrderType.LIMIT, limit_price=1.1040), T0)
    out = ex.on_bar(bar(0, *BAR))
    # buy market: open + half spread + slippage; sell limit: fills at its price, no slippage,
    # reached when the bid (high - half spread) gets there
    assert prices(out) == pytest.approx([1.10010, 1.1040])
    assert ex.paid["spread"] == pytest.approx(2 * 10_000 * 0.00005)
    assert ex.paid["slippage"] == pytest.approx(10_000 * 0.00005)


def test_commission_per_unit_notional_and_minimum():
    ex = venue(costs=CostModel(commission_per_unit=0.00002, commission_bps=0.1, commission_min=1))
    ex.submit(order("a", Side.BUY, quantity=1_000), T0)
    fill = of(Fill, ex.on_bar(bar(0, *BAR)))[0]
    assert fill.commission == 1.0  # 0.02 + 0.011 < minimum
    ex.submit(order("b", Side.SELL, quantity=1_000_000), T0)
    fill = of(Fill, ex.on_bar(bar(1, *BAR)))[0]
    assert fill.commission == pytest.approx(20 + 1_000_000 * 1.1 * 0.1 / 1e4)


# --- time in force ----------------------------------------------------------------------------


def test_ioc_limit_fills_only_at_the_open_or_is_cancelled():
    ex = venue()
    ex.submit(order("hit", Side.BUY, OrderType.LIMIT, limit_price=1.1000, time_in_force="IOC"), T0)
    ex.submit(order("miss", Side.BUY, OrderType.LIMIT, limit_price=1.0960, time_in_force="FOK"), T0)
    out = ex.on_bar(bar(0, *BAR))
    assert [(f.client_order_id, f.price) for f in of(Fill, out)] == [("hit", 1.1000)]
    assert [c.client_order_id for c in of(OrderCancelled, out)] == ["miss"]
    assert list(ex.working_orders()) == []


def test_gtd_expires_at_its_time():
    ex = venue()
    terms = {"limit_price": 1.0, "time_in_force": TimeInForce.GTD, "expire_ns": T0 + M}
    ex.submit(order("a", Side.BUY, OrderType.LIMIT, **terms), T0)
    assert of(OrderCancelled, ex.on_bar(bar(0, *BAR))) == []
    cancelled = of(OrderCancelled, ex.on_bar(bar(1, *BAR)))
    assert [c.reason for c in cancelled] == ["expired (GTD)"]


def test_gtd_without_an_expiry_is_refused():
    ex = venue()
    refused = ex.submit(
        order("a", Side.BUY, OrderType.LIMIT, limit_price=1.0, time_in_force="GTD"), T0
    )
    assert isinstance(refused[0], OrderRejected)
    assert "expire_ns" in refused[0].reason


# --- brackets ---------------------------------------------------------------------------------


def test_bracket_legs_attach_on_fill_and_one_cancels_the_other():
    ex = venue()
    ex.submit(order("e", Side.BUY, stop_loss=1.0950, take_profit=1.1100), T0)
    out = ex.on_bar(bar(0, 1.1000, 1.1010, 1.0990, 1.1005))
    legs = [m for m in out if isinstance(m, Order)]
    assert [(o.client_order_id, o.order_type, o.side, o.parent_id) for o in legs] == [
        ("e.sl", OrderType.STOP, Side.SELL, "e"),
        ("e.tp", OrderType.LIMIT, Side.SELL, "e"),
    ]
    out = ex.on_bar(bar(1, 1.1005, 1.1120, 1.1000, 1.1110))
    assert [(f.client_order_id, f.price) for f in of(Fill, out)] == [("e.tp", 1.1100)]
    assert [c.client_order_id for c in of(OrderCancelled, out)] == ["e.sl"]
    assert ex.position("EUR_USD").is_flat


def test_when_one_bar_reaches_stop_and_target_the_stop_loss_fills():
    ex = venue()
    ex.submit(order("e", Side.BUY, stop_loss=1.0950, take_profit=1.1100), T0)
    ex.on_bar(bar(0, 1.1000, 1.1010, 1.0990, 1.1005))
    out = ex.on_bar(bar(1, 1.1005, 1.1150, 1.0900, 1.1000))
    assert [(f.client_order_id, f.price) for f in of(Fill, out)] == [("e.sl", 1.0950)]
    assert [c.client_order_id for c in of(OrderCancelled, out)] == ["e.tp"]


def test_on_the_entry_bar_the_stop_loss_is_checked_but_not_the_take_profit():
    ex = venue()
    ex.submit(order("e", Side.SELL, stop_loss=1.1040, take_profit=1.0960), T0)
    out = ex.on_bar(bar(0, *BAR))  # reaches both 1.1040 and 1.0960
    assert [(f.client_order_id, f.price) for f in of(Fill, out)] == [("e", 1.1), ("e.sl", 1.104)]
    ex2 = venue()
    ex2.submit(order("e", Side.SELL, take_profit=1.0960), T0)
    out = ex2.on_bar(bar(0, *BAR))
    assert [f.client_order_id for f in of(Fill, out)] == ["e"]
    assert prices(ex2.on_bar(bar(1, *BAR))) == [1.0960]


def test_trailing_stop_leg_joins_the_bracket_and_any_leg_cancels_the_others():
    ex = venue()
    ex.submit(order("e", Side.BUY, stop_loss=1.0900, take_profit=1.1200, trailing_stop=0.0020), T0)
    out = ex.on_bar(bar(0, 1.1000, 1.1010, 1.0995, 1.1005))
    legs = {o.client_order_id: o for o in of(Order, out)}
    assert sorted(legs) == ["e.sl", "e.tp", "e.ts"]
    assert legs["e.ts"].order_type is OrderType.TRAILING_STOP
    assert legs["e.ts"].trailing_distance == 0.0020
    ex.on_bar(bar(1, 1.1005, 1.1060, 1.1040, 1.1050))  # best 1.1060 seen: stop now 1.1040
    out = ex.on_bar(bar(2, 1.1045, 1.1048, 1.1030, 1.1035))
    assert [(f.client_order_id, f.price) for f in of(Fill, out)] == [("e.ts", 1.1040)]
    assert sorted(c.client_order_id for c in of(OrderCancelled, out)) == ["e.sl", "e.tp"]
    assert ex.position("EUR_USD").is_flat
    assert list(ex.working_orders()) == []


def test_closing_the_position_cancels_its_bracket_legs():
    ex = venue()
    ex.submit(order("e", Side.BUY, stop_loss=1.0900, take_profit=1.1200), T0)
    ex.on_bar(bar(0, *BAR))
    ex.submit(order("x", Side.SELL), T0 + M)  # the strategy closes by itself
    out = ex.on_bar(bar(1, *BAR))
    assert [f.client_order_id for f in of(Fill, out)] == ["x"]
    assert sorted(c.client_order_id for c in of(OrderCancelled, out)) == ["e.sl", "e.tp"]
    assert "linked position closed" in of(OrderCancelled, out)[0].reason
    assert list(ex.working_orders()) == []


def test_a_leg_only_closes_what_is_left_of_its_position():
    ex = venue()
    ex.submit(order("e", Side.BUY, stop_loss=1.0900), T0)
    ex.on_bar(bar(0, *BAR))
    ex.submit(order("part", Side.SELL, quantity=4_000.0), T0 + M)
    ex.on_bar(bar(1, *BAR))
    out = ex.on_bar(bar(2, 1.0950, 1.0950, 1.0850, 1.0870))
    modified = of(OrderModified, out)
    assert [(m.order.client_order_id, m.order.quantity) for m in modified] == [("e.sl", 6_000.0)]
    assert [(f.client_order_id, f.quantity) for f in of(Fill, out)] == [("e.sl", 6_000.0)]
    assert ex.position("EUR_USD").is_flat


# --- modify and cancel ------------------------------------------------------------------------


def test_modify_changes_a_working_order():
    ex = venue()
    ex.submit(order("a", Side.BUY, OrderType.LIMIT, limit_price=1.0900), T0)
    modified = ex.modify(ModifyOrder(ts_event=T0, client_order_id="a", limit_price=1.0960), T0)
    assert isinstance(modified[0], OrderModified)
    assert modified[0].order.limit_price == 1.0960
    assert prices(ex.on_bar(bar(0, *BAR))) == [1.0960]


def test_modify_and_cancel_of_unknown_or_bad_terms_are_refused_without_touching_the_order():
    ex = venue()
    ex.submit(order("a", Side.BUY, OrderType.LIMIT, limit_price=1.0900), T0)
    bad = ex.modify(ModifyOrder(ts_event=T0, client_order_id="a", quantity=0.1), T0)[0]
    assert isinstance(bad, RequestRejected)
    assert bad.code == "invalid_terms"
    missing = ex.modify(ModifyOrder(ts_event=T0, client_order_id="zz", quantity=5.0), T0)[0]
    assert missing.code == "order_not_found"
    assert ex.cancel("zz", T0)[0].code == "order_not_found"
    assert [o.limit_price for o in ex.working_orders()] == [1.0900]
    assert isinstance(ex.cancel("a", T0)[0], OrderCancelled)


# --- quotes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "kind", "terms", "quotes", "expected"),
    [
        (Side.BUY, OrderType.MARKET, {}, [(1.1000, 1.1002)], [1.1002]),
        (Side.SELL, OrderType.MARKET, {}, [(1.1000, 1.1002)], [1.1000]),
        (
            Side.BUY,
            OrderType.LIMIT,
            {"limit_price": 1.0999},
            [(1.1, 1.1002), (1.0997, 1.0999)],
            [1.0999],
        ),
        (
            Side.SELL,
            OrderType.STOP,
            {"stop_price": 1.0990},
            [(1.1, 1.1002), (1.0988, 1.0990)],
            [1.0988],
        ),
        (
            Side.BUY,
            OrderType.STOP_LIMIT,
            {"stop_price": 1.1010, "limit_price": 1.1011},
            [(1.1009, 1.1012), (1.1008, 1.1010)],
            [1.1010],
        ),
        (
            Side.SELL,
            OrderType.TRAILING_STOP,
            {"trailing_distance": 0.0010},
            [(1.1000, 1.1002), (1.1020, 1.1022), (1.1011, 1.1013), (1.1010, 1.1012)],
            [1.1010],
        ),
    ],
)
def test_quote_fills_buy_at_the_ask_and_sell_at_the_bid(side, kind, terms, quotes, expected):
    ex = venue()
    ex.submit(order("a", side, kind, **terms), T0)
    out = []
    for i, (bid, ask) in enumerate(quotes):
        out += ex.on_quote(quote(i, bid, ask))
    assert prices(out) == pytest.approx(expected)
    assert ex.paid["spread"] == pytest.approx(10_000 * (quotes[-1][1] - quotes[-1][0]) / 2)


# --- account ----------------------------------------------------------------------------------


def test_usd_jpy_pnl_is_booked_in_usd():
    ex = venue("USD_JPY")
    ex.submit(order("a", Side.BUY, instrument="USD_JPY"), T0)
    ex.on_bar(bar(0, 150.00, 150.10, 149.90, 150.00, "USD_JPY"))
    ex.submit(order("b", Side.SELL, instrument="USD_JPY"), T0 + M)
    ex.on_bar(bar(1, 151.00, 151.10, 150.90, 151.00, "USD_JPY"))
    assert ex.balance == pytest.approx(100_000 + 10_000 * 1.00 / 151.00)


def test_eur_gbp_pnl_converts_through_gbp_usd():
    ex = venue("EUR_GBP", conversion_rates={"GBP_USD": 1.25})
    ex.submit(order("a", Side.BUY, instrument="EUR_GBP"), T0)
    ex.on_bar(bar(0, 0.8500, 0.8510, 0.8490, 0.8500, "EUR_GBP"))
    ex.submit(order("b", Side.SELL, instrument="EUR_GBP"), T0 + M)
    ex.on_bar(bar(1, 0.8600, 0.8610, 0.8590, 0.8600, "EUR_GBP"))
    assert ex.balance == pytest.approx(100_000 + 10_000 * 0.0100 * 1.25)


def test_eur_gbp_without_a_rate_is_refused():
    ex = venue("EUR_GBP")
    ex.on_bar(bar(0, 0.85, 0.85, 0.85, 0.85, "EUR_GBP"))
    refused = ex.submit(order("a", Side.BUY, instrument="EUR_GBP"), T0)[0]
    assert refused.code == "no_conversion_rate"


def test_margin_is_checked_before_accepting():
    ex = venue(initial_cash=1_000.0)  # EUR/USD margin 3.33 %: 1 000 USD carries ~27 000 units
    ex.on_bar(bar(0, *BAR))
    assert ex.submit(order("ok", Side.BUY, quantity=25_000), T0)[0].__class__.__name__ == (
        "OrderAccepted"
    )
    refused = ex.submit(order("big", Side.BUY, quantity=30_000), T0)[0]
    assert refused.code == "insufficient_margin"
    # an order that reduces exposure is never refused for margin
    ex.on_bar(bar(1, *BAR))
    assert ex.submit(order("close", Side.SELL, quantity=25_000), T0)[0].__class__.__name__ == (
        "OrderAccepted"
    )


def test_margin_closeout_closes_everything_and_alerts():
    ex = venue(initial_cash=1_000.0)
    ex.submit(order("a", Side.BUY, quantity=25_000), T0)
    ex.on_bar(bar(0, 1.1000, 1.1000, 1.1000, 1.1000))
    margin = 25_000 * 1.1 * 0.0333
    # equity = 1000 + 25000 * (p - 1.1) <= margin(p) * 0.5 at about p = 1.0668
    out = ex.on_bar(bar(1, 1.0700, 1.0700, 1.0650, 1.0650))
    assert [f.strategy_id for f in of(Fill, out)] == ["margin_closeout"]
    assert of(Alert, out)[0].code == "margin_closeout"
    assert ex.position("EUR_USD").is_flat
    assert ex.balance == pytest.approx(1_000 + 25_000 * (1.0650 - 1.1000))
    assert margin > 0


def test_financing_is_booked_at_the_new_york_rollover_triple_on_wednesday():
    rates = {"EUR_USD": FinancingRate(long=-0.0365, short=0.01)}
    ex = venue(financing=FinancingModel(rates=rates))
    start = parse_utc("2024-01-09T20:00:00Z")  # Tuesday 15:00 New York
    hour = 3600 * 10**9

    def hbar(i: int) -> Bar:
        return Bar(
            ts_event=start + (i + 1) * hour,
            instrument="EUR_USD",
            interval_ns=hour,
            ts_open=start + i * hour,
            open=1.1,
            high=1.1,
            low=1.1,
            close=1.1,
        )

    ex.submit(order("a", Side.BUY, quantity=100_000), start)
    booked = []
    for i in range(48):  # Tuesday 15:00 to Thursday 15:00 New York
        booked += of(Financing, ex.on_bar(hbar(i)))
    daily = 100_000 * 1.1 * 0.0365 / 365
    assert [(f.days, round(f.amount, 6)) for f in booked] == [
        (1, round(-daily, 6)),  # Tuesday 17:00
        (3, round(-3 * daily, 6)),  # Wednesday 17:00: the weekend's value days
    ]
    assert booked[0].ts_event == parse_utc("2024-01-09T22:00:00Z")
    assert ex.balance == pytest.approx(100_000 - 4 * daily)
    assert ex.paid["financing"] == pytest.approx(4 * daily)


def test_no_financing_on_a_weekend_gap_except_the_rollovers_passed():
    rates = {"EUR_USD": FinancingRate(long=-0.0365)}
    ex = venue(financing=FinancingModel(rates=rates))
    friday = parse_utc("2024-01-12T21:00:00Z")  # Friday 16:00 New York
    monday = parse_utc("2024-01-14T22:00:00Z")  # Sunday 17:00 New York, the reopen

    def at(ts: int) -> Bar:
        return Bar(
            ts_event=ts + M,
            instrument="EUR_USD",
            interval_ns=M,
            ts_open=ts,
            open=1.1,
            high=1.1,
            low=1.1,
            close=1.1,
        )

    ex.submit(order("a", Side.BUY, quantity=100_000), friday)
    out = ex.on_bar(at(friday)) + ex.on_bar(at(monday))
    assert [f.days for f in of(Financing, out)] == [1]  # Friday's rollover, once


def test_a_reduce_only_order_never_opens_a_position():
    ex = venue()
    ex.submit(order("e", Side.BUY), T0)
    ex.on_bar(bar(0, *BAR))
    ex.submit(order("x", Side.SELL, quantity=25_000.0, reduce_only=True), T0 + M)
    out = ex.on_bar(bar(1, *BAR))
    assert [(f.client_order_id, f.quantity) for f in of(Fill, out)] == [("x", 10_000.0)]
    assert ex.position("EUR_USD").is_flat
    ex.submit(order("y", Side.SELL, reduce_only=True), T0 + 2 * M)
    out = ex.on_bar(bar(2, *BAR))
    assert of(Fill, out) == []
    assert "nothing left to reduce" in of(OrderCancelled, out)[0].reason
