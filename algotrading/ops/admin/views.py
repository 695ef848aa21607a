"""What the read-only admin commands show: plain dictionaries read from the running daemon in
one go (no await between reads, so each answer is one consistent moment).

Positions, open orders, fills, the account and the trading state come from the daemon's read
model (:mod:`algotrading.daemon.read_model`), kept from the messages the monitor handles —
never from an actor's attributes — whatever the venue.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from typing import Any

from algotrading.daemon.services import DaemonContext
from algotrading.messages import AccountState, Message
from algotrading.risk.breakers import trading_day
from algotrading.risk.checks import LIMIT_NAMES, RiskLimits
from algotrading.timestamps import iso_utc


class PnlTracker:
    """Observes account marks for what no actor keeps: the equity at the start of the trading
    day (17:00 New York) and the balance the session started with."""

    def __init__(self, start_balance: float | None = None) -> None:
        self.start_balance = start_balance
        self.day_start_equity: float | None = None
        self.day_start_ns = 0
        self._day_end_ns = 0

    def observe(self, msg: Message) -> None:
        if not isinstance(msg, AccountState):
            return
        if self.start_balance is None:
            self.start_balance = msg.balance
        if msg.ts_event >= self._day_end_ns:  # a new trading day (or the first mark)
            self._day_end_ns = trading_day(msg.ts_event)
            self.day_start_equity = msg.equity
            self.day_start_ns = msg.ts_event


def live_limits(ctx: DaemonContext) -> RiskLimits:
    """The limits risk checks against now: an operator's, once set (the session's trading
    switch keeps them, and they outlive a restart), else the configured ones."""
    return ctx.session.switch.limits or ctx.session.limits


def status(ctx: DaemonContext, tracker: PnlTracker, admin: dict[str, int]) -> dict[str, Any]:
    runtime, session = ctx.runtime, ctx.session
    switch = session.switch
    depths = runtime.queue_depths()
    now_mono = time.monotonic()
    actors = [
        {
            "name": name,
            "restarts": runtime.supervisor.restarts(name),
            "queue": depths.get(name, 0),
            "handled": runtime.handled.get(name, 0),
            "busy_s": round(now_mono - runtime.busy_since[name], 3)
            if name in runtime.busy_since
            else 0.0,
            "escalated": name in runtime.escalated,
        }
        for name in runtime.supervisor.actors
    ]
    positions_now = {p["instrument"]: p["quantity"] for p in positions(ctx)["positions"]}
    account = pnl(ctx, tracker)
    return {
        "mode": ctx.mode,
        "session_id": ctx.session_id,
        "pid": os.getpid(),
        "started": iso_utc(ctx.started_wall_ns),
        "uptime_s": round(ctx.uptime_s(), 3),
        "clock": iso_utc(runtime.clock.now_ns()),
        "config": ctx.config.source,
        "stopping": runtime.stopping,
        "trading": {
            "state": str(ctx.book.trading_state),
            "reason": ctx.book.trading_reason,
            "operator_state": str(switch.operator_state),
        },
        "actors": actors,
        "messages_handled": sum(runtime.handled.values()),
        "feed": feed(ctx),
        "breakers": breakers(ctx),
        "orders": ctx.book.orders,
        "fills": ctx.book.fills,
        "open_orders": len(ctx.book.working),
        "positions": positions_now,
        "equity": account["equity"],
        "currency": account["currency"],
        "limits": limits_dict(live_limits(ctx)),
        "schedules": [{"name": n, "next_run": _when(t)} for n, t in ctx.schedules],
        "admin": dict(admin),
    }


def feed(ctx: DaemonContext) -> dict[str, Any]:
    """How far the newest market data is behind the daemon's clock (data time), per
    instrument: the end of the last bar built from it, as the read model saw it."""
    book = ctx.book
    last = book.last_bar_ns
    now = ctx.runtime.clock.now_ns()
    newest = max(last.values(), default=0)
    return {
        "last_event": iso_utc(newest) if newest else None,
        "behind_s": round((now - newest) / 1e9, 3) if newest else None,
        "by_instrument": {s: round((now - ts) / 1e9, 3) for s, ts in sorted(last.items())},
        "bars": book.bars,
    }


def breakers(ctx: DaemonContext) -> list[dict[str, Any]]:
    """Each configured breaker: its state and, for those that keep any, the running figures
    it decides from (the day's starting equity, the equity peak, the losing streak)."""
    return [
        {
            "name": b.name,
            "tripped": b.tripped is not None,
            "reason": b.tripped.reason if b.tripped is not None else "",
            "action": str(b.action),
            "reset": str(b.reset),
            "figures": {k: v for k, v in b.figures().items() if k in _SHOWN_FIGURES},
        }
        for b in ctx.session.breakers.all()
    ]


# what an operator reads in a breaker's figures (not its day key or per-instrument baseline)
_SHOWN_FIGURES = ("start_equity", "peak", "streak")


def positions(ctx: DaemonContext) -> dict[str, Any]:
    """Every configured instrument, flat ones included; P&L in its quote currency."""
    book = ctx.book
    out = []
    for symbol in sorted(ctx.session.instruments):
        held = book.position(symbol)
        price = book.marks.get(symbol)
        out.append(
            {
                "instrument": symbol,
                "quantity": held.quantity,
                "avg_price": held.avg_price if not held.is_flat else None,
                "price": price,
                "unrealized": held.unrealized(price) if price and not held.is_flat else 0.0,
                "realized": book.realized(symbol),
                "quote_currency": ctx.session.instruments[symbol].quote,
            }
        )
    return {"positions": out}


def orders(ctx: DaemonContext) -> dict[str, Any]:
    out = []
    for working in ctx.book.open_orders():
        order = working.order
        out.append(
            {
                "client_order_id": order.client_order_id,
                "parent_id": order.parent_id,
                "instrument": order.instrument,
                "side": str(order.side),
                "type": str(order.order_type),
                "quantity": order.quantity,
                "filled": working.filled,
                "limit_price": order.limit_price,
                "stop_price": order.stop_price,
                "status": working.status,
                "created": iso_utc(order.ts_event) if order.ts_event else None,
            }
        )
    return {"orders": out}


def pnl(ctx: DaemonContext, tracker: PnlTracker) -> dict[str, Any]:
    """In the account currency. ``realized``: the balance's change since the session started
    (closed trades net of commissions and financing); ``day``: equity's change since the first
    mark of this trading day the daemon saw (``day_since``)."""
    account = ctx.book.account
    if account is None:
        return {"currency": ctx.config.system.account.currency, "equity": None, "balance": None}
    start = tracker.start_balance
    day_start = tracker.day_start_equity
    return {
        "currency": account.currency,
        "equity": account.equity,
        "balance": account.balance,
        "unrealized": account.equity - account.balance,
        "realized": account.balance - start if start is not None else None,
        "day": account.equity - day_start if day_start is not None else None,
        "day_since": iso_utc(tracker.day_start_ns) if day_start is not None else None,
        "margin_used": account.margin_used,
        "commission": account.commission_paid,
        "financing": account.financing,
    }


def limits_dict(limits: RiskLimits) -> dict[str, float | int]:
    return {name: getattr(limits, name) for name in LIMIT_NAMES}


def _when(value: datetime | int | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return iso_utc(value)
