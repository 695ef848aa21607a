"""Exit rules: how a position ends, besides the entry rule changing its mind.

Price exits — stop-loss, take-profit, trailing stop — are attached to the entry order and rest
at the venue (a bracket), so they act inside the bar, between two decisions, as a broker's do.
Their distance is in pips, in percent of the price, or in multiples of the ATR, measured from
the close of the bar that decided the entry. Bar exits — the time stop and signal reversal — are
decided by the strategy at a bar's close like an entry.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from algotrading.bounded import OffCount, Pips
from algotrading.data.instruments import InstrumentSpec


class Distance(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A price distance given one way: ``pips``, ``percent`` of the price, or ``atr`` multiples."""

    pips: Pips = 0.0
    percent: Annotated[float, msgspec.Meta(ge=0, le=100)] = 0.0
    atr: Annotated[float, msgspec.Meta(ge=0, le=1e6)] = 0.0

    def __post_init__(self) -> None:
        given = [v for v in (self.pips, self.percent, self.atr) if v != 0.0]
        if len(given) != 1 or given[0] < 0:
            raise ValueError("give exactly one of pips, percent or atr, as a positive number")

    @property
    def needs_atr(self) -> bool:
        return self.atr > 0

    def price_distance(self, spec: InstrumentSpec, price: float, atr: float | None) -> float | None:
        """The distance in price units; ``None`` while an ATR distance has no ATR yet."""
        if self.pips:
            return self.pips * spec.pip_size
        if self.percent:
            return price * self.percent / 100.0
        if atr is None:
            return None
        return self.atr * atr


class ExitRules(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    stop_loss: Distance | None = None
    take_profit: Distance | None = None
    trailing_stop: Distance | None = None
    # Close after this many bars in the position (0: no time stop).
    time_stop_bars: OffCount = 0
    # When the entry rule signals the other direction: True closes the position (and opens the
    # other way if that side is traded); False holds it until a price or time exit.
    signal_reversal: bool = True

    def __post_init__(self) -> None:
        if self.time_stop_bars < 0:
            raise ValueError("time_stop_bars must be >= 0")

    @property
    def needs_atr(self) -> bool:
        return any(d is not None and d.needs_atr for d in self.distances())

    def distances(self) -> tuple[Distance | None, Distance | None, Distance | None]:
        return self.stop_loss, self.take_profit, self.trailing_stop


class Levels(msgspec.Struct, frozen=True):
    """The bracket attached to an entry: absolute stop-loss and take-profit prices and the
    trailing stop's distance, each ``None`` when not used."""

    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_distance: float | None = None
    stop_distance: float | None = None  # the risk per unit down to the stop, for sizing


def bracket_levels(
    rules: ExitRules, spec: InstrumentSpec, direction: int, price: float, atr: float | None
) -> Levels | None:
    """The bracket for an entry in ``direction`` (+1 long, -1 short) decided at ``price``;
    ``None`` while an ATR-based distance cannot be known yet (no entry until it can)."""
    distances = [
        None if d is None else d.price_distance(spec, price, atr) for d in rules.distances()
    ]
    for rule, value in zip(rules.distances(), distances, strict=True):
        if rule is not None and value is None:
            return None
    sl, tp, trail = distances
    stop_loss = take_profit = None
    if sl is not None:
        stop_loss = spec.round_price(price - direction * sl)
        if stop_loss <= 0:
            return None
    if tp is not None:
        take_profit = spec.round_price(price + direction * tp)
        if take_profit <= 0:
            return None
    # The risk per unit: to the fixed stop, else to the trailing stop's first level.
    risk = sl if sl is not None else trail
    return Levels(
        stop_loss=stop_loss,
        take_profit=take_profit,
        trailing_distance=None if trail is None else spec.round_price(trail),
        stop_distance=risk,
    )
