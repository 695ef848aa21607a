"""The tables a journaled message keeps up to date besides the journal itself: order status,
fills, positions and account marks. The state store's writer applies them in the same
transaction as the journal record, so the tables never disagree with the journal."""

from __future__ import annotations

import sqlite3

from algotrading.execution.fill_book import fill_terms, same_terms
from algotrading.log import get_logger
from algotrading.messages import (
    AccountState,
    Fill,
    Message,
    OrderAccepted,
    OrderCancelled,
    OrderRejected,
    OrderSubmitted,
    Position,
)

QTY_EPS = 1e-9
# the messages that change more than the journal (see apply)
APPLIED = frozenset(
    {OrderSubmitted, OrderAccepted, OrderRejected, OrderCancelled, Fill, Position, AccountState}
)


def apply(
    conn: sqlite3.Connection, msg: Message, session: str, venue: tuple[str, str] = ("", "")
) -> None:
    """What ``msg`` changes besides the journal: order status, fills, positions, account.
    ``venue`` is the (venue, account) the session trades: a fill is keyed by it and its id."""
    execute = conn.execute
    match msg:
        case OrderSubmitted():
            execute(
                "UPDATE orders SET status = 'SUBMITTED', updated_ns = ? "
                "WHERE client_order_id = ? AND status = 'PENDING_SUBMIT'",
                (msg.ts_event, msg.client_order_id),
            )
        case OrderAccepted():
            execute(
                "UPDATE orders SET venue_order_id = ?, updated_ns = ?, status = CASE "
                "WHEN status IN ('PENDING_SUBMIT', 'SUBMITTED') THEN 'ACCEPTED' "
                "ELSE status END WHERE client_order_id = ?",
                (msg.venue_order_id, msg.ts_event, msg.client_order_id),
            )
        case OrderRejected():
            execute(
                "UPDATE orders SET status = 'REJECTED', reason = ?, updated_ns = ? "
                "WHERE client_order_id = ?",
                (f"{msg.code}: {msg.reason}", msg.ts_event, msg.client_order_id),
            )
        case OrderCancelled():
            execute(
                "UPDATE orders SET status = 'CANCELLED', reason = ?, updated_ns = ? "
                "WHERE client_order_id = ? AND status NOT IN ('FILLED', 'REJECTED')",
                (msg.reason, msg.ts_event, msg.client_order_id),
            )
        case Fill():
            apply_fill(conn, msg, venue, session)
        case Position():
            execute(
                "INSERT INTO positions (instrument, quantity, avg_price, realized_pnl, "
                "ts_event) VALUES (?, ?, ?, ?, ?) ON CONFLICT (instrument) DO UPDATE SET "
                "quantity = excluded.quantity, avg_price = excluded.avg_price, "
                "realized_pnl = excluded.realized_pnl, "
                "ts_event = excluded.ts_event",
                (msg.instrument, msg.quantity, msg.avg_price, msg.realized_pnl, msg.ts_event),
            )
        case AccountState():
            execute(
                "INSERT INTO account_snapshots (session_id, ts_event, currency, balance, "
                "equity, margin_used, commission_paid) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    session,
                    msg.ts_event,
                    msg.currency,
                    msg.balance,
                    msg.equity,
                    msg.margin_used,
                    msg.commission_paid,
                ),
            )
        case _:
            pass


# the columns that say what a fill was: a fill under a key already stored with other values is
# a different fill, not the same one sent again
FILL_TERM_COLUMNS = "client_order_id, instrument, side, quantity, price, ts_event"


def apply_fill(
    conn: sqlite3.Connection, fill: Fill, venue: tuple[str, str] = ("", ""), session: str = ""
) -> None:
    """Store ``fill`` once under (venue, account, fill id) and add it to its order. The same
    fill again counts once; a different fill under a stored key is not applied: it stays in
    the journal and is recorded in ``fill_conflicts`` (the order manager has alerted and
    halted before it was journaled)."""
    inserted = conn.execute(
        "INSERT OR IGNORE INTO fills (venue, account, fill_id, client_order_id, "
        "venue_order_id, instrument, side, quantity, price, commission, currency, ts_event) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            *venue,
            fill.fill_id,
            fill.client_order_id,
            fill.venue_order_id,
            fill.instrument,
            str(fill.side),
            fill.quantity,
            fill.price,
            fill.commission,
            fill.currency,
            fill.ts_event,
        ),
    ).rowcount
    if not inserted:
        stored = conn.execute(
            f"SELECT {FILL_TERM_COLUMNS} FROM fills "
            "WHERE venue = ? AND account = ? AND fill_id = ?",
            (*venue, fill.fill_id),
        ).fetchone()
        if not same_terms(tuple(stored), fill_terms(fill)):
            _record_conflict(conn, fill, venue, session, stored)
        return  # a fill seen twice (a venue resends) counts once
    conn.execute(
        "UPDATE orders SET "
        "avg_fill_price = (coalesce(avg_fill_price, 0) * filled_quantity + ? * ?) "
        "  / (filled_quantity + ?), "
        "filled_quantity = filled_quantity + ?, "
        "venue_order_id = coalesce(venue_order_id, ?), updated_ns = ?, "
        "status = CASE WHEN filled_quantity + ? >= quantity - ? "
        "  THEN 'FILLED' ELSE 'PARTIALLY_FILLED' END "
        "WHERE client_order_id = ?",
        (
            fill.price,
            fill.quantity,
            fill.quantity,
            fill.quantity,
            fill.venue_order_id,
            fill.ts_event,
            fill.quantity,
            QTY_EPS,
            fill.client_order_id,
        ),
    )


def _record_conflict(
    conn: sqlite3.Connection,
    fill: Fill,
    venue: tuple[str, str],
    session: str,
    stored: tuple[object, ...],
) -> None:
    conn.execute(
        "INSERT INTO fill_conflicts (session_id, venue, account, fill_id, client_order_id, "
        "instrument, side, quantity, price, ts_event) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (session, *venue, fill.fill_id, *fill_terms(fill)),
    )
    get_logger("state").error(
        "fill_conflict",
        venue=venue[0],
        account=venue[1],
        fill_id=fill.fill_id,
        stored=list(stored),
        received=list(fill_terms(fill)),
    )
