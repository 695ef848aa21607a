"""The sim-exchange's checks of what a request holds: decimals, prices, units, times, bodies and
fault settings. Each bad value is a ``None``, a ``Problem`` or a ``BodyError``/``FaultSpecError``
— never another exception, never a non-finite number let through."""

from __future__ import annotations

import math
from typing import Any

import pytest

from algotrading.data.instruments import BUILTIN_INSTRUMENTS
from algotrading.sim.server.faults import Faults, FaultSpecError
from algotrading.sim.server.order_requests import parse_order
from algotrading.sim.server.request_bodies import BodyError, decode_body
from algotrading.sim.server.request_values import (
    Problem,
    check_price,
    check_units,
    checked_time,
    decimal_text,
    one_of,
)

EUR_USD = BUILTIN_INSTRUMENTS["EUR_USD"]
NOW = 1_700_000_000 * 10**9
BAD_DECIMALS: list[Any] = [
    None, "", " ", [], ["1"], {}, {"a": 1}, True, False, "NaN", "nan", "-Infinity", "inf",
    "1e400", "1e999999999", "1e-999999999", "0e-999999999", "1" * 41, "0x10", "1_000",
    "\u0661\u0662", "\uff11", "1.2.3", "--1", "1e", ".", "+", float("nan"), float("inf"),
    10**30, "1e13",
]  # fmt: skip


@pytest.mark.parametrize("value", BAD_DECIMALS, ids=repr)
def test_bad_decimals_are_none(value: Any) -> None:
    assert decimal_text(value) is None


@pytest.mark.parametrize("value", ["1", "1.5", "-2.25", "1e-05", 3, 1.25, " 7 ", "1.20000000"])
def test_good_decimals_are_their_text(value: Any) -> None:
    assert decimal_text(value) == str(value).strip()


@pytest.mark.parametrize("value", [*BAD_DECIMALS, "0", "-1.1", "1.123456"], ids=repr)
def test_bad_prices_are_rejected_with_a_reason(value: Any) -> None:
    checked = check_price(value, EUR_USD, "PRICE_MISSING", "PRICE_INVALID", "PRICE_PRECISION", 1.1)
    assert isinstance(checked, Problem)
    assert checked.reason


@pytest.mark.parametrize(("price", "ok"), [("0.11000", True), ("10.99999", True),
                                           ("0.10999", False), ("11.00001", False)])  # fmt: skip
def test_prices_lie_within_a_tenth_and_ten_times_the_mid(price: str, ok: bool) -> None:
    checked = check_price(price, EUR_USD, "M", "PRICE_INVALID", "P", mid=1.1)
    assert isinstance(checked, float) == ok
    if not ok:
        assert isinstance(checked, Problem)
        assert checked.reason == "PRICE_INVALID"
        assert "0.11000..11.00000" in checked.message


@pytest.mark.parametrize("units", [*BAD_DECIMALS, "0", "1.5", "2e9", "-100000001"], ids=repr)
def test_bad_units_are_rejected(units: Any) -> None:
    assert isinstance(check_units(units, EUR_USD, 0), Problem)


def test_units_are_signed_and_finite() -> None:
    assert check_units("-1000", EUR_USD, 0) == -1000.0
    assert check_units("100000000", EUR_USD, 0) == 1e8


@pytest.mark.parametrize(
    "value", [None, 5, [], "", "1e400", "99999999999999999999", "2300-01-01T00:00:00Z", "x" * 50]
)
def test_bad_times_are_none(value: Any) -> None:
    assert checked_time(value) is None


def test_times_parse_within_range() -> None:
    assert checked_time("1700000000") == NOW
    assert checked_time("2023-11-14T22:13:20.000000000Z") == NOW


def test_enums_are_strings_of_the_set() -> None:
    assert one_of("GTC", ("GTC", "FOK"))
    assert not one_of(["GTC"], ("GTC", "FOK"))
    assert not one_of({"a": 1}, {"MARKET": 1})  # unhashable: no TypeError


@pytest.mark.parametrize("kind", [["LIMIT"], {"a": 1}, 7, None, "limit", ""])
def test_an_order_type_not_a_known_string_is_a_plain_400(kind: Any) -> None:
    order = {"type": kind, "instrument": "EUR_USD", "units": "1", "price": "1.1"}
    problem = parse_order(order, {"EUR_USD": EUR_USD}, NOW, {"EUR_USD": 1.1})
    assert isinstance(problem, Problem)
    assert problem.reason is None


@pytest.mark.parametrize(
    ("leg", "reason"),
    [
        ({"takeProfitOnFill": {"price": "1e400"}}, "TAKE_PROFIT_ON_FILL_PRICE_INVALID"),
        ({"takeProfitOnFill": {"price": "20.00000"}}, "TAKE_PROFIT_ON_FILL_PRICE_INVALID"),
        ({"stopLossOnFill": {"distance": "1.00000"}}, "STOP_LOSS_ON_FILL_DISTANCE_INVALID"),
        ({"priceBound": "0.00001"}, "PRICE_BOUND_INVALID"),
        ({"units": "1e999999999"}, "UNITS_INVALID"),
        ({"positionFill": ["DEFAULT"]}, "ORDER_FILL_POSITION_ACTION_INVALID"),
        ({"timeInForce": {"x": 1}}, "TIME_IN_FORCE_INVALID"),
    ],
)
def test_order_fields_out_of_bounds_are_rejected(leg: dict[str, Any], reason: str) -> None:
    order = {"type": "MARKET", "instrument": "EUR_USD", "units": "1000"} | leg
    problem = parse_order(order, {"EUR_USD": EUR_USD}, NOW, {"EUR_USD": 1.1})
    assert isinstance(problem, Problem)
    assert problem.reason == reason


# --- bodies ---------------------------------------------------------------------------------

BAD_BODIES = [
    b"[" * 5000, b"{" * 5000, b'{"order":' * 5000, b"\xff\xfe{}", b"{'a': 1}", b"hello",
    b'{"units": NaN}', b'{"units": Infinity}', b'{"units": -Infinity}', b'{"units": 1e999}',
    b'{"a": 1, "a": 2}', b'{"a": "\\ud800"}', b'{"\\udfff": 1}', b"1" * 5000, b'{"a": 1',
    b"[" * 40 + b"]" * 40,
]  # fmt: skip


@pytest.mark.parametrize("raw", BAD_BODIES, ids=lambda r: repr(r[:20]))
def test_bad_bodies_are_body_errors(raw: bytes) -> None:
    with pytest.raises(BodyError, match="The request was missing required data"):
        decode_body(raw)


def test_good_bodies_decode() -> None:
    assert decode_body(b"") == {}
    assert decode_body(b'{"order": {"units": 1.5, "x": ["\\u00e9"]}}') == {
        "order": {"units": 1.5, "x": ["é"]}
    }
    assert decode_body(b"[1, 2]") == [1, 2]  # a shape the handler refuses, not the decoder


# --- faults ---------------------------------------------------------------------------------

BAD_FAULTS: list[Any] = [
    {"order_delay_ms": math.nan}, {"order_delay_ms": math.inf}, {"order_delay_ms": 1e308},
    {"order_delay_ms": -1}, {"order_delay_ms": 60_001}, {"order_delay_ms": "5"},
    {"order_delay_ms": True}, {"order_delay_ms": 10**400},
    {"stall_streams": {"seconds": 3601}}, {"stall_streams": {"seconds": math.nan}},
    {"stall_streams": {"stream": ["pricing"], "seconds": 1}}, {"stall_streams": []},
    {"reject_orders": {"count": 1.5}}, {"reject_orders": {"count": -1}},
    {"reject_orders": {"count": 10**9}}, {"reject_orders": {"reason": ["X"]}},
    {"reject_orders": {"reason": "not a reason"}}, {"reject_orders": {"reason": "A" * 65}},
    {"http_errors": {"status": 503.5, "count": 1}}, {"http_errors": {"status": 404, "count": 1}},
    {"http_errors": {"status": "503", "count": 1}}, {"http_errors": {"fraction": 1.5}},
    {"http_errors": {"fraction": math.nan}}, {"http_errors": {"count": 1, "seed": {"a": 1}}},
    {"http_errors": {"count": 1, "seed": 1.5}}, {"cut_responses": {"method": ["GET"]}},
    {"cut_responses": {"method": "DELETE"}}, {"drop_streams": {"x": 1}}, {"meteor": 1},
    {}, [], "all", None,
]  # fmt: skip


@pytest.mark.parametrize("spec", BAD_FAULTS, ids=repr)
def test_bad_fault_settings_are_refused_and_change_nothing(spec: Any) -> None:
    faults = Faults()
    before = faults.describe() | {"history": []}
    with pytest.raises(FaultSpecError):
        faults.configure(spec)
    assert faults.describe() | {"history": []} == before


def test_fault_settings_at_their_bounds_are_taken() -> None:
    faults = Faults()
    faults.configure(
        {
            "order_delay_ms": 60_000,
            "stall_streams": {"stream": "all", "seconds": 3600},
            "reject_orders": {"count": 0, "reason": "MARKET_HALTED"},
            "http_errors": {"status": 429.0, "fraction": 1.0, "seed": 7},
            "cut_responses": {"count": 1_000_000, "method": "post"},
        }
    )
    assert faults.order_delay_ms == 60_000.0
    assert faults.http_status == 429
    assert isinstance(faults.http_status, int)
    assert faults.cut_method == "POST"
