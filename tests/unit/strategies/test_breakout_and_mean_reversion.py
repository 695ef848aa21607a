"""donchian and bollinger against straightforward pandas readings of their rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from algotrading.errors import ConfigError
from algotrading.messages import Bar
from algotrading.strategies.registry import build_strategy


def bars(n: int, seed: int) -> list[Bar]:
    rng = np.random.default_rng(seed)
    close = 1.1 + np.cumsum(rng.normal(0, 0.0008, n))
    high = close + rng.uniform(0, 0.0006, n)
    low = close - rng.uniform(0, 0.0006, n)
    return [
        Bar(
            ts_event=i + 1,
            instrument="EUR_USD",
            interval_ns=1,
            ts_open=i,
            open=c,
            high=h,
            low=lo,
            close=c,
        )
        for i, (c, h, lo) in enumerate(
            zip(close.tolist(), high.tolist(), low.tolist(), strict=True)
        )
    ]


def changes(wanted: list[float]) -> list[tuple[int, float]]:
    out, held = [], 0.0
    for i, t in enumerate(wanted):
        if t != held:
            out.append((i, t))
            held = t
    return out


def test_donchian_matches_a_rolling_channel(targets_of):
    data = bars(3000, 1)
    df = pd.DataFrame(
        {"h": [b.high for b in data], "l": [b.low for b in data], "c": [b.close for b in data]}
    )
    upper = df.h.rolling(20).max().shift(1)
    lower = df.l.rolling(20).min().shift(1)
    exit_low = df.l.rolling(10).min().shift(1)
    exit_high = df.h.rolling(10).max().shift(1)
    held, wanted = 0.0, []
    for i in range(len(df)):
        if df.c[i] > upper[i]:
            held = 1000.0
        elif df.c[i] < lower[i]:
            held = -1000.0
        elif (held > 0 and df.c[i] < exit_low[i]) or (held < 0 and df.c[i] > exit_high[i]):
            held = 0.0
        wanted.append(held)
    got = targets_of("donchian", {"window": 20, "exit_window": 10, "quantity": 1000}, data)
    assert got == changes(wanted)
    assert len(got) > 20


def test_bollinger_matches_a_rolling_zscore(targets_of):
    data = bars(3000, 2)
    c = pd.Series([b.close for b in data])
    z = (c - c.rolling(20).mean()) / c.rolling(20).std(ddof=0)
    held, wanted = 0.0, []
    for i in range(len(c)):
        if not np.isnan(z[i]):
            if z[i] >= 2.0:
                held = -1000.0
            elif z[i] <= -2.0:
                held = 1000.0
            elif (held > 0 and z[i] >= 0) or (held < 0 and z[i] <= 0):
                held = 0.0
        wanted.append(held)
    got = targets_of("bollinger", {"window": 20, "entry_z": 2.0, "quantity": 1000}, data)
    assert got == changes(wanted)
    assert len(got) > 20


@pytest.mark.parametrize(
    ("name", "params", "key"),
    [("donchian", {"window": 0}, "window"), ("bollinger", {"entry_z": 1, "exit_z": 2}, "exit_z")],
)
def test_bad_params_are_refused(name, params, key):
    with pytest.raises(ConfigError, match=key):
        build_strategy(name, params)
