import pytest

from algotrading.errors import ConfigError
from algotrading.messages import Side
from algotrading.strategies.base import orders_to_target
from algotrading.strategies.registry import build_strategy
from algotrading.strategies.sma_cross import SmaCross, SmaCrossParams


def test_crosses_decide_the_target_and_nothing_before_both_averages_exist(bars_of):
    rule = SmaCross(SmaCrossParams(fast=2, slow=3))
    closes = [5, 4, 3, 2, 3, 4, 5, 4, 3, 2]
    targets = [rule.on_bar(b) for b in bars_of(closes)]
    # fast-slow: idx2 -0.5, idx3 -0.5, idx4 0, idx5 +1 (cross up), idx6 +1, idx7 +0.5,
    # idx8 -0.5 (cross down), idx9 -1
    assert targets == [None, None, None, None, None, 1, None, None, -1, None]


def test_touching_and_leaving_on_the_same_side_is_not_a_cross(bars_of):
    rule = SmaCross(SmaCrossParams(fast=1, slow=2))
    # diffs: idx1 -1, idx2 +0.5 up, idx3 0 (touch), idx4 +0.5 up again? prev 0 <= 0 < 0.5 -> up
    targets = [rule.on_bar(b) for b in bars_of([2, 1, 2, 2, 3])]
    assert targets == [None, None, 1, None, 1]


def test_reversal_goes_through_flat():
    assert orders_to_target(0, 100) == [(Side.BUY, 100, False)]
    assert orders_to_target(100, -100) == [(Side.SELL, 100, True), (Side.SELL, 100, False)]
    assert orders_to_target(-50, 100) == [(Side.BUY, 50, True), (Side.BUY, 100, False)]
    assert orders_to_target(100, 100) == []
    assert orders_to_target(100, 40) == [(Side.SELL, 60, True)]  # closes: reduce-only
    assert orders_to_target(100, 0) == [(Side.SELL, 100, True)]
    assert orders_to_target(40, 100) == [(Side.BUY, 60, False)]


def test_params_from_strings_are_validated():
    factory = build_strategy("sma_cross", {"fast": "3", "slow": "7", "quantity": "1000"})
    assert factory.params == SmaCrossParams(fast=3, slow=7)
    assert factory.composition.sizing.units == 1000.0  # quantity: short for sizing.units
    with pytest.raises(ConfigError, match=r"params\.fast"):
        build_strategy("sma_cross", {"fast": "abc"})
    with pytest.raises(ConfigError, match="unknown parameter"):
        build_strategy("sma_cross", {"fats": "3"})
    with pytest.raises(ConfigError, match=r"slow .* must be greater"):
        build_strategy("sma_cross", {"fast": "10", "slow": "5"})
    with pytest.raises(ConfigError, match="unknown strategy"):
        build_strategy("nope", {})
