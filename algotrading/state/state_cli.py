"""``algotrading export``, ``compact`` and ``sessions``: the argv side of the state database's
recordings and retention, attached to the CLI by cli.py. All three are safe while the daemon
runs: export and sessions only read, compact deletes in small transactions and leaves VACUUM
for when the daemon is stopped."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from algotrading.cli_args import non_empty, non_negative_float, output_dir, positive_int
from algotrading.errors import AlgotradingError
from algotrading.state.export import SessionInfo, export_session, list_sessions
from algotrading.state.retention import KEEP_SNAPSHOT_SETS, RetentionResult, compact
from algotrading.timestamps import iso_utc

STATE_COMMANDS = ("export", "compact", "sessions")


def add_state_commands(subparsers: Any) -> None:
    """Add ``export``, ``compact`` and ``sessions`` to the ``subparsers`` of the main parser;
    dispatch the parsed arguments (``args.command in STATE_COMMANDS``) to
    :func:`run_state_command`."""
    export = subparsers.add_parser(
        "export",
        help="export recorded sessions to Parquet (safe while the daemon runs)",
        description="Write a session's recording to OUT/<session>/: journal.parquet (every "
        "record, replayable), one typed Parquet file per message kind (quotes.parquet, "
        "fills.parquet, ...), orders.parquet and session.json. The same session always "
        "gives the same bytes.",
    )
    _state_dir(export)
    which = export.add_mutually_exclusive_group()
    which.add_argument("--session", type=non_empty, metavar="ID", help="the session to export")
    which.add_argument("--all", action="store_true", help="every session")
    which.add_argument("--latest", action="store_true", help="the newest session (the default)")
    export.add_argument(
        "--out", type=non_empty, metavar="DIR", required=True, help="output directory"
    )

    comp = subparsers.add_parser(
        "compact",
        help="archive old sessions' journal to Parquet, delete it, and reclaim the space",
        description="Archive the journal of sessions that ended more than --keep-days ago to "
        "ARCHIVE/<session>/ (the export format), verify the archive, then delete the records; "
        "prune old snapshot sets; checkpoint the WAL and, when no daemon runs, VACUUM. Never "
        "deletes what recovery still reads, the newest session or a session not ended.",
    )
    _state_dir(comp)
    comp.add_argument(
        "--keep-days",
        type=non_negative_float,
        metavar="N",
        required=True,
        help="keep the journal of sessions that ended within the last N days",
    )
    comp.add_argument("--archive", type=non_empty, metavar="DIR", help="default: STATE_DIR/archive")
    comp.add_argument(
        "--keep-snapshots",
        type=positive_int,
        metavar="N",
        default=KEEP_SNAPSHOT_SETS,
        help=f"snapshot sets to keep, newest first (default: {KEEP_SNAPSHOT_SETS})",
    )
    comp.add_argument(
        "--dry-run", action="store_true", help="report what would be archived; change nothing"
    )

    sessions = subparsers.add_parser(
        "sessions",
        help="list the recorded sessions (safe while the daemon runs)",
        description="The sessions in the state database: mode, start, end, stop reason and "
        "journal records.",
    )
    _state_dir(sessions)
    sessions.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _state_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir", type=non_empty, metavar="DIR", default="state", help="default: ./state"
    )


def run_state_command(args: argparse.Namespace) -> int:
    """Run one of :data:`STATE_COMMANDS`; bad input raises AlgotradingError."""
    from algotrading.daemon.app import DB_NAME
    from algotrading.log import configure_logging

    configure_logging("warning")
    db = Path(args.state_dir) / DB_NAME
    if args.command == "export":
        return _export(db, args)
    if args.command == "compact":
        return _compact(db, args)
    if args.command == "sessions":
        return _sessions(db, args.json)
    raise ValueError(f"not a state command: {args.command}")


def _export(db: Path, args: argparse.Namespace) -> int:
    sessions = list_sessions(db, kinds=False)
    if not sessions:
        raise AlgotradingError(f"{db}: no sessions recorded")
    if args.all:
        chosen = [s.session_id for s in sessions]
    elif args.session:
        if args.session not in {s.session_id for s in sessions}:
            known = ", ".join(s.session_id for s in sessions)
            raise AlgotradingError(f"--session: no session {args.session!r} in {db} ({known})")
        chosen = [args.session]
    else:
        chosen = [sessions[-1].session_id]
    out = output_dir("--out", args.out)
    for session_id in chosen:
        target = out / session_id
        if target.resolve().parent != out.resolve():
            raise AlgotradingError(f"session id {session_id!r} is not a usable directory name")
        result = export_session(db, session_id, target)
        seqs = f" (seq {result.first_seq}..{result.last_seq})" if result.records else ""
        print(
            f"{session_id}: {result.records} records{seqs}, {len(result.kinds)} kinds, "
            f"{result.orders} orders -> {target}"
        )
        archived = db.parent / "archive" / session_id
        if not result.records and archived.is_dir():
            print(f"{session_id}: its records were archived by compact to {archived}")
        if result.damaged:
            shown = ", ".join(map(str, result.damaged[:10]))
            print(
                f"{session_id}: {len(result.damaged)} damaged records exported raw (seq "
                f"{shown}{', ...' if len(result.damaged) > 10 else ''})",
                file=sys.stderr,
            )
    return 0


def _compact(db: Path, args: argparse.Namespace) -> int:
    if not math.isfinite(args.keep_days) or args.keep_days < 0:
        raise AlgotradingError(f"--keep-days: expected a number of days >= 0, got {args.keep_days}")
    if args.keep_snapshots < 1:
        raise AlgotradingError(f"--keep-snapshots: expected 1 or more, got {args.keep_snapshots}")
    result = compact(
        db,
        keep_days=args.keep_days,
        archive_dir=Path(args.archive) if args.archive else db.parent / "archive",
        now_ns=time.time_ns(),
        keep_snapshots=args.keep_snapshots,
        dry_run=args.dry_run,
    )
    _print_compaction(result)
    for session_id, problem in result.problems:
        print(f"algotrading compact: {session_id}: {problem}", file=sys.stderr)
    return 1 if result.problems else 0


def _print_compaction(r: RetentionResult) -> None:
    would = "would " if r.dry_run else ""
    for a in r.archived:
        how = "already archived in" if a.reused else f"{would}archive {a.records} records to"
        left = f"; {a.left} left in the database" if a.left else ""
        print(
            f"{a.session_id}: {how} {a.archive}, {would}delete {a.deleted} "
            f"(seq {a.first_seq}..{a.last_seq}){left}"
        )
    for session_id, why in r.kept:
        print(f"{session_id}: kept ({why})")
    print(f"recovery floor: seq {r.recovery_floor}")
    print(f"snapshot sets {'to prune' if r.dry_run else 'pruned'}: {r.snapshot_sets_pruned}")
    if r.dry_run:
        daemon = "a daemon holds it: no VACUUM" if r.daemon_running else "no daemon: VACUUM after"
        print(f"database: {_size(r.bytes_before)} ({daemon})")
        return
    how = "vacuumed" if r.vacuumed else "a daemon holds it: not vacuumed, space is reused"
    checkpoint = "" if r.checkpointed else ", WAL checkpoint incomplete (busy)"
    print(f"database: {_size(r.bytes_before)} -> {_size(r.bytes_after)} ({how}{checkpoint})")


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def _sessions(db: Path, as_json: bool) -> int:
    sessions = list_sessions(db, kinds=as_json)
    if as_json:
        print(json.dumps([_session_json(s) for s in sessions], indent=2))
        return 0
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(sessions)} sessions in {db}", box=box.SIMPLE_HEAD)
    for name in ("session", "mode", "started", "ended", "stop reason", "records", "seq"):
        table.add_column(name, justify="right" if name in ("records", "seq") else "left")
    for s in sessions:
        table.add_row(
            s.session_id,
            s.mode,
            _second(s.started_ns),
            "(not ended)" if s.ended_ns is None else _second(s.ended_ns),
            s.stop_reason or "",
            str(s.records),
            f"{s.first_seq}..{s.last_seq}" if s.records else "",
        )
    (Console() if sys.stdout.isatty() else Console(width=160)).print(table)
    return 0


def _second(ts_ns: int) -> str:
    """A time to the second, for a table people read (the JSON keeps nanoseconds)."""
    return iso_utc(ts_ns - ts_ns % 1_000_000_000)


def _session_json(s: SessionInfo) -> dict[str, Any]:
    return {
        "session_id": s.session_id,
        "mode": s.mode,
        "started_ns": s.started_ns,
        "started": iso_utc(s.started_ns),
        "ended_ns": s.ended_ns,
        "ended": None if s.ended_ns is None else iso_utc(s.ended_ns),
        "stop_reason": s.stop_reason,
        "records": s.records,
        "first_seq": s.first_seq,
        "last_seq": s.last_seq,
        "kinds": s.kinds,
    }
