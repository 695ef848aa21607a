"""Reading a session recording back: from an export (``algotrading export``: its directory or
its ``journal.parquet``) or straight from a state database, read-only. Replay reads either
(:mod:`algotrading.daemon.replay`); retention checks an archive with it before it deletes."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from algotrading.errors import DataError
from algotrading.messages import Message
from algotrading.state.export import (
    FORMAT,
    FORMAT_VERSION,
    JOURNAL_FILE,
    ROW_GROUP_ROWS,
    SESSION_FILE,
    open_readonly,
    session_ids,
)
from algotrading.state.journal import decode_journal


def read_manifest(path: str | Path) -> dict[str, Any]:
    """``session.json`` of the export at ``path``."""
    file = Path(path) / SESSION_FILE
    try:
        manifest = json.loads(file.read_text())
    except FileNotFoundError:
        raise DataError(str(path), "not a recording export: no session.json") from None
    except (OSError, ValueError) as exc:
        raise DataError(str(file), f"cannot be read ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DataError(str(file), f"not a recording export (format is not {FORMAT!r})")
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise DataError(str(file), "written by a newer algotrading; read it with that")
    return manifest


def read_recording(path: str | Path, session_id: str | None = None) -> Iterator[Message]:
    """The messages of a recording in seq order: from an export (its directory or its
    ``journal.parquet``) or from a state database (``session_id``, default the newest; read
    only). A damaged last record is reported and left out; a damaged record with records after
    it is an error naming it, as in :meth:`StateStore.journal`."""
    records = read_records(path, session_id)  # bad paths fail here, not at the first next()
    return (msg for _, msg in records)


def read_records(path: str | Path, session_id: str | None = None) -> Iterator[tuple[int, Message]]:
    """``(seq, message)`` of a recording, as :func:`read_recording` reads it: what replay
    needs to tell the recorded steps apart."""
    path = Path(path)
    if path.is_file() and _is_sqlite(path):
        return _database_records(path, session_id)
    journal = path / JOURNAL_FILE if path.is_dir() else path
    if not journal.is_file():
        raise DataError(str(path), f"not a recording: no {JOURNAL_FILE} here")
    if path.is_dir() and session_id is not None:
        recorded = read_manifest(path)["session"]["session_id"]
        if recorded != session_id:
            raise DataError(str(path), f"holds session {recorded!r}, not {session_id!r}")
    try:
        parquet = pq.ParquetFile(journal)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(str(journal), f"cannot be read as Parquet ({exc})") from None
    if not {"seq", "body"} <= set(parquet.schema_arrow.names):
        raise DataError(str(journal), "not a recording journal: no seq and body columns")
    return decode_journal(str(journal), _parquet_records(parquet))


def _parquet_records(parquet: pq.ParquetFile) -> Iterator[tuple[int, bytes]]:
    for batch in parquet.iter_batches(columns=["seq", "body"], batch_size=ROW_GROUP_ROWS):
        yield from zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True)


def _database_records(path: Path, session_id: str | None) -> Iterator[tuple[int, Message]]:
    conn = open_readonly(path)
    try:
        sessions = session_ids(conn)
        if session_id is None and sessions:
            session_id = sessions[-1]
        if session_id not in sessions:
            known = ", ".join(sessions) or "none"
            raise DataError(str(path), f"no session {session_id!r} (sessions: {known})")
    except BaseException:
        conn.close()
        raise
    return _database_rows(conn, path, session_id)


def _database_rows(
    conn: sqlite3.Connection, path: Path, session_id: str
) -> Iterator[tuple[int, Message]]:
    def rows() -> Iterator[tuple[int, bytes]]:
        cursor = conn.execute(
            "SELECT seq, body FROM journal WHERE session_id = ? ORDER BY seq", (session_id,)
        )
        while batch := cursor.fetchmany(ROW_GROUP_ROWS):
            yield from batch

    try:
        conn.execute("BEGIN")
        yield from decode_journal(str(path), rows())
    finally:
        conn.close()


def _is_sqlite(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(16) == b"SQLite format 3\x00"
