"""Journal retention on a real state database: old ended sessions are archived, verified and
only then deleted; what recovery reads, the newest session and open sessions stay; snapshot sets
are pruned; the space comes back; and a crash at any point loses and duplicates nothing."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from algotrading.errors import AlgotradingError
from algotrading.messages import (
    AccountState,
    Fill,
    Message,
    Order,
    OrderAccepted,
    OrderSubmitted,
    Position,
    Quote,
    Side,
)
from algotrading.state import retention
from algotrading.state.export import JOURNAL_FILE, export_session
from algotrading.state.export_read import read_recording
from algotrading.state.retention import RetentionConfig, compact, rotate
from algotrading.state.store import StateStore

SEC = 10**9
DAY = 86_400 * SEC
NOW = 1_735_689_600 * SEC  # 2025-01-01T00:00:00Z


class SimulatedCrash(Exception):
    pass


def messages(session: str, start: int, n_quotes: int) -> list[Message]:
    quotes: list[Message] = [
        Quote(ts_event=start + i, instrument="EUR_USD", bid=1.1 + i * 1e-6, ask=1.1002)
        for i in range(n_quotes)
    ]
    t = start + n_quotes
    cid = f"{session}-1"
    return [
        *quotes,
        OrderSubmitted(ts_event=t, client_order_id=cid),
        OrderAccepted(ts_event=t, client_order_id=cid, venue_order_id=f"V{session}"),
        Fill(
            ts_event=t + 1,
            fill_id=f"F{session}",
            client_order_id=cid,
            venue_order_id=f"V{session}",
            strategy_id="sma",
            instrument="EUR_USD",
            side=Side.BUY,
            quantity=1_000,
            price=1.1002,
        ),
        Position(ts_event=t + 1, instrument="EUR_USD", quantity=1_000, avg_price=1.1002),
        AccountState(ts_event=t + 2, currency="USD", balance=1e5, equity=1e5),
    ]


def record(
    store: StateStore,
    session: str,
    started: int,
    ended: int | None,
    n_quotes: int = 30,
    snapshot_after: int | None = None,
) -> list[Message]:
    """A session as the daemon writes it; with ``snapshot_after``, a snapshot set is saved
    after that many of its messages (the recovery floor moves there)."""
    store.begin_session(session, "paper", {"n": n_quotes}, started)
    store.write_ahead(
        Order(
            ts_event=started,
            client_order_id=f"{session}-1",
            strategy_id="sma",
            instrument="EUR_USD",
            side=Side.BUY,
            quantity=1_000,
        )
    )
    msgs = messages(session, started, n_quotes)
    for i, msg in enumerate(msgs):
        store.append(msg)
        if snapshot_after is not None and i + 1 == snapshot_after:
            snapshot(store)
    if ended is not None:
        store.end_session(ended, "stopped")
    store.flush()
    return msgs


def snapshot(store: StateStore) -> int:
    store.flush()
    seq = store.last_seq
    store.save_snapshots(seq, {"strategy": (seq, b"st"), "risk": (seq, b"rk")}, {"v": 1})
    return seq


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "algotrading.sqlite"


def build(path: Path, *, snapshot_at_end: bool = True) -> dict[str, list[Message]]:
    """Five sessions: two that ended long ago, one never ended, one recent, the newest."""
    store = StateStore.open(path)
    out = {
        "old1": record(store, "old1", NOW - 40 * DAY, NOW - 40 * DAY + 3600 * SEC),
        "old2": record(store, "old2", NOW - 20 * DAY, NOW - 20 * DAY + 3600 * SEC),
        "open": record(store, "open", NOW - 15 * DAY, None),  # its daemon was killed
        "recent": record(store, "recent", NOW - 2 * DAY, NOW - 2 * DAY + 3600 * SEC),
        "newest": record(store, "newest", NOW - 3600 * SEC, NOW - 1800 * SEC),
    }
    if snapshot_at_end:
        snapshot(store)
    store.close()
    return out


def journal_seqs(path: Path, session: str) -> list[int]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT seq FROM journal WHERE session_id = ? ORDER BY seq", (session,))
        return [r[0] for r in rows]
    finally:
        conn.close()


def journal_of(path: Path, session: str) -> list[Message]:
    store = StateStore.open(path)
    try:
        return list(store.journal(session))
    finally:
        store.close()


def archived_seqs(archive: Path) -> list[int]:
    return pq.read_table(archive / JOURNAL_FILE).column("seq").to_pylist()


def test_old_ended_sessions_are_archived_then_deleted(path, tmp_path):
    recorded = build(path)
    seqs = {s: journal_seqs(path, s) for s in recorded}
    archive = tmp_path / "archive"
    result = compact(path, keep_days=10, archive_dir=archive, now_ns=NOW)
    assert [a.session_id for a in result.archived] == ["old1", "old2"]
    assert dict(result.kept) == {
        # killed, it was closed as the next session began (two days ago)
        "open": "ended within the days kept",
        "recent": "ended within the days kept",
        "newest": "the newest session",
    }
    assert result.problems == ()
    assert sqlite3.connect(path).execute(
        "SELECT stop_reason FROM sessions WHERE session_id = 'open'"
    ).fetchone() == ("killed (found open when recent started)",)
    for sid in ("old1", "old2"):
        assert journal_seqs(path, sid) == []
        assert list(read_recording(archive / sid)) == recorded[sid]
        assert archived_seqs(archive / sid) == seqs[sid]
    for sid in ("open", "recent", "newest"):
        assert journal_of(path, sid) == recorded[sid]
        assert not (archive / sid).exists()
    assert result.deleted == len(recorded["old1"]) + len(recorded["old2"])
    store = StateStore.open(path)  # the rest of the state is untouched
    assert len(store.sessions()) == 5
    assert len(store.orders()) == 5
    store.close()


def test_keep_days_decides_which_ended_sessions_go(path, tmp_path):
    build(path)
    result = compact(path, keep_days=1, archive_dir=tmp_path / "a", now_ns=NOW)
    # "open" was killed and closed when "recent" began, two days ago
    assert [a.session_id for a in result.archived] == ["old1", "old2", "open", "recent"]
    result = compact(path, keep_days=0, archive_dir=tmp_path / "a", now_ns=NOW)
    assert result.archived == ()  # the newest session stays however old
    assert [s for s, _ in result.kept] == ["newest"]


def test_nothing_goes_while_recovery_would_replay_the_whole_journal(path, tmp_path):
    recorded = build(path, snapshot_at_end=False)  # no snapshot: the floor is 0
    result = compact(path, keep_days=10, archive_dir=tmp_path / "archive", now_ns=NOW)
    assert result.recovery_floor == 0
    assert result.archived == ()
    assert dict(result.kept)["old1"] == "recovery still reads its records: the floor is at seq 0"
    for sid, msgs in recorded.items():
        assert journal_of(path, sid) == msgs
    assert not (tmp_path / "archive").exists()


def test_records_above_the_recovery_floor_stay_until_the_floor_moves(path, tmp_path):
    store = StateStore.open(path)
    old = record(store, "old", NOW - 40 * DAY, NOW - 40 * DAY + SEC)
    all_seqs = journal_seqs(path, "old")
    floor = all_seqs[9]  # one actor of the next snapshot set had got no further than this
    record(store, "mid", NOW - 30 * DAY, None, n_quotes=3)
    store.save_snapshots(1, {"strategy": (floor, b"s"), "bar_builder": (store.last_seq, b"b")}, {})
    store.end_session(NOW - 30 * DAY + SEC, "stopped")
    record(store, "newest", NOW - SEC, None)
    store.close()
    archive = tmp_path / "archive"
    result = compact(path, keep_days=1, archive_dir=archive, now_ns=NOW)
    assert result.recovery_floor == floor
    (done,) = result.archived
    assert (done.deleted, done.last_seq, done.left) == (10, floor, len(old) - 10)
    assert ("mid", "it holds the newest snapshot set") in result.kept
    assert journal_seqs(path, "old") == all_seqs[10:]
    assert list(read_recording(archive / "old")) == old  # the archive is the whole session
    before = (archive / "old" / JOURNAL_FILE).read_bytes()

    store = StateStore.open(path)  # the next daemon snapshots: the floor moves past "old"
    record(store, "later", NOW, None, snapshot_after=3)
    store.close()
    result = compact(path, keep_days=1, archive_dir=archive, now_ns=NOW + DAY)
    assert [(a.session_id, a.reused, a.deleted) for a in result.archived] == [
        ("old", True, len(old) - 10),
        ("mid", False, 8),
        ("newest", False, 35),  # left open (killed), closed as "later" began, a day ago
    ]
    assert journal_seqs(path, "old") == []
    assert (archive / "old" / JOURNAL_FILE).read_bytes() == before
    assert archived_seqs(archive / "old") == all_seqs


def test_the_journals_last_record_stays_so_numbering_goes_on(path, tmp_path):
    store = StateStore.open(path)
    old = record(store, "old", NOW - 40 * DAY, NOW - 40 * DAY + SEC)
    top = store.last_seq
    store.begin_session("snapshot", "paper", {}, NOW - 39 * DAY)
    snapshot(store)  # at the journal's top: every record is at or below the floor
    store.end_session(NOW - 39 * DAY, "stopped")
    store.begin_session("newest", "paper", {}, NOW)  # nothing journaled yet
    store.close()
    result = compact(path, keep_days=1, archive_dir=tmp_path / "a", now_ns=NOW)
    assert result.archived[0].deleted == len(old) - 1
    assert journal_seqs(path, "old") == [top]
    again = compact(path, keep_days=1, archive_dir=tmp_path / "a", now_ns=NOW)
    assert ("old", "it holds the journal's last record: new ones are numbered after it") in (
        again.kept
    )
    store = StateStore.open(path)
    store.begin_session("next", "paper", {}, NOW + 1)
    assert store.append(Quote(ts_event=1, instrument="EUR_USD", bid=1.0, ask=1.1)) == top + 1
    store.close()


def test_the_session_that_saved_the_newest_snapshot_set_stays(path, tmp_path):
    store = StateStore.open(path)
    old = record(store, "old", NOW - 40 * DAY, NOW - 40 * DAY + SEC, snapshot_after=20)
    record(store, "newest", NOW - SEC, None)
    store.close()
    result = compact(path, keep_days=1, archive_dir=tmp_path / "a", now_ns=NOW)
    assert result.archived == ()
    assert ("old", "it holds the newest snapshot set") in result.kept
    assert journal_of(path, "old") == old


def test_old_snapshot_sets_are_pruned_keeping_the_newest(path, tmp_path):
    store = StateStore.open(path)
    store.begin_session("s", "paper", {}, NOW)
    for i in range(5):
        store.append(Quote(ts_event=i, instrument="EUR_USD", bid=1.0, ask=1.1))
        snapshot(store)
    latest = store.latest_snapshots()
    floor = store.recovery_floor()
    store.close()
    result = compact(path, keep_days=1, archive_dir=tmp_path / "a", now_ns=NOW)
    assert result.snapshot_sets_pruned == 2
    conn = sqlite3.connect(path)
    assert [r[0] for r in conn.execute("SELECT journal_seq FROM actor_snapshots")] == [
        3,
        3,
        4,
        4,
        5,
        5,
    ]
    conn.close()
    result = compact(path, keep_days=1, archive_dir=tmp_path / "a", now_ns=NOW, keep_snapshots=1)
    assert result.snapshot_sets_pruned == 2
    store = StateStore.open(path)
    assert store.latest_snapshots() == latest
    assert store.recovery_floor() == floor
    store.close()


def test_the_space_is_given_back(path, tmp_path):
    store = StateStore.open(path)
    record(store, "big", NOW - 40 * DAY, NOW - 40 * DAY + SEC, n_quotes=8_000)
    record(store, "newest", NOW - SEC, NOW, n_quotes=10)
    snapshot(store)
    store.close()
    result = compact(path, keep_days=1, archive_dir=tmp_path / "a", now_ns=NOW)
    assert result.vacuumed
    assert result.checkpointed
    assert not result.daemon_running
    assert result.bytes_after < result.bytes_before / 4
    assert path.stat().st_size == result.bytes_after  # the WAL was truncated too
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA freelist_count").fetchone() == (0,)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()


def test_a_dry_run_reports_and_changes_nothing(path, tmp_path):
    build(path)
    before = path.read_bytes()
    archive = tmp_path / "archive"
    planned = compact(path, keep_days=10, archive_dir=archive, now_ns=NOW, dry_run=True)
    assert planned.dry_run
    assert path.read_bytes() == before
    assert not archive.exists()
    done = compact(path, keep_days=10, archive_dir=archive, now_ns=NOW)
    assert [(a.session_id, a.deleted, a.first_seq, a.last_seq) for a in planned.archived] == [
        (a.session_id, a.deleted, a.first_seq, a.last_seq) for a in done.archived
    ]
    assert planned.kept == done.kept


def test_compacting_while_a_daemon_holds_the_store(path, tmp_path):
    recorded = build(path)
    store = StateStore.open(path, commit_every=1)  # a running daemon: it holds the lock
    store.begin_session("running", "paper", {}, NOW)
    store.append(Quote(ts_event=1, instrument="EUR_USD", bid=1.0, ask=1.1))
    try:
        result = compact(path, keep_days=10, archive_dir=tmp_path / "a", now_ns=NOW)
        assert result.daemon_running
        assert not result.vacuumed
        assert [a.session_id for a in result.archived] == ["old1", "old2"]
        assert ("newest", "ended within the days kept") in result.kept
        assert ("running", "the newest session") in result.kept
        seq = store.append(Quote(ts_event=2, instrument="EUR_USD", bid=1.0, ask=1.1))
        assert seq == store.last_seq
    finally:
        store.close()
    assert journal_seqs(path, "old1") == []
    assert len(journal_seqs(path, "running")) == 2
    assert journal_of(path, "recent") == recorded["recent"]


def test_a_crash_between_archive_and_delete_loses_and_duplicates_nothing(
    path, tmp_path, monkeypatch
):
    recorded = build(path)
    seqs = {s: journal_seqs(path, s) for s in ("old1", "old2")}
    archive = tmp_path / "archive"

    def crash(*args: object) -> int:
        raise SimulatedCrash

    monkeypatch.setattr(retention, "_delete_records", crash)
    with pytest.raises(SimulatedCrash):
        compact(path, keep_days=10, archive_dir=archive, now_ns=NOW)
    assert journal_seqs(path, "old1") == seqs["old1"]  # still in the database
    assert archived_seqs(archive / "old1") == seqs["old1"]  # and completely archived
    monkeypatch.undo()

    result = compact(path, keep_days=10, archive_dir=archive, now_ns=NOW)
    assert [(a.session_id, a.reused) for a in result.archived] == [
        ("old1", True),
        ("old2", False),
    ]
    for sid in ("old1", "old2"):
        assert journal_seqs(path, sid) == []
        assert archived_seqs(archive / sid) == seqs[sid]
        assert list(read_recording(archive / sid)) == recorded[sid]


def test_a_crash_half_way_through_the_deletes_is_finished_by_the_next_run(
    path, tmp_path, monkeypatch
):
    recorded = build(path)
    seqs = journal_seqs(path, "old1")
    archive = tmp_path / "archive"
    real = retention._delete_batch
    calls = []

    def crash_on_third(*args: object) -> int:
        calls.append(args)
        if len(calls) == 3:
            raise SimulatedCrash
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(retention, "DELETE_BATCH", 7)
    monkeypatch.setattr(retention, "_delete_batch", crash_on_third)
    with pytest.raises(SimulatedCrash):
        compact(path, keep_days=10, archive_dir=archive, now_ns=NOW)
    assert journal_seqs(path, "old1") == seqs[14:]
    monkeypatch.setattr(retention, "_delete_batch", real)
    result = compact(path, keep_days=10, archive_dir=archive, now_ns=NOW)
    assert result.archived[0].reused
    assert result.archived[0].deleted == len(seqs) - 14
    assert journal_seqs(path, "old1") == []
    assert archived_seqs(archive / "old1") == seqs
    assert list(read_recording(archive / "old1")) == recorded["old1"]


def test_a_crash_while_exporting_leaves_no_archive_and_every_record(path, tmp_path, monkeypatch):
    recorded = build(path)
    archive = tmp_path / "archive"
    monkeypatch.setattr("algotrading.state.export._publish", lambda tmp, out: _raise())
    with pytest.raises(SimulatedCrash):
        compact(path, keep_days=10, archive_dir=archive, now_ns=NOW)
    assert journal_of(path, "old1") == recorded["old1"]
    assert list(archive.iterdir()) == []
    monkeypatch.undo()
    (archive / ".old1.left-by-a-kill.partial").mkdir()  # what a kill -9 would leave
    compact(path, keep_days=10, archive_dir=archive, now_ns=NOW)
    assert sorted(p.name for p in archive.iterdir()) == ["old1", "old2"]
    assert list(read_recording(archive / "old1")) == recorded["old1"]


def _raise() -> None:
    raise SimulatedCrash


def _compact_then_die(path: str, archive: str) -> None:  # runs in a child process
    real = retention._delete_batch

    def die_after_first_batch(*args: object) -> int:
        real(*args)  # type: ignore[arg-type]
        os._exit(9)  # no finally, no rollback, no close: as a kill would

    retention.DELETE_BATCH = 5
    retention._delete_batch = die_after_first_batch  # type: ignore[assignment]
    compact(path, keep_days=10, archive_dir=archive, now_ns=NOW)


def test_a_killed_compaction_is_finished_by_the_next_run(path, tmp_path):
    recorded = build(path)
    seqs = journal_seqs(path, "old1")
    archive = tmp_path / "archive"
    child = multiprocessing.get_context("spawn").Process(
        target=_compact_then_die, args=(str(path), str(archive))
    )
    child.start()
    child.join(60)
    assert child.exitcode == 9
    assert journal_seqs(path, "old1") == seqs[5:]
    result = compact(path, keep_days=10, archive_dir=archive, now_ns=NOW)
    assert [(a.session_id, a.reused) for a in result.archived] == [
        ("old1", True),
        ("old2", False),
    ]
    assert journal_seqs(path, "old1") == []
    assert archived_seqs(archive / "old1") == seqs
    assert list(read_recording(archive / "old1")) == recorded["old1"]


def test_an_archive_that_lacks_records_is_never_overwritten(path, tmp_path):
    recorded = build(path, snapshot_at_end=False)
    archive = tmp_path / "archive"
    export_session(path, "old1", archive / "old1")
    conn = sqlite3.connect(path)  # a record the archive has never seen
    conn.execute(
        "INSERT INTO journal SELECT max(seq) + 1, 'old1', kind, ts_event, ts_recv, body "
        "FROM journal WHERE seq = (SELECT max(seq) FROM journal)"
    )
    conn.commit()
    conn.close()
    store = StateStore.open(path)
    store.begin_session("after", "paper", {}, NOW)
    snapshot(store)
    store.append(Quote(ts_event=1, instrument="EUR_USD", bid=1.0, ask=1.1))
    store.close()
    before = (archive / "old1" / JOURNAL_FILE).read_bytes()
    result = compact(path, keep_days=10, archive_dir=archive, now_ns=NOW)
    ((sid, problem),) = result.problems
    assert sid == "old1"
    assert "lacks 1 of the session's records" in problem
    assert len(journal_seqs(path, "old1")) == len(recorded["old1"]) + 1
    assert (archive / "old1" / JOURNAL_FILE).read_bytes() == before
    assert [a.session_id for a in result.archived] == ["old2"]  # the others still go


def test_bad_arguments_are_clear_errors(path, tmp_path):
    build(path)
    archive = tmp_path / "a"
    for days in (-1, float("nan"), float("inf")):
        with pytest.raises(AlgotradingError, match="keep_days"):
            compact(path, keep_days=days, archive_dir=archive, now_ns=NOW)
    with pytest.raises(AlgotradingError, match="keep_snapshots"):
        compact(path, keep_days=1, archive_dir=archive, now_ns=NOW, keep_snapshots=0)
    with pytest.raises(AlgotradingError, match="no state database here"):
        compact(tmp_path / "nope.sqlite", keep_days=1, archive_dir=archive, now_ns=NOW)
    assert not archive.exists()


def test_rotation_is_compaction_on_a_schedule(path):
    build(path)
    assert rotate(path, RetentionConfig(), now_ns=NOW) is None  # off unless enabled
    result = rotate(path, RetentionConfig(enabled=True, keep_days=10), now_ns=NOW)
    assert result is not None
    assert [a.archive for a in result.archived] == [
        path.parent / "archive" / "old1",
        path.parent / "archive" / "old2",
    ]
    assert journal_seqs(path, "old1") == journal_seqs(path, "old2") == []


def test_a_session_still_running_is_never_archived(path, tmp_path):
    store = StateStore.open(path)
    record(store, "old", NOW - 40 * DAY, NOW - 40 * DAY + 3600 * SEC)
    record(store, "running", NOW - 30 * DAY, None)  # a daemon running for a month
    snapshot(store)
    store.close()
    result = compact(path, keep_days=10, archive_dir=tmp_path / "archive", now_ns=NOW)
    assert [a.session_id for a in result.archived] == ["old"]
    assert dict(result.kept)["running"] == "the newest session"
