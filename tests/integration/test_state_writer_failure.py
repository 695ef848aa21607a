"""The paper daemon with a state store whose disk breaks while it trades: it stops, with a
non-zero exit code and a reason naming the cause, rather than trading on with a journal that
is no longer written — and what was committed before the failure is intact."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

from algotrading.config import load_config
from algotrading.daemon.app import DB_NAME, EXIT_STATE_FAILED, run_daemon
from algotrading.state.store import StateStore


class BreakingDisk(sqlite3.Connection):
    """A real connection whose journal writes fail once ``broken`` is set."""

    broken = False

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        if type(self).broken and sql.startswith("INSERT INTO journal"):
            raise sqlite3.OperationalError("disk I/O error")
        return super().execute(sql, parameters)


def test_the_daemon_stops_non_zero_when_the_state_writer_fails(tmp_path, monkeypatch):
    disk = type("Disk", (BreakingDisk,), {"broken": False})
    monkeypatch.setattr(StateStore, "_connection_factory", disk)
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "system.yaml").write_text("feed: {speed: 600}\n")
    state = tmp_path / "state"

    def on_started(session: object, runtime: object) -> None:
        asyncio.get_running_loop().call_later(1.5, setattr, disk, "broken", True)

    began = time.monotonic()
    summary = asyncio.run(
        run_daemon(load_config(conf), state, duration_s=60, on_started=on_started)
    )
    assert summary.exit_code == EXIT_STATE_FAILED
    assert "state store failed" in summary.reason
    assert "disk I/O error" in summary.reason
    assert time.monotonic() - began < 30  # stopped, not run to the end of its 60 s
    db = sqlite3.connect(state / DB_NAME)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT count(*) FROM journal").fetchone()[0] > 0
    finally:
        db.close()
