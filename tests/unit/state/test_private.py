"""Private files and the state's disk errors: modes whatever the umask, an open directory
reported and left alone, and each disk failure as the error whose exit status fits it."""

from __future__ import annotations

import errno
import os
import sqlite3
import stat

import pytest
import structlog

from algotrading.errors import AlgotradingError, StateIOError, StateNotWritableError
from algotrading.state.disk_errors import state_error
from algotrading.state.private import private_dir, private_file, private_tree
from algotrading.state.store import StateStore


@pytest.fixture
def open_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_fresh_store_is_private_under_an_open_umask(tmp_path, open_umask):
    state = tmp_path / "a" / "state"
    store = StateStore.open(state / "algotrading.sqlite")
    store.begin_session("s", "paper", {}, 1)
    store.end_session(2, "done")
    try:
        assert mode(state) == 0o700
        names = {p.name: mode(p) for p in state.iterdir()}
        assert {"algotrading.sqlite", "algotrading.sqlite-wal", "algotrading.sqlite.lock"} <= set(
            names
        )
        assert set(names.values()) == {0o600}, names
    finally:
        store.close()


def test_an_open_directory_is_reported_and_left(tmp_path, open_umask):
    os.chmod(tmp_path, 0o755)
    with structlog.testing.capture_logs() as logs:
        private_dir(tmp_path)
    assert mode(tmp_path) == 0o755
    assert [e["event"] for e in logs] == ["state_dir_not_private"]
    assert logs[0]["mode"] == "0755"
    private_file(tmp_path / "f")
    with pytest.raises(AlgotradingError, match="not a directory"):
        private_dir(tmp_path / "f")


def test_own_files_are_tightened_and_trees_made_private(tmp_path, open_umask):
    loose = tmp_path / "db"
    loose.write_text("x")
    assert mode(loose) == 0o644
    private_file(loose)
    assert mode(loose) == 0o600
    assert loose.read_text() == "x"
    (tmp_path / "t" / "u").mkdir(parents=True)
    (tmp_path / "t" / "u" / "f").write_text("")
    private_tree(tmp_path / "t")
    assert [mode(tmp_path / p) for p in ("t", "t/u", "t/u/f")] == [0o700, 0o700, 0o600]


@pytest.mark.parametrize(
    ("exc", "kind", "status", "words"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), StateIOError, 74, "disk is full"),
        (sqlite3.OperationalError("database or disk is full"), AlgotradingError, 2, "usable"),
        (OSError(errno.EROFS, "Read-only file system"), StateNotWritableError, 73, "writable"),
        (PermissionError(errno.EACCES, "Permission denied"), StateNotWritableError, 73, "writable"),
        (OSError(errno.EIO, "Input/output error"), StateIOError, 74, "dmesg"),
    ],
)
def test_disk_errors_say_what_to_do_with_the_status_that_fits(tmp_path, exc, kind, status, words):
    error = state_error(tmp_path / "algotrading.sqlite", exc)
    assert type(error) is kind
    assert error.exit_status == status
    assert words in str(error)
    assert "\n" not in str(error)


def test_sqlite_result_codes_are_read(tmp_path):
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = 13  # type: ignore[attr-defined]
    readonly = sqlite3.OperationalError("attempt to write a readonly database")
    readonly.sqlite_errorcode = 8  # type: ignore[attr-defined]
    assert state_error(tmp_path / "x.sqlite", full).exit_status == 74
    assert state_error(tmp_path / "x.sqlite", readonly).exit_status == 73
