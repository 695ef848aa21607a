"""A model's inputs as configured: a list of feature specs (``"rsi(14)"``, ``"session"``) made
into one table for training (:meth:`FeatureSet.batch`) and one vector per bar live
(:meth:`FeatureSet.stream`).

The stream feeds fresh incremental feature objects — the definitions — one bar at a time. The
batch computes each family's columns with its vectorised form, which is tested against those
same objects looped over the columns (:meth:`FeatureSet.batch_reference`) to 1e-9 with the same
NaN rows, so a model sees the same numbers in training and in trading. ``warmup`` is the number
of leading rows with a NaN: training cuts them off, and the stream answers ``None`` for exactly
those bars.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from algotrading.data.columns import BarColumns
from algotrading.features.bar_feature import BarFeature, Floats, bar_lists, run_over_lists
from algotrading.features.library import FAMILIES
from algotrading.messages import Bar

DEFAULT_FEATURES: tuple[str, ...] = (
    "returns(1)",
    "returns(5)",
    "volatility(20)",
    "atr(14)",
    "rsi(14)",
    "macd(12,26,9)",
    "bollinger_z(20)",
    "ma_distance(50)",
    "range_position(20)",
    "hour_of_day",
    "day_of_week",
    "session",
)

_SPEC = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*")
_INTEGER = re.compile(r"\s*\+?\d+\s*")
MAX_ARGUMENT = 1_000_000  # a window of more bars than years of minutes is a typo


def known_families() -> str:
    """The families and their parameters, for error messages: ``returns(h), ..., session``."""
    return ", ".join(
        f"{name}({', '.join(family.params)})" if family.params else name
        for name, family in FAMILIES.items()
    )


def _bad_spec(spec: str, problem: str) -> ValueError:
    return ValueError(f"bad feature spec {spec!r}: {problem}; known families: {known_families()}")


def parse_spec(spec: str) -> tuple[str, tuple[int, ...]]:
    """``"macd(12,26,9)"`` -> ``("macd", (12, 26, 9))``; ``"session"`` -> ``("session", ())``.

    The spec is checked in full — the family exists, it has the right number of integer
    arguments, and their values are valid — so a spec that parses is one that builds. Any
    problem is a ValueError naming the spec and the known families."""
    match = _SPEC.fullmatch(spec)
    if match is None:
        raise _bad_spec(spec, "expected family or family(int, ...)")
    family_name, arg_text = match.group(1), match.group(2)
    family = FAMILIES.get(family_name)
    if family is None:
        raise _bad_spec(spec, f"unknown family {family_name!r}")
    pieces = [] if arg_text is None or not arg_text.strip() else arg_text.split(",")
    if not all(_INTEGER.fullmatch(piece) for piece in pieces):
        raise _bad_spec(spec, "arguments must be whole numbers")
    args = tuple(int(piece) for piece in pieces)
    if any(arg > MAX_ARGUMENT for arg in args):
        raise _bad_spec(spec, f"arguments are at most {MAX_ARGUMENT:,} (bars)")
    try:
        family.build(args)
    except ValueError as error:
        raise _bad_spec(spec, str(error)) from None
    return family_name, args


class FeatureSet:
    """Features named by spec strings, as columns ``names`` (in spec order; a family of several
    columns contributes them together)."""

    def __init__(self, specs: Sequence[str]) -> None:
        if isinstance(specs, str):
            raise TypeError("FeatureSet takes a sequence of spec strings, not one string")
        self.specs: tuple[str, ...] = tuple(specs)
        self._parsed = tuple(parse_spec(spec) for spec in self.specs)
        names, features = self._fresh()
        if len(set(names)) != len(names):
            repeated = sorted({name for name in names if names.count(name) > 1})
            raise ValueError(f"feature specs {list(self.specs)} repeat columns {repeated}")
        self.names: tuple[str, ...] = names
        self.warmup: int = max((feature.warmup for feature in features), default=0)

    def __repr__(self) -> str:
        return f"FeatureSet({list(self.specs)!r})"

    def _fresh(self) -> tuple[tuple[str, ...], list[BarFeature]]:
        """New feature objects (no bars seen) and their column names."""
        columns = [column for name, args in self._parsed for column in FAMILIES[name].build(args)]
        return tuple(name for name, _ in columns), [feature for _, feature in columns]

    def batch(self, columns: BarColumns) -> Floats:
        """``(len(columns), len(names))`` float64, one row per bar, NaN in the warm-up rows;
        vectorised (a million bars of the default set in well under a second)."""
        table = np.empty((len(columns), len(self.names)), dtype=np.float64)
        start = 0
        for name, args in self._parsed:
            values = FAMILIES[name].compute(columns, args)
            stop = start + values.shape[1]
            table[:, start:stop] = values
            start = stop
        return table

    def batch_reference(self, columns: BarColumns) -> Floats:
        """:meth:`batch` by the definition: fresh incremental objects fed every row in order.
        Slow (a Python call per bar and column); what the vectorised forms are tested against."""
        _, features = self._fresh()
        lists = bar_lists(columns)
        table = np.empty((len(columns), len(features)), dtype=np.float64)
        for j, feature in enumerate(features):
            table[:, j] = run_over_lists(feature, lists)
        return table

    def stream(self) -> FeatureStream:
        """A fresh incremental form, for one series of bars (one instrument and interval)."""
        _, features = self._fresh()
        return FeatureStream(self.names, self.warmup, features)


class FeatureStream:
    """The live form of a :class:`FeatureSet`: fed every bar of one series in time order,
    it answers each bar's feature vector, or ``None`` while any value is still warming up."""

    __slots__ = ("_updates", "names", "warmup")

    def __init__(self, names: tuple[str, ...], warmup: int, features: list[BarFeature]) -> None:
        self.names = names
        self.warmup = warmup
        self._updates = [feature.update for feature in features]

    def update(self, bar: Bar) -> Floats | None:
        """The features at ``bar``'s close (a fresh ``(k,)`` array), or ``None`` in warm-up."""
        t, o, h, lo, c, v = bar.ts_open, bar.open, bar.high, bar.low, bar.close, bar.volume
        values = [update(t, o, h, lo, c, v) for update in self._updates]
        if any(math.isnan(value) for value in values):
            return None
        return np.array(values, dtype=np.float64)
