"""A recorded session, exported from the state database to Parquet: for research in pandas or
polars, for archives that outlive the journal, and for replay away from the daemon.

An export is a directory::

    session.json       the session row, its configuration and what the export holds
    journal.parquet    every journal record: seq, kind, ts_event, ts_recv, the msgpack body
                       (what replay reads) and the message as JSON (null if undecodable)
    quotes.parquet     one file per message kind, one typed column per struct field
    fills.parquet      (nested structs flattened to ``intent.side``; dicts as JSON text)
    ...
    orders.parquet     the session's orders as written ahead, with their final status

The files are deterministic (the same session gives the same bytes: no wall-clock time is
written anywhere, pyarrow's metadata included) and appear whole: the export is written to a
hidden temporary directory, synced, and renamed into place. The database is opened read-only,
in one read transaction, so exporting is safe while the daemon writes to it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import tempfile
import typing
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from algotrading.errors import AlgotradingError, DataError
from algotrading.log import get_logger
from algotrading.messages import AnyMessage, Message, decode_msgpack, type_name
from algotrading.state.private import private_tree
from algotrading.state.schema import SCHEMA_VERSION
from algotrading.timestamps import iso_utc

FORMAT = "algotrading-recording"
FORMAT_VERSION = 1
JOURNAL_FILE = "journal.parquet"
ORDERS_FILE = "orders.parquet"
SESSION_FILE = "session.json"
ROW_GROUP_ROWS = 65_536

JOURNAL_SCHEMA = pa.schema(
    [
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("ts_event", pa.int64(), nullable=False),
        pa.field("ts_recv", pa.int64(), nullable=False),
        pa.field("body", pa.binary(), nullable=False),
        pa.field("json", pa.string()),  # null when the body cannot be decoded
    ]
)

#: The orders table's columns as exported (``body`` is the msgpack of the written-ahead Order).
ORDER_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    *((name, pa.string()) for name in ("client_order_id", "strategy_id", "instrument", "side")),
    ("order_type", pa.string()),
    ("quantity", pa.float64()),
    ("limit_price", pa.float64()),
    ("stop_price", pa.float64()),
    ("time_in_force", pa.string()),
    ("status", pa.string()),
    ("venue_order_id", pa.string()),
    ("filled_quantity", pa.float64()),
    ("avg_fill_price", pa.float64()),
    ("reason", pa.string()),
    ("created_ns", pa.int64()),
    ("updated_ns", pa.int64()),
    ("body", pa.binary()),
)

# Orders are written ahead to the orders table, not journaled, so ``orders.parquet`` is that
# table; an Order message that is journaled goes to ``order_messages``.
_FILES = {
    "Quote": "quotes",
    "Trade": "trades",
    "Bar": "bars",
    "Timer": "timers",
    "Heartbeat": "heartbeats",
    "Features": "features",
    "Prediction": "predictions",
    "OrderIntent": "order_intents",
    "ApprovedOrder": "approved_orders",
    "OrderDenied": "orders_denied",
    "Order": "order_messages",
    "SubmitOrder": "submit_orders",
    "CancelOrder": "cancel_orders",
    "ModifyOrder": "modify_orders",
    "OrderSubmitted": "orders_submitted",
    "OrderAccepted": "orders_accepted",
    "OrderRejected": "orders_rejected",
    "OrderCancelled": "orders_cancelled",
    "OrderModified": "orders_modified",
    "RequestRejected": "requests_rejected",
    "Financing": "financing",
    "Fill": "fills",
    "Position": "positions",
    "AccountState": "account",
    "RiskState": "risk_states",
    "BreakerFigures": "breaker_figures",
    "Alert": "alerts",
    "Command": "commands",
    "ActorFailed": "actor_failures",
    "VenueEvent": "venue_events",
    "Recorded": "recorded",
}
_DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError)


def kind_file(kind: str) -> str:
    """The name of the Parquet file (``quotes.parquet``) that holds messages of ``kind``."""
    stem = _FILES.get(kind) or re.sub(r"(?<!^)(?=[A-Z])", "_", kind).lower()
    return f"{stem}.parquet"


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: journal records and their seq range, rows per message kind, the
    records whose body could not be decoded (exported raw, with a null ``json``)."""

    session_id: str
    path: Path
    records: int
    first_seq: int | None
    last_seq: int | None
    kinds: dict[str, int] = field(default_factory=dict)
    orders: int = 0
    damaged: tuple[int, ...] = ()


@dataclass(frozen=True)
class SessionInfo:
    """A session row and how many journal records it has (by kind) in the database."""

    session_id: str
    mode: str
    started_ns: int
    ended_ns: int | None
    stop_reason: str | None
    records: int
    first_seq: int | None
    last_seq: int | None
    kinds: dict[str, int]


# --- reading the database ------------------------------------------------------------------


def open_readonly(db_path: str | Path) -> sqlite3.Connection:
    """A read-only connection that neither takes the daemon's lock nor blocks its writes (WAL
    readers see the last committed state)."""
    path = Path(db_path)
    if not path.is_file():
        raise AlgotradingError(f"{path}: no state database here")
    uri = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30)
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise AlgotradingError(f"{path}: not a usable state database: {exc}") from exc
    if version > SCHEMA_VERSION or not {"sessions", "journal", "orders"} <= tables:
        conn.close()
        why = f"schema version {version} is newer than this build understands"
        raise AlgotradingError(
            f"{path}: " + (why if version > SCHEMA_VERSION else "not a state database")
        )
    return conn


def list_sessions(db_path: str | Path, *, kinds: bool = True) -> list[SessionInfo]:
    """Every session, oldest first, with its journal record counts; by kind only when
    ``kinds`` (that reads the whole journal; the totals come from the index)."""
    conn = open_readonly(db_path)
    try:
        return _sessions(conn, kinds)
    finally:
        conn.close()


def _sessions(conn: sqlite3.Connection, kinds: bool) -> list[SessionInfo]:
    by_kind: dict[str, dict[str, int]] = {}
    if kinds:
        for sid, kind, n in conn.execute(
            "SELECT session_id, kind, count(*) FROM journal GROUP BY session_id, kind "
            "ORDER BY session_id, kind"
        ):
            by_kind.setdefault(sid, {})[kind] = n
    totals = {
        sid: (n, lo, hi)
        for sid, n, lo, hi in conn.execute(
            "SELECT session_id, count(*), min(seq), max(seq) FROM journal GROUP BY session_id"
        )
    }
    rows = conn.execute(
        "SELECT session_id, mode, started_ns, ended_ns, stop_reason FROM sessions "
        "ORDER BY started_ns, session_id"
    ).fetchall()
    return [
        SessionInfo(
            sid,
            mode,
            started,
            ended,
            reason,
            *totals.get(sid, (0, None, None)),
            by_kind.get(sid, {}),
        )
        for sid, mode, started, ended, reason in rows
    ]


def session_ids(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT session_id FROM sessions ORDER BY started_ns, session_id")
    return [r[0] for r in rows]


# --- typed columns from the message structs ------------------------------------------------


class _Column(NamedTuple):
    name: str  # "intent.side" for a field of a nested struct
    path: tuple[str, ...]
    type: pa.DataType
    as_json: bool  # dicts and anything without a plain Arrow type: JSON text


def _arrow_type(t: msgspec.inspect.Type) -> pa.DataType | None:
    ins = msgspec.inspect
    scalar = {
        ins.IntType: pa.int64(),
        ins.FloatType: pa.float64(),
        ins.StrType: pa.string(),
        ins.BoolType: pa.bool_(),
        ins.BytesType: pa.binary(),
    }
    if type(t) in scalar:
        return scalar[type(t)]
    if isinstance(t, ins.EnumType):
        return pa.string() if issubclass(t.cls, str) else None
    if isinstance(t, ins.VarTupleType | ins.ListType):
        item = _arrow_type(t.item_type)
        return None if item is None else pa.list_(item)
    return None


def _struct_columns(info: msgspec.inspect.StructType, prefix: tuple[str, ...]) -> list[_Column]:
    columns: list[_Column] = []
    for f in info.fields:
        path = (*prefix, f.encode_name)
        t = f.type
        if isinstance(t, msgspec.inspect.UnionType):  # ``X | None``: a nullable X
            rest = [x for x in t.types if not isinstance(x, msgspec.inspect.NoneType)]
            t = rest[0] if len(rest) == 1 else t
        if isinstance(t, msgspec.inspect.StructType):
            columns += _struct_columns(t, path)
            continue
        arrow = _arrow_type(t)
        columns.append(_Column(".".join(path), path, arrow or pa.string(), arrow is None))
    return columns


def _message_columns(kind: type[Message]) -> list[_Column]:
    info = msgspec.inspect.type_info(kind)
    assert isinstance(info, msgspec.inspect.StructType)
    return _struct_columns(info, ())


def _value(row: dict[str, Any], column: _Column) -> Any:
    value: Any = row
    for key in column.path:
        if value is None:
            return None
        value = value.get(key)
    if column.as_json and value is not None:
        return msgspec.json.encode(value).decode()
    return value


# --- writing -------------------------------------------------------------------------------


class _Table:
    """One Parquet file written in row groups of :data:`ROW_GROUP_ROWS`, so memory stays flat
    however long the session; the same rows always give the same bytes."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None

    def write(self, columns: list[list[Any]]) -> None:
        if not columns[0]:
            return
        arrays = [pa.array(c, type=f.type) for c, f in zip(columns, self.schema, strict=True)]
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")
        self._writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self.schema))
        self.rows += len(columns[0])

    def close(self) -> None:
        if self._writer is None:  # no rows: an empty file with the schema
            self._writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")
        self._writer.close()


class _KindTable:
    """The typed table of one message kind: ``seq`` and the struct's fields."""

    def __init__(self, path: Path, kind: type[Message]) -> None:
        self.columns = _message_columns(kind)
        fields = [pa.field("seq", pa.int64(), nullable=False)]
        fields += [pa.field(c.name, c.type) for c in self.columns]
        self.table = _Table(path, pa.schema(fields))
        self._seqs: list[int] = []
        self._rows: list[dict[str, Any]] = []

    def add(self, seq: int, msg: Message) -> None:
        self._seqs.append(seq)
        self._rows.append(msgspec.to_builtins(msg, builtin_types=(bytes,)))
        if len(self._seqs) >= ROW_GROUP_ROWS:
            self.flush()

    def flush(self) -> None:
        columns: list[list[Any]] = [self._seqs]
        columns += [[_value(r, c) for r in self._rows] for c in self.columns]
        self.table.write(columns)
        self._seqs, self._rows = [], []

    def close(self) -> None:
        self.flush()
        self.table.close()


def export_session(db_path: str | Path, session_id: str, out_dir: str | Path) -> ExportResult:
    """Export one session's recording to ``out_dir`` (see the module docstring). An existing
    export at ``out_dir`` is replaced; any other existing directory is refused."""
    out = Path(out_dir)
    _check_replaceable(out)
    conn = open_readonly(db_path)
    try:
        conn.execute("BEGIN")  # one snapshot: the session row and its records agree
        row = conn.execute(
            "SELECT session_id, mode, config, started_ns, ended_ns, stop_reason FROM sessions "
            "WHERE session_id = ?",
            (session_id,),
        ).fetchone()
        if row is None:
            known = ", ".join(session_ids(conn)) or "none"
            raise DataError(str(db_path), f"no session {session_id!r} (sessions: {known})")
        out.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
        try:
            result = _write_export(conn, row, tmp, out)
            private_tree(tmp)  # a session's orders and fills: its user's only
            _publish(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    finally:
        conn.close()
    get_logger("state").info(
        "session_exported", session=session_id, records=result.records, path=str(out)
    )
    return result


def _write_export(
    conn: sqlite3.Connection, session: tuple[Any, ...], tmp: Path, out: Path
) -> ExportResult:
    session_id = session[0]
    classes = {type_name(c): c for c in typing.get_args(AnyMessage)}
    journal = _Table(tmp / JOURNAL_FILE, JOURNAL_SCHEMA)
    tables: dict[str, _KindTable] = {}
    damaged: list[int] = []
    first = last = None
    cursor = conn.execute(
        "SELECT seq, kind, ts_event, ts_recv, body FROM journal WHERE session_id = ? ORDER BY seq",
        (session_id,),
    )
    while rows := cursor.fetchmany(ROW_GROUP_ROWS):
        texts: list[str | None] = []
        for seq, _, _, _, body in rows:
            try:
                msg = decode_msgpack(body)
            except _DECODE_ERRORS:
                damaged.append(seq)
                texts.append(None)
                continue
            texts.append(msgspec.json.encode(msg).decode())
            kind = type_name(type(msg))
            if kind not in tables:
                tables[kind] = _KindTable(tmp / kind_file(kind), classes[kind])
            tables[kind].add(seq, msg)
        columns: list[list[Any]] = [list(c) for c in zip(*rows, strict=True)]
        journal.write([*columns[:4], [bytes(b) for b in columns[4]], texts])
        first = rows[0][0] if first is None else first
        last = rows[-1][0]
    journal.close()
    for table in tables.values():
        table.close()
    orders = _write_orders(conn, session_id, tmp / ORDERS_FILE)
    result = ExportResult(
        session_id=session_id,
        path=out,
        records=journal.rows,
        first_seq=first,
        last_seq=last,
        kinds={k: tables[k].table.rows for k in sorted(tables)},
        orders=orders,
        damaged=tuple(damaged),
    )
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    manifest = _manifest(session, result, version)
    (tmp / SESSION_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return result


def _write_orders(conn: sqlite3.Connection, session_id: str, path: Path) -> int:
    names = [name for name, _ in ORDER_COLUMNS]
    rows = conn.execute(
        f"SELECT {', '.join(names)} FROM orders WHERE session_id = ? "
        "ORDER BY created_ns, client_order_id",
        (session_id,),
    ).fetchall()
    if not rows:
        return 0
    table = _Table(path, pa.schema([pa.field(n, t) for n, t in ORDER_COLUMNS]))
    for start in range(0, len(rows), ROW_GROUP_ROWS):
        chunk = rows[start : start + ROW_GROUP_ROWS]
        table.write([list(c) for c in zip(*chunk, strict=True)])
    table.close()
    return len(rows)


def _manifest(session: tuple[Any, ...], result: ExportResult, version: int) -> dict[str, Any]:
    session_id, mode, config_text, started, ended, reason = session
    try:
        config: Any = json.loads(config_text)
    except json.JSONDecodeError:
        config = config_text  # kept as it was stored rather than lost
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "schema_version": version,
        "session": {
            "session_id": session_id,
            "mode": mode,
            "started_ns": started,
            "started": iso_utc(started),
            "ended_ns": ended,
            "ended": None if ended is None else iso_utc(ended),
            "stop_reason": reason,
        },
        "config": config,
        "journal": {
            "file": JOURNAL_FILE,
            "records": result.records,
            "first_seq": result.first_seq,
            "last_seq": result.last_seq,
            "damaged_seqs": list(result.damaged),
        },
        "kinds": {k: {"file": kind_file(k), "rows": n} for k, n in result.kinds.items()},
        "orders": {"file": ORDERS_FILE, "rows": result.orders} if result.orders else None,
    }


# --- making the export appear whole ---------------------------------------------------------


def _check_replaceable(out: Path) -> None:
    """Refuse to replace anything but an earlier export (a mistyped ``--out`` must not cost a
    directory of someone's files)."""
    if not out.exists() and not out.is_symlink():
        return
    if out.is_dir() and not out.is_symlink() and (not any(out.iterdir()) or _is_export(out)):
        return
    raise AlgotradingError(f"{out}: exists and is not a recording export; not replacing it")


def _is_export(path: Path) -> bool:
    try:
        manifest = json.loads((path / SESSION_FILE).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == FORMAT


def fsync_path(path: Path) -> None:
    """Flush a file's or a directory's contents (a directory: its entries) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(tmp: Path, out: Path) -> None:
    for child in tmp.iterdir():
        fsync_path(child)
    fsync_path(tmp)
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.{os.getpid()}.old")
        os.replace(out, old)
    os.replace(tmp, out)
    fsync_path(out.parent)
    if old is not None:
        shutil.rmtree(old)


# --- reading an export back ----------------------------------------------------------------
