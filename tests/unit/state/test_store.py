"""The SQLite state store on a real file: write-ahead, the journal, what each message changes,
group commit, locking and schema versions."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from pathlib import Path

import pytest

from algotrading.errors import AlgotradingError
from algotrading.messages import (
    AccountState,
    OrderAccepted,
    OrderCancelled,
    OrderRejected,
    OrderSubmitted,
    Position,
    Quote,
)
from algotrading.state.schema import SCHEMA_VERSION
from algotrading.state.store import DuplicateOrderError, StateLockedError, StateStore
from tests.unit.state.samples import fill, order


@pytest.fixture
def store(tmp_path: Path):
    s = StateStore.open(tmp_path / "state" / "algotrading.sqlite")
    s.begin_session("s1", "paper", {"a": 1}, 0)
    yield s
    s.close()


def other_connection(store: StateStore) -> sqlite3.Connection:
    """What another process (or a restart) would see: committed data only."""
    return sqlite3.connect(store.path)


def test_write_ahead_is_committed_before_it_returns(store):
    store.write_ahead(order())
    row = other_connection(store).execute("SELECT status, quantity FROM orders").fetchone()
    assert row == ("PENDING_SUBMIT", 10_000.0)


def test_write_ahead_refuses_an_id_used_before(store):
    store.write_ahead(order())
    with pytest.raises(DuplicateOrderError, match="s1-000001"):
        store.write_ahead(order())
    assert len(store.orders()) == 1


def test_lifecycle_events_move_the_order_status(store):
    store.write_ahead(order("a"))
    store.write_ahead(order("b"))
    store.write_ahead(order("c"))
    store.append(OrderSubmitted(ts_event=1, client_order_id="a"))
    store.append(OrderAccepted(ts_event=2, client_order_id="a", venue_order_id="v9"))
    store.append(OrderRejected(ts_event=2, client_order_id="b", code="MARGIN", reason="no"))
    store.append(OrderCancelled(ts_event=3, client_order_id="c", reason="user"))
    statuses = {o["client_order_id"]: (o["status"], o["venue_order_id"]) for o in store.orders()}
    assert statuses == {
        "a": ("ACCEPTED", "v9"),
        "b": ("REJECTED", None),
        "c": ("CANCELLED", None),
    }
    assert store.order("b")["reason"] == "MARGIN: no"
    assert [o["client_order_id"] for o in store.orders(status=("ACCEPTED",))] == ["a"]


def test_partial_fills_accumulate_with_a_volume_weighted_price(store):
    store.write_ahead(order())
    store.append(fill("f1", 4_000, 1.1000))
    assert store.order("s1-000001")["status"] == "PARTIALLY_FILLED"
    store.append(fill("f2", 6_000, 1.1010))
    row = store.order("s1-000001")
    assert row["status"] == "FILLED"
    assert row["filled_quantity"] == 10_000
    assert row["avg_fill_price"] == pytest.approx((4_000 * 1.1 + 6_000 * 1.101) / 10_000)


def test_a_fill_delivered_twice_counts_once(store):
    store.write_ahead(order())
    store.append(fill("f1", 4_000, 1.1))
    store.append(fill("f1", 4_000, 1.1))
    assert store.order("s1-000001")["filled_quantity"] == 4_000
    assert len(store.fills()) == 1
    assert len(list(store.journal())) == 2  # the journal still records what arrived


def test_an_accept_after_the_fill_does_not_undo_it(store):
    store.write_ahead(order())
    store.append(fill("f1", 10_000, 1.1))
    store.append(OrderAccepted(ts_event=3, client_order_id="s1-000001", venue_order_id="v1"))
    assert store.order("s1-000001")["status"] == "FILLED"


def test_positions_and_account_snapshots(store):
    store.append(
        Position(ts_event=5, instrument="EUR_USD", quantity=10_000, avg_price=1.1, realized_pnl=3)
    )
    store.append(
        Position(ts_event=6, instrument="EUR_USD", quantity=0, avg_price=0, realized_pnl=7.5)
    )
    store.append(AccountState(ts_event=6, currency="USD", balance=100_007.5, equity=100_007.5))
    store.flush()
    pos = store.positions()["EUR_USD"]
    assert (pos["quantity"], pos["realized_pnl"], pos["ts_event"]) == (0, 7.5, 6)
    db = other_connection(store)
    assert db.execute("SELECT equity FROM account_snapshots").fetchall() == [(100_007.5,)]


def test_journal_round_trips_messages_in_sequence(store):
    quotes = [
        Quote(ts_event=i, ts_recv=i + 1, instrument="EUR_USD", bid=1.1, ask=1.1001)
        for i in range(5)
    ]
    seqs = [store.append(q) for q in quotes]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 5
    assert list(store.journal("s1")) == quotes
    assert list(store.journal(after_seq=seqs[2])) == quotes[3:]


def test_appends_are_group_committed_and_flushed_on_close(tmp_path):
    path = tmp_path / "db.sqlite"
    store = StateStore.open(path, commit_every=3, commit_interval_s=3600)
    store.begin_session("s", "paper", {}, 0)
    for i in range(2):
        store.append(Quote(ts_event=i, instrument="EUR_USD", bid=1.0, ask=1.1))
    reader = sqlite3.connect(path)
    time.sleep(0.05)  # the writer has had time: the group is not full, so it is still open
    assert reader.execute("SELECT count(*) FROM journal").fetchone() == (0,)
    store.append(Quote(ts_event=2, instrument="EUR_USD", bid=1.0, ask=1.1))
    deadline = time.monotonic() + 10  # a full group is committed without being asked
    while reader.execute("SELECT count(*) FROM journal").fetchone() != (3,):
        assert time.monotonic() < deadline, "the full group was never committed"
        time.sleep(0.005)
    store.append(Quote(ts_event=3, instrument="EUR_USD", bid=1.0, ask=1.1))
    store.close()
    assert reader.execute("SELECT count(*) FROM journal").fetchone() == (4,)


def test_sequence_numbers_continue_across_reopen(tmp_path):
    path = tmp_path / "db.sqlite"
    first = StateStore.open(path)
    first.begin_session("s1", "paper", {}, 0)
    assert first.append(Quote(ts_event=1, instrument="EUR_USD", bid=1.0, ask=1.1)) == 1
    first.end_session(10, "done")
    first.close()
    second = StateStore.open(path)
    second.begin_session("s2", "paper", {}, 20)
    assert second.append(Quote(ts_event=2, instrument="EUR_USD", bid=1.0, ask=1.1)) == 2
    sessions = second.sessions()
    second.close()
    assert [(s["session_id"], s["stop_reason"]) for s in sessions] == [
        ("s1", "done"),
        ("s2", None),
    ]


def test_snapshot_sets_are_whole_and_keep_each_actors_position(store):
    assert store.latest_snapshots() is None
    assert store.recovery_floor() == 0
    store.append(Quote(ts_event=1, instrument="EUR_USD", bid=1.0, ask=1.1))
    store.save_snapshots(1, {"strategy": (1, b"one")}, {"v": 1})
    store.append(Quote(ts_event=2, instrument="EUR_USD", bid=1.0, ask=1.1))
    store.append(Quote(ts_event=3, instrument="EUR_USD", bid=1.0, ask=1.1))
    store.save_snapshots(3, {"strategy": (3, b"two"), "bar_builder": (2, b"bb")}, {"v": 2})
    latest = store.latest_snapshots()
    assert latest is not None
    assert latest.states == {"strategy": (3, b"two"), "bar_builder": (2, b"bb")}
    assert latest.meta == {"v": 2}
    assert latest.ts_event == 3
    assert store.recovery_floor() == 2  # the lowest position of the newest set


def test_a_snapshot_set_that_fails_half_way_is_not_there(store, monkeypatch):
    store.append(Quote(ts_event=1, instrument="EUR_USD", bid=1.0, ask=1.1))
    store.save_snapshots(1, {"strategy": (1, b"one")}, {})
    with pytest.raises(sqlite3.ProgrammingError):  # the second state cannot be stored
        store.save_snapshots(2, {"model": (1, b"m"), "strategy": (1, object())}, {})
    latest = store.latest_snapshots()
    assert latest is not None
    assert latest.states == {"strategy": (1, b"one")}


def _try_open(path: str, result) -> None:  # runs in a child process
    try:
        StateStore.open(path).close()
        result.put("opened")
    except StateLockedError as exc:
        result.put(str(exc))


def test_a_second_process_on_the_same_state_is_refused(store):
    ctx = multiprocessing.get_context("spawn")
    result = ctx.Queue()
    child = ctx.Process(target=_try_open, args=(str(store.path), result))
    child.start()
    child.join(60)
    message = result.get(timeout=5)
    assert "in use by pid" in message
    assert str(store.path) in message


def test_a_database_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "db.sqlite"
    StateStore.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(AlgotradingError, match="newer than this build"):
        StateStore.open(path)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    conn.close()
    StateStore.open(path).close()  # the failed open released its lock


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "db.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(AlgotradingError, match="not a usable state database"):
        StateStore.open(path)


def test_writes_need_a_session(tmp_path):
    store = StateStore.open(tmp_path / "db.sqlite")
    with pytest.raises(RuntimeError, match="begin_session"):
        store.append(Quote(ts_event=1, instrument="EUR_USD", bid=1.0, ask=1.1))
    store.close()


def _quotes(store, n: int) -> None:
    for i in range(n):
        store.append(Quote(ts_event=i + 1, instrument="EUR_USD", bid=1.1, ask=1.1002))
    store.flush()


def _damage(path: Path, seq: int) -> None:
    db = sqlite3.connect(path)
    db.execute("UPDATE journal SET body = ? WHERE seq = ?", (b"\xc1\xff torn", seq))
    db.commit()
    db.close()


def test_a_damaged_last_journal_record_is_left_out_and_the_rest_read(store, tmp_path):
    _quotes(store, 5)
    _damage(store.path, 5)
    assert [m.ts_event for m in store.journal()] == [1, 2, 3, 4]


def test_a_damaged_record_in_the_middle_is_an_error_naming_it(store):
    from algotrading.errors import DataError

    _quotes(store, 5)
    _damage(store.path, 3)
    with pytest.raises(DataError, match="journal record 3"):
        list(store.journal())


def test_backup_copies_a_consistent_database_while_it_is_open(store, tmp_path):
    from algotrading.state.store import backup_database

    _quotes(store, 50)
    store.write_ahead(order())
    copied = backup_database(store.path, tmp_path / "backup" / "copy.sqlite")
    assert copied == 50
    again = StateStore.open(tmp_path / "backup" / "copy.sqlite", lock=False)
    try:
        assert [m.ts_event for m in again.journal()][-1] == 50
        assert again.order("s1-000001") is not None
    finally:
        again.close()
    with pytest.raises(AlgotradingError, match="no state database"):
        backup_database(tmp_path / "nothing.sqlite", tmp_path / "x.sqlite")
