"""Journal retention: old sessions' records are archived to Parquet and then deleted from the
state database, old snapshot sets are pruned, and the space is given back.

The protocol, so that a crash at any instant loses nothing:

1. the session is exported (:func:`~algotrading.state.export.export_session`) to a hidden
   temporary directory, synced, and renamed to ``ARCHIVE/<session_id>/``;
2. the archive is read back: its row count and seq range must equal the database's;
3. only then are the records deleted, in small transactions (the daemon may be writing).

A crash before 2 leaves the records in the database (and perhaps a leftover ``.*.partial``
directory); a crash after it leaves a complete archive and all or some of the records, and the
next run finds the archive, checks that it holds every record still in the database, and
finishes the deletion. An archive is never overwritten.

What is never deleted: records above :meth:`StateStore.recovery_floor` (recovery replays them),
records of the newest session, of a session that has not ended, or of the session that saved the
newest snapshot set (a warm start looks back into it for the last bar its actors had seen), and
the journal's last record (the store numbers new records after the highest one left).
"""

from __future__ import annotations

import fcntl
import math
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from algotrading.config import RetentionConfig
from algotrading.errors import AlgotradingError, DataError
from algotrading.log import get_logger
from algotrading.state.export import JOURNAL_FILE, export_session, open_readonly
from algotrading.state.export_read import read_manifest
from algotrading.state.schema import SCHEMA_VERSION, migrate
from algotrading.state.store import StateLockedError, StateStore, _acquire_lock

NS_PER_DAY = 86_400 * 10**9
KEEP_SNAPSHOT_SETS = 3
DELETE_BATCH = 2_000  # rows per delete transaction: the daemon's writes wait at most that long
_BUSY_TIMEOUT_MS = 10_000
_CHECKPOINT_TIMEOUT_MS = 1_000  # while the daemon runs, a checkpoint holds its writers back


@dataclass(frozen=True)
class ArchivedSession:
    """One session's records archived and deleted (or that would be, on a dry run)."""

    session_id: str
    archive: Path
    records: int  # the session's records in the archive (in the database, on a dry run)
    deleted: int
    first_seq: int  # of the records deleted
    last_seq: int
    left: int  # records of the session left in the database (above the floor, or the last)
    reused: bool  # the archive was there already (an earlier run was interrupted)


@dataclass(frozen=True)
class RetentionResult:
    dry_run: bool
    recovery_floor: int
    archived: tuple[ArchivedSession, ...]
    kept: tuple[tuple[str, str], ...]  # (session, why its records stay)
    problems: tuple[tuple[str, str], ...]  # (session, why it could not be archived)
    snapshot_sets_pruned: int
    daemon_running: bool
    checkpointed: bool
    vacuumed: bool
    bytes_before: int
    bytes_after: int

    @property
    def deleted(self) -> int:
        return sum(a.deleted for a in self.archived)


@dataclass(frozen=True)
class _Candidate:
    session_id: str
    records: int
    deletable: int
    first_seq: int
    last_seq: int


def compact(
    db_path: str | Path,
    *,
    keep_days: float,
    archive_dir: str | Path,
    now_ns: int,
    keep_snapshots: int = KEEP_SNAPSHOT_SETS,
    dry_run: bool = False,
) -> RetentionResult:
    """Archive and delete the journal records of sessions that ended more than ``keep_days``
    before ``now_ns``, keep the newest ``keep_snapshots`` snapshot sets, and reclaim the space
    (``VACUUM`` only when no daemon holds the state). See the module docstring."""
    if not (isinstance(keep_days, int | float) and math.isfinite(keep_days) and keep_days >= 0):
        raise AlgotradingError(f"keep_days: expected a number of days >= 0, got {keep_days!r}")
    if keep_snapshots < 1:
        raise AlgotradingError(f"keep_snapshots: expected 1 or more, got {keep_snapshots}")
    db_path, archive_dir = Path(db_path), Path(archive_dir)
    cutoff = now_ns - int(keep_days * NS_PER_DAY)
    if dry_run:
        return _dry_run(db_path, archive_dir, cutoff, keep_snapshots)
    open_readonly(db_path).close()  # a clear error for a missing or foreign file
    with _CompactionLock(db_path):
        daemon_lock = _daemon_lock(db_path)
        try:
            return _compact(db_path, archive_dir, cutoff, keep_snapshots, daemon_lock is None)
        finally:
            if daemon_lock is not None:
                daemon_lock.close()


def rotate(db_path: str | Path, config: RetentionConfig, *, now_ns: int) -> RetentionResult | None:
    """:func:`compact` as the schedule runs it (``None`` when rotation is off). Call it from a
    thread, not the event loop: it exports and deletes."""
    if not config.enabled:
        return None
    db_path = Path(db_path)
    archive = Path(config.archive_dir)
    return compact(
        db_path,
        keep_days=config.keep_days,
        archive_dir=archive if archive.is_absolute() else db_path.parent / archive,
        now_ns=now_ns,
        keep_snapshots=config.keep_snapshots,
    )


def _compact(
    db_path: Path, archive_dir: Path, cutoff: int, keep_snapshots: int, daemon_running: bool
) -> RetentionResult:
    log = get_logger("retention").bind(path=str(db_path))
    before = _db_bytes(db_path)
    conn = _connect(db_path, migrate_schema=not daemon_running)
    try:
        floor, candidates, kept = _plan(conn, db_path, cutoff)
        archived, problems = [], []
        for c in candidates:
            try:
                done = _archive_and_delete(conn, db_path, archive_dir, c)
            except DataError as exc:
                problems.append((c.session_id, str(exc)))
                log.warning("session_not_archived", session=c.session_id, reason=str(exc))
                continue
            archived.append(done)
            log.info("session_archived", session=c.session_id, deleted=done.deleted)
        pruned = _prune_snapshots(conn, keep_snapshots)
        if daemon_running:
            conn.execute(f"PRAGMA busy_timeout = {_CHECKPOINT_TIMEOUT_MS}")
        busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if not daemon_running:
            conn.execute("VACUUM")
            busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    finally:
        conn.close()
    result = RetentionResult(
        dry_run=False,
        recovery_floor=floor,
        archived=tuple(archived),
        kept=tuple(kept),
        problems=tuple(problems),
        snapshot_sets_pruned=pruned,
        daemon_running=daemon_running,
        checkpointed=busy == 0,
        vacuumed=not daemon_running,
        bytes_before=before,
        bytes_after=_db_bytes(db_path),
    )
    log.info(
        "compacted",
        deleted=result.deleted,
        sessions=len(archived),
        snapshot_sets_pruned=pruned,
        bytes_before=before,
        bytes_after=result.bytes_after,
        vacuumed=result.vacuumed,
    )
    return result


def _dry_run(db_path: Path, archive_dir: Path, cutoff: int, keep_snapshots: int) -> RetentionResult:
    conn = open_readonly(db_path)
    try:
        if int(conn.execute("PRAGMA user_version").fetchone()[0]) < SCHEMA_VERSION:
            raise AlgotradingError(
                f"{db_path}: an older schema; run compact without --dry-run (or start the "
                "daemon) to bring it up to date first"
            )
        floor, candidates, kept = _plan(conn, db_path, cutoff)
        pruned = len(_old_snapshot_sets(conn, keep_snapshots))
    finally:
        conn.close()
    lock = _daemon_lock(db_path)
    if lock is not None:
        lock.close()
    archived = tuple(
        ArchivedSession(
            c.session_id,
            archive_dir / c.session_id,
            c.records,
            c.deletable,
            c.first_seq,
            c.last_seq,
            c.records - c.deletable,
            (archive_dir / c.session_id).exists(),
        )
        for c in candidates
    )
    size = _db_bytes(db_path)
    return RetentionResult(
        True, floor, archived, tuple(kept), (), pruned, lock is None, False, False, size, size
    )


# --- what may go ----------------------------------------------------------------------------


def _plan(
    conn: sqlite3.Connection, db_path: Path, cutoff: int
) -> tuple[int, list[_Candidate], list[tuple[str, str]]]:
    """The recovery floor, the sessions whose records may be archived and deleted, and why the
    others stay."""
    view = StateStore(conn, db_path, None, commit_every=1, commit_interval_s=0.0)
    floor = view.recovery_floor()
    latest = view.latest_snapshots()
    restored_from = latest.session_id if latest is not None else None
    top = int(conn.execute("SELECT coalesce(max(seq), 0) FROM journal").fetchone()[0])
    limit = min(floor, top - 1)  # the last record stays: new records are numbered after it
    counts = {
        row[0]: row[1:]
        for row in conn.execute(
            "SELECT session_id, count(*), sum(seq <= ?1), min(CASE WHEN seq <= ?1 THEN seq END), "
            "max(CASE WHEN seq <= ?1 THEN seq END) FROM journal GROUP BY session_id",
            (limit,),
        )
    }
    sessions = view.sessions()
    newest = sessions[-1]["session_id"] if sessions else None
    candidates, kept = [], []
    for s in sessions:
        sid = s["session_id"]
        if sid not in counts:
            continue  # no records left: nothing to do
        records, deletable, first, last = counts[sid]
        if sid == newest:
            kept.append((sid, "the newest session"))
        elif s["ended_ns"] is None:
            kept.append((sid, "not ended (running, or its daemon stopped without ending it)"))
        elif s["ended_ns"] > cutoff:
            kept.append((sid, "ended within the days kept"))
        elif sid == restored_from:  # recovery looks back into it for where the actors were
            kept.append((sid, "it holds the newest snapshot set"))
        elif not deletable and floor < top:
            kept.append((sid, f"recovery still reads its records: the floor is at seq {floor}"))
        elif not deletable:
            kept.append((sid, "it holds the journal's last record: new ones are numbered after it"))
        else:
            candidates.append(_Candidate(sid, records, deletable, first, last))
    return floor, candidates, kept


# --- archive, verify, delete ------------------------------------------------------------------


def _archive_and_delete(
    conn: sqlite3.Connection, db_path: Path, archive_dir: Path, c: _Candidate
) -> ArchivedSession:
    target = archive_dir / c.session_id
    if target.resolve().parent != archive_dir.resolve():
        raise DataError(str(db_path), f"session id {c.session_id!r} is not a usable directory name")
    db_seqs = np.fromiter(
        (
            r[0]
            for r in conn.execute(
                "SELECT seq FROM journal WHERE session_id = ? ORDER BY seq", (c.session_id,)
            )
        ),
        dtype=np.int64,
    )
    reused = target.exists()
    if reused:  # an earlier run archived it, and may have deleted some records
        archived = _archived_seqs(target, c.session_id)
        missing = np.setdiff1d(db_seqs, archived)
        if missing.size:
            raise DataError(
                str(target),
                f"an archive that lacks {missing.size} of the session's records (seq "
                f"{missing[0]}..); move it aside and run again",
            )
    else:
        _remove_partials(archive_dir, c.session_id)
        archive_dir.mkdir(parents=True, exist_ok=True)
        export_session(db_path, c.session_id, target)
        archived = _archived_seqs(target, c.session_id)
        if not np.array_equal(archived, db_seqs):
            shutil.rmtree(target)  # the database still holds everything
            raise DataError(
                str(target),
                f"read back {archived.size} records, the database has {db_seqs.size}",
            )
    deleted = _delete_records(conn, c.session_id, c.last_seq)
    return ArchivedSession(
        c.session_id,
        target,
        int(archived.size),
        deleted,
        c.first_seq,
        c.last_seq,
        int(np.count_nonzero(db_seqs > c.last_seq)),
        reused,
    )


def _archived_seqs(path: Path, session_id: str) -> npt.NDArray[np.int64]:
    """The seqs in the archive at ``path``, after checking it is whole: the session it claims,
    the row count and seq range its manifest promises, seqs strictly increasing."""
    manifest = read_manifest(path)
    if manifest["session"]["session_id"] != session_id:
        raise DataError(str(path), f"holds session {manifest['session']['session_id']!r}")
    journal = manifest["journal"]
    try:
        parquet = pq.ParquetFile(path / JOURNAL_FILE)
        seqs: npt.NDArray[np.int64] = parquet.read(columns=["seq"]).column("seq").to_numpy()
    except (pa.ArrowException, OSError, KeyError) as exc:
        raise DataError(str(path / JOURNAL_FILE), f"cannot be read back ({exc})") from None
    whole = parquet.metadata.num_rows == seqs.size == journal["records"] and (
        seqs.size == 0
        or (
            int(seqs[0]) == journal["first_seq"]
            and int(seqs[-1]) == journal["last_seq"]
            and bool(np.all(np.diff(seqs) > 0))
        )
    )
    if not whole:
        raise DataError(str(path), "the archive is not whole (rows or seq range differ)")
    return seqs


def _delete_records(conn: sqlite3.Connection, session_id: str, up_to_seq: int) -> int:
    """Delete the session's records at or below ``up_to_seq``, :data:`DELETE_BATCH` per
    transaction, so that a running daemon's writes are never held back for long."""
    total = 0
    while n := _delete_batch(conn, session_id, up_to_seq, DELETE_BATCH):
        total += n
    return total


def _delete_batch(conn: sqlite3.Connection, session_id: str, up_to_seq: int, size: int) -> int:
    conn.execute("BEGIN IMMEDIATE")
    try:
        n = conn.execute(
            "DELETE FROM journal WHERE seq IN (SELECT seq FROM journal WHERE session_id = ? "
            "AND seq <= ? ORDER BY seq LIMIT ?)",
            (session_id, up_to_seq, size),
        ).rowcount
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return int(n)


def _remove_partials(archive_dir: Path, session_id: str) -> None:
    """Leftovers of an export that was interrupted before its rename."""
    if archive_dir.is_dir():
        for leftover in archive_dir.glob(f".{session_id}.*.partial"):
            shutil.rmtree(leftover, ignore_errors=True)


# --- snapshots, space, locks ----------------------------------------------------------------


def _old_snapshot_sets(conn: sqlite3.Connection, keep: int) -> list[int]:
    rows = conn.execute(
        "SELECT set_id FROM snapshot_sets ORDER BY set_id DESC LIMIT -1 OFFSET ?", (keep,)
    )
    return [r[0] for r in rows]


def _prune_snapshots(conn: sqlite3.Connection, keep: int) -> int:
    """Delete all but the newest ``keep`` snapshot sets (and snapshots of no set, from before
    sets existed); the newest set, which fixes the recovery floor, always stays."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        old = _old_snapshot_sets(conn, keep)
        if conn.execute("SELECT 1 FROM snapshot_sets LIMIT 1").fetchone() is not None:
            conn.execute("DELETE FROM actor_snapshots WHERE set_id IS NULL")
        for set_id in old:
            conn.execute("DELETE FROM actor_snapshots WHERE set_id = ?", (set_id,))
            conn.execute("DELETE FROM snapshot_sets WHERE set_id = ?", (set_id,))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return len(old)


def _connect(db_path: Path, *, migrate_schema: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(db_path, isolation_level=None, timeout=_BUSY_TIMEOUT_MS / 1000)
    try:
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA synchronous = FULL")
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version != SCHEMA_VERSION and not migrate_schema:
            raise AlgotradingError(
                f"{db_path}: the running daemon uses state schema version {version}, this "
                f"build {SCHEMA_VERSION}; compact with the daemon's own build"
            )
        migrate(conn, str(db_path))
    except BaseException:
        conn.close()
        raise
    return conn


def _daemon_lock(db_path: Path) -> IO[str] | None:
    """The daemon's lock, if no daemon holds it (then none can start while we VACUUM)."""
    try:
        return _acquire_lock(db_path)
    except StateLockedError:
        return None


class _CompactionLock:
    """One compaction at a time per database, daemon or not."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + ".compact.lock")
        self._handle: IO[str] | None = None

    def __enter__(self) -> None:
        handle = open(self.path, "a+")  # held for the compaction
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise AlgotradingError(f"{self.path}: another compaction is running") from None
        self._handle = handle

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()


def _db_bytes(db_path: Path) -> int:
    wal = db_path.with_name(db_path.name + "-wal")
    return sum(p.stat().st_size for p in (db_path, wal) if p.exists())
