"""The model registry: every saved model with its metadata, and which one is active, in SQLite.

It lives in the daemon's state database (created by its schema migrations) or in a file of its
own (``algotrading train`` writes ``registry.sqlite`` beside the models); either way the table
is the same. Activating a model is one transaction: at every instant exactly one model (or none)
is active, so the model actor never sees a half-made switch.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from algotrading.errors import DataError
from algotrading.models.base import ModelMetadata

if TYPE_CHECKING:
    import sqlite_utils

TABLE = "models"


def create_table(db: sqlite_utils.Database) -> None:
    if TABLE in db.table_names():
        return
    db.table(TABLE).create(
        {
            "model_id": str,
            "kind": str,
            "task": str,
            "path": str,
            "content_hash": str,
            "metadata": str,
            "registered_ns": int,
            "active": int,
            "activated_ns": int,
        },
        pk="model_id",
        not_null={"kind", "path", "content_hash", "metadata", "registered_ns", "active"},
        defaults={"active": 0},
    )
    db.table(TABLE).create_index(["active"])


@dataclass(frozen=True)
class Entry:
    model_id: str
    path: Path
    metadata: ModelMetadata
    active: bool


class ModelRegistry:
    """The registry in the SQLite file ``path``; or, given ``conn`` (the daemon's state store
    lends its read connection; writes wait on SQLite's lock), on that connection, left open."""

    def __init__(self, path: str | Path, conn: sqlite3.Connection | None = None) -> None:
        self.path = Path(path)
        self._owned = conn is None
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
        self._conn = conn
        exists = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        if conn.execute(exists, (TABLE,)).fetchone() is None:  # sqlite-utils only to create it
            from algotrading.state.sqlite_utils_import import sqlite_utils

            create_table(sqlite_utils.Database(self._conn))

    def close(self) -> None:
        if self._owned:
            self._conn.close()

    def __enter__(self) -> ModelRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def register(self, metadata: ModelMetadata, directory: Path) -> None:
        """Record a saved model (again: a no-op for the same content)."""
        self._conn.execute(
            "INSERT OR IGNORE INTO models (model_id, kind, task, path, content_hash, metadata, "
            "registered_ns, active) VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
            (
                metadata.model_id,
                metadata.kind,
                metadata.task,
                str(Path(directory).resolve()),
                metadata.content_hash,
                msgspec.json.encode(metadata).decode(),
                time.time_ns(),
            ),
        )

    def activate(self, model_id: str) -> None:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            found = self._conn.execute(
                "SELECT 1 FROM models WHERE model_id = ?", (model_id,)
            ).fetchone()
            if found is None:
                raise DataError(str(self.path), f"no model {model_id!r} in the registry")
            self._conn.execute("UPDATE models SET active = 0 WHERE active = 1")
            self._conn.execute(
                "UPDATE models SET active = 1, activated_ns = ? WHERE model_id = ?",
                (time.time_ns(), model_id),
            )
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _entry(self, row: tuple[str, str, str, int]) -> Entry:
        model_id, path, metadata, active = row
        return Entry(
            model_id=model_id,
            path=Path(path),
            metadata=msgspec.json.decode(metadata, type=ModelMetadata),
            active=bool(active),
        )

    def active(self) -> Entry | None:
        row = self._conn.execute(
            "SELECT model_id, path, metadata, active FROM models WHERE active = 1"
        ).fetchone()
        return None if row is None else self._entry(row)

    def get(self, model_id: str) -> Entry:
        row = self._conn.execute(
            "SELECT model_id, path, metadata, active FROM models WHERE model_id = ?", (model_id,)
        ).fetchone()
        if row is None:
            raise DataError(str(self.path), f"no model {model_id!r} in the registry")
        return self._entry(row)

    def entries(self) -> list[Entry]:
        rows = self._conn.execute(
            "SELECT model_id, path, metadata, active FROM models ORDER BY registered_ns, model_id"
        ).fetchall()
        return [self._entry(r) for r in rows]
