"""The daemon's state in one SQLite file: the event journal, orders and their lifecycle, fills,
positions, account snapshots and actor snapshots.

Durability rules:

* The file is in WAL mode with ``synchronous=FULL``: a committed transaction survives a crash
  of the process or of the machine.
* Journal appends are **group-committed**: they collect in an open transaction that commits
  every ``commit_every`` messages or ``commit_interval_s`` seconds, whichever comes first, and
  on :meth:`StateStore.flush` / :meth:`StateStore.close`. A crash loses at most that window of
  journal, never half of it: the order, fill and position rows a message changes are written in
  the same transaction as the message itself.
* :meth:`StateStore.write_ahead` is the exception: it commits what is pending, then commits the
  order on its own, before returning — the order is on disk before it can leave the process.
* One process at a time: an advisory lock on ``<file>.lock`` refuses a second daemon on the same
  state directory instead of letting two of them interleave.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from algotrading.models.registry import ModelRegistry

from algotrading.errors import AlgotradingError, DataError
from algotrading.log import get_logger
from algotrading.messages import (
    AccountState,
    Fill,
    Message,
    Order,
    OrderAccepted,
    OrderCancelled,
    OrderRejected,
    OrderSubmitted,
    Position,
    Recorded,
    decode_msgpack,
    encode_msgpack,
)
from algotrading.state.schema import migrate

#: Order statuses. ``PENDING_SUBMIT`` is written ahead; the rest follow venue events.
OPEN_STATUSES = ("PENDING_SUBMIT", "SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED")
FINAL_STATUSES = ("FILLED", "REJECTED", "CANCELLED")

_QTY_EPS = 1e-9


@dataclass(frozen=True)
class SnapshotSet:
    set_id: int
    session_id: str
    ts_event: int
    meta: dict[str, Any]
    states: dict[str, tuple[int, bytes]]  # actor -> (journal_seq, state)


class StateLockedError(AlgotradingError):
    """Another process holds the state directory."""


class DuplicateOrderError(AlgotradingError):
    """A client order id was written ahead twice: sending it again could trade twice."""


class StateStore:
    """Synchronous, single-threaded access to the state file (see the module docstring)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        lock: IO[str] | None,
        *,
        commit_every: int,
        commit_interval_s: float,
    ) -> None:
        self._conn = conn
        self.path = path
        self._lock = lock
        self.commit_every = commit_every
        self.commit_interval_s = commit_interval_s
        self.session_id: str | None = None
        self._pending = 0
        self._last_commit = time.monotonic()
        row = conn.execute("SELECT coalesce(max(seq), 0) FROM journal").fetchone()
        self._seq: int = row[0]

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        commit_every: int = 256,
        commit_interval_s: float = 0.05,
        lock: bool = True,
    ) -> StateStore:
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AlgotradingError(
                f"{path.parent}: cannot create the state directory: {exc}"
            ) from exc
        lock_file = _acquire_lock(path) if lock else None
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA busy_timeout = 5000")
            migrate(conn, str(path))
        except BaseException as exc:
            if conn is not None:
                conn.close()
            if lock_file is not None:
                lock_file.close()
            if isinstance(exc, sqlite3.DatabaseError):
                raise AlgotradingError(f"{path}: not a usable state database: {exc}") from exc
            raise
        return cls(
            conn, path, lock_file, commit_every=commit_every, commit_interval_s=commit_interval_s
        )

    # -- sessions -------------------------------------------------------------------------

    def begin_session(
        self, session_id: str, mode: str, config: dict[str, Any], started_ns: int
    ) -> None:
        """Start a session: every journal row and order written from now on belongs to it.
        A session still open is one whose daemon was killed (one process holds the state at a
        time): it is closed here, its stop reason saying so."""
        self._flush()
        with self._transaction():
            self._conn.execute(
                "UPDATE sessions SET ended_ns = ?, stop_reason = ? WHERE ended_ns IS NULL",
                (started_ns, f"killed (found open when {session_id} started)"),
            )
            self._conn.execute(
                "INSERT INTO sessions (session_id, mode, config, started_ns) VALUES (?, ?, ?, ?)",
                (session_id, mode, json.dumps(config, sort_keys=True, default=str), started_ns),
            )
        self.session_id = session_id

    def end_session(self, ended_ns: int, reason: str) -> None:
        if self.session_id is None:
            return
        self._flush()
        with self._transaction():
            self._conn.execute(
                "UPDATE sessions SET ended_ns = ?, stop_reason = ? WHERE session_id = ?",
                (ended_ns, reason, self.session_id),
            )

    # -- writing --------------------------------------------------------------------------

    def write_ahead(self, order: Order) -> None:
        session = self._require_session()
        self._flush()
        try:
            with self._transaction():
                self._conn.execute(
                    "INSERT INTO orders (client_order_id, session_id, strategy_id, instrument, "
                    "side, order_type, quantity, limit_price, stop_price, time_in_force, status, "
                    "filled_quantity, created_ns, updated_ns, body) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'PENDING_SUBMIT', 0, ?, ?, ?)",
                    (
                        order.client_order_id,
                        session,
                        order.strategy_id,
                        order.instrument,
                        str(order.side),
                        str(order.order_type),
                        order.quantity,
                        order.limit_price,
                        order.stop_price,
                        str(order.time_in_force),
                        order.ts_event,
                        order.ts_event,
                        encode_msgpack(order),
                    ),
                )
        except sqlite3.IntegrityError as exc:
            raise DuplicateOrderError(
                f"client order id {order.client_order_id!r} was already written ahead; "
                "refusing to send it again"
            ) from exc

    def append(self, msg: Message) -> int:
        """Journal ``msg`` and apply what it changes (orders, fills, positions, account)."""
        session = self._require_session()
        if self._pending == 0:
            self._conn.execute("BEGIN")
        self._seq += 1
        self._conn.execute(
            "INSERT INTO journal (seq, session_id, kind, ts_event, ts_recv, body) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                self._seq,
                session,
                type(msg).__name__,
                msg.ts_event,
                msg.ts_recv or time.time_ns(),
                encode_msgpack(msg),
            ),
        )
        self._apply(msg, session)
        self._pending += 1
        if (
            self._pending >= self.commit_every
            or time.monotonic() - self._last_commit >= self.commit_interval_s
        ):
            self._flush()
        return self._seq

    def save_snapshots(
        self, ts_event: int, states: dict[str, tuple[int, bytes]], meta: dict[str, Any]
    ) -> int:
        """Store a *set* of actor states — ``{actor: (journal_seq, state)}``, each actor's state
        as of the last journal record it had handled — in one transaction: a crash leaves the
        whole set or none of it. ``meta`` says what the states are valid for (version, config).
        Returns the set's id."""
        session = self._require_session()
        self._flush()
        with self._transaction():
            set_id = self._conn.execute(
                "INSERT INTO snapshot_sets (session_id, ts_event, created_ns, meta) "
                "VALUES (?, ?, ?, ?)",
                (session, ts_event, time.time_ns(), json.dumps(meta, sort_keys=True)),
            ).lastrowid
            self._conn.executemany(
                "INSERT INTO actor_snapshots (actor, ts_event, journal_seq, state, set_id) "
                "VALUES (?, ?, ?, ?, ?)",
                [(actor, ts_event, seq, state, set_id) for actor, (seq, state) in states.items()],
            )
        assert set_id is not None
        return set_id

    def latest_snapshots(self) -> SnapshotSet | None:
        """The newest snapshot set, if any."""
        row = self._conn.execute(
            "SELECT set_id, session_id, ts_event, meta FROM snapshot_sets "
            "ORDER BY set_id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        set_id, session_id, ts, meta = row
        states = {
            actor: (seq, bytes(state))
            for actor, seq, state in self._conn.execute(
                "SELECT actor, journal_seq, state FROM actor_snapshots WHERE set_id = ? "
                "ORDER BY id",
                (set_id,),
            )
        }
        return SnapshotSet(set_id, session_id, ts, json.loads(meta), states)

    def recovery_floor(self) -> int:
        """The journal position at or below which recovery reads nothing: the lowest position
        of the newest snapshot set (recovery restores it and replays each actor's records after
        its own position), or 0 while there is no snapshot (recovery replays everything)."""
        latest = self.latest_snapshots()
        if latest is None or not latest.states:
            return 0
        return min(seq for seq, _ in latest.states.values())

    def recorded(
        self, after_seq: int, sessions: Sequence[str] | None = None
    ) -> Iterator[tuple[int, Recorded]]:
        """``(seq, record)`` of the recorded actors' steps after ``after_seq`` (of
        ``sessions`` only, when given), in journal order; damaged records as :meth:`journal`
        treats them."""
        sql = "SELECT seq, body FROM journal WHERE kind = 'Recorded' AND seq > ?"
        args: tuple[Any, ...] = (after_seq,)
        if sessions is not None:
            sql += f" AND session_id IN ({', '.join('?' * len(sessions))})"
            args += tuple(sessions)
        rows = self._conn.execute(sql + " ORDER BY seq", args).fetchall()
        for seq, msg in self._decoded(rows):
            assert isinstance(msg, Recorded)
            yield seq, msg

    def flush(self) -> None:
        """Commit the pending group of journal appends."""
        self._flush()

    def backup_to(self, destination: str | Path) -> None:
        """A consistent copy of this database (see :func:`backup_database`)."""
        self._flush()
        backup_database(self.path, destination)

    def model_registry(self) -> ModelRegistry:
        """The model registry in this database, on the store's own connection (the file's one
        writer while the daemon runs); the pending journal group is committed first."""
        from algotrading.models.registry import ModelRegistry

        self._flush()
        return ModelRegistry(self.path, conn=self._conn)

    def close(self) -> None:
        try:
            self._flush()
            self._conn.close()
        finally:
            if self._lock is not None:
                self._lock.close()
                self._lock = None

    # -- reading --------------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        return self._seq

    def journal(self, session_id: str | None = None, after_seq: int = 0) -> Iterator[Message]:
        """The journaled messages in sequence order, decoded. A last record that cannot be
        decoded (damaged on disk) is reported and left out, every record before it read; a
        damaged record with records after it is an error naming it — recovery must not skip a
        step in the middle."""
        sql = "SELECT seq, body FROM journal WHERE seq > ?"
        args: tuple[Any, ...] = (after_seq,)
        if session_id is not None:
            sql += " AND session_id = ?"
            args += (session_id,)
        rows = self._conn.execute(sql + " ORDER BY seq", args).fetchall()
        for _, msg in self._decoded(rows):
            yield msg

    def orders(self, status: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM orders"
        args: tuple[str, ...] = ()
        if status:
            sql += f" WHERE status IN ({', '.join('?' * len(status))})"
            args = status
        return self._rows(sql + " ORDER BY created_ns, client_order_id", args)

    def order(self, client_order_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM orders WHERE client_order_id = ?", (client_order_id,))
        return rows[0] if rows else None

    def fills(self, client_order_id: str | None = None) -> list[dict[str, Any]]:
        if client_order_id is None:
            return self._rows("SELECT * FROM fills ORDER BY ts_event, fill_id")
        return self._rows(
            "SELECT * FROM fills WHERE client_order_id = ? ORDER BY ts_event, fill_id",
            (client_order_id,),
        )

    def has_fill(self, fill_id: str) -> bool:
        row = self._conn.execute("SELECT 1 FROM fills WHERE fill_id = ?", (fill_id,)).fetchone()
        return row is not None

    def journal_of_kind(self, kind: str, last: int = 0) -> list[Message]:
        """The journaled messages of one kind (the newest ``last`` of them, when given), in
        sequence order; damaged records are left out."""
        sql = "SELECT body FROM journal WHERE kind = ? ORDER BY seq DESC"
        rows = self._conn.execute(sql + (f" LIMIT {int(last)}" if last else ""), (kind,))
        out = []
        for (body,) in rows:
            try:
                out.append(decode_msgpack(body))
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue
        return out[::-1]

    def positions(self) -> dict[str, dict[str, Any]]:
        return {r["instrument"]: r for r in self._rows("SELECT * FROM positions")}

    def sessions(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM sessions ORDER BY started_ns, session_id")

    # -- internals ------------------------------------------------------------------------

    def _decoded(self, rows: list[tuple[int, bytes]]) -> Iterator[tuple[int, Message]]:
        """Decode journal rows. A last record that cannot be decoded (damaged on disk) is
        reported and left out, every record before it read; a damaged record with records
        after it is an error naming it — recovery must not skip a step in the middle."""
        for i, (seq, body) in enumerate(rows):
            try:
                msg = decode_msgpack(body)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                if i == len(rows) - 1:  # a damaged last record: the ones before stand
                    get_logger("state").warning(
                        "journal_tail_damaged", seq=seq, reason=str(exc), path=str(self.path)
                    )
                    return
                raise DataError(
                    str(self.path), f"journal record {seq} cannot be read ({exc})", seq
                ) from None
            yield seq, msg

    def _require_session(self) -> str:
        if self.session_id is None:
            raise RuntimeError("begin_session() must be called before writing")
        return self.session_id

    def _flush(self) -> None:
        if self._pending:
            self._conn.execute("COMMIT")
            self._pending = 0
        self._last_commit = time.monotonic()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        cursor = self._conn.execute(sql, args)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    def _apply(self, msg: Message, session: str) -> None:
        execute = self._conn.execute
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
                self._apply_fill(msg)
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

    def _apply_fill(self, fill: Fill) -> None:
        inserted = self._conn.execute(
            "INSERT OR IGNORE INTO fills (fill_id, client_order_id, venue_order_id, instrument, "
            "side, quantity, price, commission, currency, ts_event) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
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
            return  # a fill seen twice (a venue resends) counts once
        self._conn.execute(
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
                _QTY_EPS,
                fill.client_order_id,
            ),
        )


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, or ``ROLLBACK`` on any exception."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._conn.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _acquire_lock(path: Path) -> IO[str]:
    lock_path = path.with_name(path.name + ".lock")
    handle = open(lock_path, "a+")  # noqa: SIM115 - held open for the store's lifetime
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise StateLockedError(
            f"{path}: the state is in use by {holder}; stop that daemon or use another --state-dir"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    return handle


def backup_database(source: str | Path, destination: str | Path) -> int:
    """Copy the state database ``source`` to ``destination`` with SQLite's online backup, safely
    while a daemon writes to it (its lock is not taken; the copy is a consistent snapshot of
    the committed state), then check the copy's integrity. Returns the journal records copied."""
    source, destination = Path(source), Path(destination)
    if not source.is_file():
        raise AlgotradingError(f"{source}: no state database here")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst, pages=1024)
            if dst.execute("PRAGMA integrity_check").fetchone() != ("ok",):
                raise AlgotradingError(f"{partial}: the copy failed its integrity check")
            count = int(dst.execute("SELECT count(*) FROM journal").fetchone()[0])
        finally:
            dst.close()
    finally:
        src.close()
    os.replace(partial, destination)  # the finished copy appears whole, or not at all
    return count
