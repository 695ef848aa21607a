"""The configured circuit breakers of a session, fed by the risk actor. Held by the session
(like the :class:`TradingSwitch`), so a restarted risk actor keeps their state."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from algotrading.config import BreakerConfig, BreakersConfig
from algotrading.messages import Quote, TradingState
from algotrading.risk.breakers import (
    Breaker,
    ConsecutiveLosses,
    DailyLossLimit,
    MaxDrawdown,
    RepeatedRejections,
    Reset,
    StaleData,
    Trip,
    WideSpread,
)
from algotrading.risk.checks import TradingSwitch

_ACTIONS = {"halt": TradingState.HALTED, "reduce": TradingState.REDUCING}
B = TypeVar("B", bound=Breaker)


@dataclass
class BreakerSet:
    daily_loss: DailyLossLimit | None = None
    max_drawdown: MaxDrawdown | None = None
    consecutive_losses: ConsecutiveLosses | None = None
    stale_data: StaleData | None = None
    wide_spread: WideSpread | None = None
    rejections: RepeatedRejections | None = None
    is_open: Callable[[str, int], bool] = field(default=lambda instrument, ts: True)

    @classmethod
    def from_config(
        cls, config: BreakersConfig, is_open: Callable[[str, int], bool] | None = None
    ) -> BreakerSet:
        """The breakers ``risk.breakers`` configures; a limit of 0 leaves one out."""

        def make(kind: type[B], name: str, **limits: Any) -> B | None:
            c: BreakerConfig = getattr(config, name)
            if not c.limit:
                return None
            return kind(name=name, action=_ACTIONS[c.action], reset=Reset(c.reset), **limits)

        c = config
        return cls(
            daily_loss=make(DailyLossLimit, "daily_loss", limit=c.daily_loss.limit),
            max_drawdown=make(MaxDrawdown, "max_drawdown", fraction=c.max_drawdown.limit),
            consecutive_losses=make(
                ConsecutiveLosses, "consecutive_losses", count=int(c.consecutive_losses.limit)
            ),
            stale_data=make(StaleData, "stale_data", seconds=c.stale_data.limit),
            wide_spread=make(WideSpread, "wide_spread", pips=c.wide_spread.limit),
            rejections=make(
                RepeatedRejections,
                "rejections",
                count=int(c.rejections.limit),
                window_seconds=c.rejections.window_seconds,
            ),
            is_open=is_open or (lambda instrument, ts: True),
        )

    def all(self) -> Iterator[Breaker]:
        for b in (
            self.daily_loss,
            self.max_drawdown,
            self.consecutive_losses,
            self.stale_data,
            self.wide_spread,
            self.rejections,
        ):
            if b is not None:
                yield b

    def on_equity(self, ts: int, equity: float) -> bool:
        """Feed an equity mark; True if any breaker looked at it."""
        seen = False
        if self.daily_loss is not None:
            self.daily_loss.on_equity(ts, equity)
            seen = True
        if self.max_drawdown is not None:
            self.max_drawdown.on_equity(ts, equity)
            seen = True
        if self.stale_data is not None:
            self.check_stale(ts)
            seen = True
        return seen

    def on_quote(self, quote: Quote, pip_size: float) -> bool:
        seen = False
        if self.wide_spread is not None:
            self.wide_spread.on_spread(quote.instrument, (quote.ask - quote.bid) / pip_size)
            seen = True
        if self.stale_data is not None:
            self.stale_data.on_price(quote.instrument, quote.ts_event)
            seen = True
        return seen

    def check_stale(self, now: int) -> None:
        if self.stale_data is not None:
            instruments = self.stale_data.instruments()
            self.stale_data.check(now, {i: self.is_open(i, now) for i in instruments})

    def figures(self) -> dict[str, dict[str, Any]]:
        """The running figures of the breakers that have any (see :class:`Breaker`)."""
        return {b.name: b.figures() for b in self.all() if b.RUNNING}

    def restore(self, figures: dict[str, dict[str, Any]]) -> list[str]:
        """Take back :meth:`figures`; the names of the breakers restored."""
        restored = []
        for b in self.all():
            if b.RUNNING and b.name in figures:
                b.restore(figures[b.name])
                restored.append(b.name)
        return restored

    def replay_equity(self, ts: int, equity: float) -> None:
        """An equity mark from the journal, to the breakers that keep figures of equity (not
        to the stale-data check, which is about now)."""
        if self.daily_loss is not None:
            self.daily_loss.on_equity(ts, equity)
        if self.max_drawdown is not None:
            self.max_drawdown.on_equity(ts, equity)

    def changes(self, switch: TradingSwitch) -> list[tuple[str, Trip | None, str]]:
        """``(name, trip, previous reason)`` for each breaker whose state differs from what
        the switch holds: a trip (``trip`` set) or a reset (``trip`` None)."""
        out: list[tuple[str, Trip | None, str]] = []
        for b in self.all():
            held = switch.breakers.get(b.name)
            if b.tripped is not None and held is None:
                out.append((b.name, b.tripped, ""))
            elif b.tripped is None and held is not None:
                out.append((b.name, None, held[1]))
        return out

    def operator_reset(self, name: str = "") -> list[str]:
        """Reset one breaker by name, or all of them; returns those that were tripped."""
        return [b.name for b in self.all() if (not name or b.name == name) and b.operator_reset()]
