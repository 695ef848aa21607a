"""The matching engine's state as plain data and back, so a restarted server resumes with the
same balance, positions, working orders (brackets and trailing state included), known ids and
counters. The engine keeps its state in attributes; this module is the one place that reads
and writes them from outside, and must follow it when the engine changes."""

from __future__ import annotations

from collections import deque
from typing import Any

import msgspec

from algotrading.messages import Order
from algotrading.sim.accounting import PositionState
from algotrading.sim.exchange import SimExchange
from algotrading.sim.matching import Working


def engine_state(ex: SimExchange) -> dict[str, Any]:
    return {
        "balance": ex.balance,
        "mids": dict(ex.mids),
        "paid": dict(ex.paid),
        "traded_notional": ex.traded_notional,
        "known_ids": list(ex._known_order),
        "next_order": ex._next_order,
        "next_fill": ex._next_fill,
        "next_rollover": ex._next_rollover,
        "rollover_days": ex._rollover_days,
        "books": {
            symbol: {
                "position": [book.position.quantity, book.position.avg_price],
                "last_price": book.last_price,
                "working": [_working(w) for w in book.working],
            }
            for symbol, book in ex.books.items()
        },
    }


def _working(w: Working) -> dict[str, Any]:
    return {
        "order": msgspec.to_builtins(w.order),
        "venue_id": w.venue_id,
        "arrival_ns": w.arrival_ns,
        "oco": list(w.oco),
        "triggered": w.triggered,
        "best": w.best,
    }


def restore_engine(ex: SimExchange, state: dict[str, Any]) -> None:
    """Put ``state`` (from :func:`engine_state`) into a freshly built engine."""
    ex.balance = float(state["balance"])
    ex.mids.update(state["mids"])
    ex.paid.update(state["paid"])
    ex.traded_notional = float(state["traded_notional"])
    ex._known_order = deque(state["known_ids"])
    ex._known_ids = set(ex._known_order)
    ex._next_order = int(state["next_order"])
    ex._next_fill = int(state["next_fill"])
    ex._next_rollover = int(state["next_rollover"])
    ex._rollover_days = int(state["rollover_days"])
    for symbol, saved in state["books"].items():
        book = ex.books.get(symbol)
        if book is None:
            continue  # an instrument no longer configured
        quantity, avg_price = saved["position"]
        book.position = PositionState(float(quantity), float(avg_price))
        book.last_price = float(saved["last_price"])
        book.working = [
            Working(
                order=msgspec.convert(w["order"], Order),
                venue_id=w["venue_id"],
                arrival_ns=int(w["arrival_ns"]),
                oco=tuple(w["oco"]),
                triggered=bool(w["triggered"]),
                best=w["best"],
            )
            for w in saved["working"]
        ]
