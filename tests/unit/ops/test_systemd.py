"""The sd_notify protocol over a real AF_UNIX datagram socket, and the systemd service on a
fake runtime: READY then STATUS, pings at WATCHDOG_USEC/2 only while healthy, STOPPING."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import msgspec
import pytest
import structlog
from structlog.testing import capture_logs

from algotrading.daemon.read_model import ReadModel
from algotrading.messages import AccountState, TradingState
from algotrading.ops.systemd import SdNotifier, SystemdConfig, SystemdService
from algotrading.runtime.tasks import OwnedTasks


@pytest.fixture(autouse=True)
def _all_log_levels():
    """capture_logs sees only what the configured wrapper lets through: start from
    structlog's defaults, and put the configuration back after."""
    saved = structlog.get_config()
    structlog.reset_defaults()
    yield
    structlog.configure(**saved)


class Listener:
    """What systemd would be: a datagram socket that collects notifications."""

    def __init__(self, address: str) -> None:
        self.path = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.setblocking(False)
        self.received: list[str] = []

    def drain(self) -> list[str]:
        """Everything that arrived since the last call."""
        new = []
        while True:
            try:
                new.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                break
        self.received += new
        return new

    def close(self) -> None:
        self.sock.close()


def socket_path(tmp_path: Path) -> Path:
    """A path in tmp_path, or in a shorter temporary directory when tmp_path is too long for
    sun_path (108 bytes)."""
    path = tmp_path / "notify.sock"
    if len(str(path)) < 100:
        return path
    return Path(tempfile.mkdtemp(prefix="sdn")) / "notify.sock"


@pytest.fixture
def listener(tmp_path: Path):
    path = socket_path(tmp_path)
    listener = Listener(str(path))
    yield listener
    listener.close()


# --- the protocol ------------------------------------------------------------------------------


def test_without_notify_socket_every_call_is_a_no_op():
    notifier = SdNotifier.from_env({})
    assert not notifier.enabled
    assert notifier.watchdog_interval_s is None
    for call in (
        notifier.ready,
        notifier.stopping,
        notifier.watchdog,
        notifier.watchdog_trigger,
        lambda: notifier.status("x"),
        lambda: notifier.extend_timeout(1_000_000),
    ):
        assert call() is False


def test_each_message_is_one_datagram_of_assignments(listener):
    notifier = SdNotifier.from_env({"NOTIFY_SOCKET": listener.path})
    assert notifier.enabled
    assert notifier.ready("paper ACTIVE:\n0 orders")
    assert notifier.status("running")
    assert notifier.watchdog()
    assert notifier.watchdog_trigger()
    assert notifier.extend_timeout(5_000_000)
    assert notifier.stopping("stopping: signal SIGTERM")
    assert listener.drain() == [
        "READY=1\nSTATUS=paper ACTIVE: 0 orders",  # a newline would start another assignment
        "STATUS=running",
        "WATCHDOG=1",
        "WATCHDOG=trigger",
        "EXTEND_TIMEOUT_USEC=5000000",
        "STOPPING=1\nSTATUS=stopping: signal SIGTERM",
    ]
    assert notifier.extend_timeout(0) is False
    assert listener.drain() == []
    notifier.close()


def test_a_leading_at_sign_means_the_abstract_namespace():
    name = f"algotrading-test-{os.getpid()}-{uuid.uuid4().hex}"
    listener = Listener("\0" + name)
    try:
        notifier = SdNotifier.from_env({"NOTIFY_SOCKET": "@" + name})
        assert notifier.ready()
        assert listener.drain() == ["READY=1"]
    finally:
        listener.close()


@pytest.mark.parametrize(
    ("env", "interval", "for_us"),
    [
        ({"WATCHDOG_USEC": "400000"}, 0.2, True),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0, True),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None, False),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "init"}, None, False),
        ({"WATCHDOG_USEC": "soon"}, None, True),
        ({"WATCHDOG_USEC": "0"}, None, True),
        ({"WATCHDOG_USEC": "-5"}, None, True),
        ({}, None, True),
    ],
)
def test_watchdog_settings_come_from_the_environment(listener, env, interval, for_us):
    notifier = SdNotifier.from_env({"NOTIFY_SOCKET": listener.path, **env})
    assert notifier.watchdog_interval_s == interval
    assert notifier.watchdog_for_us is for_us
    assert notifier.watchdog() is for_us  # never a ping on behalf of another process
    assert listener.drain() == (["WATCHDOG=1"] if for_us else [])


def test_a_relative_socket_name_is_refused_and_logged():
    with capture_logs() as logs:
        notifier = SdNotifier.from_env({"NOTIFY_SOCKET": "run/notify"})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert [e["event"] for e in logs] == ["notify_socket_unsupported"]


def test_a_failing_socket_never_raises_and_is_logged_once_until_it_works_again(tmp_path):
    path = socket_path(tmp_path)
    with capture_logs() as logs:
        notifier = SdNotifier.from_env({"NOTIFY_SOCKET": str(path)})
        assert [notifier.watchdog() for _ in range(3)] == [False, False, False]  # nobody there
        listener = Listener(str(path))
        try:
            assert notifier.watchdog()
            assert listener.drain() == ["WATCHDOG=1"]
        finally:
            listener.close()
        path.unlink()
        assert notifier.watchdog() is False
    assert [e["event"] for e in logs] == [
        "sd_notify_failed",
        "sd_notify_recovered",
        "sd_notify_failed",
    ]
    assert str(path) in logs[0]["socket"]


def test_config_refuses_nonsense_and_unknown_keys():
    assert SystemdConfig() == msgspec.convert({}, SystemdConfig)
    with pytest.raises(msgspec.ValidationError, match="watchdog_stuck_seconds"):
        msgspec.convert({"watchdog_stuck_seconds": 0}, SystemdConfig)
    with pytest.raises(msgspec.ValidationError, match="status_every_seconds"):
        msgspec.convert({"status_every_seconds": -1.0}, SystemdConfig)
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.convert({"watchdog_sec": 30}, SystemdConfig)


# --- the service on a fake runtime -------------------------------------------------------------


@dataclass
class FakeRuntime:
    stuck_names: list[str] = field(default_factory=list)
    escalated: set[str] = field(default_factory=set)
    stopping: bool = False
    stop_reason: str = ""
    asked: list[float] = field(default_factory=list)
    supervisor: Any = None

    def __post_init__(self) -> None:
        restarts = {"feed": 0, "strategy": 2, "monitor": 1}
        self.supervisor = SimpleNamespace(actors=restarts, restarts=restarts.__getitem__)

    def stuck(self, longer_than_s: float) -> list[str]:
        self.asked.append(longer_than_s)
        return sorted({*self.stuck_names, *self.escalated})


def fake_ctx(runtime: FakeRuntime) -> Any:
    return cast(
        Any, SimpleNamespace(runtime=runtime, book=ReadModel(), tasks=OwnedTasks(), mode="paper")
    )


def pings(datagrams: list[str]) -> int:
    return sum(d == "WATCHDOG=1" for d in datagrams)


def service_for(listener: Listener, usec: int, **config: float) -> SystemdService:
    env = {"NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": str(usec)}
    return SystemdService(SystemdConfig(**config), notifier=SdNotifier.from_env(env))


@pytest.mark.asyncio
async def test_ready_with_status_then_pings_at_half_the_timeout_then_stopping(listener):
    runtime = FakeRuntime()
    service = service_for(listener, 200_000, watchdog_stuck_seconds=7.0)
    await service.start(fake_ctx(runtime))
    try:
        first = listener.drain()
        assert first[0] == "READY=1\nSTATUS=paper ACTIVE: 0 orders, 0 fills, equity n/a, 3 restarts"
        await asyncio.sleep(0.65)  # pings every 0.1 s, the first at once
        assert 4 <= pings(first + listener.drain()) <= 9
        assert set(runtime.asked) == {7.0}  # health is asked with the configured threshold
        runtime.stop_reason, runtime.stopping = "signal SIGTERM", True
        await asyncio.sleep(0.4)  # polled every 0.25 s
        after = listener.drain()
        assert "STOPPING=1\nSTATUS=stopping: signal SIGTERM" in after
        stopping_at = after.index("STOPPING=1\nSTATUS=stopping: signal SIGTERM")
        assert pings(after[stopping_at:]) == 0
        await asyncio.sleep(0.3)
        assert pings(listener.drain()) == 0  # no ping once stopping
    finally:
        await service.stop()
    assert listener.drain() == []  # STOPPING went out once


@pytest.mark.asyncio
async def test_pings_stop_while_an_actor_is_stuck_and_resume_after(listener):
    runtime = FakeRuntime()
    with capture_logs() as logs:
        service = service_for(listener, 200_000)
        await service.start(fake_ctx(runtime))
        try:
            await asyncio.sleep(0.35)
            assert pings(listener.drain()) >= 2
            runtime.stuck_names = ["strategy"]
            await asyncio.sleep(0.15)
            listener.drain()  # a ping may have left just before
            await asyncio.sleep(0.6)
            assert pings(listener.drain()) == 0
            runtime.stuck_names = []
            await asyncio.sleep(0.35)
            assert pings(listener.drain()) >= 2
        finally:
            await service.stop()
    withheld = [e for e in logs if e["event"] == "watchdog_withheld"]
    assert len(withheld) == 1  # logged once, not at every missed ping
    assert "strategy busy with one message for over 10s" in withheld[0]["reason"]
    assert [e["event"] for e in logs].count("watchdog_resumed") == 1
    statuses = [d for d in listener.received if d.startswith("STATUS=unhealthy")]
    assert statuses == ["STATUS=unhealthy: strategy busy with one message for over 10s"]


@pytest.mark.asyncio
async def test_an_escalated_actor_withholds_the_pings(listener):
    runtime = FakeRuntime(escalated={"risk"})
    service = service_for(listener, 200_000)
    await service.start(fake_ctx(runtime))
    try:
        await asyncio.sleep(0.5)
    finally:
        await service.stop()
    assert pings(listener.drain()) == 0
    assert "STATUS=unhealthy: risk given up on" in listener.received


@pytest.mark.asyncio
async def test_status_is_refreshed_with_the_current_numbers(listener):
    runtime = FakeRuntime()
    ctx = fake_ctx(runtime)
    service = service_for(listener, 10_000_000, status_every_seconds=0.1)
    await service.start(ctx)
    try:
        await asyncio.sleep(0.25)
        ctx.book.orders, ctx.book.fills = 4, 3
        ctx.book.account = AccountState(
            ts_event=1, currency="USD", balance=100_000.0, equity=100_012.345
        )
        ctx.book.trading_state = TradingState.HALTED
        await asyncio.sleep(0.3)
    finally:
        await service.stop()
    statuses = [d for d in listener.drain() if d.startswith("STATUS=")]
    assert "STATUS=paper ACTIVE: 0 orders, 0 fills, equity n/a, 3 restarts" in statuses
    assert "STATUS=paper HALTED: 4 orders, 3 fills, equity 100012.35 USD, 3 restarts" in statuses
    # stop() says STOPPING itself when the runtime never did (the last datagram)
    assert listener.received[-1].startswith("STOPPING=1\nSTATUS=stopping: ")


@pytest.mark.asyncio
async def test_a_failing_health_check_withholds_the_pings(listener):
    runtime = FakeRuntime()

    def broken(longer_than_s: float) -> list[str]:
        raise RuntimeError("no runtime")

    runtime.stuck = broken  # type: ignore[method-assign]
    service = service_for(listener, 200_000)
    await service.start(fake_ctx(runtime))
    try:
        await asyncio.sleep(0.35)
    finally:
        await service.stop()
    assert pings(listener.drain()) == 0
    assert "STATUS=unhealthy: health check failed: RuntimeError: no runtime" in listener.received


@pytest.mark.asyncio
async def test_without_notify_socket_the_service_starts_no_task():
    service = SystemdService(notifier=SdNotifier.from_env({}))
    await service.start(fake_ctx(FakeRuntime()))
    assert service._task is None
    await service.stop()


@pytest.mark.asyncio
async def test_a_blocked_event_loop_sends_no_pings_and_is_logged(listener):
    runtime = FakeRuntime()
    with capture_logs() as logs:
        service = service_for(listener, 200_000, watchdog_stuck_seconds=0.3)
        await service.start(fake_ctx(runtime))
        try:
            await asyncio.sleep(0.25)
            listener.drain()
            time.sleep(0.6)  # noqa: ASYNC251 - the point: a blocking call stalls the loop
            assert pings(listener.drain()) == 0
            await asyncio.sleep(0.15)
            assert 1 <= pings(listener.drain()) <= 3  # back on the beat, not a burst of 6
        finally:
            await service.stop()
    stalls = [e for e in logs if e["event"] == "event_loop_stalled"]
    assert len(stalls) == 1
    assert stalls[0]["seconds"] > 0.3
