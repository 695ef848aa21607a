"""The state store's writer thread: ``append`` makes no SQLite call on its caller's thread,
groups are still committed together, a write-ahead and every read wait for what was queued
before them, a writer that fails says so on the next call, and ``close`` loses nothing."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from algotrading.errors import AlgotradingError
from algotrading.messages import Position, Quote
from algotrading.state.store import DuplicateOrderError, StateStore, StateWriteError
from tests.unit.state.samples import fill, order


class Watched(sqlite3.Connection):
    """A real connection that notes the thread and statement of each call, fails like a
    broken disk on the statements that start with ``fail_on``, and holds each commit until
    ``stalled`` is set, when it is given (a stalled disk)."""

    calls: list[tuple[int, str]]
    fail_on: str | None
    stalled: threading.Event | None

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        self._note(sql)
        return super().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        self._note(sql)
        return super().executemany(sql, parameters)

    def _note(self, sql: str) -> None:
        type(self).calls.append((threading.get_ident(), sql))
        if self.fail_on is not None and sql.startswith(self.fail_on):
            raise sqlite3.OperationalError("disk I/O error")
        if self.stalled is not None and sql == "COMMIT":
            self.stalled.wait(10)


@pytest.fixture
def watched(monkeypatch: pytest.MonkeyPatch) -> type[Watched]:
    cls = type("WatchedConnection", (Watched,), {"calls": [], "fail_on": None, "stalled": None})
    monkeypatch.setattr(StateStore, "_connection_factory", cls)
    return cls


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "algotrading.sqlite"


@pytest.fixture
def grouping(path: Path) -> Iterator[StateStore]:
    """A store whose groups never fill or age on their own: only a wait commits them."""
    store = StateStore.open(path, commit_every=10_000, commit_interval_s=3600)
    store.begin_session("s1", "paper", {}, 0)
    yield store
    store.close()


def quote(i: int) -> Quote:
    return Quote(ts_event=i, ts_recv=i, instrument="EUR_USD", bid=1.1, ask=1.1002)


def committed(path: Path, sql: str = "SELECT count(*) FROM journal") -> Any:
    """What another process would see now."""
    db = sqlite3.connect(path)
    try:
        return db.execute(sql).fetchone()[0]
    finally:
        db.close()


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.002)


def test_append_makes_no_sqlite_call_on_the_calling_thread(watched, path):
    store = StateStore.open(path, commit_every=8, commit_interval_s=0.001)
    store.begin_session("s1", "paper", {}, 0)
    store.write_ahead(order())
    watched.calls.clear()
    me = threading.get_ident()
    messages = [quote(i) for i in range(50)] + [
        fill("f1"),
        Position(ts_event=3, instrument="EUR_USD", quantity=10_000, avg_price=1.1),
    ]
    seqs = [store.append(m) for m in messages]
    assert [sql for thread, sql in watched.calls if thread == me] == []
    assert seqs == list(range(seqs[0], seqs[0] + len(messages)))  # numbered at once
    store.flush()
    written = [sql for thread, sql in watched.calls if thread != me]
    assert any(sql.startswith("INSERT INTO journal") for sql in written)
    assert any(sql.startswith("INSERT OR IGNORE INTO fills") for sql in written)
    store.close()
    assert committed(path) == len(messages)


def test_a_write_ahead_is_on_disk_with_everything_queued_before_it(grouping, path):
    for i in range(5):
        grouping.append(quote(i))
    assert committed(path) == 0  # an open group
    grouping.write_ahead(order())
    assert committed(path, "SELECT status FROM orders") == "PENDING_SUBMIT"
    assert committed(path) == 5


def test_a_refused_write_ahead_leaves_the_group_it_was_in_whole(grouping, path):
    grouping.write_ahead(order())
    for i in range(3):
        grouping.append(quote(i))
    with pytest.raises(DuplicateOrderError, match="s1-000001"):
        grouping.write_ahead(order())
    assert committed(path) == 3  # the records queued before it are committed all the same
    assert committed(path, "SELECT count(*) FROM orders") == 1
    grouping.write_ahead(order("s1-000002"))  # and the store goes on
    assert committed(path, "SELECT count(*) FROM orders") == 2


def test_group_commit_still_groups(watched, path):
    store = StateStore.open(path, commit_every=10, commit_interval_s=3600)
    store.begin_session("s1", "paper", {}, 0)
    watched.calls.clear()
    for i in range(10):
        store.append(quote(i))
    wait_for(lambda: committed(path) == 10, "a full group, committed without being asked")
    for i in range(10, 15):
        store.append(quote(i))
    time.sleep(0.05)
    assert committed(path) == 10  # the next five wait in an open group
    assert [sql for _, sql in watched.calls].count("COMMIT") == 1
    store.flush()
    assert committed(path) == 15
    assert [sql for _, sql in watched.calls].count("COMMIT") == 2
    store.close()


def test_a_writer_that_fell_behind_catches_up_in_larger_groups(watched, path):
    store = StateStore.open(path, commit_every=4, commit_interval_s=3600)
    store.begin_session("s1", "paper", {}, 0)
    watched.calls.clear()
    watched.stalled = threading.Event()  # the first group's commit hangs on the disk
    for i in range(100):
        store.append(quote(i))
    watched.stalled.set()
    store.flush()
    commits = [sql for _, sql in watched.calls].count("COMMIT")
    assert commits <= 4  # not 25: groups of up to 16 times commit_every once behind
    assert committed(path) == 100
    store.close()


def test_with_the_defaults_thousands_of_appends_take_few_commits(watched, path):
    store = StateStore.open(path)
    store.begin_session("s1", "paper", {}, 0)
    watched.calls.clear()
    n = 5_000
    for i in range(n):
        store.append(quote(i))
    store.flush()
    commits = [sql for _, sql in watched.calls].count("COMMIT")
    print(f"{n} appends, {commits} commits (commit_every={store.commit_every})")
    assert commits <= 2 * (n // store.commit_every + 1)
    assert committed(path) == n
    store.close()


def test_a_group_is_committed_after_the_interval_without_being_asked(path):
    store = StateStore.open(path, commit_every=10_000, commit_interval_s=0.02)
    store.begin_session("s1", "paper", {}, 0)
    for i in range(3):
        store.append(quote(i))
    wait_for(lambda: committed(path) == 3, "the interval's commit")
    store.close()


def test_reads_see_the_callers_own_writes(grouping):
    grouping.write_ahead(order())
    grouping.append(fill("f1"))
    assert grouping.has_fill("f1")
    assert grouping.order("s1-000001")["status"] == "FILLED"
    grouping.append(Position(ts_event=5, instrument="EUR_USD", quantity=10_000, avg_price=1.1))
    assert grouping.positions()["EUR_USD"]["quantity"] == 10_000
    seq = grouping.append(quote(7))
    assert grouping.last_seq == seq
    assert list(grouping.journal())[-1] == quote(7)
    assert grouping.journal_of_kind("Quote") == [quote(7)]


def test_a_failed_write_ahead_raises_and_nothing_of_it_is_on_disk(watched, grouping, path):
    grouping.append(quote(1))
    watched.fail_on = "INSERT INTO orders"
    with pytest.raises(StateWriteError, match="disk I/O error"):
        grouping.write_ahead(order())
    assert committed(path, "SELECT count(*) FROM orders") == 0
    assert committed(path) == 0  # the group it was in is rolled back whole


@pytest.mark.parametrize("call", ["append", "flush", "write_ahead", "read"])
def test_a_writer_failure_is_raised_by_the_next_call_naming_it(watched, path, call):
    store = StateStore.open(path, commit_every=256, commit_interval_s=0.0)
    store.begin_session("s1", "paper", {}, 0)
    heard: list[StateWriteError] = []
    store.on_failure(heard.append)
    watched.fail_on = "INSERT INTO journal"
    store.append(quote(1))  # queued: the writer finds the disk broken
    wait_for(lambda: store.failure is not None, "the writer's failure")
    calls: dict[str, Callable[[], object]] = {
        "append": lambda: store.append(quote(2)),
        "flush": store.flush,
        "write_ahead": lambda: store.write_ahead(order()),
        "read": store.orders,
    }
    with pytest.raises(AlgotradingError, match="disk I/O error") as raised:
        calls[call]()
    assert isinstance(raised.value.__cause__, sqlite3.OperationalError)
    with pytest.raises(AlgotradingError, match="disk I/O error"):  # and every call after it
        store.append(quote(3))
    assert len(heard) == 1
    assert "disk I/O error" in str(heard[0])
    store.close()  # raised already: close releases the state without raising it again
    StateStore.open(path).close()


def test_a_failed_group_leaves_no_half_message_and_the_committed_ones_stand(watched, grouping):
    grouping.write_ahead(order())
    grouping.append(quote(1))
    grouping.flush()
    watched.fail_on = "INSERT INTO journal"
    grouping.append(fill("f1"))  # its fill row is written before the journal rows fail
    with pytest.raises(AlgotradingError, match="disk I/O error"):
        grouping.flush()
    assert committed(grouping.path) == 1
    assert committed(grouping.path, "SELECT count(*) FROM fills") == 0
    assert committed(grouping.path, "SELECT status FROM orders") == "PENDING_SUBMIT"


def test_a_failure_nobody_has_seen_is_raised_by_close(watched, path):
    store = StateStore.open(path, commit_every=10_000, commit_interval_s=3600)
    store.begin_session("s1", "paper", {}, 0)
    watched.fail_on = "INSERT INTO journal"
    store.append(quote(1))
    with pytest.raises(StateWriteError, match="disk I/O error"):
        store.close()
    StateStore.open(path).close()  # the lock was released all the same


def test_a_writer_far_behind_stops_the_store(watched, path):
    store = StateStore.open(path, commit_every=4, commit_interval_s=3600, max_backlog=50)
    store.begin_session("s1", "paper", {}, 0)
    watched.stalled = threading.Event()
    for i in range(50):
        store.append(quote(i))
    with pytest.raises(StateWriteError, match="51 records behind"):
        store.append(quote(50))
    watched.stalled.set()
    store.close()


def test_close_under_load_loses_nothing(path):
    store = StateStore.open(path, commit_every=64, commit_interval_s=3600)
    store.begin_session("s1", "paper", {}, 0)
    appended: list[int] = []

    def produce() -> None:
        for i in range(50_000):
            try:
                appended.append(store.append(quote(i)))
            except AlgotradingError:  # closed
                return

    producers = [threading.Thread(target=produce) for _ in range(2)]
    for p in producers:
        p.start()
    wait_for(lambda: len(appended) >= 10_000, "appends under way")
    store.close()
    for p in producers:
        p.join()
    db = sqlite3.connect(path)
    seqs = [seq for (seq,) in db.execute("SELECT seq FROM journal ORDER BY seq")]
    db.close()
    assert seqs == sorted(appended)  # every number handed out is on disk, and nothing else
    assert seqs == list(range(1, len(seqs) + 1))


def test_the_time_append_takes_on_the_loop_thread(path):
    """A figure, printed, not asserted: ``pytest -s`` shows it."""
    store = StateStore.open(path)
    store.begin_session("s1", "paper", {}, 0)
    took: list[int] = []

    async def ticks() -> None:
        for i in range(1_000):
            for _ in range(8):  # a quote and the steps it causes
                start = time.perf_counter_ns()
                store.append(quote(i))
                took.append(time.perf_counter_ns() - start)
            await asyncio.sleep(0.0002)

    asyncio.run(ticks())
    store.close()
    us = np.asarray(took) / 1e3
    print(
        f"append on the loop thread ({len(us)} appends): median {np.median(us):.1f} us, "
        f"p99 {np.percentile(us, 99):.1f} us, max {us.max():.0f} us"
    )
    assert committed(path) == len(took)
