"""The OANDA adapter's requests and parsing against OANDA's published v20 formats.

Every JSON literal marked *recorded* is copied verbatim from docs/adapters/oanda-v20-subset.md
(observed bodies from OANDA's servers, cited there); the others are built field by field from
that document's tables and say so.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from algotrading.adapters.oanda import wire
from algotrading.adapters.oanda.mapping import (
    SentOrders,
    events_from_transaction,
    order_request,
    quote_from_price,
)
from algotrading.data.instruments import BUILTIN_INSTRUMENTS, AssetClass
from algotrading.messages import (
    Fill,
    Financing,
    Order,
    OrderAccepted,
    OrderCancelled,
    OrderRejected,
    OrderType,
    Quote,
    Side,
    TimeInForce,
)

NS = 1_000_000_000
EUR_USD = BUILTIN_INSTRUMENTS["EUR_USD"]
USD_JPY = BUILTIN_INSTRUMENTS["USD_JPY"]
SPX500 = BUILTIN_INSTRUMENTS["SPX500_USD"]

# -- recorded bodies (docs/adapters/oanda-v20-subset.md) -------------------------------------

# §5.1: market order with TP and SL, 201 Created [hn 2017]
MARKET_TP_SL_201 = json.loads(
    """
{"orderCreateTransaction":{"id":"7578","type":"MARKET_ORDER","instrument":"EUR_USD","units":"10000","timeInForce":"FOK","positionFill":"DEFAULT","reason":"CLIENT_ORDER","takeProfitOnFill":{"price":"1.10000","timeInForce":"GTC"},"stopLossOnFill":{"price":"1.05000","timeInForce":"GTC"},"accountID":"101-004-1435156-001","userID":1435156,"batchID":"7578","time":"2017-03-09T13:22:13.832587780Z"},
 "orderFillTransaction":{"id":"7579","type":"ORDER_FILL","orderID":"7578","instrument":"EUR_USD","units":"10000","price":"1.05563","pl":"0.0000","financing":"0.0000","accountBalance":"102107.4442","reason":"MARKET_ORDER","tradeOpened":{"tradeID":"7579","units":"10000"},"accountID":"101-004-1435156-001","userID":1435156,"batchID":"7578","time":"2017-03-09T13:22:13.832587780Z"},
 "relatedTransactionIDs":["7578","7579","7580","7581"],"lastTransactionID":"7581"}
"""
)

# §5.1: 400 with a MARKET_IF_TOUCHED_ORDER_REJECT [obs jiji2 #507, 2019]
MIT_REJECT_400 = json.loads(
    """
{"orderRejectTransaction":{"type":"MARKET_IF_TOUCHED_ORDER_REJECT","instrument":"USD_JPY","units":"300","price":"110.79999999999999","timeInForce":"GTC","triggerCondition":"DEFAULT","partialFill":"DEFAULT","positionFill":"DEFAULT","reason":"CLIENT_ORDER","rejectReason":"PRICE_PRECISION_EXCEEDED","id":"6864","accountID":"001-009-1939778-001","userID":1939778,"batchID":"6864","requestID":"78566986778195099","time":"2019-03-07T12:02:47.539716401Z"},
 "relatedTransactionIDs":["6864"],"lastTransactionID":"6864",
 "errorMessage":"The price specified contains more precision than is allowed for the instrument","errorCode":"PRICE_PRECISION_EXCEEDED"}
"""  # noqa: E501
)

# §5.2: cancel, 200 [hn]
CANCEL_200 = json.loads(
    '{"orderCancelTransaction":{"id":"2308","type":"ORDER_CANCEL","orderID":"2307",'
    '"clientOrderID":"myID","reason":"CLIENT_REQUEST","accountID":"…","userID":1435156,'
    '"batchID":"2308","time":"2016-10-25T20:53:03.789670387Z"},'
    '"relatedTransactionIDs":["2308"],"lastTransactionID":"2308"}'
)

# §3.2: the price stream, two lines as they come [hn]
PRICE_STREAM_LINES = [
    b'{"type":"PRICE","time":"2016-10-27T08:38:43.094548890Z","bids":[{"price":"114.295","liquidity":1000000}],"asks":[{"price":"114.312","liquidity":1000000}],"closeoutBid":"114.291","closeoutAsk":"114.316","status":"tradeable","instrument":"EUR_JPY"}\n',
    b'{"type":"HEARTBEAT","time":"2016-10-27T08:38:44.327443673Z"}\n',
]

# §3.1: a REST ClientPrice with a two-level ladder and no "type" [hn]
REST_PRICE = json.loads(
    '{"instrument":"EUR_USD","time":"2016-10-05T05:28:16.729643492Z","status":"tradeable",'
    '"bids":[{"price":"1.12157","liquidity":10000000},{"price":"1.12155","liquidity":10000000}],'
    '"asks":[{"price":"1.12170","liquidity":10000000},{"price":"1.12172","liquidity":10000000}],'
    '"closeoutBid":"1.12153","closeoutAsk":"1.12174"}'
)

# §2: an Instrument [hn]
EUR_USD_INSTRUMENT = json.loads(
    '{"name":"EUR_USD","type":"CURRENCY","displayName":"EUR/USD","pipLocation":-4,'
    '"displayPrecision":5,"tradeUnitsPrecision":0,"minimumTradeSize":"1",'
    '"maximumTrailingStopDistance":"1.00000","minimumTrailingStopDistance":"0.00050",'
    '"maximumPositionSize":"0","maximumOrderUnits":"100000000","marginRate":"0.05"}'
)

# §8.2: the transaction stream's heartbeat (shape from the spec's TransactionHeartbeat)
TX_HEARTBEAT = {
    "type": "HEARTBEAT",
    "lastTransactionID": "7581",
    "time": "2017-03-09T13:22:17.060000000Z",
}


def ns(y: int, mo: int, d: int, h: int, mi: int, s: int, frac: int) -> int:
    """A UTC wall time as ns, computed independently of the code under test."""
    return int(datetime(y, mo, d, h, mi, s, tzinfo=UTC).timestamp()) * NS + frac


def order(**fields: Any) -> Order:
    base: dict[str, Any] = dict(
        ts_event=1,
        client_order_id="c-1",
        strategy_id="trend",
        instrument="EUR_USD",
        side=Side.BUY,
        quantity=10_000.0,
    )
    return Order(**(base | fields))


def strings_only(value: Any, path: str = "") -> list[str]:
    """Paths of every number in a request: v20 wants every price and units as a string."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in strings_only(v, f"{path}.{k}")]
    if isinstance(value, bool | int | float):
        return [path]
    return []


# -- order_request ---------------------------------------------------------------------------


def test_market_bracket_order_matches_the_recorded_create_transaction() -> None:
    request = order_request(order(stop_loss=1.05, take_profit=1.10), EUR_USD)
    assert request == {
        "type": "MARKET",
        "instrument": "EUR_USD",
        "units": "10000",
        "timeInForce": "FOK",
        "positionFill": "DEFAULT",
        "clientExtensions": {"id": "c-1", "tag": "trend"},
        "stopLossOnFill": {
            "price": "1.05000",
            "timeInForce": "GTC",
            "clientExtensions": {"id": "c-1.sl"},
        },
        "takeProfitOnFill": {
            "price": "1.10000",
            "timeInForce": "GTC",
            "clientExtensions": {"id": "c-1.tp"},
        },
    }
    # what OANDA echoed for the same order (the transaction type is "<TYPE>_ORDER")
    created = MARKET_TP_SL_201["orderCreateTransaction"]
    assert created["type"] == request["type"] + "_ORDER"
    for key in ("instrument", "units", "timeInForce", "positionFill"):
        assert request[key] == created[key], key
    for leg in ("takeProfitOnFill", "stopLossOnFill"):
        assert {k: request[leg][k] for k in created[leg]} == created[leg]
    assert "triggerCondition" not in request  # not a MARKET field
    assert "price" not in request
    assert "gtdTime" not in request


@pytest.mark.parametrize(
    ("spec", "side", "quantity", "units"),
    [
        (EUR_USD, Side.BUY, 10_000.0, "10000"),
        (EUR_USD, Side.SELL, 100.0, "-100"),
        (USD_JPY, Side.SELL, 2_500.0, "-2500"),
        (SPX500, Side.BUY, 2.5, "2.5"),
        (SPX500, Side.SELL, 0.3, "-0.3"),
    ],
)
def test_units_are_a_signed_string_at_the_units_precision(spec, side, quantity, units) -> None:
    request = order_request(order(instrument=spec.symbol, side=side, quantity=quantity), spec)
    assert request["units"] == units
    assert request["instrument"] == spec.symbol


def test_market_ioc_keeps_ioc_and_every_other_tif_is_fok() -> None:
    ioc = order_request(order(time_in_force=TimeInForce.IOC), EUR_USD)
    assert ioc["timeInForce"] == "IOC"
    for tif in (TimeInForce.GTC, TimeInForce.FOK, TimeInForce.GTD):
        assert order_request(order(time_in_force=tif), EUR_USD)["timeInForce"] == "FOK"


@pytest.mark.parametrize("order_type", [OrderType.LIMIT, OrderType.STOP])
@pytest.mark.parametrize("tif", [TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK])
def test_limit_and_stop_orders_keep_their_time_in_force(order_type, tif) -> None:
    """Regression: IOC and FOK limit/stop orders were sent as GTC, so an order meant to
    fill at once or not at all rested at the venue."""
    request = order_request(
        order(order_type=order_type, limit_price=1.05, stop_price=1.15, time_in_force=tif),
        EUR_USD,
    )
    assert request["timeInForce"] == tif.value


@pytest.mark.parametrize(
    ("spec", "price", "text"),
    [
        (EUR_USD, 1.1, "1.10000"),  # fewer decimals are padded to displayPrecision
        (USD_JPY, 110.79999999999999, "110.800"),  # never more: §10 PRICE_PRECISION_EXCEEDED
        (SPX500, 4512.3, "4512.3"),
    ],
)
def test_limit_order_price_has_display_precision(spec, price, text) -> None:
    request = order_request(
        order(
            instrument=spec.symbol,
            side=Side.SELL,
            quantity=300.0 if spec is not SPX500 else 1.0,
            order_type=OrderType.LIMIT,
            limit_price=price,
        ),
        spec,
    )
    assert request["type"] == "LIMIT"
    assert request["price"] == text
    assert wire.decimals(request["price"]) == spec.price_precision
    assert request["timeInForce"] == "GTC"
    assert request["triggerCondition"] == "DEFAULT"
    assert request["positionFill"] == "DEFAULT"
    assert "gtdTime" not in request
    assert "priceBound" not in request


def test_recorded_reject_price_would_not_be_sent_by_us() -> None:
    """The recorded MIT reject echoes a float-repr price; our request for that price rounds it."""
    raw = MIT_REJECT_400["orderRejectTransaction"]["price"]
    request = order_request(
        order(
            instrument="USD_JPY",
            quantity=300.0,
            order_type=OrderType.STOP,
            stop_price=float(raw),
        ),
        USD_JPY,
    )
    assert request["type"] == "STOP"
    assert request["price"] == "110.800"
    assert request["units"] == MIT_REJECT_400["orderRejectTransaction"]["units"]


def test_stop_order_on_an_index_cfd() -> None:
    request = order_request(
        order(
            instrument="SPX500_USD",
            quantity=1.5,
            order_type=OrderType.STOP,
            stop_price=4512.34,
        ),
        SPX500,
    )
    assert request == {
        "type": "STOP",
        "instrument": "SPX500_USD",
        "units": "1.5",
        "price": "4512.3",
        "timeInForce": "GTC",
        "triggerCondition": "DEFAULT",
        "positionFill": "DEFAULT",
        "clientExtensions": {"id": "c-1", "tag": "trend"},
    }


def test_stop_limit_is_a_stop_with_a_price_bound() -> None:
    request = order_request(
        order(order_type=OrderType.STOP_LIMIT, stop_price=1.0851, limit_price=1.0856), EUR_USD
    )
    assert request["type"] == "STOP"
    assert request["price"] == "1.08510"
    assert request["priceBound"] == "1.08560"


def test_gtd_limit_has_rfc3339_gtd_time_with_nine_digits() -> None:
    expire = ns(2023, 11, 14, 22, 13, 20, 123_456_789)
    request = order_request(
        order(
            order_type=OrderType.LIMIT,
            limit_price=1.0712,
            time_in_force=TimeInForce.GTD,
            expire_ns=expire,
        ),
        EUR_USD,
    )
    assert request["timeInForce"] == "GTD"
    assert request["gtdTime"] == "2023-11-14T22:13:20.123456789Z"
    assert wire.parse_time(request["gtdTime"]) == expire
    whole = order_request(
        order(
            order_type=OrderType.LIMIT,
            limit_price=1.0712,
            time_in_force=TimeInForce.GTD,
            expire_ns=ns(2024, 1, 8, 9, 0, 0, 0),
        ),
        EUR_USD,
    )
    assert whole["gtdTime"] == "2024-01-08T09:00:00.000000000Z"


def test_bracket_legs_carry_our_ids_on_usd_jpy_with_a_trailing_stop() -> None:
    request = order_request(
        order(
            client_order_id="s1-42",
            instrument="USD_JPY",
            side=Side.SELL,
            quantity=2_500.0,
            order_type=OrderType.LIMIT,
            limit_price=150.25,
            stop_loss=151.0,
            take_profit=149.1234,
            trailing_stop=0.5,
        ),
        USD_JPY,
    )
    assert request["clientExtensions"]["id"] == "s1-42"
    assert request["stopLossOnFill"] == {
        "price": "151.000",
        "timeInForce": "GTC",
        "clientExtensions": {"id": "s1-42.sl"},
    }
    assert request["takeProfitOnFill"] == {
        "price": "149.123",
        "timeInForce": "GTC",
        "clientExtensions": {"id": "s1-42.tp"},
    }
    assert request["trailingStopLossOnFill"] == {
        "distance": "0.500",
        "timeInForce": "GTC",
        "clientExtensions": {"id": "s1-42.ts"},
    }
    # "exactly one of price and distance" on the stop loss
    assert "distance" not in request["stopLossOnFill"]


def test_index_cfd_bracket() -> None:
    request = order_request(
        order(
            instrument="SPX500_USD",
            quantity=2.0,
            stop_loss=4480.0,
            take_profit=4560.55,
            trailing_stop=12.0,
        ),
        SPX500,
    )
    assert request["type"] == "MARKET"
    assert request["stopLossOnFill"]["price"] == "4480.0"
    assert request["takeProfitOnFill"]["price"] == "4560.6"
    assert request["trailingStopLossOnFill"]["distance"] == "12.0"


def test_reduce_only_is_position_fill_reduce_only() -> None:
    request = order_request(order(side=Side.SELL, reduce_only=True), EUR_USD)
    assert request["positionFill"] == "REDUCE_ONLY"
    assert order_request(order(), EUR_USD)["positionFill"] == "DEFAULT"


def test_client_extension_tag_is_the_strategy_cut_to_32() -> None:
    request = order_request(order(strategy_id="x" * 40), EUR_USD)
    assert request["clientExtensions"]["tag"] == "x" * 32


def test_trailing_stop_entry_has_no_v20_request() -> None:
    with pytest.raises(ValueError, match="no v20 request"):
        order_request(order(order_type=OrderType.TRAILING_STOP, trailing_distance=0.001), EUR_USD)


@pytest.mark.parametrize(
    "o",
    [
        order(stop_loss=1.05, take_profit=1.1, trailing_stop=0.002),
        order(
            order_type=OrderType.LIMIT,
            limit_price=1.07,
            time_in_force=TimeInForce.GTD,
            expire_ns=ns(2024, 1, 8, 9, 0, 0, 5),
        ),
        order(order_type=OrderType.STOP_LIMIT, stop_price=1.08, limit_price=1.081),
        order(instrument="SPX500_USD", quantity=0.7, order_type=OrderType.STOP, stop_price=4500.0),
    ],
)
def test_every_number_is_a_string_and_the_body_is_json(o: Order) -> None:
    request = order_request(o, BUILTIN_INSTRUMENTS[o.instrument])
    assert strings_only(request) == []
    assert json.loads(json.dumps({"order": request})) == {"order": request}


# -- quote_from_price ------------------------------------------------------------------------


def test_quote_from_the_recorded_price_stream_line() -> None:
    item = json.loads(PRICE_STREAM_LINES[0])
    quote = quote_from_price(item, recv_ns=123)
    assert quote == Quote(
        ts_event=ns(2016, 10, 27, 8, 38, 43, 94_548_890),
        ts_recv=123,
        instrument="EUR_JPY",
        bid=114.295,
        ask=114.312,
        bid_size=1_000_000.0,
        ask_size=1_000_000.0,
    )
    assert quote.ts_event == 1_477_557_523_094_548_890


def test_quote_takes_the_first_bucket_of_a_ladder() -> None:
    quote = quote_from_price(REST_PRICE, recv_ns=0)
    assert quote is not None
    assert (quote.bid, quote.ask) == (1.12157, 1.12170)
    assert quote.ts_event == ns(2016, 10, 5, 5, 28, 16, 729_643_492)
    assert quote.bid_size == quote.ask_size == 10_000_000.0


def test_quote_accepts_2020_tradeable_field_and_string_liquidity() -> None:
    item = json.loads(PRICE_STREAM_LINES[0]) | {"tradeable": False}
    item["bids"] = [{"price": "114.295", "liquidity": "500000"}]  # as one 2023 capture shows
    quote = quote_from_price(item, recv_ns=0)
    assert quote is not None
    assert quote.bid_size == 500_000.0


@pytest.mark.parametrize(
    "change",
    [{"bids": []}, {"asks": []}, {"bids": [], "asks": []}, {"status": "non-tradeable", "asks": []}],
)
def test_quote_with_an_empty_side_is_none(change: dict[str, Any]) -> None:
    assert quote_from_price(json.loads(PRICE_STREAM_LINES[0]) | change, recv_ns=0) is None


def test_price_heartbeat_is_no_quote() -> None:
    assert quote_from_price(json.loads(PRICE_STREAM_LINES[1]), recv_ns=0) is None


# -- events_from_transaction -----------------------------------------------------------------


def _ours(tx: dict[str, Any], cid: str) -> dict[str, Any]:
    """A recorded transaction as OANDA echoes it for our request (our clientExtensions on it)."""
    return tx | {"clientExtensions": {"id": cid, "tag": "trend"}}


def _leg_tx(tx_id: str, kind: str, cid: str, **fields: Any) -> dict[str, Any]:
    """A dependent-order transaction, built from the §8.3 field list (no capture recorded)."""
    return {
        "id": tx_id,
        "type": kind,
        "tradeID": "7579",
        "timeInForce": "GTC",
        "triggerCondition": "DEFAULT",
        "reason": "ON_FILL",
        "orderFillTransactionID": "7579",
        "clientExtensions": {"id": cid},
        "accountID": "101-004-1435156-001",
        "userID": 1435156,
        "batchID": "7578",
        "time": "2017-03-09T13:22:13.832587780Z",
        **fields,
    }


TS_7578 = ns(2017, 3, 9, 13, 22, 13, 832_587_780)


@pytest.fixture
def sent() -> SentOrders:
    entry = order(stop_loss=1.05, take_profit=1.10, trailing_stop=0.005)
    return SentOrders(orders={"c-1": entry})


def test_create_fill_and_legs_of_the_recorded_bracket_order(sent: SentOrders) -> None:
    create = _ours(MARKET_TP_SL_201["orderCreateTransaction"], "c-1")
    assert events_from_transaction(create, sent, "USD") == [
        OrderAccepted(ts_event=TS_7578, client_order_id="c-1", venue_order_id="7578")
    ]
    assert sent.by_v20_id["7578"] == "c-1"

    # the fill names only the v20 order id: ours comes from the create
    fill = events_from_transaction(MARKET_TP_SL_201["orderFillTransaction"], sent, "USD")
    assert fill == [
        Fill(
            ts_event=TS_7578,
            fill_id="7579",
            client_order_id="c-1",
            venue_order_id="7578",
            strategy_id="trend",
            instrument="EUR_USD",
            side=Side.BUY,
            quantity=10_000.0,
            price=1.05563,
            commission=0.0,
            currency="USD",
            quote_rate=1.0,
        )
    ]

    tp = _leg_tx("7580", "TAKE_PROFIT_ORDER", "c-1.tp", price="1.10000")
    events = events_from_transaction(tp, sent, "USD")
    assert events == [
        Order(
            ts_event=TS_7578,
            client_order_id="c-1.tp",
            parent_id="c-1",
            strategy_id="trend",
            instrument="EUR_USD",
            side=Side.SELL,
            quantity=10_000.0,
            order_type=OrderType.LIMIT,
            limit_price=1.1,
        ),
        OrderAccepted(ts_event=TS_7578, client_order_id="c-1.tp", venue_order_id="7580"),
    ]

    sl = _leg_tx("7581", "STOP_LOSS_ORDER", "c-1.sl", price="1.05000")
    leg, accepted = events_from_transaction(sl, sent, "USD")
    assert isinstance(leg, Order)
    assert (leg.client_order_id, leg.parent_id, leg.side) == ("c-1.sl", "c-1", Side.SELL)
    assert (leg.order_type, leg.stop_price, leg.limit_price) == (OrderType.STOP, 1.05, None)
    assert leg.quantity == 10_000.0
    assert accepted == OrderAccepted(
        ts_event=TS_7578, client_order_id="c-1.sl", venue_order_id="7581"
    )
    assert sent.orders["c-1.sl"] == leg
    assert sent.by_v20_id["7581"] == "c-1.sl"

    ts = _leg_tx("7582", "TRAILING_STOP_LOSS_ORDER", "c-1.ts", distance="0.00500")
    leg, accepted = events_from_transaction(ts, sent, "USD")
    assert leg.order_type is OrderType.TRAILING_STOP
    assert leg.trailing_distance == 0.005
    assert (leg.side, leg.parent_id) == (Side.SELL, "c-1")
    assert sent.last_id == "7582"

    # the stop loss fills later: a fill of the leg, by its v20 order id
    sl_fill = {
        "id": "7590",
        "type": "ORDER_FILL",
        "orderID": "7581",
        "instrument": "EUR_USD",
        "units": "-10000",
        "price": "1.05000",
        "pl": "-56.3000",
        "commission": "0.0000",
        "gainQuoteHomeConversionFactor": "1",
        "lossQuoteHomeConversionFactor": "1",
        "reason": "STOP_LOSS_ORDER",
        "time": "2017-03-09T15:00:00.000000001Z",
    }
    [f] = events_from_transaction(sl_fill, sent, "USD")
    assert isinstance(f, Fill)
    assert (f.client_order_id, f.venue_order_id, f.side, f.quantity) == (
        "c-1.sl",
        "7581",
        Side.SELL,
        10_000.0,
    )
    assert f.strategy_id == "trend"
    assert f.ts_event == ns(2017, 3, 9, 15, 0, 0, 1)
    assert sent.last_id == "7590"


def test_replayed_transactions_give_no_events(sent: SentOrders) -> None:
    body = [
        _ours(MARKET_TP_SL_201["orderCreateTransaction"], "c-1"),
        MARKET_TP_SL_201["orderFillTransaction"],
    ]
    first = [e for tx in body for e in events_from_transaction(tx, sent, "USD")]
    assert len(first) == 2
    # the same transactions again: from the stream after the REST answer, or a backfill
    assert [e for tx in body for e in events_from_transaction(tx, sent, "USD")] == []
    assert sent.last_id == "7579"


def test_heartbeat_gives_no_events_and_moves_nothing(sent: SentOrders) -> None:
    sent.last_id = "7000"
    assert events_from_transaction(TX_HEARTBEAT, sent, "USD") == []
    assert events_from_transaction(json.loads(PRICE_STREAM_LINES[1]), sent, "USD") == []
    assert sent.last_id == "7000"
    assert sent.seen == set()


def test_last_id_compares_as_numbers_and_never_goes_back() -> None:
    sent = SentOrders(last_id="9")
    cancel = dict(CANCEL_200["orderCancelTransaction"])
    events_from_transaction(cancel | {"id": "10"}, sent, "USD")
    assert sent.last_id == "10"  # "10" > "9" as numbers
    events_from_transaction(cancel | {"id": "8"}, sent, "USD")
    assert sent.last_id == "10"
    assert sent.seen == {"10", "8"}


def test_unknown_leg_or_foreign_create_is_not_ours() -> None:
    sent = SentOrders()
    # the recorded create carries no clientExtensions: an order placed by hand at the broker
    assert events_from_transaction(MARKET_TP_SL_201["orderCreateTransaction"], sent, "USD") == []
    leg = _leg_tx("7580", "TAKE_PROFIT_ORDER", "c-9.tp", price="1.10000")
    assert events_from_transaction(leg, sent, "USD") == []
    [fill] = events_from_transaction(MARKET_TP_SL_201["orderFillTransaction"], sent, "USD")
    assert (fill.client_order_id, fill.strategy_id) == ("", "venue")


def test_fill_of_a_short_usd_jpy_order_with_conversion_factors() -> None:
    sent = SentOrders(orders={"j-1": order(client_order_id="j-1", instrument="USD_JPY")})
    sent.by_v20_id["500"] = "j-1"
    fill_tx = {
        "id": "501",
        "type": "ORDER_FILL",
        "orderID": "500",
        "clientOrderID": "j-1",
        "instrument": "USD_JPY",
        "units": "-2500",
        "gainQuoteHomeConversionFactor": "0.00902348",
        "lossQuoteHomeConversionFactor": "0.00911417",
        "price": "110.810",
        "fullVWAP": "110.812",
        "reason": "MARKET_ORDER",
        "pl": "12.3400",
        "financing": "0.0000",
        "commission": "0.2500",
        "accountBalance": "10012.0900",
        "time": "2019-03-07T12:02:47.539716401Z",
    }
    [fill] = events_from_transaction(fill_tx, sent, "USD")
    assert fill.side is Side.SELL
    assert fill.quantity == 2500.0
    assert fill.price == 110.812  # fullVWAP, not the deprecated price
    assert fill.commission == 0.25
    assert fill.quote_rate == 0.00902348  # gain factor: pl >= 0
    assert fill.ts_event == ns(2019, 3, 7, 12, 2, 47, 539_716_401)

    losing = fill_tx | {"id": "502", "pl": "-3.0000"}
    [fill] = events_from_transaction(losing, sent, "USD")
    assert fill.quote_rate == 0.00911417  # loss factor: pl < 0


def test_fill_with_zero_units_is_refused() -> None:
    tx = MARKET_TP_SL_201["orderFillTransaction"] | {"units": "0"}
    with pytest.raises(wire.WireError):
        events_from_transaction(tx, SentOrders(), "USD")


def test_recorded_cancel_is_order_cancelled() -> None:
    tx = CANCEL_200["orderCancelTransaction"]
    assert events_from_transaction(tx, SentOrders(), "USD") == [
        OrderCancelled(
            ts_event=ns(2016, 10, 25, 20, 53, 3, 789_670_387),
            client_order_id="myID",
            reason="CLIENT_REQUEST",
        )
    ]


def test_cancel_without_client_id_is_found_by_the_v20_order_id() -> None:
    sent = SentOrders()
    sent.by_v20_id["2307"] = "c-7"
    tx = {k: v for k, v in CANCEL_200["orderCancelTransaction"].items() if k != "clientOrderID"}
    [cancelled] = events_from_transaction(tx | {"reason": "TIME_IN_FORCE_EXPIRED"}, sent, "USD")
    assert cancelled == OrderCancelled(
        ts_event=ns(2016, 10, 25, 20, 53, 3, 789_670_387),
        client_order_id="c-7",
        reason="TIME_IN_FORCE_EXPIRED",
    )


def test_recorded_reject_is_order_rejected_with_the_reject_reason() -> None:
    tx = _ours(MIT_REJECT_400["orderRejectTransaction"], "c-3")
    assert events_from_transaction(tx, SentOrders(), "USD") == [
        OrderRejected(
            ts_event=ns(2019, 3, 7, 12, 2, 47, 539_716_401),
            client_order_id="c-3",
            code="PRICE_PRECISION_EXCEEDED",
            reason="PRICE_PRECISION_EXCEEDED",
        )
    ]
    # as recorded (a reject names no client id of ours): still a reject, with its code
    [raw] = events_from_transaction(MIT_REJECT_400["orderRejectTransaction"], SentOrders(), "USD")
    assert isinstance(raw, OrderRejected)
    assert raw.code == MIT_REJECT_400["errorCode"]


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("MARKET_ORDER_REJECT", "INSUFFICIENT_MARGIN"),
        ("LIMIT_ORDER_REJECT", "CLIENT_ORDER_ID_ALREADY_EXISTS"),
        ("STOP_ORDER_REJECT", "UNITS_MIMIMUM_NOT_MET"),
    ],
)
def test_every_order_reject_type(kind: str, reason: str) -> None:
    tx = _ours(MIT_REJECT_400["orderRejectTransaction"], "c-4") | {
        "type": kind,
        "rejectReason": reason,
    }
    [rejected] = events_from_transaction(tx, SentOrders(), "USD")
    assert rejected == OrderRejected(
        ts_event=ns(2019, 3, 7, 12, 2, 47, 539_716_401),
        client_order_id="c-4",
        code=reason,
        reason=reason,
    )


DAILY_FINANCING = {
    "id": "900",
    "type": "DAILY_FINANCING",
    "financing": "-1.2345",
    "accountBalance": "35453.2395",
    "accountFinancingMode": "DAILY",
    "positionFinancings": [
        {
            "instrument": "DE30_EUR",
            "financing": "-1.2345",
            "openTradeFinancings": [{"tradeID": "2315", "financing": "-1.2345"}],
        }
    ],
    "accountID": "101-004-1435156-001",
    "userID": 1435156,
    "batchID": "900",
    "time": "2016-10-28T21:00:00.000000000Z",
}  # built from the §8.3 field list


def test_daily_financing_is_one_financing_per_position() -> None:
    [financing] = events_from_transaction(DAILY_FINANCING, SentOrders(), "USD")
    assert isinstance(financing, Financing)
    assert financing.instrument == "DE30_EUR"
    assert financing.amount == -1.2345
    assert financing.ts_event == ns(2016, 10, 28, 21, 0, 0, 0)


def test_daily_financing_is_in_the_account_currency() -> None:
    [financing] = events_from_transaction(DAILY_FINANCING, SentOrders(), "EUR")
    assert financing.currency == "EUR"


def test_events_ignore_unknown_fields_of_newer_servers(sent: SentOrders) -> None:
    create = _ours(MARKET_TP_SL_201["orderCreateTransaction"], "c-1")
    fill = MARKET_TP_SL_201["orderFillTransaction"] | {
        "requestedUnits": "10000",
        "quotePL": "0",
        "baseFinancing": "0",
        "homeConversionFactors": {"gainQuoteHome": {"factor": "1"}},
        "partialFill": "DEFAULT",
    }
    events_from_transaction(create, sent, "USD")
    [f] = events_from_transaction(fill, sent, "USD")
    assert f.client_order_id == "c-1"


# -- wire: times, decimals, instruments -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2016-10-17T19:35:00.000000000Z", ns(2016, 10, 17, 19, 35, 0, 0)),
        ("2016-10-24T21:48:18.593753865Z", ns(2016, 10, 24, 21, 48, 18, 593_753_865)),
        ("2017-03-09T13:22:13.832587780Z", TS_7578),
        ("2019-03-07T12:02:47.539716401Z", ns(2019, 3, 7, 12, 2, 47, 539_716_401)),
    ],
)
def test_rfc3339_round_trip_is_exact_to_the_nanosecond(text: str, expected: int) -> None:
    assert wire.parse_time(text) == expected
    assert wire.format_time(expected) == text


def test_rfc3339_with_fewer_digits_or_none() -> None:
    assert wire.parse_time("2016-10-17T19:35:00.5Z") == ns(2016, 10, 17, 19, 35, 0, 500_000_000)
    assert wire.parse_time("2016-10-17T19:35:00Z") == ns(2016, 10, 17, 19, 35, 0, 0)
    assert wire.parse_time("2016-10-17T19:35:00.123Z") == ns(2016, 10, 17, 19, 35, 0, 123_000_000)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12345678.000000123", 12_345_678_000_000_123),  # [java] example
        ("1478156322.000000000", 1_478_156_322 * NS),  # as the Python client formats them
        ("1478156322", 1_478_156_322 * NS),
        ("1478156322.5", 1_478_156_322 * NS + 500_000_000),
    ],
)
def test_unix_seconds(text: str, expected: int) -> None:
    assert wire.parse_time(text) == expected


def test_format_and_parse_round_trip_both_formats() -> None:
    rng = random.Random(7)
    for _ in range(500):
        t = rng.randrange(0, 4_102_444_800 * NS)  # 1970 .. 2100
        rfc = wire.format_time(t)
        assert len(rfc) == 30
        assert rfc[-11] == "."
        assert rfc.endswith("Z")
        assert wire.parse_time(rfc) == t
        unix = wire.format_time(t, unix=True)
        assert wire.decimals(unix) == 9
        assert wire.parse_time(unix) == t


@pytest.mark.parametrize(
    "text",
    [
        "",
        None,
        1478156322,
        "12x4.5",
        "1478156322.5e",
        "2016-13-45T00:00:00.000Z",
        "2016-10-17T19:35:00.abcZ",
    ],
)
def test_malformed_times_are_wire_errors(text: Any) -> None:
    with pytest.raises(wire.WireError):
        wire.parse_time(text)


@pytest.mark.parametrize("text", ["bogus", "2016-10-17T25:00:00Z"])
def test_malformed_time_without_a_fraction_is_a_wire_error(text: str) -> None:
    try:
        wire.parse_time(text)
    except wire.WireError:
        return
    except ValueError as exc:
        raise AssertionError(f"plain {type(exc).__name__}: {exc}") from None
    raise AssertionError("accepted")


def test_rfc3339_with_fraction_and_numeric_offset() -> None:
    assert wire.parse_time("2016-10-17T21:35:00.5+02:00") == ns(2016, 10, 17, 19, 35, 0, 5 * 10**8)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.05563", 1.05563),
        ("-10000", -10_000.0),
        ("0", 0.0),
        (100, 100.0),
        (0.5, 0.5),
        ("102107.4442", 102_107.4442),
    ],
)
def test_parse_decimal_accepts_strings_and_tolerates_numbers(value: Any, expected: float) -> None:
    assert wire.parse_decimal(value, "x") == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        [],
        {},
        [1],
        "",
        "abc",
        "1.2.3",
        "NaN",
        "nan",
        "Infinity",
        "-inf",
        float("nan"),
        float("inf"),
    ],
)
def test_parse_decimal_refusals(value: Any) -> None:
    with pytest.raises(wire.WireError, match="price"):
        wire.parse_decimal(value, "price")


def test_parse_decimal_refuses_signalling_nan_as_a_wire_error() -> None:
    with pytest.raises(wire.WireError):
        wire.parse_decimal("sNaN", "price")


def test_decimals() -> None:
    assert wire.decimals("1.20") == 2
    assert wire.decimals("10000") == 0
    assert wire.decimals("110.79999999999999") == 14


def test_instrument_json_of_eur_usd_matches_the_recorded_instrument() -> None:
    ours = wire.instrument_json(EUR_USD)
    assert set(ours) == set(EUR_USD_INSTRUMENT)
    for key, value in EUR_USD_INSTRUMENT.items():
        if key != "marginRate":  # ours is the configured one
            assert ours[key] == value, key
            assert type(ours[key]) is type(value), key
    assert ours["marginRate"] == "0.0333"


def test_spec_from_the_recorded_instrument() -> None:
    spec = wire.spec_from_instrument(EUR_USD_INSTRUMENT)
    assert spec.symbol == "EUR_USD"
    assert spec.asset_class is AssetClass.FX
    assert (spec.base, spec.quote) == ("EUR", "USD")
    assert spec.pip_size == 0.0001
    assert spec.price_precision == 5
    assert spec.quantity_step == 1.0
    assert spec.min_quantity == 1.0
    assert spec.max_quantity == 100_000_000.0
    assert spec.margin_rate == 0.05


@pytest.mark.parametrize("symbol", sorted(BUILTIN_INSTRUMENTS))
def test_instrument_round_trip_for_builtin_instruments(symbol: str) -> None:
    spec = BUILTIN_INSTRUMENTS[symbol]
    data = wire.instrument_json(spec)
    assert json.loads(json.dumps(data)) == data
    assert data["type"] == ("CURRENCY" if spec.asset_class is AssetClass.FX else "CFD")
    for key in ("pipLocation", "displayPrecision", "tradeUnitsPrecision"):
        assert type(data[key]) is int, key
    for key in (
        "minimumTradeSize",
        "maximumOrderUnits",
        "marginRate",
        "maximumPositionSize",
        "minimumTrailingStopDistance",
        "maximumTrailingStopDistance",
    ):
        assert isinstance(data[key], str), key
    back = wire.spec_from_instrument(data)
    # v20 has no trading calendar: everything else comes back as it was
    assert msgspec.structs.replace(back, calendar=spec.calendar) == spec
