"""The state database's schema as an ordered list of migrations.

``PRAGMA user_version`` holds how many have been applied; opening a database applies the rest in
one transaction each, so a file from an older version is brought up to date and a file from a
newer version is refused rather than misread. Tables are created with sqlite-utils, imported only
when there is something to apply: a file already up to date (every restart) is opened without it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING

from algotrading.errors import AlgotradingError

if TYPE_CHECKING:
    import sqlite_utils


def _v1(db: sqlite_utils.Database) -> None:
    db.table("sessions").create(
        {
            "session_id": str,
            "mode": str,
            "config": str,
            "started_ns": int,
            "ended_ns": int,
            "stop_reason": str,
        },
        pk="session_id",
        not_null={"mode", "config", "started_ns"},
    )
    db.table("journal").create(
        {
            "seq": int,
            "session_id": str,
            "kind": str,
            "ts_event": int,
            "ts_recv": int,
            "body": bytes,
        },
        pk="seq",
        not_null={"session_id", "kind", "ts_event", "ts_recv", "body"},
        foreign_keys=[("session_id", "sessions")],
    )
    db.table("journal").create_index(["session_id", "seq"])
    db.table("orders").create(
        {
            "client_order_id": str,
            "session_id": str,
            "strategy_id": str,
            "instrument": str,
            "side": str,
            "order_type": str,
            "quantity": float,
            "limit_price": float,
            "stop_price": float,
            "time_in_force": str,
            "status": str,
            "venue_order_id": str,
            "filled_quantity": float,
            "avg_fill_price": float,
            "reason": str,
            "created_ns": int,
            "updated_ns": int,
            "body": bytes,
        },
        pk="client_order_id",
        not_null={"session_id", "instrument", "side", "quantity", "status", "filled_quantity"},
        defaults={"filled_quantity": 0.0},
        foreign_keys=[("session_id", "sessions")],
    )
    db.table("orders").create_index(["status"])
    db.table("fills").create(
        {
            "fill_id": str,
            "client_order_id": str,
            "venue_order_id": str,
            "instrument": str,
            "side": str,
            "quantity": float,
            "price": float,
            "commission": float,
            "currency": str,
            "ts_event": int,
        },
        pk="fill_id",
        not_null={"client_order_id", "instrument", "side", "quantity", "price", "ts_event"},
    )
    db.table("fills").create_index(["client_order_id"])
    db.table("positions").create(
        {
            "instrument": str,
            "quantity": float,
            "avg_price": float,
            "realized_pnl": float,
            "ts_event": int,
        },
        pk="instrument",
        not_null={"quantity", "avg_price", "ts_event"},
    )
    db.table("account_snapshots").create(
        {
            "id": int,
            "session_id": str,
            "ts_event": int,
            "currency": str,
            "balance": float,
            "equity": float,
            "margin_used": float,
            "commission_paid": float,
        },
        pk="id",
        not_null={"session_id", "ts_event", "balance", "equity"},
    )
    db.table("actor_snapshots").create(
        {"id": int, "actor": str, "ts_event": int, "journal_seq": int, "state": bytes},
        pk="id",
        not_null={"actor", "ts_event", "journal_seq", "state"},
    )
    db.table("actor_snapshots").create_index(["actor", "id"])


def _v2(db: sqlite_utils.Database) -> None:
    """The model registry (:mod:`algotrading.models.registry`)."""
    from algotrading.models.registry import create_table

    create_table(db)


def _v3(db: sqlite_utils.Database) -> None:
    """Snapshot sets: the actors' states saved together, each at its own journal position."""
    db.table("snapshot_sets").create(
        {"set_id": int, "session_id": str, "ts_event": int, "created_ns": int, "meta": str},
        pk="set_id",
        not_null={"session_id", "ts_event", "created_ns", "meta"},
    )
    db.table("actor_snapshots").add_column("set_id", int)
    db.table("actor_snapshots").create_index(["set_id"])


def _v4(db: sqlite_utils.Database) -> None:
    """Journal records by kind: a restart reads the operator's commands and breaker alerts,
    and must not scan months of quotes for them."""
    db.table("journal").create_index(["kind", "seq"])


def _v5(db: sqlite_utils.Database) -> None:
    """A fill is keyed by (venue, account, venue fill id): two venues, or two sessions of an
    in-process venue, may number fills alike. Rows from before have venue and account ''.
    The venue account the state belongs to (:mod:`algotrading.state.venue_binding`), and the
    fills that came under a key already used with other terms (kept, never applied)."""
    db.execute(
        "CREATE TABLE fills_v5 (venue TEXT NOT NULL DEFAULT '', account TEXT NOT NULL "
        "DEFAULT '', fill_id TEXT NOT NULL, client_order_id TEXT NOT NULL, venue_order_id TEXT, "
        "instrument TEXT NOT NULL, side TEXT NOT NULL, quantity FLOAT NOT NULL, "
        "price FLOAT NOT NULL, commission FLOAT, currency TEXT, ts_event INTEGER NOT NULL, "
        "PRIMARY KEY (venue, account, fill_id))"
    )
    db.execute(
        "INSERT INTO fills_v5 (fill_id, client_order_id, venue_order_id, instrument, side, "
        "quantity, price, commission, currency, ts_event) SELECT fill_id, client_order_id, "
        "venue_order_id, instrument, side, quantity, price, commission, currency, ts_event "
        "FROM fills"
    )
    db.execute("DROP TABLE fills")
    db.execute("ALTER TABLE fills_v5 RENAME TO fills")
    db.table("fills").create_index(["client_order_id"])
    db.table("fills").create_index(["fill_id"])
    db.table("venue_binding").create(
        {"id": int, "kind": str, "endpoint": str, "account": str, "bound_ns": int},
        pk="id",
        not_null={"kind", "endpoint", "account", "bound_ns"},
    )
    db.table("fill_conflicts").create(
        {
            "id": int,
            "session_id": str,
            "venue": str,
            "account": str,
            "fill_id": str,
            "client_order_id": str,
            "instrument": str,
            "side": str,
            "quantity": float,
            "price": float,
            "ts_event": int,
        },
        pk="id",
        not_null={"session_id", "venue", "account", "fill_id"},
    )


MIGRATIONS: tuple[Callable[[sqlite_utils.Database], None], ...] = (_v1, _v2, _v3, _v4, _v5)
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, path: str) -> int:
    """Bring the database up to :data:`SCHEMA_VERSION`; return the version it had before."""
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise AlgotradingError(
            f"{path}: state schema version {version} is newer than this build understands "
            f"({SCHEMA_VERSION}); run the newer algotrading or restore a backup"
        )
    if version == SCHEMA_VERSION:
        return version
    from algotrading.state.sqlite_utils_import import sqlite_utils

    db = sqlite_utils.Database(conn)
    for number in range(version, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[number](db)
            conn.execute(f"PRAGMA user_version = {number + 1}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return version
