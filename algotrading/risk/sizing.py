"""Position sizing: how many units to trade, as pure functions of the account, the instrument
and the trade's risk. Every size is rounded *down* to the instrument's lot step (never more
risk than asked) and kept within its minimum and maximum; a size below the minimum is 0 — no
trade — rather than the minimum, which would risk more than the rule allows.

Money is in the account currency. A price distance becomes money through the instrument's
quote currency: ``distance * units * quote_rate``, where ``quote_rate`` converts one unit of the
quote currency to the account currency (1 for EUR/USD in a USD account, ``1 / price`` for
USD/JPY, the GBP/USD rate for EUR/GBP) — the standard FX pip-value formula
``pip value = pip size * units * quote_rate``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from algotrading.data.instruments import InstrumentSpec


def round_to_lot(spec: InstrumentSpec, units: float) -> float:
    """``units`` rounded towards zero to the lot step, 0 below the minimum, capped at the
    maximum (sign kept)."""
    if not math.isfinite(units):
        raise ValueError(f"size is not a finite number: {units}")
    size = abs(spec.round_quantity(units))
    if size < spec.min_quantity - 1e-9:
        return 0.0
    size = min(size, spec.max_quantity)
    return math.copysign(size, units)


def pip_value(spec: InstrumentSpec, units: float, quote_rate: float) -> float:
    """Account-currency value of one pip on ``units`` units."""
    return spec.pip_size * abs(units) * quote_rate


@dataclass(frozen=True)
class FixedUnits:
    units: float

    def size(self, spec: InstrumentSpec) -> float:
        return round_to_lot(spec, self.units)


@dataclass(frozen=True)
class FixedFraction:
    """Risk ``fraction`` of equity per trade: the size at which being stopped out loses
    ``fraction * equity``: ``units = fraction * equity / (stop_distance * quote_rate)``."""

    fraction: float

    def __post_init__(self) -> None:
        if not 0 < self.fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction}")

    def size(
        self, spec: InstrumentSpec, *, equity: float, stop_distance: float, quote_rate: float
    ) -> float:
        if stop_distance <= 0 or quote_rate <= 0 or equity <= 0:
            return 0.0
        return round_to_lot(spec, self.fraction * equity / (stop_distance * quote_rate))


@dataclass(frozen=True)
class VolatilityTarget:
    """Size so that a move of ``atr_multiple`` ATRs costs ``fraction`` of equity — the
    fixed-fraction rule with the stop distance set by volatility."""

    fraction: float
    atr_multiple: float = 1.0

    def size(self, spec: InstrumentSpec, *, equity: float, atr: float, quote_rate: float) -> float:
        return FixedFraction(self.fraction).size(
            spec, equity=equity, stop_distance=atr * self.atr_multiple, quote_rate=quote_rate
        )


def kelly_fraction(win_rate: float, payoff: float) -> float:
    """The Kelly fraction ``p - (1 - p) / b`` for win probability ``p`` and average win /
    average loss ``b``; 0 when the edge is not positive."""
    if payoff <= 0 or not 0 <= win_rate <= 1:
        return 0.0
    return max(0.0, win_rate - (1.0 - win_rate) / payoff)


@dataclass(frozen=True)
class CappedKelly:
    """A fraction (``multiplier``, e.g. half-Kelly) of the Kelly fraction, never above
    ``cap``, used as the equity fraction at risk down to the stop."""

    multiplier: float = 0.5
    cap: float = 0.02

    def size(
        self,
        spec: InstrumentSpec,
        *,
        equity: float,
        stop_distance: float,
        quote_rate: float,
        win_rate: float,
        payoff: float,
    ) -> float:
        fraction = min(self.cap, self.multiplier * kelly_fraction(win_rate, payoff))
        if fraction <= 0:
            return 0.0
        return FixedFraction(fraction).size(
            spec, equity=equity, stop_distance=stop_distance, quote_rate=quote_rate
        )
