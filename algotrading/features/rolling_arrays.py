"""The rolling computations the batch forms of the features share, over whole numpy arrays:
trailing-window max, min, mean and standard deviation, and the first-order recursions (EMA,
Wilder's smoothing).

They are the vectorised counterparts of what the incremental classes do one bar at a time,
and are tested against them to 1e-9. Three choices keep them that close and keep a row
independent of every later row (no look-ahead, and a prefix gives the same rows bit for bit):

- A window of ``w`` is reduced as ``w`` whole-array operations on shifted slices, in a fixed
  order and element by element, in blocks of rows that fit in cache: no running sums that drift
  over a long series, and no ``(n, w)`` copy (memory stays a few ``(n,)`` arrays).
- A mean is taken of the differences from the window's last value (exact for nearby prices),
  and the deviations from it are squared in a second pass: nothing cancels at the price level,
  so a nearly flat window at 1.1 still has the right spread.
- A flat window (max == min, tested exactly, as
  :func:`~algotrading.features.bar_feature.mean_and_population_std` does) has a standard
  deviation of exactly 0.0.

Inputs are finite (prices; a missing volume is replaced before it gets here).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from algotrading.features.bar_feature import NAN, Floats

_BLOCK = 1 << 14  # rows per block: a block and its few temporaries stay in the L2 cache


def after_warmup(values: Floats, n: int) -> Floats:
    """``values`` (the last ``len(values)`` rows of ``n``) behind NaN warm-up rows: length ``n``."""
    out = np.full(n, NAN)
    if len(values):
        out[n - len(values) :] = values
    return out


def _windows(n: int, window: int) -> int:
    """How many complete trailing windows ``n`` values hold."""
    return max(n - window + 1, 0)


def trailing_max(values: Floats, window: int) -> Floats:
    """The max of each complete window of ``window`` values, ``len(values) - window + 1`` of
    them (the first for the window ending at index ``window - 1``)."""
    return _extreme(values, window, np.maximum)


def trailing_min(values: Floats, window: int) -> Floats:
    """The min of each complete window (see :func:`trailing_max`)."""
    return _extreme(values, window, np.minimum)


def _extreme(values: Floats, window: int, pick: np.ufunc) -> Floats:
    m = _windows(len(values), window)
    out = values[:m].copy()
    for j in range(1, window):
        pick(out, values[j : j + m], out=out)
    return out


def trailing_mean(values: Floats, window: int) -> Floats:
    """The mean of each complete window (see :func:`trailing_max`)."""
    last = values[window - 1 :]
    return last + _mean_offsets(values, window, last)


def trailing_offset_and_std(values: Floats, window: int) -> tuple[Floats, Floats]:
    """For each complete window (see :func:`trailing_max`): its last value minus its mean, and
    its population standard deviation — exactly 0.0 where the window is flat (max == min)."""
    last = values[window - 1 :]
    m = len(last)
    mean_offset = _mean_offsets(values, window, last)
    squares = np.zeros(m)

    def add_squares(start: int, stop: int, scratch: Floats) -> None:
        total, centre = squares[start:stop], mean_offset[start:stop]
        for j in range(window):
            np.subtract(values[start + j : stop + j], last[start:stop], out=scratch)
            scratch -= centre
            scratch *= scratch
            total += scratch

    _in_blocks(m, add_squares)
    std = np.sqrt(squares / window)
    flat = trailing_max(values, window) == trailing_min(values, window)
    std[flat] = 0.0
    mean_offset[flat] = 0.0
    return -mean_offset, std


def z_scores(offset: Floats, std: Floats) -> Floats:
    """``offset / std``, and 0.0 where ``std`` is 0.0 (a flat window), as the z-score features
    answer one bar at a time."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = offset / std
    z[std == 0.0] = 0.0
    return z


def _mean_offsets(values: Floats, window: int, last: Floats) -> Floats:
    """``mean - last`` of each complete window, summed as differences from ``last``."""
    m = len(last)
    total = np.zeros(m)

    def add_offsets(start: int, stop: int, scratch: Floats) -> None:
        block = total[start:stop]
        for j in range(window):
            np.subtract(values[start + j : stop + j], last[start:stop], out=scratch)
            block += scratch

    _in_blocks(m, add_offsets)
    total /= window
    return total


def _in_blocks(m: int, work: Callable[[int, int, Floats], None]) -> None:
    """``work(start, stop, scratch)`` over rows ``0..m`` in blocks of at most ``_BLOCK``."""
    scratch = np.empty(min(m, _BLOCK))
    for start in range(0, m, _BLOCK):
        stop = min(start + _BLOCK, m)
        work(start, stop, scratch[: stop - start])


def ema_filter(values: Floats, span: int) -> Floats:
    """The EMA of :class:`~algotrading.features.moving_average.RollingEma` (``alpha = 2 /
    (span + 1)``, seeded with the first value) over a whole array, by one linear filter."""
    if len(values) == 0:
        return np.empty(0)
    alpha = 2.0 / (span + 1.0)
    return _first_order(values[0], values[1:], alpha, 1.0 - alpha)


def wilder_smoothing(values: Floats, period: int) -> Floats:
    """Wilder's smoothing as the incremental features do it: NaN for the first ``period - 1``
    values, then the plain mean of the first ``period`` (summed exactly), then
    ``avg = (avg * (period - 1) + x) / period``. Positive stays positive and zero stays
    exactly zero, as in the recursion (the RSI's conventions depend on it)."""
    n = len(values)
    if n < period:
        return np.full(n, NAN)
    seed = math.fsum(values[:period].tolist()) / period
    smoothed = _first_order(seed, values[period:], 1.0 / period, (period - 1) / period)
    return after_warmup(smoothed, n)


def _first_order(seed: float, values: Floats, gain: float, keep: float) -> Floats:
    """``[seed, y1, y2, ...]`` with ``y[t] = keep * y[t-1] + gain * values[t-1]``."""
    # imported here: scipy.signal takes most of a second to import, and the live path (one bar
    # at a time) never needs it
    from scipy.signal import lfilter

    out = np.empty(len(values) + 1)
    out[0] = seed
    if len(values):
        filtered, _ = lfilter([gain], [1.0, -keep], values, zi=[keep * seed])
        out[1:] = filtered
    return out
