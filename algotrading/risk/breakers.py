"""Circuit breakers: rules that change the trading state by themselves when something goes
wrong, as small state machines fed by what the risk actor sees. Pure: no clock is read, every
time is passed in.

Each breaker trips *at* its limit (a daily loss equal to the limit trips; one cent less does
not), moves trading to its ``action`` state (REDUCING: only orders that reduce a position;
HALTED: none), and resets by its rule: ``auto`` (the condition clears: a new trading day, fresh
data, a normal spread) or ``manual`` (only an operator's ``reset`` command).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from algotrading.data.calendars import fx_next_rollover
from algotrading.messages import TradingState


class Reset(enum.StrEnum):
    AUTO = "auto"
    MANUAL = "manual"


@dataclass(frozen=True)
class Trip:
    breaker: str
    action: TradingState
    reason: str


def _plain(value: Any) -> Any:
    """A copy of a running figure (a number, or a dict of them)."""
    return dict(value) if isinstance(value, Mapping) else value


def trading_day(ts_ns: int) -> int:
    """The FX trading day ``ts_ns`` belongs to, named by the 17:00 New York rollover that ends
    it (daily P&L resets there, as brokers reset it)."""
    return fx_next_rollover(ts_ns)[0]


@dataclass
class Breaker:
    name: str
    action: TradingState = TradingState.HALTED
    reset: Reset = Reset.MANUAL
    tripped: Trip | None = None
    # The running figures a restart must not lose (a day's starting equity, a peak, a streak):
    # journaled as BreakerFigures and restored at start (algotrading.daemon.warm_start).
    RUNNING: ClassVar[tuple[str, ...]] = ()

    def figures(self) -> dict[str, Any]:
        """The running figures and the trip, as plain values."""
        out: dict[str, Any] = {
            name.lstrip("_"): _plain(getattr(self, name)) for name in self.RUNNING
        }
        out["tripped"] = None if self.tripped is None else self.tripped.reason
        return out

    def restore(self, figures: Mapping[str, Any]) -> None:
        """Take back what :meth:`figures` gave."""
        for name in self.RUNNING:
            key = name.lstrip("_")
            if key in figures:
                setattr(self, name, _plain(figures[key]))
        reason = figures.get("tripped")
        self.tripped = None if reason is None else Trip(self.name, self.action, str(reason))

    def _trip(self, reason: str) -> None:
        if self.tripped is None:  # already tripped: keep the first reason
            self.tripped = Trip(self.name, self.action, reason)

    def _clear(self) -> None:
        """The condition cleared: an ``auto`` breaker resets."""
        if self.reset is Reset.AUTO:
            self.tripped = None

    def operator_reset(self) -> bool:
        was = self.tripped is not None
        self.tripped = None
        return was


@dataclass
class DailyLossLimit(Breaker):
    """Trips when equity falls ``limit`` (account currency) below its value at the start of
    the trading day; auto-reset at the next trading day."""

    limit: float = 0.0
    _day: int = 0
    _start_equity: float = 0.0
    RUNNING: ClassVar[tuple[str, ...]] = ("_day", "_start_equity")

    def on_equity(self, ts: int, equity: float) -> None:
        day = trading_day(ts)
        if day != self._day:
            self._day, self._start_equity = day, equity
            self._clear()
        loss = self._start_equity - equity
        if loss >= self.limit:
            self._trip(
                f"daily loss {loss:.2f} reached the limit of {self.limit:.2f} "
                f"(start-of-day equity {self._start_equity:.2f})"
            )


@dataclass
class MaxDrawdown(Breaker):
    """Trips when equity falls ``fraction`` below its peak."""

    fraction: float = 0.0
    _peak: float = 0.0
    RUNNING: ClassVar[tuple[str, ...]] = ("_peak",)

    def on_equity(self, ts: int, equity: float) -> None:
        self._peak = max(self._peak, equity)
        if self._peak <= 0:
            return
        drawdown = 1.0 - equity / self._peak
        if drawdown >= self.fraction - 1e-12:
            self._trip(
                f"drawdown {drawdown:.2%} from the peak {self._peak:.2f} reached the limit of "
                f"{self.fraction:.2%}"
            )


@dataclass
class ConsecutiveLosses(Breaker):
    """Trips after ``count`` losing trades in a row; auto-reset at the next trading day."""

    count: int = 0
    _streak: int = 0
    _day: int = 0
    # realized P&L per instrument as the order manager last reported it (since it started)
    _realized: dict[str, float] = field(default_factory=dict)
    RUNNING: ClassVar[tuple[str, ...]] = ("_streak", "_day", "_realized")

    def on_position(self, ts: int, instrument: str, realized_pnl: float) -> bool:
        """A position's realized P&L; a change is a trade (or part of one) closed. True when
        it was one. The last figure is kept here, with the breaker, so a restarted risk actor
        does not take a position it had already seen for a new trade."""
        before = self._realized.get(instrument, 0.0)
        self._realized[instrument] = realized_pnl
        if realized_pnl == before:
            return False
        self.on_trade(ts, realized_pnl - before)
        return True

    def new_order_manager(self) -> None:
        """An order manager started afresh (a new process): its realized P&L counts from 0."""
        self._realized.clear()

    def on_trade(self, ts: int, pnl: float) -> None:
        day = trading_day(ts)
        if day != self._day:  # a new trading day starts a new count
            self._day, self._streak = day, 0
            self._clear()
        self._streak = self._streak + 1 if pnl < 0 else 0
        if self._streak >= self.count:
            self._trip(f"{self._streak} losing trades in a row (limit {self.count})")


@dataclass
class StaleData(Breaker):
    """Trips when no price has come for ``seconds`` while the market is open; auto-reset with
    the next price."""

    seconds: float = 0.0
    _last: dict[str, int] = field(default_factory=dict)

    def on_price(self, instrument: str, ts: int) -> None:
        self._last[instrument] = ts
        self._clear()

    def instruments(self) -> list[str]:
        return sorted(self._last)

    def check(self, now: int, is_open: dict[str, bool]) -> None:
        for instrument, last in sorted(self._last.items()):
            age = (now - last) / 1e9
            if is_open.get(instrument, True) and age >= self.seconds:
                self._trip(
                    f"no price for {instrument} for {age:.1f}s (limit {self.seconds:g}s) "
                    "while its market is open"
                )


@dataclass
class WideSpread(Breaker):
    """Trips while the spread is ``pips`` or wider; auto-reset when it narrows again."""

    pips: float = 0.0

    def on_spread(self, instrument: str, spread_pips: float) -> None:
        if spread_pips >= self.pips:
            self._trip(
                f"{instrument} spread {spread_pips:.1f} pips reached the limit of {self.pips:g}"
            )
        else:
            self._clear()


@dataclass
class RepeatedRejections(Breaker):
    """Trips after ``count`` venue rejections within ``window_seconds``."""

    count: int = 0
    window_seconds: float = 60.0
    _times: deque[int] = field(default_factory=deque)

    def on_rejection(self, ts: int, code: str) -> None:
        self._times.append(ts)
        window = int(self.window_seconds * 1e9)
        while self._times and ts - self._times[0] >= window:
            self._times.popleft()
        if len(self._times) >= self.count:
            self._trip(
                f"{len(self._times)} venue rejections within {self.window_seconds:g}s "
                f"(limit {self.count}); last: {code}"
            )
