"""The daemon speaking sd_notify to a real AF_UNIX datagram socket, as systemd would hear it:
READY with a STATUS line once it trades, WATCHDOG pings at half of WATCHDOG_USEC, STOPPING on
SIGTERM — and no pings while an actor hangs, so that systemd would kill and restart it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from algotrading.actors.strategy import StrategyActor
from algotrading.config import load_config
from algotrading.daemon.app import run_daemon
from algotrading.messages import Bar
from algotrading.ops.systemd import SdNotifier, SystemdConfig, SystemdService

WATCHDOG_USEC = 400_000  # pings every 0.2 s


class Listener:
    """systemd's side of the notification socket: every datagram, with when it came."""

    def __init__(self, tmp_path: Path) -> None:
        path = tmp_path / "notify.sock"
        if len(str(path)) >= 100:  # sun_path holds 108 bytes
            path = Path(tempfile.mkdtemp(prefix="sdn")) / "notify.sock"
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.received: list[tuple[float, str]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._done.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.received.append((time.monotonic(), data.decode()))

    def close(self) -> None:
        self._done.set()
        self._thread.join(5)
        self.sock.close()

    def texts(self) -> list[str]:
        return [text for _, text in self.received]

    def first(self, prefix: str) -> float | None:
        return next((t for t, text in self.received if text.startswith(prefix)), None)

    def pings_between(self, start: float, end: float) -> int:
        return sum(1 for t, text in self.received if text == "WATCHDOG=1" and start <= t < end)

    def wait_for(self, prefix: str, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.first(prefix)
            if found is not None:
                return found
            time.sleep(0.02)
        raise AssertionError(f"no {prefix!r} within {timeout} s; got {self.texts()[:10]}")


@pytest.fixture
def listener(tmp_path):
    listener = Listener(tmp_path)
    yield listener
    listener.close()


def test_the_daemon_process_notifies_ready_pings_and_stopping(tmp_path, listener):
    """``algotrading run`` as systemd starts it: with NOTIFY_SOCKET and WATCHDOG_USEC set, the
    daemon's default services include the systemd notifier."""
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "NOTIFY_SOCKET": listener.path,
        "WATCHDOG_USEC": str(WATCHDOG_USEC),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "algotrading", "run", "--duration", "60", "--speed", "30",
         "--state-dir", str(tmp_path / "state")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        ready = listener.wait_for("READY=1", timeout=30)
        time.sleep(1.7)
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    texts = listener.texts()
    first = texts[0].split("\n")
    assert first[0] == "READY=1"
    assert first[1].startswith("STATUS=paper ACTIVE: ")
    for word in ("orders", "fills", "equity", "restarts"):
        assert word in first[1]
    pings = listener.pings_between(ready, ready + 1.5)
    assert 4 <= pings <= 12, f"{pings} pings in 1.5 s at WATCHDOG_USEC={WATCHDOG_USEC}"
    stopping = listener.wait_for("STOPPING=1", timeout=1)
    assert "STOPPING=1\nSTATUS=stopping: signal SIGTERM" in texts
    assert listener.pings_between(stopping, float("inf")) == 0
    assert texts.count("STOPPING=1\nSTATUS=stopping: signal SIGTERM") == 1
    assert "signal SIGTERM" in out


@pytest.mark.asyncio
async def test_pings_stop_while_an_actor_hangs_and_the_rest_runs_on(
    tmp_path, listener, monkeypatch
):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "system.yaml").write_text("feed: {speed: 30}\nruntime: {drain_timeout_seconds: 0.5}\n")
    config = load_config(conf)
    hang_now, hung = asyncio.Event(), asyncio.Event()
    on_bar = StrategyActor.on_bar

    async def hang_when_told(self: StrategyActor, msg: Bar) -> None:
        if not hang_now.is_set():
            return await on_bar(self, msg)
        hung.set()
        await asyncio.sleep(3600)  # cancelled by the shutdown

    monkeypatch.setattr(StrategyActor, "on_bar", hang_when_told)
    notifier = SdNotifier(listener.path, watchdog_usec=WATCHDOG_USEC)
    service = SystemdService(SystemdConfig(watchdog_stuck_seconds=0.6), notifier=notifier)
    runtimes = []
    daemon = asyncio.create_task(
        run_daemon(
            config,
            tmp_path / "state",
            duration_s=60,
            services=[service],
            on_started=lambda session, runtime: runtimes.append(runtime),
        )
    )
    try:
        while listener.pings_between(0, float("inf")) < 2:  # healthy, and pinging
            assert not daemon.done()
            await asyncio.sleep(0.05)
        hang_now.set()
        await asyncio.wait_for(hung.wait(), 30)
        hung_at = time.monotonic()
        runtime = runtimes[0]
        handled_before = runtime.handled["bar_builder"]
        await asyncio.sleep(2.5)
        assert runtime.stuck(0.6) == ["strategy"]
        assert runtime.handled["bar_builder"] > handled_before + 30  # the rest runs on
        assert not daemon.done()
    finally:
        if runtimes:
            runtimes[0].request_stop("test done")
        summary = await asyncio.wait_for(daemon, 30)
    assert summary.exit_code == 0
    ready = listener.first("READY=1")
    assert ready is not None
    assert ready < hung_at
    # pinged while healthy; then, once the strategy had been busy for 0.6 s, never again
    assert listener.pings_between(ready, hung_at) >= 1
    assert listener.pings_between(hung_at + 0.6 + 0.25, float("inf")) == 0
    unhealthy = [t for t in listener.texts() if t.startswith("STATUS=unhealthy")]
    assert unhealthy == ["STATUS=unhealthy: strategy busy with one message for over 0.6s"]
    assert any(t.startswith("STOPPING=1\nSTATUS=stopping: test done") for t in listener.texts())
