"""What an alert says: readable one-line texts with the session id, made from messages.

Pure functions and one small stateful translator (it remembers the trading state, so that only
a change of it is an alert). No I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping

from algotrading.messages import (
    ActorFailed,
    Alert,
    AlertLevel,
    Fill,
    Message,
    RiskState,
    TradingState,
)
from algotrading.ops.alerts.book import SessionBook

MAX_LINE = 1000
STATE_LEVEL = {
    TradingState.ACTIVE: AlertLevel.INFO,
    TradingState.REDUCING: AlertLevel.WARNING,
    TradingState.HALTED: AlertLevel.CRITICAL,
}


def one_line(text: str, limit: int = MAX_LINE) -> str:
    """Whitespace (newlines of a traceback, say) folded to single spaces, and clipped."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def line(session_id: str, level: AlertLevel, code: str, text: str, source: str = "") -> str:
    """``CRITICAL [p18d…] breaker_daily_loss: daily_loss tripped: … (risk)``"""
    origin = f" ({source})" if source else ""
    return one_line(f"{level.value} [{session_id}] {code}: {text}{origin}")


def money(x: float, signed: bool = False) -> str:
    return f"{x:+,.2f}" if signed else f"{x:,.2f}"


def quantity(q: float, signed: bool = False) -> str:
    if q == int(q):
        return f"{q:+,.0f}" if signed else f"{q:,.0f}"
    return f"{q:+,g}" if signed else f"{q:,g}"


def price(p: float, precision: int | None) -> str:
    return f"{p:.{precision}f}" if precision is not None else repr(p)


def duration(seconds: float) -> str:
    s = int(seconds)
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days}d{hours:02d}h{minutes:02d}m"
    if hours:
        return f"{hours}h{minutes:02d}m{s:02d}s"
    return f"{minutes}m{s:02d}s"


class Narrator:
    """Turns what the monitor hears into alerts (or nothing)."""

    def __init__(
        self,
        session_id: str,
        *,
        fills: bool = True,
        precision: Mapping[str, int] | None = None,
        state: TradingState = TradingState.ACTIVE,
    ) -> None:
        self.session_id = session_id
        self.fills = fills
        self.precision = dict(precision or {})
        self.state = state

    def alert(self, msg: Message) -> Alert | None:
        if isinstance(msg, Alert):
            return self._make(msg.ts_event, msg.level, msg.code, msg.text, msg.source)
        if isinstance(msg, ActorFailed):
            return self._actor_failed(msg)
        if isinstance(msg, RiskState):
            return self._risk_state(msg)
        if isinstance(msg, Fill) and self.fills:
            return self._make(msg.ts_event, AlertLevel.INFO, "fill", self.fill_text(msg))
        return None

    def fill_text(self, fill: Fill) -> str:
        text = (
            f"{fill.side.value} {quantity(fill.quantity)} {fill.instrument} @ "
            f"{price(fill.price, self.precision.get(fill.instrument))} "
            f"(order {fill.client_order_id})"
        )
        if fill.commission:
            text += f", commission {money(fill.commission)} {fill.currency}"
        return text

    def _actor_failed(self, msg: ActorFailed) -> Alert:
        if msg.action == "escalate":
            text = f"actor {msg.actor} failed again ({msg.error}) after {msg.restarts} restarts: "
            text += "escalating, trading halts"
            return self._make(msg.ts_event, AlertLevel.CRITICAL, "actor_escalate", text)
        text = f"actor {msg.actor} failed ({msg.error}); restarting (restarts so far: "
        text += f"{msg.restarts})"
        return self._make(msg.ts_event, AlertLevel.WARNING, "actor_restart", text)

    def _risk_state(self, msg: RiskState) -> Alert | None:
        if msg.state is self.state:
            return None
        before, self.state = self.state, msg.state
        text = f"trading {before.value} -> {msg.state.value}"
        if msg.reason:
            text += f": {msg.reason}"
        return self._make(msg.ts_event, STATE_LEVEL[msg.state], "trading_state", text)

    def _make(self, ts: int, level: AlertLevel, code: str, text: str, source: str = "") -> Alert:
        return Alert(
            ts_event=ts,
            level=level,
            code=code,
            text=line(self.session_id, level, code, text, source),
            source=source,
        )


def positions_text(book: SessionBook, precision: Mapping[str, int]) -> str:
    held = book.open_positions()
    if not held:
        return "no open positions"
    return "; ".join(
        f"{p.instrument} {quantity(p.quantity, signed=True)} @ "
        f"{price(p.avg_price, precision.get(p.instrument))}"
        + (f" (unrealized {money(p.unrealized_pnl, signed=True)})" if p.unrealized_pnl else "")
        for p in held
    )


def pnl_text(book: SessionBook) -> str:
    account = book.account
    if account is None:
        return "no account state yet"
    day = book.day_pnl()
    text = f"equity {money(account.equity)} {account.currency}, balance {money(account.balance)}"
    if day is not None:
        text += f", P&L since the day began {money(day, signed=True)}"
    realized = [(i, p.realized_pnl) for i, p in sorted(book.positions.items()) if p.realized_pnl]
    if realized:
        text += "; realized (quote currency): " + ", ".join(
            f"{i} {money(r, signed=True)}" for i, r in realized
        )
    return text


def summary_text(book: SessionBook, precision: Mapping[str, int]) -> str:
    account = book.account
    parts = []
    if account is None:
        parts.append("equity unknown (no account state yet)")
    else:
        parts.append(f"equity {money(account.equity)} {account.currency}")
        day = book.day_pnl()
        if day is not None:
            parts.append(f"day P&L {money(day, signed=True)}")
    parts.append(f"trades {book.day_fills}")
    parts.append(f"open positions: {positions_text(book, precision)}")
    return ", ".join(parts)
