"""ema_cross against an independent reading with pandas' ewm."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from algotrading.features.moving_average import RollingEma, ema
from algotrading.strategies.registry import build_strategy


def test_ema_matches_pandas_and_is_seeded_with_the_first_value():
    x = np.random.default_rng(3).normal(1.1, 0.01, 500)
    assert ema(x, 20) == pytest.approx(pd.Series(x).ewm(span=20, adjust=False).mean().values)
    assert RollingEma(5).update(1.25) == 1.25


def test_ema_cross_signals_where_pandas_crosses(targets_of, bars_of):
    closes = 1.1 + np.cumsum(np.random.default_rng(5).normal(0, 0.001, 2000))
    got = targets_of("ema_cross", {"fast": 10, "slow": 20, "quantity": 1000}, bars_of(closes))
    s = pd.Series(closes)
    diff = s.ewm(span=10, adjust=False).mean() - s.ewm(span=20, adjust=False).mean()
    expected = []
    for i in range(1, len(closes)):
        if diff[i - 1] <= 0 < diff[i]:
            expected.append((i, 1000.0))
        elif diff[i - 1] >= 0 > diff[i]:
            expected.append((i, -1000.0))
    assert got == expected
    assert len(got) > 50


def test_ema_cross_validates_its_params():
    from algotrading.errors import ConfigError

    with pytest.raises(ConfigError, match="slow"):
        build_strategy("ema_cross", {"fast": 20, "slow": 10})
