"""A strategy is a small declarative combination: an **entry** rule that says which way it wants
to be, **exit** rules that say how a position ends, and a **sizer** that says how much. This
module is the one place they meet — pure, with no asyncio — one :class:`InstrumentStrategy`
per instrument, driven bar by bar (and prediction by prediction) by the strategy actor.

An entry rule returns a *direction* when it changes its mind — ``1`` long, ``-1`` short, ``0``
flat — and ``None`` otherwise. The composition turns that into a target position:

- flat and a direction the strategy trades (``sides``): enter, sized by the sizer, with the
  price exits attached as a bracket; no entry while an ATR-based exit or size has no ATR yet;
- in a position and the entry rule says ``0``: close (the rule's own exit);
- in a position and the other direction: with ``signal_reversal`` close, and open the other
  way if that side is traded; without it, hold;
- in a position for ``time_stop_bars`` bars: close.

A position closed by its bracket at the venue (stop-loss, take-profit, trailing stop) is
reported with :meth:`InstrumentStrategy.on_exit_fill`; the strategy then waits for a fresh
signal rather than re-entering on the one it already acted on.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from algotrading.data.instruments import InstrumentSpec
from algotrading.features.volatility import RollingAtr
from algotrading.messages import Bar, Prediction
from algotrading.sim.accounting import EPS
from algotrading.strategies.exits import ExitRules, Levels, bracket_levels
from algotrading.strategies.position_sizing import Sizing, SizingInputs, entry_size


class Entry(Protocol):
    def on_bar(self, bar: Bar) -> int | None: ...


class PredictionEntry(Entry, Protocol):
    def on_prediction(self, prediction: Prediction) -> int | None: ...


class Sides(enum.StrEnum):
    BOTH = "both"
    LONG = "long"
    SHORT = "short"

    def allows(self, direction: int) -> bool:
        return direction == 0 or self is Sides.BOTH or (direction > 0) == (self is Sides.LONG)


@dataclass(frozen=True, slots=True)
class Composition:
    sizing: Sizing
    exits: ExitRules
    sides: Sides = Sides.BOTH
    atr_period: int = 14

    @property
    def needs_atr(self) -> bool:
        return self.exits.needs_atr or self.sizing.kind == "volatility_target"


@dataclass(frozen=True, slots=True)
class Decision:
    """Go to ``target`` units (signed); ``levels`` is the bracket of the entry order, if the
    decision opens a position."""

    target: float
    reason: str
    levels: Levels | None = None


class Account(Protocol):
    """What sizing reads from outside the instrument: equity and the quote-currency rate."""

    def equity(self) -> float: ...

    def quote_rate(self, spec: InstrumentSpec, price: float) -> float | None: ...


_NO_INPUTS = SizingInputs(equity=0.0, quote_rate=None, stop_distance=None, atr=None)


class InstrumentStrategy:
    def __init__(self, spec: InstrumentSpec, entry: Entry, composition: Composition) -> None:
        self.spec = spec
        self.entry = entry
        self.composition = composition
        self.position = 0.0  # the position asked for, signed units
        self.bars_held = 0
        self.last_close: float | None = None
        self.skipped: str = ""  # why the last wanted entry was not taken, for the log
        self._atr = RollingAtr(composition.atr_period) if composition.needs_atr else None
        self._time_stop = composition.exits.time_stop_bars
        plain = composition.sizing.kind == "fixed_units" and not any(composition.exits.distances())
        self._plain_units = entry_size(composition.sizing, spec, _NO_INPUTS) if plain else None

    @property
    def atr(self) -> float | None:
        return None if self._atr is None else self._atr.value

    def on_bar(self, bar: Bar, account: Account) -> Decision | None:
        if self._atr is not None:
            self._atr.update(bar.high, bar.low, bar.close)
        self.last_close = bar.close
        signal = self.entry.on_bar(bar)
        if self.position:
            self.bars_held += 1
            if signal is None and not self._time_stop:
                return None  # holding and nothing new: the common case, kept cheap
        elif signal is None:
            return None  # flat and nothing new: the common case, kept cheap
        decision = self._on_signal(signal, bar.close, account)
        limit = self._time_stop
        if decision is None and self.position and limit and self.bars_held >= limit:
            decision = Decision(0.0, "time_stop")
        return self._take(decision)

    def on_prediction(self, prediction: Prediction, account: Account) -> Decision | None:
        """Entries that act on model predictions decide here, at the last bar's close."""
        on_prediction = getattr(self.entry, "on_prediction", None)
        if on_prediction is None or self.last_close is None:
            return None
        return self._take(self._on_signal(on_prediction(prediction), self.last_close, account))

    def on_exit_fill(self, signed_quantity: float) -> None:
        """A bracket leg traded ``signed_quantity`` at the venue (negative: sold). A leg only
        closes; one that would not reduce the position asked for closed a position this
        strategy had already decided to leave (its own closing order, reduce-only, then finds
        nothing to close), so it changes nothing here."""
        if signed_quantity * self.position >= 0:
            return
        self.position += signed_quantity
        if abs(self.position) < EPS:
            self.position = 0.0
            self.bars_held = 0

    def reset(self, actual: float) -> None:
        """An order was refused: what is held is what the order manager last reported."""
        self.position = actual
        if not actual:
            self.bars_held = 0

    def _take(self, decision: Decision | None) -> Decision | None:
        if decision is None:
            return None
        self.bars_held = 0  # every decision enters, closes or reverses: a new holding period
        self.position = decision.target
        return decision

    def _on_signal(self, signal: int | None, price: float, account: Account) -> Decision | None:
        if signal is None:
            return None
        held = 0 if not self.position else (1 if self.position > 0 else -1)
        if signal == held:
            return None
        c = self.composition
        if held and signal and not c.exits.signal_reversal:
            return None  # held until a price or time exit
        wanted = signal if c.sides.allows(signal) else 0
        if wanted == 0:
            return (
                Decision(0.0, "signal_exit" if signal == 0 else "signal_reversal") if held else None
            )
        size, levels = self._entry(wanted, price, account)
        if size:
            reason = "signal_reversal" if held else "entry"
            return Decision(wanted * size, reason, levels)
        return Decision(0.0, "signal_reversal") if held else None

    def _entry(self, direction: int, price: float, account: Account) -> tuple[float, Levels | None]:
        if self._plain_units is not None:  # fixed units, no price exits: nothing to compute
            return self._plain_units, None
        c = self.composition
        atr = self.atr
        levels = bracket_levels(c.exits, self.spec, direction, price, atr)
        if levels is None:
            self.skipped = "exit distance not known yet (ATR warm-up) or not positive"
            return 0.0, None
        if c.sizing.kind == "volatility_target" and atr is None:
            self.skipped = "ATR warm-up"
            return 0.0, None
        inputs = SizingInputs(
            equity=account.equity() if c.sizing.needs_equity else 0.0,
            quote_rate=account.quote_rate(self.spec, price) if c.sizing.needs_equity else 1.0,
            stop_distance=levels.stop_distance,
            atr=atr,
        )
        size = entry_size(c.sizing, self.spec, inputs)
        self.skipped = "" if size else "size rounds to 0 (below the minimum, or no equity/rate)"
        return size, levels
