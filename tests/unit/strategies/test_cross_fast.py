"""ema_cross computes its averages inline and the crossing rule without abs and max: it must
decide exactly as the rule on RollingEma averages with abs and max does."""

from __future__ import annotations

import itertools
import math
import random

from algotrading.features.moving_average import RollingEma
from algotrading.messages import Bar
from algotrading.strategies.ema_cross import EmaCross, EmaCrossParams
from algotrading.strategies.sma_cross import TIE, MovingAverageCross


def written_out(prev: float | None, fast: float, slow: float) -> tuple[float, int | None]:
    """The rule as first written."""
    diff = fast - slow
    if abs(diff) <= TIE * max(abs(fast), abs(slow)):
        diff = 0.0
    if prev is None:
        return diff, None
    if prev <= 0 < diff:
        return diff, 1
    if prev >= 0 > diff:
        return diff, -1
    return diff, None


def test_cross_is_the_rule_with_abs_and_max():
    special = [0.0, -0.0, 1.0, -1.0, 1.1, 1.1 + 1e-13, math.inf, -math.inf, math.nan, 1e-300]
    rule = MovingAverageCross(EmaCrossParams(fast=1, slow=2), RollingEma(1), RollingEma(2))
    for prev, fast, slow in itertools.product([None, 0.0, 1.0, -1.0], special, special):
        rule._prev_diff = prev
        got = rule._cross(fast, slow)
        diff, expected = written_out(prev, fast, slow)
        assert got == expected
        assert repr(rule._prev_diff) == repr(diff)


def test_inline_averages_decide_as_rolling_ema():
    rng = random.Random(2)
    params = EmaCrossParams(fast=5, slow=13)
    fast = EmaCross(params)
    general = MovingAverageCross(params, RollingEma(5), RollingEma(13))
    close, signals = 1.1, 0
    for i in range(20_000):
        close = round(close + rng.gauss(0, 2e-4), 5) if i % 50 else close  # ties on repeats
        bar = Bar(
            ts_event=i, instrument="X", interval_ns=1, ts_open=i, open=1, high=1, low=1, close=close
        )
        got, expected = fast.on_bar(bar), general.on_bar(bar)
        assert got == expected
        assert repr(fast._prev_diff) == repr(general._prev_diff)
        assert (fast._fast_ema.value, fast._slow_ema.value) == (
            general._fast.value,  # type: ignore[attr-defined]
            general._slow.value,  # type: ignore[attr-defined]
        )
        signals += got is not None
    assert signals > 100
