"""The daemon's state in one SQLite file: the event journal, orders and their lifecycle, fills,
positions, account snapshots and actor snapshots.

Durability rules:

* The file is in WAL mode with ``synchronous=FULL``: a committed transaction survives a crash
  of the process or of the machine.
* Writes leave the event loop: one **writer thread**, started with the session, owns the
  writing connection. :meth:`StateStore.append` only numbers a message and queues it — no
  SQLite call, never a wait — and the writer writes the queue in groups, one transaction
  each: a group stays open until ``commit_every`` items or ``commit_interval_s`` seconds (0:
  until the queue is empty), or until somebody waits for it. A crash loses at most what was
  not committed yet — that window of journal — never half a message: the order, fill and
  position rows a message changes are written in the same transaction as the message itself.
  ``commit_every=1`` asks for no grouping at all: each append then waits for its commit.
* :meth:`StateStore.write_ahead` is the exception, and with it everything that must be on disk
  before the caller goes on (sessions, snapshot sets, :meth:`~StateStore.flush`): it returns
  once the order, with everything queued before it, is committed — the order is on disk before
  it can leave the process.
* A writer that fails (disk full, I/O error) stops: every later call on the store raises
  :class:`StateWriteError` naming the cause, and :meth:`StateStore.on_failure` listeners (the
  daemon's: stop, exit non-zero) hear of it at once.
* Reads wait for what is queued to be committed, then read on the caller's connection: a
  caller sees its own writes. They are not for the hot path.
* One process at a time: an advisory lock on ``<file>.lock`` refuses a second daemon on the same
  state directory instead of letting two of them interleave.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar

import msgspec

if TYPE_CHECKING:
    from algotrading.models.registry import ModelRegistry

from algotrading.errors import AlgotradingError, StateIOError
from algotrading.log import get_logger
from algotrading.messages import (
    Message,
    Order,
    Recorded,
    decode_msgpack,
    encode_msgpack,
)
from algotrading.state.disk_errors import state_error
from algotrading.state.journal import decode_journal
from algotrading.state.private import private_dir, private_file
from algotrading.state.projections import APPLIED, FILL_TERM_COLUMNS, apply
from algotrading.state.schema import migrate

#: Order statuses. ``PENDING_SUBMIT`` is written ahead; the rest follow venue events.
OPEN_STATUSES = ("PENDING_SUBMIT", "SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED")
FINAL_STATUSES = ("FILLED", "REJECTED", "CANCELLED")

#: Records the writer may fall behind by before the store gives up (a stalled disk): the queue
#: is bounded by failing, since ``append`` never waits.
DEFAULT_MAX_BACKLOG = 200_000

# journal rows go in as multi-row INSERTs of up to _CHUNK rows (SQLite's limit on variables
# permitting), each one statement step: the writer gives the GIL up, and waits to get it back
# from a busy event loop, once per step
_CHUNK = 4096
_JOURNAL_FIELDS = 6
_CATCH_UP = 16  # a writer that is behind writes groups up to this many times commit_every
_ORDER_INSERT = (
    "INSERT INTO orders (client_order_id, session_id, strategy_id, instrument, side, "
    "order_type, quantity, limit_price, stop_price, time_in_force, status, filled_quantity, "
    "created_ns, updated_ns, body) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'PENDING_SUBMIT', 0, ?, ?, ?)"
)
# what a job's own statements may raise (an id used before, a value SQLite cannot store): it
# goes back to the job's caller and the group goes on; anything else stops the writer
_JOB_ERRORS = (
    sqlite3.IntegrityError,
    sqlite3.ProgrammingError,
    sqlite3.InterfaceError,
    sqlite3.DataError,
    TypeError,
    ValueError,
    OverflowError,
)


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


class StateWriteError(StateIOError):
    """The writer thread could not write (disk full, I/O error): nothing is journaled since, so
    the daemon must not trade on."""


class _Job:
    """Statements for the writer thread, run for a caller that waits for their commit."""

    __slots__ = ("error", "result", "run")

    def __init__(self, run: Callable[[sqlite3.Connection], object]) -> None:
        self.run = run
        self.result: object = None
        self.error: BaseException | None = None


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name


_FLUSH = _Marker("flush")  # somebody waits for what is queued before it
_STOP = _Marker("stop")  # the writer's last item

# a queued journal record: (seq, session, kind, ts_event, ts_recv, body, message)
_Record = tuple[int, str, str, int, int, bytes, Message]
_Item = _Record | _Job | _Marker


class StateStore:
    """Access to the state file (see the module docstring).

    Threads: ``append`` and every other call run on the caller's thread (the event loop's);
    the writer thread, started by :meth:`begin_session`, is the only one that writes. Calls that
    wait for the writer (``write_ahead``, ``flush``, the session and snapshot writes, and every
    read) block their caller until the commit: keep them off the hot path, except the
    write-ahead, whose wait is the point."""

    #: the class of every connection the store opens (a test wraps it to watch the calls)
    _connection_factory: ClassVar[type[sqlite3.Connection]] = sqlite3.Connection

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        lock: IO[str] | None,
        *,
        commit_every: int,
        commit_interval_s: float,
        max_backlog: int = DEFAULT_MAX_BACKLOG,
    ) -> None:
        self._conn = conn  # the readers' connection, on the callers' thread
        self.path = path
        self._lock = lock
        self.commit_every = commit_every
        self.commit_interval_s = commit_interval_s
        self.max_backlog = max_backlog
        self.session_id: str | None = None
        # (venue, account) the fills are keyed under: set by the venue binding before the
        # session begins (see algotrading.state.venue_binding)
        self.venue_key: tuple[str, str] = ("", "")
        row = conn.execute("SELECT coalesce(max(seq), 0) FROM journal").fetchone()
        self._seq: int = row[0]
        self._read_lock = threading.Lock()
        # the writer's queue. Each item gets a ticket, its place in the queue; the writer
        # commits items in queue order, so a caller waits for its ticket to be committed.
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._enqueue = threading.Lock()
        self._submitted = 0  # tickets given
        self._committed = 0  # tickets committed (a job's: answered)
        self._urgent = 0  # the newest ticket somebody waits for
        self._wake = threading.Event()  # ends the writer's wait for a group to fill
        self._commits = threading.Condition()
        self._writer: threading.Thread | None = None
        self._failure: StateWriteError | None = None
        self._reported = False  # the failure was raised to a caller
        self._closed = False
        self._listeners: list[Callable[[StateWriteError], None]] = []

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        commit_every: int = 256,
        commit_interval_s: float = 0.05,
        lock: bool = True,
        max_backlog: int = DEFAULT_MAX_BACKLOG,
    ) -> StateStore:
        path = Path(path)
        lock_file: IO[str] | None = None
        conn: sqlite3.Connection | None = None
        try:
            private_dir(path.parent)
            lock_file = _acquire_lock(path) if lock else None
            private_file(path)  # 0600 before SQLite opens it; its -wal and -shm take its mode
            conn = _connect(path, cls._connection_factory)
            migrate(conn, str(path))
        except BaseException as exc:
            if conn is not None:
                conn.close()
            if lock_file is not None:
                lock_file.close()
            if isinstance(exc, OSError | sqlite3.DatabaseError):
                raise state_error(path, exc) from exc
            raise
        return cls(
            conn,
            path,
            lock_file,
            commit_every=commit_every,
            commit_interval_s=commit_interval_s,
            max_backlog=max_backlog,
        )

    # -- sessions -------------------------------------------------------------------------

    def begin_session(
        self, session_id: str, mode: str, config: dict[str, Any], started_ns: int
    ) -> None:
        """Start a session: every journal row and order written from now on belongs to it.
        A session still open is one whose daemon was killed (one process holds the state at a
        time): it is closed here, its stop reason saying so. Starts the writer thread."""
        killed = f"killed (found open when {session_id} started)"
        settings = json.dumps(config, sort_keys=True, default=str)

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE sessions SET ended_ns = ?, stop_reason = ? WHERE ended_ns IS NULL",
                (started_ns, killed),
            )
            conn.execute(
                "INSERT INTO sessions (session_id, mode, config, started_ns) VALUES (?, ?, ?, ?)",
                (session_id, mode, settings, started_ns),
            )

        self._check()
        self._start_writer()
        self._call(run)
        self.session_id = session_id

    def end_session(self, ended_ns: int, reason: str) -> None:
        if self.session_id is None:
            return
        session = self.session_id
        self._call(
            lambda conn: conn.execute(
                "UPDATE sessions SET ended_ns = ?, stop_reason = ? WHERE session_id = ?",
                (ended_ns, reason, session),
            )
        )

    # -- writing --------------------------------------------------------------------------

    def write_ahead(self, order: Order) -> None:
        """Store ``order`` as ``PENDING_SUBMIT``; return once it, with everything queued before
        it, is committed. An id written ahead before is refused: sending it again could trade
        twice."""
        params = (
            order.client_order_id,
            self._require_session(),
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
        )
        try:
            self._call(lambda conn: conn.execute(_ORDER_INSERT, params))
        except sqlite3.IntegrityError as exc:
            raise DuplicateOrderError(
                f"client order id {order.client_order_id!r} was already written ahead; "
                "refusing to send it again"
            ) from exc

    def append(self, msg: Message) -> int:
        """Journal ``msg`` and apply what it changes (orders, fills, positions, account): it is
        numbered and queued here, and written by the writer thread. Returns its number."""
        if self._failure is not None:
            self._check()
        session = self.session_id
        if session is None:
            raise RuntimeError("begin_session() must be called before writing")
        body = encode_msgpack(msg)
        ts_recv = msg.ts_recv or time.time_ns()
        with self._enqueue:
            if self._closed:
                self._check()
            self._seq = seq = self._seq + 1
            self._submitted = ticket = self._submitted + 1
            self._queue.put((seq, session, type(msg).__name__, msg.ts_event, ts_recv, body, msg))
        behind = ticket - self._committed
        if behind >= self.commit_every:
            if self.commit_every <= 1:  # no grouping asked for: durable on return
                self._wake.set()
                self._wait(ticket)
            elif behind == self.commit_every:  # a full group: no need to wait for more
                self._wake.set()
            elif behind > self.max_backlog:
                self._fail(
                    StateWriteError(
                        f"{self.path}: the state writer is {behind} records behind (a stalled "
                        "disk?); nothing more is journaled"
                    )
                )
                self._check()
        return seq

    def save_snapshots(
        self, ts_event: int, states: dict[str, tuple[int, bytes]], meta: dict[str, Any]
    ) -> int:
        """Store a *set* of actor states — ``{actor: (journal_seq, state)}``, each actor's state
        as of the last journal record it had handled — in one transaction: a crash leaves the
        whole set or none of it. ``meta`` says what the states are valid for (version, config).
        Returns the set's id, once the set is committed."""
        session = self._require_session()
        described = json.dumps(meta, sort_keys=True)
        created_ns = time.time_ns()

        def run(conn: sqlite3.Connection) -> int:
            set_id = conn.execute(
                "INSERT INTO snapshot_sets (session_id, ts_event, created_ns, meta) "
                "VALUES (?, ?, ?, ?)",
                (session, ts_event, created_ns, described),
            ).lastrowid
            assert set_id is not None
            conn.executemany(
                "INSERT INTO actor_snapshots (actor, ts_event, journal_seq, state, set_id) "
                "VALUES (?, ?, ?, ?, ?)",
                [(actor, ts_event, seq, state, set_id) for actor, (seq, state) in states.items()],
            )
            return set_id

        set_id = self._call(run)
        assert isinstance(set_id, int)
        return set_id

    def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        self._check()
        if self._committed < self._submitted:
            self._wait(self._put_urgent(_FLUSH))

    def backup_to(self, destination: str | Path) -> None:
        """A consistent copy of this database (see :func:`backup_database`), with everything
        queued so far in it."""
        self.flush()
        backup_database(self.path, destination)

    def model_registry(self) -> ModelRegistry:
        """The model registry in this database, on the store's reading connection (its writes
        take SQLite's write lock, as the writer thread's do); everything queued so far is
        committed first."""
        from algotrading.models.registry import ModelRegistry

        self.flush()
        return ModelRegistry(self.path, conn=self._conn)

    def on_failure(self, callback: Callable[[StateWriteError], None]) -> None:
        """Have ``callback`` told when the writer fails — at once if it has — on the thread
        that found the failure (the writer's, usually): it must be thread-safe."""
        with self._commits:
            self._listeners.append(callback)
            failure = self._failure
        if failure is not None:
            callback(failure)

    @property
    def failure(self) -> StateWriteError | None:
        """Why the writer stopped writing, if it has."""
        return self._failure

    def close(self) -> None:
        """Commit what is queued, stop the writer, close the connections, release the lock. A
        failure not yet raised to a caller is raised here, once all that is done."""
        try:
            if not self._closed and (self._failure is None or not self._reported):
                self.flush()
        finally:
            with self._enqueue:  # nothing is queued after the stop item
                self._closed = True
                writer, self._writer = self._writer, None
                if writer is not None:
                    self._queue.put(_STOP)
            if writer is not None:
                self._wake.set()
                writer.join()
            self._conn.close()
            if self._lock is not None:
                self._lock.close()
                self._lock = None

    # -- reading: each waits for what is queued to be committed (not for the hot path) ------

    @property
    def last_seq(self) -> int:
        """The number of the newest record appended (queued or written): no wait."""
        return self._seq

    def latest_snapshots(self) -> SnapshotSet | None:
        """The newest snapshot set, if any."""
        self.flush()
        with self._read_lock:
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
        return self._recorded(self._query(sql + " ORDER BY seq", args))

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
        return (
            msg
            for _, msg in decode_journal(
                str(self.path), iter(self._query(sql + " ORDER BY seq", args))
            )
        )

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
        return bool(self._query("SELECT 1 FROM fills WHERE fill_id = ?", (fill_id,)))

    def fill_terms(self, venue: str, account: str) -> Iterator[tuple[str, tuple[Any, ...]]]:
        """``(fill id, terms)`` of the fills stored for one venue account (terms as
        :func:`~algotrading.state.projections.fill_terms` makes them), a page at a time."""
        sql = (
            f"SELECT fill_id, {FILL_TERM_COLUMNS} FROM fills WHERE venue = ? AND account = ? "
            f"AND fill_id > ? ORDER BY fill_id LIMIT {_PAGE}"
        )
        after = ""
        while rows := self._query(sql, (venue, account, after)):
            for row in rows:
                yield row[0], tuple(row[1:])
            after = rows[-1][0]

    def fill_conflicts(self) -> list[dict[str, Any]]:
        """The fills that came under a key already stored with other terms (never applied)."""
        return self._rows("SELECT * FROM fill_conflicts ORDER BY id")

    def venue_binding(self) -> dict[str, Any] | None:
        """The venue account this state belongs to, once recorded."""
        rows = self._rows("SELECT kind, endpoint, account, bound_ns FROM venue_binding")
        return rows[0] if rows else None

    def bind_venue(
        self, kind: str, endpoint: str, account: str, bound_ns: int, key: tuple[str, str]
    ) -> None:
        """Record the venue account this state belongs to (once; see venue_binding). Fills
        stored before venues were recorded were that venue's: they are keyed under ``key``."""

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO venue_binding (id, kind, endpoint, account, bound_ns) "
                "VALUES (1, ?, ?, ?, ?)",
                (kind, endpoint, account, bound_ns),
            )
            conn.execute(
                "UPDATE fills SET venue = ?, account = ? WHERE venue = '' AND account = ''", key
            )

        self._start_writer()
        self._call(run)

    def journal_of_kind(self, kind: str, last: int = 0) -> list[Message]:
        """The journaled messages of one kind (the newest ``last`` of them, when given), in
        sequence order; damaged records are left out."""
        sql = "SELECT seq, session_id, body FROM journal WHERE kind = ? ORDER BY seq DESC"
        rows = self._query(sql + (f" LIMIT {int(last)}" if last else ""), (kind,))
        return [msg for _, _, msg in _decodable(rows)][::-1]

    def last_of_kind(self, kind: str) -> tuple[int, str, Message] | None:
        """``(seq, session id, message)`` of the newest decodable record of ``kind``."""
        sql = "SELECT seq, session_id, body FROM journal WHERE kind = ? ORDER BY seq DESC LIMIT 64"
        for record in _decodable(self._query(sql, (kind,))):
            return record
        return None

    def journal_of_kinds(
        self, kinds: Sequence[str], after_seq: int = 0
    ) -> Iterator[tuple[int, str, Message]]:
        """``(seq, session id, message)`` of the records of ``kinds`` after ``after_seq``, in
        sequence order, read a page at a time (a long journal is never all in memory);
        damaged records are left out."""
        sql = (
            f"SELECT seq, session_id, body FROM journal WHERE kind IN "
            f"({', '.join('?' * len(kinds))}) AND seq > ? ORDER BY seq LIMIT {_PAGE}"
        )
        while rows := self._query(sql, (*kinds, after_seq)):
            yield from _decodable(rows)
            after_seq = rows[-1][0]

    def positions(self) -> dict[str, dict[str, Any]]:
        return {r["instrument"]: r for r in self._rows("SELECT * FROM positions")}

    def sessions(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM sessions ORDER BY started_ns, session_id")

    # -- internals: the callers' side -------------------------------------------------------

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        self.flush()
        with self._read_lock:
            return self._conn.execute(sql, args).fetchall()

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        self.flush()
        with self._read_lock:
            cursor = self._conn.execute(sql, args)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor]

    def _recorded(self, rows: list[tuple[int, bytes]]) -> Iterator[tuple[int, Recorded]]:
        for seq, msg in decode_journal(str(self.path), iter(rows)):
            assert isinstance(msg, Recorded)
            yield seq, msg

    def _require_session(self) -> str:
        self._check()
        if self.session_id is None:
            raise RuntimeError("begin_session() must be called before writing")
        return self.session_id

    def _check(self) -> None:
        """Raise the writer's failure (a fresh error each time, naming the cause), or refuse a
        closed store."""
        failure = self._failure
        if failure is not None:
            self._reported = True
            raise StateWriteError(str(failure)) from failure.__cause__
        if self._closed:
            raise AlgotradingError(f"{self.path}: the state store is closed")

    def _call(self, run: Callable[[sqlite3.Connection], object]) -> object:
        """Run ``run`` on the writer thread after everything queued before it; return its
        result (or raise its error) once it is committed."""
        self._check()
        job = _Job(run)
        self._wait(self._put_urgent(job))
        if job.error is not None:
            raise job.error
        return job.result

    def _put_urgent(self, item: _Job | _Marker) -> int:
        """Queue ``item`` for a caller that waits for it: the writer commits it at once."""
        with self._enqueue:
            if self._closed:
                self._check()
            self._submitted = ticket = self._submitted + 1
            self._queue.put(item)
            self._urgent = ticket
        self._wake.set()
        return ticket

    def _wait(self, ticket: int) -> None:
        with self._commits:
            while self._committed < ticket and self._failure is None:
                writer = self._writer
                if writer is None or not writer.is_alive():
                    break
                self._commits.wait(1.0)
        self._check()
        if self._committed < ticket:
            raise StateWriteError(f"{self.path}: the state writer stopped before the commit")

    def _start_writer(self) -> None:
        if self._writer is not None:
            return
        try:
            conn = _connect(self.path, self._connection_factory)
        except sqlite3.Error as exc:
            raise AlgotradingError(f"{self.path}: cannot open the state database: {exc}") from exc
        self._writer = threading.Thread(
            target=self._write_loop, args=(conn,), name="state-writer", daemon=True
        )
        self._writer.start()

    def _fail(self, error: StateWriteError) -> None:
        """Record the first failure, wake every waiter, tell the listeners."""
        with self._commits:
            if self._failure is not None:
                return
            self._failure = error
            self._commits.notify_all()
            listeners = list(self._listeners)
        log = get_logger("state")
        log.error("state_writer_failed", path=str(self.path), reason=str(error))
        for listener in listeners:
            try:
                listener(error)
            except Exception:
                log.exception("state_failure_listener_failed", path=str(self.path))

    # -- internals: the writer thread ---------------------------------------------------------

    def _write_loop(self, conn: sqlite3.Connection) -> None:
        """The writer thread: group after group, until stopped or failed."""
        try:
            while (first := self._queue.get()) is not _STOP:
                if self._failure is not None:
                    return
                self._linger()
                if self._write_group(conn, first):
                    return
        except BaseException as exc:
            error = StateWriteError(
                f"{self.path}: the state writer failed ({type(exc).__name__}: {exc}); "
                "nothing is journaled since"
            )
            error.__cause__ = exc
            self._fail(error)
        finally:
            conn.close()

    def _linger(self) -> None:
        """Give the group ``commit_interval_s`` to fill, unless somebody waits for it, it is
        full already, or the store is closing."""
        self._wake.clear()
        if (
            self._urgent > self._committed
            or self._submitted - self._committed >= self.commit_every
            or self._closed
        ):
            return
        self._wake.wait(self.commit_interval_s)

    def _write_group(self, conn: sqlite3.Connection, item: _Item) -> bool:
        """Write ``item`` and what is queued behind it, up to ``commit_every`` items, in one
        transaction; commit and tell the waiters. True when the stop item was reached.

        A writer that has fallen further behind (a busy event loop keeps the GIL from it)
        takes up to ``_CATCH_UP`` times as many: what is queued is not on disk either way,
        and fewer, larger groups catch up."""
        limit = max(
            self.commit_every,
            min(self._submitted - self._committed, _CATCH_UP * self.commit_every),
        )
        rows: list[object] = []  # the journal rows' fields, one after the other
        count = 0
        stop = False
        conn.execute("BEGIN IMMEDIATE")
        try:
            while True:
                count += 1
                if isinstance(item, tuple):
                    rows += item[:_JOURNAL_FIELDS]
                    if type(item[6]) in APPLIED:
                        apply(conn, item[6], item[1], self.venue_key)
                elif isinstance(item, _Job):
                    _run_job(conn, item)
                if count >= limit:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
            _insert_journal(conn, rows)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error as exc:  # the failure that got us here is the one to tell
                    get_logger("state").warning("rollback_failed", reason=str(exc))
            raise
        with self._commits:
            self._committed += count
            self._commits.notify_all()
        return stop


def _connect(path: Path, factory: type[sqlite3.Connection]) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, factory=factory)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 5000")
    except BaseException:
        conn.close()
        raise
    return conn


def _insert_journal(conn: sqlite3.Connection, fields: list[object]) -> None:
    """Insert the journal rows whose fields are ``fields``, in chunks of a power of two rows
    (a handful of statements, each prepared once)."""
    done, total = 0, len(fields) // _JOURNAL_FIELDS
    chunk = min(_CHUNK, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // _JOURNAL_FIELDS)
    while done < total:
        size = 1 << (min(chunk, total - done).bit_length() - 1)
        start = done * _JOURNAL_FIELDS
        conn.execute(_journal_insert(size), fields[start : start + size * _JOURNAL_FIELDS])
        done += size


@functools.cache
def _journal_insert(rows: int) -> str:
    return (
        "INSERT INTO journal (seq, session_id, kind, ts_event, ts_recv, body) VALUES "
        + ", ".join(["(?, ?, ?, ?, ?, ?)"] * rows)
    )


def _run_job(conn: sqlite3.Connection, job: _Job) -> None:
    """Run a job in a savepoint: its own error undoes its own statements only."""
    conn.execute("SAVEPOINT job")
    try:
        job.result = job.run(conn)
    except _JOB_ERRORS as exc:
        conn.execute("ROLLBACK TO job")
        job.error = exc
    conn.execute("RELEASE job")


def _acquire_lock(path: Path) -> IO[str]:
    lock_path = path.with_name(path.name + ".lock")
    private_file(lock_path)
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
    destination.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = destination.with_name(destination.name + ".partial")
    partial.unlink(missing_ok=True)  # a copy an interrupted backup left
    private_file(partial)  # the copy holds what the database holds: 0600 from the start
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


_PAGE = 10_000


def _decodable(rows: Iterable[tuple[int, str, bytes]]) -> Iterator[tuple[int, str, Message]]:
    for seq, session_id, body in rows:
        try:
            yield seq, session_id, decode_msgpack(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue
