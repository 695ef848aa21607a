"""Labels: what a model learns to predict, each with the last bar it reads, so that training can
drop every label that overlaps the bars it is tested on (purging).

All labels are defined at bar t's close and read the future; ``end[t]`` is the index of the last
bar a label reads (NaN labels where the future is not there yet: the last bars of a history).

- ``forward_return(h)``: ``log(close[t+h] / close[t])``; ``end = t + h``.
- ``sign``: 1 when the forward return is positive, 0 otherwise (classification).
- ``triple_barrier(h, up, down, vol)``: 1 if the close reaches ``close[t] * exp(up * vol[t])``
  before ``close[t] * exp(-down * vol[t])`` within h bars, 0 if the lower barrier comes first,
  and the sign of the h-bar return when neither does (the vertical barrier); ``end`` is the bar
  that decided it. ``vol`` is a per-bar volatility estimate known at t (e.g. the rolling std of
  one-bar log returns), so the barriers adapt to the market.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]


def forward_return(close: Floats, horizon: int) -> tuple[Floats, Ints]:
    if horizon < 1:
        raise ValueError("horizon must be >= 1")
    n = len(close)
    out = np.full(n, np.nan)
    if n > horizon:
        out[:-horizon] = np.log(close[horizon:] / close[:-horizon])
    end = np.arange(n, dtype=np.int64) + horizon
    return out, end


def sign_label(returns: Floats) -> Floats:
    """1.0 for a positive return, 0.0 otherwise, NaN where the return is unknown."""
    out = np.where(returns > 0, 1.0, 0.0)
    out[np.isnan(returns)] = np.nan
    return out


def triple_barrier(
    close: Floats, horizon: int, up: float, down: float, vol: Floats
) -> tuple[Floats, Ints]:
    if horizon < 1 or up <= 0 or down <= 0:
        raise ValueError("horizon must be >= 1 and the barrier multiples > 0")
    n = len(close)
    label = np.full(n, np.nan)
    end = np.arange(n, dtype=np.int64) + horizon
    log_close = np.log(close)
    for t in range(n - horizon):
        width = vol[t]
        if not math.isfinite(width) or width <= 0:
            continue
        path = log_close[t + 1 : t + horizon + 1] - log_close[t]
        hit_up = np.flatnonzero(path >= up * width)
        hit_down = np.flatnonzero(path <= -down * width)
        first_up = hit_up[0] if len(hit_up) else horizon
        first_down = hit_down[0] if len(hit_down) else horizon
        if first_up < first_down:
            label[t], end[t] = 1.0, t + 1 + first_up
        elif first_down < first_up:
            label[t], end[t] = 0.0, t + 1 + first_down
        else:
            label[t] = 1.0 if path[-1] > 0 else 0.0
    return label, end


def rolling_vol(close: Floats, window: int) -> Floats:
    """Population std of the last ``window`` one-bar log returns, known at each bar's close."""
    returns = np.full(len(close), np.nan)
    returns[1:] = np.diff(np.log(close))
    out = np.full(len(close), np.nan)
    for t in range(window, len(close)):
        out[t] = float(np.std(returns[t - window + 1 : t + 1]))
    return out
