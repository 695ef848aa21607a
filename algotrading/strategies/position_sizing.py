"""How a strategy sizes an entry: the sizing rules of :mod:`algotrading.risk.sizing`, chosen
and parameterised in the config, and given what they need as of the deciding bar."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from algotrading.bounded import Amount, Fraction, Multiple, UnitInterval
from algotrading.data.instruments import InstrumentSpec
from algotrading.risk.sizing import (
    CappedKelly,
    FixedFraction,
    FixedUnits,
    VolatilityTarget,
)

SIZING_KINDS = ("fixed_units", "fixed_fraction", "volatility_target", "kelly")


class Sizing(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``kind`` picks the rule; each reads only its own fields.

    - ``fixed_units``: ``units`` every time.
    - ``fixed_fraction``: risk ``fraction`` of equity down to the stop-loss (needs one).
    - ``volatility_target``: risk ``fraction`` of equity over ``atr_multiple`` ATRs.
    - ``kelly``: ``kelly_multiplier`` times the Kelly fraction of ``win_rate`` and ``payoff``
      (average win / average loss), at most ``kelly_cap``, at risk down to the stop-loss.
    """

    kind: str = "fixed_units"
    units: Amount = 10_000.0
    fraction: Fraction = 0.01
    atr_multiple: Multiple = 1.0
    kelly_multiplier: Multiple = 0.5
    kelly_cap: Fraction = 0.02
    win_rate: UnitInterval = 0.5
    payoff: Multiple = 1.0

    def __post_init__(self) -> None:
        if self.kind not in SIZING_KINDS:
            raise ValueError(f"unknown sizing kind {self.kind!r}; one of {', '.join(SIZING_KINDS)}")
        if self.units <= 0:
            raise ValueError("units must be > 0")
        if not 0 < self.fraction <= 1:
            raise ValueError("fraction must be in (0, 1]")
        if self.atr_multiple <= 0:
            raise ValueError("atr_multiple must be > 0")
        if not 0 <= self.win_rate <= 1:
            raise ValueError("win_rate must be in [0, 1]")
        if self.kelly_multiplier <= 0 or self.kelly_cap <= 0 or self.payoff <= 0:
            raise ValueError("kelly_multiplier, kelly_cap and payoff must be > 0")

    @property
    def needs_stop(self) -> bool:
        return self.kind in ("fixed_fraction", "kelly")

    @property
    def needs_equity(self) -> bool:
        return self.kind != "fixed_units"


@dataclass(frozen=True, slots=True)
class SizingInputs:
    """What a rule may read, as of the deciding bar."""

    equity: float
    quote_rate: float | None  # account currency per unit of quote currency; None: unknown
    stop_distance: float | None
    atr: float | None


def entry_size(sizing: Sizing, spec: InstrumentSpec, inputs: SizingInputs) -> float:
    """Units for a new entry (>= 0), rounded down to the lot step; 0 means no trade (an input is
    missing, or the size is below the instrument's minimum)."""
    if sizing.kind == "fixed_units":
        return FixedUnits(sizing.units).size(spec)
    rate = inputs.quote_rate
    if rate is None or rate <= 0 or inputs.equity <= 0:
        return 0.0
    if sizing.kind == "volatility_target":
        if inputs.atr is None:
            return 0.0
        return VolatilityTarget(sizing.fraction, sizing.atr_multiple).size(
            spec, equity=inputs.equity, atr=inputs.atr, quote_rate=rate
        )
    if inputs.stop_distance is None:
        return 0.0
    if sizing.kind == "fixed_fraction":
        return FixedFraction(sizing.fraction).size(
            spec, equity=inputs.equity, stop_distance=inputs.stop_distance, quote_rate=rate
        )
    return CappedKelly(sizing.kelly_multiplier, sizing.kelly_cap).size(
        spec,
        equity=inputs.equity,
        stop_distance=inputs.stop_distance,
        quote_rate=rate,
        win_rate=sizing.win_rate,
        payoff=sizing.payoff,
    )
