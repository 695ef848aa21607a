"""``algotrading run`` meeting what it cannot work with at start: one line on stderr that says
what to do, no traceback, and the exit status that tells systemd whether a restart can help
(docs/operations/README.md: 69 and 74 restarted, 73 and 78 left stopped)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

TOKEN = "0123456789abcdef-secret-token-fedcba9876543210"


def run(tmp_path: Path, system_yaml: str, *extra: str) -> subprocess.CompletedProcess[str]:
    conf = tmp_path / "conf"
    conf.mkdir(exist_ok=True)
    (conf / "system.yaml").write_text(system_yaml)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "algotrading",
            "run",
            "--config",
            str(conf),
            "--duration",
            "2",
            "--speed",
            "60",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "ALGOTRADING_OANDA_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"},
    )


def oanda_at(url: str) -> str:
    return f"venue:\n  kind: oanda\n  oanda: {{environment: custom, rest_url: '{url}'}}\n"


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, result.stderr[-3000:]
    assert errors[0].startswith("algotrading run: error: ")
    assert TOKEN not in result.stderr + result.stdout
    return errors[0]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed when the block ends: nobody listens


class Refusing(BaseHTTPRequestHandler):
    """OANDA's answer to a wrong token, echoing what it got (the header included)."""

    def do_GET(self) -> None:
        body = (
            '{"errorMessage": "Insufficient authorization to perform request. You sent '
            + self.headers.get("Authorization", "")
            + " to "
            + self.path
            + '"}'
        ).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def refusing_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_venue_that_is_not_running_is_69_restarted(tmp_path):
    result = run(tmp_path, oanda_at(f"http://127.0.0.1:{closed_port()}"))
    assert result.returncode == 69, result.stderr[-3000:]
    line = one_line_error(result)
    assert "cannot reach the venue" in line


def test_a_refused_token_is_78_left_stopped(tmp_path, refusing_server):
    result = run(tmp_path, oanda_at(refusing_server))
    assert result.returncode == 78, result.stderr[-3000:]
    line = one_line_error(result)
    assert "refused the credentials (HTTP 401" in line
    assert "ALGOTRADING_OANDA_TOKEN" in line


def in_mount_namespace(script: str) -> list[str]:
    """``sh -c script`` in a mount namespace of its own (root, or user namespaces allowed),
    where a mount made for the test is seen by nothing else and vanishes with the process."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare is not installed")
    prefix = [unshare, "--mount"] if os.geteuid() == 0 else [unshare, "-r", "--mount"]
    probe = subprocess.run([*prefix, "mount", "-t", "tmpfs", "tmpfs", "/mnt"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"no mount namespace here: {probe.stderr.decode().strip()}")
    return [*prefix, "sh", "-c", script]


def run_in(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        in_mount_namespace(script),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "ALGOTRADING_OANDA_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"},
    )


def daemon(state: Path) -> str:
    return f"exec {sys.executable} -m algotrading run --duration 2 --speed 60 --state-dir {state}"


def test_an_existing_state_on_a_read_only_file_system_is_73_left_stopped(tmp_path):
    state = tmp_path / "state"
    first = run(tmp_path, "", "--state-dir", str(state))
    assert first.returncode == 0, first.stderr[-3000:]
    result = run_in(
        tmp_path,
        f"mount --bind {state} {state} && mount -o remount,bind,ro {state} && {daemon(state)}",
    )
    assert result.returncode == 73, result.stderr[-3000:]
    assert "cannot write the state here" in one_line_error(result)


def test_a_restart_on_a_full_disk_is_74_restarted(tmp_path):
    state = tmp_path / "state"
    first = run(tmp_path, "", "--state-dir", str(state))
    assert first.returncode == 0, first.stderr[-3000:]
    full = tmp_path / "full"
    full.mkdir()
    result = run_in(
        tmp_path,
        f"mount -t tmpfs -o size=8m tmpfs {full} && cp -a {state}/. {full}/ && "
        f"(dd if=/dev/zero of={full}/filler bs=4k 2>/dev/null; true) && {daemon(full)}",
    )
    assert result.returncode == 74, result.stderr[-3000:]
    assert "df -h" in one_line_error(result)  # SQLite says "disk I/O error" for a full tmpfs


def test_a_state_directory_under_a_file_is_bad_input_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run(tmp_path, "", "--state-dir", str(blocker / "state"))
    assert result.returncode == 2, result.stderr[-3000:]
    assert "choose another --state-dir" in one_line_error(result)
