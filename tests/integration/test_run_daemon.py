"""``algotrading run`` as a new user runs it: a real process, real signals, a real SQLite file."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path


def start(state_dir: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "algotrading", "run", "--state-dir", str(state_dir), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def events(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def check_database(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    return db


def test_run_on_defaults_trades_within_20_seconds_and_exits_0(tmp_path):
    proc = start(tmp_path / "state", "--duration", "20")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    log = events(err)
    assert {e["actor"] for e in log} >= {"daemon", "strategy", "order_manager", "monitor"}
    fills = [e for e in log if e["event"] == "filled"]
    assert fills, "no fill within 20 seconds"
    assert "fills" in out
    assert "stopped (duration of 20s reached)" in out
    db = check_database(tmp_path / "state" / "algotrading.sqlite")
    statuses = dict(db.execute("SELECT status, count(*) FROM orders GROUP BY status").fetchall())
    assert statuses.get("FILLED", 0) == len(fills)
    assert db.execute("SELECT count(*) FROM journal").fetchone()[0] > 20


def test_sigterm_mid_run_exits_0_within_5_seconds_with_consistent_state(tmp_path):
    proc = start(tmp_path / "state", "--speed", "5")
    deadline = time.monotonic() + 40
    seen_fill = False
    assert proc.stderr is not None
    while time.monotonic() < deadline and not seen_fill:
        line = proc.stderr.readline()
        seen_fill = '"event": "filled"' in line
    assert seen_fill, "the daemon never traded"
    # a backup while it runs: consistent, checked, and the daemon goes on undisturbed
    backup = subprocess.run(
        [sys.executable, "-m", "algotrading", "backup", "--state-dir", str(tmp_path / "state"),
         "--out", str(tmp_path / "backup.sqlite")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert backup.returncode == 0, backup.stderr[-2000:]
    assert "integrity ok" in backup.stdout
    copy = check_database(tmp_path / "backup.sqlite")
    assert copy.execute("SELECT count(*) FROM journal").fetchone()[0] > 0
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    out, err = proc.communicate(timeout=10)
    assert time.monotonic() - sent < 5
    assert proc.returncode == 0, err[-3000:]
    assert "signal SIGTERM" in out
    db = check_database(tmp_path / "state" / "algotrading.sqlite")
    # every order written ahead reached a final or acknowledged state, and fills add up
    rows = db.execute("SELECT client_order_id, status, quantity, filled_quantity FROM orders")
    for cid, status, quantity, filled in rows:
        assert status in ("FILLED", "ACCEPTED", "SUBMITTED"), (cid, status)
        if status == "FILLED":
            assert abs(filled - quantity) < 1e-9
        fill_sum = db.execute(
            "SELECT coalesce(sum(quantity), 0) FROM fills WHERE client_order_id = ?", (cid,)
        ).fetchone()[0]
        assert abs(fill_sum - filled) < 1e-9


def test_torch_is_not_imported_without_a_neural_model(tmp_path):
    code = (
        "import sys; from algotrading.cli import main; "
        f"rc = main(['backtest', '--out', {str(tmp_path / 'o')!r}]); "
        "assert rc == 0; assert 'torch' not in sys.modules, 'torch was imported'"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_service_task_that_dies_stops_the_daemon_non_zero(tmp_path):
    """A task a service started and that died with an exception is not lost: the daemon
    stops, exit 1, and says which task and why."""
    import asyncio

    from algotrading.config import load_config
    from algotrading.daemon.app import run_daemon

    class Broken:
        name = "broken"

        async def start(self, ctx) -> None:
            async def die() -> None:
                await asyncio.sleep(0.2)
                raise RuntimeError("the watchdog lost its socket")

            ctx.tasks.spawn(die(), "service:broken")

        async def stop(self) -> None:
            return None

    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "system.yaml").write_text("feed: {speed: 60}\n")
    summary = asyncio.run(
        run_daemon(load_config(conf), tmp_path / "state", duration_s=30, services=[Broken()])
    )
    assert summary.exit_code == 1
    assert "service:broken" in summary.reason
    assert "the watchdog lost its socket" in summary.reason


def test_bad_configuration_files_exit_2_with_one_line_before_anything_starts(tmp_path):
    """Each of these once loaded (and ran on a limit turned off, or on the defaults) or died
    with a traceback; now each is one line on stderr and exit 2, with no state written."""
    cases = {
        "nan_limit": ("system.yaml", b"risk:\n  max_order_quantity: .nan\n"),
        "duplicate": ("system.yaml", b"risk:\n  max_order_quantity: 1\n  max_order_quantity: 9\n"),
        "not_utf8": ("system.yaml", b"log:\n  level: \xff\n"),
        "deep": ("system.yaml", b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n"),
        "admin": ("system.yaml", b"admin:\n  max_connections: 0\n"),
        "cron": ("model.yaml", b"retrain:\n  cron: garbage\n"),
        "dangling": ("system.yaml", None),
    }
    for case, (name, content) in cases.items():
        conf = tmp_path / case
        conf.mkdir()
        if content is None:
            (conf / name).symlink_to(conf / "gone.yaml")
        else:
            (conf / name).write_bytes(content)
        state = tmp_path / f"state-{case}"
        proc = start(state, "--config", str(conf), "--duration", "5")
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 2, (case, err[-2000:])
        assert "Traceback" not in err, (case, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1, (case, err)
        assert name in lines[0], (case, err)
        assert not state.exists() or not any(state.iterdir()), case
