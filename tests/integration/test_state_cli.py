"""``algotrading export``, ``sessions`` and ``compact`` as real subprocesses, on a state
database made by two short real paper runs; and compaction while another process holds the
store open and keeps writing to it."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from algotrading.state.export_read import read_manifest, read_recording
from algotrading.state.store import StateStore

DB = "algotrading.sqlite"


def algotrading(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "algotrading", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.fixture(scope="module")
def paper_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two short paper sessions, then a snapshot set at the journal's top (what a daemon's
    snapshot does), so that recovery no longer reads the first session."""
    state = tmp_path_factory.mktemp("paper") / "state"
    for _ in range(2):
        run = algotrading("run", "--duration", "3", "--speed", "60", "--state-dir", str(state))
        assert run.returncode == 0, run.stderr[-2000:]
    store = StateStore.open(state / DB)
    store.begin_session("ops", "paper", {}, time.time_ns())
    seq = store.last_seq
    store.save_snapshots(time.time_ns(), {"strategy": (seq, b"s"), "model": (seq, b"m")}, {})
    store.end_session(time.time_ns(), "snapshot taken")
    store.close()
    return state


@pytest.fixture
def state(paper_state: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "state"
    shutil.copytree(paper_state, copy)
    return copy


def sessions(state: Path) -> list[dict]:
    listed = algotrading("sessions", "--state-dir", str(state), "--json")
    assert listed.returncode == 0, listed.stderr
    return json.loads(listed.stdout)


def counts(state: Path) -> dict[str, int]:
    conn = sqlite3.connect(state / DB)
    try:
        return dict(conn.execute("SELECT session_id, count(*) FROM journal GROUP BY 1"))
    finally:
        conn.close()


def test_sessions_lists_the_paper_runs(state):
    listed = sessions(state)
    assert [s["mode"] for s in listed] == ["paper", "paper", "paper"]
    assert [s["stop_reason"] for s in listed] == [
        "duration of 3s reached",
        "duration of 3s reached",
        "snapshot taken",
    ]
    assert {s["session_id"]: s["records"] for s in listed if s["records"]} == counts(state)
    first = listed[0]
    assert first["kinds"]["Quote"] > 100
    assert first["kinds"]["Fill"] >= 1
    assert first["started"].endswith("Z")
    table = algotrading("sessions", "--state-dir", str(state))
    assert table.returncode == 0, table.stderr
    for s in listed:
        assert s["session_id"] in table.stdout
    assert "duration of 3s reached" in table.stdout


def test_export_the_latest_and_all_sessions(state, tmp_path):
    listed = sessions(state)
    paper = [s["session_id"] for s in listed[:2]]
    out = tmp_path / "out"
    done = algotrading(
        "export", "--state-dir", str(state), "--session", paper[1], "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert f"{paper[1]}: {listed[1]['records']} records" in done.stdout
    store = StateStore.open(state / DB, lock=False)
    journaled = {sid: list(store.journal(sid)) for sid in paper}
    store.close()
    assert list(read_recording(out / paper[1])) == journaled[paper[1]]
    config = json.loads(
        sqlite3.connect(state / DB)
        .execute("SELECT config FROM sessions WHERE session_id = ?", (paper[1],))
        .fetchone()[0]
    )
    assert read_manifest(out / paper[1])["config"] == config
    first = {p.name: p.read_bytes() for p in (out / paper[1]).iterdir()}
    assert {"journal.parquet", "quotes.parquet", "fills.parquet", "session.json"} <= set(first)

    again = algotrading("export", "--state-dir", str(state), "--all", "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(s["session_id"] for s in listed)
    assert {p.name: p.read_bytes() for p in (out / paper[1]).iterdir()} == first
    assert list(read_recording(out / paper[0])) == journaled[paper[0]]

    latest = algotrading("export", "--state-dir", str(state), "--out", str(tmp_path / "l"))
    assert latest.returncode == 0, latest.stderr
    assert [p.name for p in (tmp_path / "l").iterdir()] == [listed[-1]["session_id"]]


def test_compact_archives_the_old_session_and_keeps_the_newest(state, tmp_path):
    listed = sessions(state)
    old, last_run = listed[0]["session_id"], listed[1]["session_id"]
    before = counts(state)
    archive = tmp_path / "archive"
    dry = algotrading(
        "compact", "--state-dir", str(state), "--keep-days", "0", "--archive", str(archive),
        "--dry-run",
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert f"{old}: would archive {before[old]} records" in dry.stdout
    assert counts(state) == before
    assert not archive.exists()

    done = algotrading(
        "compact", "--state-dir", str(state), "--keep-days", "0", "--archive", str(archive)
    )
    assert done.returncode == 0, done.stderr
    assert "vacuumed" in done.stdout
    after = counts(state)
    assert old not in after
    assert after[last_run] == 1  # everything but the journal's last record
    assert len(list(read_recording(archive / old))) == before[old]
    assert len(list(read_recording(archive / last_run))) == before[last_run]
    conn = sqlite3.connect(state / DB)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
    listed_after = {s["session_id"]: s["records"] for s in sessions(state)}
    assert listed_after[old] == 0  # the session row stays; its records are archived


HOLDER = r"""
import sys, time, pathlib
from algotrading.messages import Quote
from algotrading.state.store import StateStore
path, stop = sys.argv[1], pathlib.Path(sys.argv[2])
store = StateStore.open(path, commit_every=4, commit_interval_s=0.005)
store.begin_session("holder", "paper", {}, time.time_ns())
n = 0
while not stop.exists():
    n += 1
    store.append(Quote(ts_event=n, ts_recv=n, instrument="EUR_USD", bid=1.0, ask=1.1))
    if n == 1:
        store.flush()
        print("ready", flush=True)
    time.sleep(0.0005)
store.end_session(time.time_ns(), "test over")
store.close()
print(n, flush=True)
"""


def test_compact_while_another_process_holds_the_store_and_writes(state, tmp_path):
    listed = sessions(state)
    old = listed[0]["session_id"]
    old_records = counts(state)[old]
    stop = tmp_path / "stop"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(state / DB), str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        done = algotrading(
            "compact", "--state-dir", str(state), "--keep-days", "0",
            "--archive", str(tmp_path / "archive"),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "a daemon holds it: not vacuumed" in done.stdout
    finally:
        stop.touch()
        out, err = holder.communicate(timeout=60)
    assert holder.returncode == 0, err
    written = int(out.split()[-1])
    after = counts(state)
    assert after["holder"] == written  # every write of the other process went in
    assert old not in after
    assert len(list(read_recording(tmp_path / "archive" / old))) == old_records


def test_bad_input_is_one_line_and_status_2(state, tmp_path):
    cases = [
        ("export", "--state-dir", str(tmp_path / "none"), "--out", str(tmp_path / "o")),
        ("export", "--state-dir", str(state), "--session", "nope", "--out", str(tmp_path / "o")),
        ("compact", "--state-dir", str(state), "--keep-days", "-1"),
    ]
    for args in cases:
        done = algotrading(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, (args, done.stderr)
        assert lines[0].startswith(f"algotrading {args[0]}: error: "), lines
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "o").exists()
