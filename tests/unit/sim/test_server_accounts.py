"""The v20 account around the matching engine, without a server: request conversion, reject
reasons, transaction shapes (field names and strings as in docs/adapters/oanda-v20-subset.md),
FIFO trades, order states, summary, positions, closes, persistence of the engine state."""

from typing import Any

import pytest

from algotrading.data.instruments import BUILTIN_INSTRUMENTS, AssetClass, InstrumentSpec
from algotrading.messages import OrderType, Quote, TimeInForce
from algotrading.sim.costs import FinancingModel, FinancingRate
from algotrading.sim.exchange import SimExchange
from algotrading.sim.server import views
from algotrading.sim.server.accounts import SimAccount
from algotrading.sim.server.transactions import as_unix
from algotrading.timestamps import parse_utc

T = parse_utc("2024-01-08T08:00:00Z")  # a Monday, London open
S = 1_000_000_000
ACCOUNT = "101-001-0000001-001"
COMMON = {"id", "time", "userID", "accountID", "batchID", "type"}
LOTS = InstrumentSpec(  # whole lots of 100 only, to reach UNITS_MIMIMUM_NOT_MET
    symbol="LOT_USD",
    asset_class=AssetClass.FX,
    base="LOT",
    quote="USD",
    pip_size=0.0001,
    price_precision=5,
    min_quantity=100.0,
)


def make_account(cash: float = 100_000.0, **engine: Any) -> SimAccount:
    instruments = {s: BUILTIN_INSTRUMENTS[s] for s in ("EUR_USD", "USD_JPY")} | {"LOT_USD": LOTS}
    exchange = SimExchange(instruments, initial_cash=cash, **engine)
    account = SimAccount(ACCOUNT, exchange, user_id=1, created_ns=T)
    price(account, 0, 1.10000, 1.10010)
    account.on_quote(Quote(ts_event=T, instrument="USD_JPY", bid=145.000, ask=145.010))
    account.on_quote(Quote(ts_event=T, instrument="LOT_USD", bid=1.00000, ask=1.00010))
    return account


def price(account: SimAccount, second: float, bid: float, ask: float) -> list[dict[str, Any]]:
    quote = Quote(ts_event=T + int(second * S), instrument="EUR_USD", bid=bid, ask=ask)
    return account.on_quote(quote)


def order(account: SimAccount, second: float = 1, **fields: Any) -> Any:
    body = {"type": "MARKET", "instrument": "EUR_USD", "units": "10000"} | fields
    return account.create_order({"order": body}, T + int(second * S), request_id="r1")


def working(account: SimAccount) -> list[Any]:
    return list(account.exchange.working_orders())


def types(transactions: list[dict[str, Any]]) -> list[str]:
    return [tx["type"] for tx in transactions]


# --- request conversion ---------------------------------------------------------------------


def test_market_order_fills_in_the_request_with_v20_shapes():
    account = make_account()
    out = order(account, clientExtensions={"id": "my-1", "tag": "t"})
    assert out.status == 201
    create, fill = out.body["orderCreateTransaction"], out.body["orderFillTransaction"]
    assert set(create) == COMMON | {
        "requestID",
        "instrument",
        "units",
        "timeInForce",
        "positionFill",
        "reason",
        "clientExtensions",
    }
    assert create["type"] == "MARKET_ORDER"
    assert (create["id"], create["batchID"], create["userID"]) == ("1", "1", 1)
    assert (create["timeInForce"], create["positionFill"], create["reason"]) == (
        "FOK",
        "DEFAULT",
        "CLIENT_ORDER",
    )
    assert create["time"] == "2024-01-08T08:00:01.000000000Z"
    assert fill["type"] == "ORDER_FILL"
    assert (fill["id"], fill["batchID"], fill["orderID"], fill["clientOrderID"]) == (
        "2",
        "1",
        "1",
        "my-1",
    )
    assert (fill["units"], fill["price"], fill["fullVWAP"]) == ("10000", "1.10010", "1.10010")
    assert fill["reason"] == "MARKET_ORDER"
    assert fill["pl"] == fill["financing"] == fill["commission"] == "0.0000"
    assert fill["accountBalance"] == "100000.0000"
    assert fill["gainQuoteHomeConversionFactor"] == fill["lossQuoteHomeConversionFactor"]
    assert fill["fullPrice"]["bids"] == [{"price": "1.10000", "liquidity": 10_000_000}]
    assert fill["tradeOpened"]["tradeID"] == "2"  # the trade's id is the fill's
    assert fill["tradeOpened"]["units"] == "10000"
    assert out.body["relatedTransactionIDs"] == ["1", "2"]
    assert out.body["lastTransactionID"] == "2"


def test_pending_orders_become_engine_orders_with_their_terms():
    account = make_account()
    order(account, type="LIMIT", price="1.1099", units="-500", timeInForce="GTC")
    gtd = "2024-01-08T12:00:00.000000000Z"
    order(account, type="STOP", price="1.10500", timeInForce="GTD", gtdTime=gtd)
    order(account, type="LIMIT", price="1.09000", timeInForce="GFD")
    limit, stop, gfd = working(account)
    assert (limit.order_type, limit.limit_price, limit.quantity) == (OrderType.LIMIT, 1.1099, 500)
    assert limit.side.value == "SELL"
    assert (stop.order_type, stop.stop_price, stop.time_in_force) == (
        OrderType.STOP,
        1.105,
        TimeInForce.GTD,
    )
    assert stop.expire_ns == parse_utc(gtd)
    assert gfd.expire_ns == parse_utc("2024-01-08T22:00:00Z")  # 17:00 New York
    create = account.orders["1"].body
    assert (create["state"], create["type"], create["price"]) == ("PENDING", "LIMIT", "1.10990")


def test_market_if_touched_is_a_limit_or_a_stop_from_where_the_market_is():
    account = make_account()
    below = order(account, type="MARKET_IF_TOUCHED", price="1.09000")
    above = order(account, type="MARKET_IF_TOUCHED", price="1.11000")
    assert below.body["orderCreateTransaction"]["type"] == "MARKET_IF_TOUCHED_ORDER"
    assert [w.order_type for w in working(account)] == [OrderType.LIMIT, OrderType.STOP]
    assert account.orders["1"].body["initialMarketPrice"] == "1.10005"
    assert above.status == 201


def test_on_fill_details_become_the_engine_bracket():
    account = make_account()
    out = order(
        account,
        type="LIMIT",
        price="1.09000",
        takeProfitOnFill={"price": "1.1"},
        stopLossOnFill={"distance": "0.002"},
        trailingStopLossOnFill={"distance": "0.00100"},
    )
    (entry,) = working(account)
    assert (entry.take_profit, entry.stop_loss, entry.trailing_stop) == (1.1, 1.088, 0.001)
    create = out.body["orderCreateTransaction"]
    assert create["takeProfitOnFill"] == {"price": "1.10000", "timeInForce": "GTC"}  # padded
    assert create["stopLossOnFill"] == {"distance": "0.00200", "timeInForce": "GTC"}


def test_stop_loss_distance_of_a_market_order_counts_from_the_ask():
    account = make_account()
    order(account, stopLossOnFill={"distance": "0.00100"})
    (leg,) = working(account)
    assert leg.stop_price == pytest.approx(1.0991)  # ask 1.10010 - 0.00100


# --- rejects --------------------------------------------------------------------------------

REJECTS = [
    ({"instrument": "XXX_YYY"}, "INSTRUMENT_UNKNOWN"),
    ({"instrument": None}, "INSTRUMENT_MISSING"),
    ({"units": None}, "UNITS_MISSING"),
    ({"units": "0"}, "UNITS_INVALID"),
    ({"units": "ten"}, "UNITS_INVALID"),
    ({"units": "10.5"}, "UNITS_PRECISION_EXCEEDED"),
    ({"instrument": "LOT_USD", "units": "50"}, "UNITS_MIMIMUM_NOT_MET"),
    ({"units": "100000001"}, "UNITS_LIMIT_EXCEEDED"),
    ({"type": "LIMIT"}, "PRICE_MISSING"),
    ({"type": "LIMIT", "price": "-1"}, "PRICE_INVALID"),
    ({"type": "LIMIT", "price": "1.099999"}, "PRICE_PRECISION_EXCEEDED"),
    ({"timeInForce": "GTC"}, "TIME_IN_FORCE_INVALID"),
    (
        {"type": "LIMIT", "price": "1.09", "timeInForce": "GTD"},
        "TIME_IN_FORCE_GTD_TIMESTAMP_MISSING",
    ),
    (
        {"type": "STOP", "price": "1.2", "timeInForce": "GTD", "gtdTime": "1704700000.000000000"},
        "TIME_IN_FORCE_GTD_TIMESTAMP_IN_PAST",
    ),
    ({"positionFill": "SOMETIMES"}, "ORDER_FILL_POSITION_ACTION_INVALID"),
    ({"type": "STOP", "price": "1.2", "triggerCondition": "X"}, "TRIGGER_CONDITION_INVALID"),
    ({"priceBound": "1.1000001"}, "PRICE_BOUND_PRECISION_EXCEEDED"),
    ({"clientExtensions": {"id": ""}}, "CLIENT_ORDER_ID_INVALID"),
    ({"units": "100000000"}, "INSUFFICIENT_MARGIN"),
    (
        {"takeProfitOnFill": {"price": "1.123456"}},
        "TAKE_PROFIT_ON_FILL_PRICE_PRECISION_EXCEEDED",
    ),
    ({"stopLossOnFill": {"price": "1.0000001"}}, "STOP_LOSS_ON_FILL_PRICE_PRECISION_EXCEEDED"),
    (
        {"stopLossOnFill": {"price": "1.09", "distance": "0.001"}},
        "STOP_LOSS_ON_FILL_PRICE_AND_DISTANCE_BOTH_SPECIFIED",
    ),
    ({"stopLossOnFill": {}}, "STOP_LOSS_ON_FILL_PRICE_AND_DISTANCE_BOTH_MISSING"),
    (
        {"trailingStopLossOnFill": {"distance": "0.0001"}},
        "TRAILING_STOP_LOSS_ON_FILL_PRICE_DISTANCE_MINIMUM_NOT_MET",
    ),
    (
        {"takeProfitOnFill": {"price": "1.2", "timeInForce": "GTD"}},
        "TAKE_PROFIT_ON_FILL_TIME_IN_FORCE_INVALID",
    ),
]


@pytest.mark.parametrize(("fields", "reason"), REJECTS, ids=[r for _, r in REJECTS])
def test_rejects_write_a_reject_transaction_with_the_v20_reason(fields, reason):
    account = make_account()
    order(account, clientExtensions={"id": "first"})  # transactions 1 and 2
    out = order(account, 2, **fields)
    assert out.status == 400
    tx = out.body["orderRejectTransaction"]
    kind = {"LIMIT": "LIMIT_ORDER", "STOP": "STOP_ORDER"}.get(
        fields.get("type", ""), "MARKET_ORDER"
    )
    assert tx["type"] == f"{kind}_REJECT"
    assert (tx["rejectReason"], tx["reason"], tx["id"]) == (reason, "CLIENT_ORDER", "3")
    assert out.body["errorCode"] == reason
    assert out.body["errorMessage"]
    assert out.body["relatedTransactionIDs"] == ["3"]
    assert out.body["lastTransactionID"] == "3"  # a reject consumes a transaction id
    assert account.log.all[-1] is tx


def test_reject_echoes_the_raw_request():
    account = make_account()
    out = order(account, type="LIMIT", price="1.09999999999999")
    tx = out.body["orderRejectTransaction"]
    assert tx["price"] == "1.09999999999999"
    assert (tx["timeInForce"], tx["triggerCondition"], tx["positionFill"]) == (
        "GTC",
        "DEFAULT",
        "DEFAULT",
    )


def test_a_client_order_id_is_never_used_twice():
    account = make_account()
    assert order(account, clientExtensions={"id": "abc"}).status == 201
    again = order(account, 2, type="LIMIT", price="1.09", clientExtensions={"id": "abc"})
    assert again.status == 400
    assert again.body["errorCode"] == "CLIENT_ORDER_ID_ALREADY_EXISTS"


def test_malformed_requests_get_a_plain_400_without_a_transaction():
    account = make_account()
    for body in ({"order": "x"}, {"order": {"type": "BUY_SOMETHING"}}, {"nothing": 1}):
        out = account.create_order(body, T + S)
        assert out.status == 400
        assert set(out.body) == {"errorMessage"}
    assert account.last_transaction_id == "0"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"takeProfitOnFill": {"price": "1.09000"}}, "TAKE_PROFIT_ON_FILL_LOSS"),
        ({"stopLossOnFill": {"price": "1.11000"}}, "STOP_LOSS_ON_FILL_LOSS"),
        ({"priceBound": "1.10000"}, "BOUNDS_VIOLATION"),
    ],
)
def test_orders_that_cannot_stand_are_created_and_cancelled(fields, reason):
    account = make_account()
    out = order(account, **fields)
    assert out.status == 201
    assert out.body["orderCancelTransaction"]["reason"] == reason
    assert "orderFillTransaction" not in out.body
    assert account.orders["1"].state == "CANCELLED"
    assert not working(account)


def test_market_orders_when_the_market_is_closed_are_cancelled_as_halted():
    account = make_account()
    saturday = parse_utc("2024-01-13T12:00:00Z")
    out = account.create_order(
        {"order": {"type": "MARKET", "instrument": "EUR_USD", "units": "1"}}, saturday
    )
    assert out.body["orderCancelTransaction"]["reason"] == "MARKET_HALTED"


# --- brackets, trades, states ---------------------------------------------------------------


def test_bracket_on_fill_creates_take_profit_then_stop_loss_orders():
    account = make_account()
    out = order(
        account,
        clientExtensions={"id": "entry"},
        takeProfitOnFill={"price": "1.10500"},
        stopLossOnFill={"price": "1.09500", "clientExtensions": {"id": "my-sl"}},
    )
    assert out.body["relatedTransactionIDs"] == ["1", "2", "3", "4"]
    tp, sl = account.log.all[2], account.log.all[3]
    assert (tp["type"], sl["type"]) == ("TAKE_PROFIT_ORDER", "STOP_LOSS_ORDER")
    for tx in (tp, sl):
        assert set(tx) == COMMON | {
            "requestID",
            "tradeID",
            "price",
            "timeInForce",
            "triggerCondition",
            "reason",
            "clientExtensions",
            "orderFillTransactionID",
        }
        assert (tx["tradeID"], tx["reason"], tx["orderFillTransactionID"]) == ("2", "ON_FILL", "2")
        assert (tx["timeInForce"], tx["triggerCondition"], tx["batchID"]) == ("GTC", "DEFAULT", "1")
    assert tp["clientExtensions"] == {"id": "entry.tp"}  # the default client id of a leg
    assert sl["clientExtensions"] == {"id": "my-sl"}
    assert account.find_order("@entry.tp").body["state"] == "PENDING"
    trade = views.trade_json(account, account.book.trades["2"])
    assert trade["takeProfitOrder"]["id"] == "3"
    assert trade["stopLossOrder"]["price"] == "1.09500"

    fired = price(account, 5, 1.09400, 1.09410)
    assert types(fired) == ["ORDER_FILL", "ORDER_CANCEL"]
    fill, cancel = fired
    assert (fill["orderID"], fill["reason"]) == ("4", "STOP_LOSS_ORDER")
    closed = fill["tradesClosed"][0]
    assert (closed["tradeID"], closed["units"], closed["realizedPL"]) == ("2", "-10000", "-61.0000")
    assert (cancel["orderID"], cancel["reason"]) == ("3", "LINKED_TRADE_CLOSED")
    assert account.exchange.position("EUR_USD").is_flat
    assert not working(account)


def test_trades_are_fifo_and_agree_with_the_engine_position():
    account = make_account()
    order(account, units="100")
    price(account, 2, 1.10100, 1.10110)
    order(account, 3, units="200")
    out = order(account, 4, units="-150")
    fill = out.body["orderFillTransaction"]
    assert [(c["tradeID"], c["units"]) for c in fill["tradesClosed"]] == [("2", "-100")]
    assert (fill["tradeReduced"]["tradeID"], fill["tradeReduced"]["units"]) == ("4", "-50")
    assert fill["tradesClosed"][0]["realizedPL"] == "0.0900"  # (1.10100 - 1.10010) x 100
    assert [(t.id, t.current_units) for t in account.book.open_trades()] == [("4", 150)]
    flip = order(account, 5, units="-300").body["orderFillTransaction"]
    assert [c["tradeID"] for c in flip["tradesClosed"]] == ["4"]
    assert (flip["tradeOpened"]["tradeID"], flip["tradeOpened"]["units"]) == ("8", "-150")
    assert account.book.units("EUR_USD") == account.exchange.position("EUR_USD").quantity == -150
    trades = account.book.trades
    assert trades["2"].closing_ids == ["6"]
    assert views.trade_json(account, trades["4"])["state"] == "CLOSED"


def test_closing_a_trade_fifo_cancels_its_dependent_orders():
    account = make_account()
    order(account, units="100", stopLossOnFill={"price": "1.09000"})  # 1, 2 (trade), 3 (SL)
    order(account, 2, units="100")  # 4, 5
    out = order(account, 3, units="-100")  # closes trade 2, the oldest
    assert types(account.log.all[5:]) == ["MARKET_ORDER", "ORDER_FILL", "ORDER_CANCEL"]
    assert out.body["relatedTransactionIDs"] == ["6", "7", "8"]
    assert (account.log.all[7]["orderID"], account.log.all[7]["reason"]) == (
        "3",
        "LINKED_TRADE_CLOSED",
    )
    assert not working(account)


def test_reducing_a_trade_resizes_its_stop_loss():
    account = make_account()
    order(account, units="1000", stopLossOnFill={"price": "1.09000"})
    order(account, 2, units="-400")
    (leg,) = working(account)
    assert leg.quantity == 600


def test_dependent_orders_on_a_trade_created_replaced_and_cancelled_with_it():
    account = make_account()
    order(account, units="1000", takeProfitOnFill={"price": "1.10500"})  # 1, 2 (trade), 3 (TP)
    add = {"type": "STOP_LOSS", "tradeID": "2", "price": "1.09000"}
    out = account.create_order({"order": add}, T + 2 * S)
    assert out.status == 201
    create = out.body["orderCreateTransaction"]
    assert (create["type"], create["reason"], create["tradeID"]) == (
        "STOP_LOSS_ORDER",
        "CLIENT_ORDER",
        "2",
    )
    again = account.create_order({"order": add}, T + 3 * S)
    assert again.body["errorCode"] == "STOP_LOSS_ORDER_ALREADY_EXISTS"
    assert again.body["orderRejectTransaction"]["type"] == "STOP_LOSS_ORDER_REJECT"
    nowhere = account.create_order({"order": add | {"tradeID": "77"}}, T + 3 * S)
    assert nowhere.body["errorCode"] == "TRADE_DOESNT_EXIST"
    moved = account.replace_order(
        "4", {"order": {"type": "STOP_LOSS", "price": "1.09500"}}, T + 4 * S
    )
    assert moved.status == 201
    cancel, new = moved.body["orderCancelTransaction"], moved.body["orderCreateTransaction"]
    assert (cancel["orderID"], cancel["reason"]) == ("4", "CLIENT_REQUEST_REPLACED")
    assert (new["reason"], new["replacesOrderID"], new["price"]) == ("REPLACEMENT", "4", "1.09500")
    assert account.book.trades["2"].stop_loss_id == new["id"]
    assert sorted(w.stop_price or w.limit_price for w in working(account)) == [1.095, 1.105]
    fired = price(account, 5, 1.10600, 1.10610)  # the take-profit
    assert types(fired) == ["ORDER_FILL", "ORDER_CANCEL"]
    assert (fired[1]["orderID"], fired[1]["reason"]) == (new["id"], "LINKED_TRADE_CLOSED")
    assert not working(account)


def test_order_states_pending_filled_cancelled():
    account = make_account()
    order(account, type="LIMIT", price="1.09900", clientExtensions={"id": "lim"})
    assert account.find_order("@lim").body["state"] == "PENDING"
    fill = price(account, 3, 1.09880, 1.09890)[0]
    body = account.find_order("1").body
    assert (body["state"], body["fillingTransactionID"], body["tradeOpenedID"]) == (
        "FILLED",
        fill["id"],
        fill["id"],
    )
    assert body["filledTime"] == "2024-01-08T08:00:03.000000000Z"
    order(account, 4, type="STOP", price="1.20000", clientExtensions={"id": "stp"})
    out = account.cancel_order("@stp", T + 5 * S)
    assert out.status == 200
    cancel = out.body["orderCancelTransaction"]
    assert set(cancel) == COMMON | {"orderID", "clientOrderID", "reason"}
    assert (cancel["orderID"], cancel["clientOrderID"], cancel["reason"]) == (
        "3",
        "stp",
        "CLIENT_REQUEST",
    )
    body = account.find_order("@stp").body
    assert (body["state"], body["cancellingTransactionID"]) == ("CANCELLED", cancel["id"])
    assert "cancelledTime" in body
    again = account.cancel_order("@stp", T + 6 * S)
    assert (again.status, again.body["errorCode"]) == (404, "ORDER_DOESNT_EXIST")
    assert account.no_such_order().body["errorCode"] == "NO_SUCH_ORDER"


def test_gtd_expiry_cancels_with_time_in_force_expired():
    account = make_account()
    order(account, type="LIMIT", price="1.0", timeInForce="GTD", gtdTime="1704700810")
    (cancel,) = price(account, 11, 1.10000, 1.10010)
    assert (cancel["type"], cancel["reason"]) == ("ORDER_CANCEL", "TIME_IN_FORCE_EXPIRED")


def test_replace_cancels_and_creates_in_one_batch():
    account = make_account()
    order(account, type="LIMIT", price="1.09000", clientExtensions={"id": "lim"})
    out = account.replace_order(
        "@lim",
        {"order": {"type": "LIMIT", "instrument": "EUR_USD", "units": "5", "price": "1.08"}},
        T + 2 * S,
    )
    assert out.status == 201
    cancel, create = out.body["orderCancelTransaction"], out.body["orderCreateTransaction"]
    assert (cancel["reason"], cancel["replacedByOrderID"]) == ("CLIENT_REQUEST_REPLACED", "3")
    assert (create["id"], create["reason"], create["replacesOrderID"]) == ("3", "REPLACEMENT", "1")
    assert create["cancellingTransactionID"] == "2"
    assert account.find_order("@lim").id == "3"  # the client id moves to the replacement
    assert [w.limit_price for w in working(account)] == [1.08]


def test_summary_and_positions_follow_the_engine():
    account = make_account()
    order(account, units="10000")
    order(account, 2, type="LIMIT", price="1.0")
    price(account, 3, 1.10100, 1.10110)
    summary = views.account_summary(account)
    assert summary["balance"] == "100000.0000"
    assert summary["unrealizedPL"] == "9.5000"  # mid 1.10105 - 1.10010, 10000 units
    assert summary["NAV"] == "100009.5000"
    assert (summary["openTradeCount"], summary["openPositionCount"]) == (1, 1)
    assert summary["pendingOrderCount"] == 1
    assert (summary["lastTransactionID"], summary["currency"]) == ("3", "USD")
    assert summary["hedgingEnabled"] is False
    position = views.position_json(account, "EUR_USD")
    assert position["long"]["units"] == "10000"
    assert position["long"]["tradeIDs"] == ["2"]
    assert position["short"] == {
        "units": "0",
        "pl": "0.0000",
        "unrealizedPL": "0.0000",
        "resettablePL": "0.0000",
        "financing": "0.0000",
        "guaranteedExecutionFees": "0.0000",
    }


def test_position_close_closes_every_trade_and_refuses_a_flat_side():
    account = make_account()
    order(account, units="100")
    order(account, 2, units="200")
    out = account.close_position("EUR_USD", {"longUnits": "ALL"}, T + 3 * S)
    assert out.status == 200
    create = out.body["longOrderCreateTransaction"]
    assert (create["reason"], create["units"], create["positionFill"]) == (
        "POSITION_CLOSEOUT",
        "-300",
        "REDUCE_ONLY",
    )
    assert create["longPositionCloseout"] == {"instrument": "EUR_USD", "units": "ALL"}
    fill = out.body["longOrderFillTransaction"]
    assert fill["reason"] == "MARKET_ORDER_POSITION_CLOSEOUT"
    assert len(fill["tradesClosed"]) == 2
    flat = account.close_position("EUR_USD", {"shortUnits": "ALL"}, T + 4 * S)
    assert flat.status == 400
    reject = flat.body["shortOrderRejectTransaction"]
    assert (reject["type"], reject["rejectReason"]) == (
        "MARKET_ORDER_REJECT",
        "CLOSEOUT_POSITION_DOESNT_EXIST",
    )


def test_trade_close_closes_that_trade_not_the_oldest():
    account = make_account()
    order(account, units="100")
    order(account, 2, units="200")
    out = account.close_trade("4", {"units": "50"}, T + 3 * S)
    assert out.status == 200
    create, fill = out.body["orderCreateTransaction"], out.body["orderFillTransaction"]
    assert create["tradeClose"] == {"tradeID": "4", "units": "50"}
    assert (fill["reason"], fill["tradeReduced"]["tradeID"]) == ("MARKET_ORDER_TRADE_CLOSE", "4")
    missing = account.close_trade("99", {}, T + 4 * S)
    assert (missing.status, missing.body["errorCode"]) == (404, "NO_SUCH_TRADE")


def test_daily_financing_at_the_rollover():
    rates = FinancingModel(rates={"EUR_USD": FinancingRate(long=-0.0365, short=0.0)})
    account = make_account(financing=rates)
    order(account, units="10000")
    (tx,) = price(account, 14 * 3600 + 1, 1.10000, 1.10010)  # past 17:00 New York
    assert tx["type"] == "DAILY_FINANCING"
    assert tx["accountFinancingMode"] == "DAILY"
    (position,) = tx["positionFinancings"]
    assert position["instrument"] == "EUR_USD"
    assert position["openTradeFinancings"][0]["tradeID"] == "2"
    assert float(tx["financing"]) < 0
    assert tx["accountBalance"] == f"{100_000 + float(tx['financing']):.4f}"


def test_margin_closeout_is_a_market_order_with_its_own_reason():
    account = make_account(cash=1_000.0)
    order(account, units="25000")
    fired = price(account, 2, 1.06000, 1.06010)
    assert types(fired)[:2] == ["MARKET_ORDER", "ORDER_FILL"]
    assert fired[0]["reason"] == "MARGIN_CLOSEOUT"
    assert fired[1]["reason"] == "MARKET_ORDER_MARGIN_CLOSEOUT"
    assert not account.book.open_trades()


def test_unix_times_on_request():
    account = make_account()
    out = order(account)
    unix = as_unix(out.body)
    assert unix["orderCreateTransaction"]["time"] == "1704700801.000000000"
    assert unix["orderFillTransaction"]["fullPrice"]["time"] == "1704700800.000000000"


def test_engine_state_round_trips():
    account = make_account()
    order(account, units="100", trailingStopLossOnFill={"distance": "0.00100"})
    order(account, 2, type="LIMIT", price="1.0")
    state = account.exchange.engine_state()
    fresh = SimExchange(account.exchange.instruments)
    fresh.restore_engine(state)
    assert fresh.engine_state() == state
    assert list(fresh.working_orders()) == working(account)
