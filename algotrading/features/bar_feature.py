"""The one contract every feature keeps, and the loop that turns it into a whole column.

A feature is a small object fed one bar at a time. Training reads whole arrays and the live
system reads one bar at a time, and a model must see the same numbers in both; so there is one
definition, the incremental one. Looping it over whole arrays (:func:`run_over_columns`) is the
reference batch form, equal to live by construction but a Python call per bar and column (about
15 s for a million bars of the default set). Each family also has a vectorised batch form, used
for training, that must equal this reference to 1e-9 with the same NaN rows; the tests hold it
there for every family.

Every feature's ``update`` takes the same bar fields, positionally, so one loop can drive any of
them, and returns one float: NaN during its warm-up, a finite number after it (for finite
inputs). ``warmup`` is the number of bars whose value is NaN — the rows a model never sees.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from algotrading.data.columns import BarColumns

Floats = NDArray[np.float64]

NAN = math.nan


class BarFeature(Protocol):
    """One feature column, computed incrementally from bars in time order."""

    @property
    def warmup(self) -> int:
        """Leading bars whose value is NaN."""
        ...

    def update(
        self, ts_open: int, open_: float, high: float, low: float, close: float, volume: float
    ) -> float:
        """Take the next bar; return the feature's value at its close (NaN while warming up)."""
        ...


BarLists = tuple[list[int], list[float], list[float], list[float], list[float], list[float]]


def bar_lists(columns: BarColumns) -> BarLists:
    """``ts_open, open, high, low, close, volume`` as Python lists: converted once, because
    reading numpy element by element in a Python loop is several times slower."""
    return (
        columns.ts_open.tolist(),
        columns.open.tolist(),
        columns.high.tolist(),
        columns.low.tolist(),
        columns.close.tolist(),
        columns.volume.tolist(),
    )


def run_over_lists(feature: BarFeature, lists: BarLists) -> list[float]:
    """``feature`` fed every row of ``lists`` in order; one value per row. ``feature`` must be
    fresh (no bars seen); it is consumed."""
    update = feature.update
    return [update(t, o, h, lo, c, v) for t, o, h, lo, c, v in zip(*lists, strict=True)]


def run_over_columns(feature: BarFeature, columns: BarColumns) -> Floats:
    """The batch form of ``feature``: the same object fed every row of ``columns`` in order."""
    return np.array(run_over_lists(feature, bar_lists(columns)), dtype=np.float64)


def mean_and_population_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population standard deviation (divide by ``n``) of a window, summed exactly.

    A window of equal values has a standard deviation of exactly 0.0: checked directly, because
    ``fsum(values) / n`` can miss such a value by an ulp and leave a residue of ~1e-17 that a
    z-score would divide by (the result would be noise of order one, not zero)."""
    count = len(values)
    if max(values) == min(values):
        return values[0], 0.0
    mean = math.fsum(values) / count
    variance = math.fsum((v - mean) * (v - mean) for v in values) / count
    return mean, math.sqrt(variance)


def check_window(name: str, value: int, minimum: int = 1) -> int:
    """``value`` if it is an int of at least ``minimum``, else ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


class RollingRange:
    """The highest high and lowest low of the last ``window`` bars, this one included: the one
    definition of a bar range that range features share."""

    __slots__ = ("_highs", "_lows", "window")

    def __init__(self, window: int) -> None:
        self.window = check_window("window", window)
        self._highs: deque[float] = deque(maxlen=self.window)
        self._lows: deque[float] = deque(maxlen=self.window)

    def update(self, high: float, low: float) -> tuple[float, float] | None:
        """``(highest, lowest)`` once ``window`` bars are in, else None."""
        self._highs.append(high)
        self._lows.append(low)
        if len(self._highs) < self.window:
            return None
        return max(self._highs), min(self._lows)
