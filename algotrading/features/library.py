"""The catalogue of feature families a configuration can name: ``rsi(14)`` is the family
``rsi`` with the argument 14. A family turns its integer arguments into one or more named
columns, each a fresh incremental :class:`~algotrading.features.bar_feature.BarFeature` (the
definition, used live), and computes the same columns over whole arrays with its vectorised
batch function (used for training, and tested against the incremental objects looped).

The definitions live by meaning in :mod:`~algotrading.features.momentum`,
:mod:`~algotrading.features.price_location`, :mod:`~algotrading.features.dispersion` and
:mod:`~algotrading.features.calendar`; this module only names them. A column is named after its
family and arguments (``rsi_14``, ``macd_12_26_9``) unless the family names its own columns
(``hour_sin``, ``session_us``), so a model's saved feature names read as the spec that made them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from algotrading.data.columns import BarColumns
from algotrading.features.bar_feature import BarFeature, Floats
from algotrading.features.calendar import (
    day_of_week,
    day_of_week_features,
    hour_of_day,
    hour_of_day_features,
    session,
    session_features,
)
from algotrading.features.dispersion import (
    AtrRatio,
    RangeWidth,
    RealisedVolatility,
    VolumeZ,
    atr_ratio,
    range_width,
    realised_volatility,
    volume_z,
)
from algotrading.features.momentum import (
    LogReturn,
    MacdHistogram,
    Rsi,
    log_returns,
    macd_histogram,
    rsi,
)
from algotrading.features.price_location import (
    BollingerZ,
    MaDistance,
    RangePosition,
    bollinger_z,
    ma_distance,
    range_position,
)

NamedFeatures = tuple[tuple[str, BarFeature], ...]


@dataclass(frozen=True)
class FeatureFamily:
    """A named way to make feature columns from integer arguments (``params`` names them):
    ``make(*args)`` builds the incremental columns, ``batch(columns, *args)`` computes the
    same columns over whole arrays (``(n,)`` for one column, ``(n, k)`` for several)."""

    name: str
    params: tuple[str, ...]
    make: Callable[..., NamedFeatures]
    batch: Callable[..., Floats]
    summary: str

    def build(self, args: tuple[int, ...]) -> NamedFeatures:
        """Fresh columns for ``args``; ValueError if their number or values are wrong."""
        if len(args) != len(self.params):
            wanted = f"({', '.join(self.params)})" if self.params else "no arguments"
            raise ValueError(f"{self.name} takes {wanted}, got {len(args)} argument(s)")
        return self.make(*args)

    def compute(self, columns: BarColumns, args: tuple[int, ...]) -> Floats:
        """``(len(columns), k)``: the family's ``k`` columns over ``columns``, vectorised."""
        values = self.batch(columns, *args)
        return values[:, np.newaxis] if values.ndim == 1 else values


def _one_column(name: str, feature: Callable[..., BarFeature]) -> Callable[..., NamedFeatures]:
    """A family of one column, named ``<family>_<arg>_<arg>...``."""

    def make(*args: int) -> NamedFeatures:
        return (("_".join([name, *map(str, args)]), feature(*args)),)

    return make


def _family(
    name: str,
    params: tuple[str, ...],
    feature: Callable[..., BarFeature],
    batch: Callable[..., Floats],
    summary: str,
) -> FeatureFamily:
    """A family of one column (see :func:`_one_column`)."""
    return FeatureFamily(name, params, _one_column(name, feature), batch, summary)


FAMILIES: dict[str, FeatureFamily] = {
    family.name: family
    for family in (
        _family("returns", ("h",), LogReturn, log_returns, "log(close[t] / close[t-h])"),
        _family(
            "volatility",
            ("n",),
            RealisedVolatility,
            realised_volatility,
            "std of the last n log returns",
        ),
        _family("atr", ("n",), AtrRatio, atr_ratio, "Wilder ATR(n) / close"),
        _family("rsi", ("n",), Rsi, rsi, "Wilder RSI(n), 0..100"),
        _family(
            "macd",
            ("fast", "slow", "signal"),
            MacdHistogram,
            macd_histogram,
            "MACD histogram / close",
        ),
        _family("bollinger_z", ("n",), BollingerZ, bollinger_z, "(close - SMA n) / std n"),
        _family("ma_distance", ("n",), MaDistance, ma_distance, "close / SMA n - 1"),
        _family(
            "range_position",
            ("n",),
            RangePosition,
            range_position,
            "close within the n-bar high-low",
        ),
        _family("range", ("n",), RangeWidth, range_width, "n-bar (high - low) / close"),
        _family("volume_z", ("n",), VolumeZ, volume_z, "z-score of volume over n bars"),
        FeatureFamily(
            "hour_of_day", (), hour_of_day_features, hour_of_day, "hour_sin, hour_cos (UTC)"
        ),
        FeatureFamily(
            "day_of_week", (), day_of_week_features, day_of_week, "dow_sin, dow_cos (UTC)"
        ),
        FeatureFamily(
            "session",
            (),
            session_features,
            session,
            "session_asia, session_europe, session_us",
        ),
    )
}
