"""What the daemon writes is its user's alone, whatever umask it was started with: a fresh state
directory 0700 and every file in it 0600 (database, -wal, -shm, lock, recordings), a backup and
an export 0600; an existing directory others may read is reported and left as it is."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest


def algotrading(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "algotrading", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        umask=0o022,  # a usual login umask: files 0644 and directories 0755 unless we say so
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


@pytest.fixture(scope="module")
def paper_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("private")
    run = algotrading("run", "--duration", "3", "--speed", "60", "--state-dir", "state", cwd=home)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "state_dir_not_private" not in run.stderr
    return home / "state"


def test_a_fresh_state_directory_and_everything_in_it_are_private(paper_state):
    found = modes(paper_state)
    assert found.pop(".") == 0o700
    assert "algotrading.sqlite" in found
    assert "algotrading.sqlite.lock" in found
    for name, mode in found.items():
        expected = 0o700 if (paper_state / name).is_dir() else 0o600
        assert mode == expected, f"{name}: {mode:04o}"


def test_backup_and_export_are_private(paper_state, tmp_path):
    backup = algotrading(
        "backup", "--state-dir", str(paper_state), "--out", "copy.sqlite", cwd=tmp_path
    )
    assert backup.returncode == 0, backup.stderr
    assert stat.S_IMODE((tmp_path / "copy.sqlite").stat().st_mode) == 0o600
    export = algotrading("export", "--state-dir", str(paper_state), "--out", "out", cwd=tmp_path)
    assert export.returncode == 0, export.stderr
    found = modes(tmp_path / "out")
    assert len(found) > 2
    for name, mode in found.items():
        expected = 0o700 if (tmp_path / "out" / name).is_dir() else 0o600
        assert mode == expected, f"{name}: {mode:04o}"


def test_an_existing_open_directory_is_reported_not_changed(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)
    run = algotrading(
        "run", "--duration", "1", "--speed", "60", "--state-dir", "state", cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "state_dir_not_private" in run.stderr
    assert "chmod 700" in run.stderr
    assert stat.S_IMODE(state.stat().st_mode) == 0o755  # the operator's choice, left alone
    assert stat.S_IMODE((state / "algotrading.sqlite").stat().st_mode) == 0o600
