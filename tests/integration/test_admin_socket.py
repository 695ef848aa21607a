"""The admin socket as an attacker or a broken client sees it: file mode, peer credentials, a
stale or live socket at start, limits on lines, silence and connections — and, while a paper
daemon trades, a stream of malformed input that must neither stop nor slow it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import socket
import stat
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from algotrading.config import load_config
from algotrading.daemon.app import run_daemon
from algotrading.ops.admin.client import acall
from algotrading.ops.admin.config import AdminConfig
from algotrading.ops.admin.protocol import Request
from algotrading.ops.admin.server import AdminServer, AdminSocketError, Peer
from algotrading.ops.admin.service import AdminService

NOBODY = 65534


async def echo(request: Request, peer: Peer) -> dict[str, Any]:
    if request.cmd == "boom":
        raise RuntimeError("a bug in a handler")
    return {"cmd": request.cmd, "args": request.args, "uid": peer.uid}


@contextlib.asynccontextmanager
async def serving(path: Path, **options: Any) -> AsyncIterator[AdminServer]:
    server = AdminServer(path, echo, **options)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def exchange(path: Path, data: bytes, *, half_close: bool = False) -> list[dict[str, Any]]:
    """Send ``data``, optionally shut the write side, and read every answer until EOF."""
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(data)
    await writer.drain()
    if half_close:
        writer.write_eof()
    lines = (await asyncio.wait_for(reader.read(), 30)).splitlines()
    writer.close()
    return [json.loads(line) for line in lines]


async def first_answer(path: Path, data: bytes) -> tuple[dict[str, Any], bool]:
    """The first answer to ``data`` and whether the server then closed the connection."""
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(data)
    await writer.drain()
    answer = json.loads(await asyncio.wait_for(reader.readline(), 30))
    closed = await asyncio.wait_for(reader.read(), 30) == b""
    writer.close()
    return answer, closed


@pytest.mark.asyncio
async def test_socket_mode_stale_file_and_live_daemon(tmp_path):
    path = tmp_path / "admin.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))  # a dead daemon's socket: the file is there, nobody listens
    stale.close()
    assert path.exists()
    async with serving(path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert (await acall(path, "status")).result == {"cmd": "status", "args": {}, "uid": 0}
        with pytest.raises(AdminSocketError, match="another daemon is listening"):
            await AdminServer(path, echo).start()
        assert (await acall(path, "status")).ok  # the first one is undisturbed
    assert not path.exists()  # removed on stop

    path.write_text("not a socket")
    with pytest.raises(AdminSocketError, match="is not a socket"):
        await AdminServer(path, echo).start()
    assert path.read_text() == "not a socket"  # and left alone


@pytest.mark.asyncio
async def test_a_socket_path_longer_than_sun_path_works(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    path = deep / "admin.sock"
    assert len(str(path)) > 108
    async with serving(path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert (await acall(path, "positions")).result["cmd"] == "positions"


@pytest.mark.asyncio
async def test_answers_errors_and_half_closed_connections(tmp_path):
    path = tmp_path / "admin.sock"
    async with serving(path) as server:
        answers = await exchange(
            path,
            b'{"id": 1, "cmd": "status"}\n'
            b'{"id": "two", "cmd": "x", "args": {"n": 2}}\r\n'
            b"\n"
            b'{"id": 3, "cmd": "boom"}\n'
            b'{"id": 4, "cmd": "status", "extra": 1}\n'
            b'{"id": 5, "cmd": "st',  # no newline: the last line, read at EOF
            half_close=True,
        )
        assert [a["id"] for a in answers] == [1, "two", None, 3, 4, None]
        assert answers[0] == {
            "id": 1,
            "ok": True,
            "result": {"cmd": "status", "args": {}, "uid": 0},
        }
        assert answers[1]["result"]["args"] == {"n": 2}
        assert answers[2]["error"]["code"] == "bad_request"
        assert answers[3] == {
            "id": 3,
            "ok": False,
            "error": {"code": "internal", "message": "RuntimeError: a bug in a handler"},
        }
        assert answers[4]["error"]["code"] == "bad_request"
        assert "extra" in answers[4]["error"]["message"]
        assert "not valid JSON" in answers[5]["error"]["message"]
        assert await exchange(path, b"", half_close=True) == []  # says nothing, closes: fine
        assert server.counts["errors"] == 4
        assert (await acall(path, "status")).ok


@pytest.mark.asyncio
async def test_line_limit_idle_timeout_and_connection_cap(tmp_path):
    path = tmp_path / "admin.sock"
    async with serving(path, idle_timeout_s=0.5, max_connections=2, max_line_bytes=1024):
        ok_line = b'{"cmd": "status", "args": {"pad": "' + b"x" * 980 + b'"}}\n'
        assert len(ok_line) - 1 <= 1024
        assert (await exchange(path, ok_line, half_close=True))[0]["ok"]
        answer, closed = await first_answer(path, b'{"cmd": "' + b"x" * 2000 + b'"}\n')
        assert answer["error"]["code"] == "bad_request"
        assert "longer than 1024 bytes" in answer["error"]["message"]
        assert closed

        started = time.monotonic()
        answer, closed = await first_answer(path, b"")  # connects and says nothing
        assert answer["error"] == {
            "code": "refused",
            "message": "no complete request within 0.5s; closing",
        }
        assert closed
        assert time.monotonic() - started < 5
        answer, closed = await first_answer(path, b'{"cmd": "sta')  # a line never finished
        assert "no complete request" in answer["error"]["message"]

        held = [await asyncio.open_unix_connection(str(path)) for _ in range(2)]
        await asyncio.sleep(0.05)
        answer, closed = await first_answer(path, b'{"cmd": "status"}\n')
        assert answer["error"]["code"] == "refused"
        assert "too many connections" in answer["error"]["message"]
        for _, writer in held:
            writer.close()
        await asyncio.sleep(0.05)
        assert (await acall(path, "status")).ok  # room again


@pytest.mark.asyncio
async def test_a_peer_of_another_uid_is_refused(tmp_path):
    path = tmp_path / "admin.sock"
    async with serving(path, allowed_uids=[os.getuid() + 1]) as server:
        answer, closed = await first_answer(path, b'{"id": 1, "cmd": "status"}\n')
        assert answer["ok"] is False
        assert answer["error"]["code"] == "refused"
        assert f"uid {os.getuid()} may not use this socket" in answer["error"]["message"]
        assert closed
        assert server.counts["refused"] == 1
        assert server.counts["requests"] == 0  # nothing it sent was read


@contextlib.contextmanager
def world_traversable_dir() -> Iterator[Path]:
    """A directory another user can reach (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="admin-", dir="/tmp"))
    path.chmod(0o711)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def connect_as_nobody(path: Path) -> str:
    """Fork a child that becomes uid 65534 and asks for status; what it got back."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: only system calls, then _exit
        os.close(read_end)
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(5)
                sock.connect(str(path))
                with contextlib.suppress(BrokenPipeError):  # it may refuse before we speak
                    sock.sendall(b'{"id": 1, "cmd": "status"}\n')
                got = b""
                with contextlib.suppress(ConnectionResetError):  # it closed, our line unread
                    while chunk := sock.recv(4096):
                        got += chunk
            os.write(write_end, b"answer " + got)
        except PermissionError:
            os.write(write_end, b"EACCES")
        except BaseException as exc:
            os.write(write_end, repr(exc).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        out = pipe.read()
    os.waitpid(pid, 0)
    return out.decode()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user")
@pytest.mark.asyncio
async def test_another_user_cannot_connect_and_is_refused_if_it_could():
    with world_traversable_dir() as directory:
        path = directory / "admin.sock"
        async with serving(path) as server:
            assert await asyncio.to_thread(connect_as_nobody, path) == "EACCES"  # mode 0600
            path.chmod(0o666)  # open the file, to reach the SO_PEERCRED check behind it
            got = await asyncio.to_thread(connect_as_nobody, path)
            assert got.startswith("answer "), got
            answer = json.loads(got.removeprefix("answer "))
            assert answer["error"]["code"] == "refused"
            assert f"uid {NOBODY} may not use this socket" in answer["error"]["message"]
            assert server.counts["refused"] == 1


# --- fuzz, while a paper daemon trades -------------------------------------------------------


def malformed_lines(rng: random.Random) -> list[tuple[bytes, str]]:
    """Lines that are not good requests, each with the error code it must get."""
    lines: list[tuple[bytes, str]] = []
    for _ in range(60):  # random bytes (no newline inside: one line each)
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
        lines.append((junk.replace(b"\n", b" ").strip() or b"?", "bad_request"))
    for _ in range(20):  # invalid UTF-8 inside a JSON string
        lines.append(
            (b'{"cmd": "status\xff\xfe' + bytes([rng.randrange(128, 256)]) + b'"}', "bad_request")
        )
    for value in ("[1, 2]", '"status"', "42", "null", "true", "[]", "{", '{"cmd": }'):
        lines.append((value.encode(), "bad_request"))
    for name in ("stat", "rm -rf", "", "x" * 500, "SHUTDOWN NOW", "__init__"):
        lines.append((json.dumps({"id": 1, "cmd": name}).encode(), "unknown_command"))
    for cmd, args in (
        ("status", {"verbose": True}),
        ("set-limit", {"name": "max_open_orders", "value": True}),
        ("set-limit", {"name": 7, "value": 1}),
        ("set-limit", {"name": "max_open_orders"}),
        ("set-limit", {"name": "max_open_orders", "value": "many"}),
        ("set-limit", {"name": "max_open_orders", "value": [1]}),
        ("halt", {"reason": 5}),
        ("reset", {"breaker": None}),
        ("reset", {"breaker": "nope"}),
    ):
        lines.append((json.dumps({"id": 2, "cmd": cmd, "args": args}).encode(), "bad_argument"))
    for request in ({"id": 3, "cmd": 5}, {"id": 3, "cmd": "status", "args": []}, {"id": 3}):
        lines.append((json.dumps(request).encode(), "bad_request"))
    lines += absurd_lines(rng)
    rng.shuffle(lines)
    return lines


def absurd_lines(rng: random.Random) -> list[tuple[bytes, str]]:
    """Requests generated to be absurd: nested ~1000 deep and more (the decoder's own limit is a
    RecursionError), numbers out of range, NaN, wrong types and unknown fields in every place."""
    lines: list[tuple[bytes, str]] = []
    where = ('{"cmd": "status", "args": {"x": %s}}', '{"id": %s, "cmd": "status"}', "%s")
    for _ in range(60):
        depth = rng.choice((33, 100, 500, 998, 999, 1000, 1001, 5000, 20_000))
        opener, closer = rng.choice(((b"[", b"]"), (b'{"a": ', b"}")))
        inner = opener * depth + b"1" + closer * depth if opener == b'{"a": ' else None
        nested = inner if inner is not None else opener * depth + closer * depth
        if rng.random() < 0.3:
            nested = nested[: len(nested) // 2]  # and not even closed
        nested = nested[:60_000]  # within the line limit: the decoder must see it
        lines.append((rng.choice(where).encode() % nested, "bad_request"))
    numbers = ("1e400", "-1e400", "NaN", "Infinity", "-Infinity", "nan", "9" * 20, "-" + "9" * 40)
    for _ in range(40):
        number = rng.choice((*numbers, "9" * rng.randrange(20, 5000)))
        lines.append((rng.choice(where).encode() % number.encode(), "bad_request"))
    values: tuple[Any, ...] = (None, True, 1, 1.5, "status", [], {}, ["status"], {"cmd": "status"})
    for _ in range(60):
        request: dict[str, Any] = {"id": rng.randrange(1000)}
        field = rng.choice(("cmd", "args", "unknown", "ID", "Cmd", ""))
        if field == "cmd":
            request["cmd"] = rng.choice([v for v in values if not isinstance(v, str)])
        elif field == "args":
            request["cmd"] = "status"
            request["args"] = rng.choice([v for v in values if not isinstance(v, dict)])
        else:
            request["cmd"] = "status"
            request[field] = rng.choice(values)
        lines.append((json.dumps(request).encode(), "bad_request"))
    for _ in range(20):  # absurd arguments of a known command
        value = rng.choice(("-1e308", "-1", '"nan"', '"inf"', '"-Infinity"', '""', "true", "{}"))
        limit = rng.choice(("max_open_orders", "max_order_quantity", "price_collar"))
        line = '{"id": 4, "cmd": "set-limit", "args": {"name": "%s", "value": %s}}'
        lines.append(((line % (limit, value)).encode(), "bad_argument"))
    return lines


async def wait_until(predicate: Callable[[], Any], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {predicate}"
        await asyncio.sleep(0.02)


async def silent_client(path: Path) -> bytes:
    """Connect, say nothing, and return what the server says before it hangs up."""
    reader, writer = await asyncio.open_unix_connection(str(path))
    try:
        return await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()


def oversized_line(path: Path) -> bytes:
    """1 MB without a newline, from a blocking socket; what came back before the close."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(30)
        sock.connect(str(path))
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(b'{"cmd": "status", "args": {"x": "' + b"A" * 1_000_000)
        got = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(4096):
                got += chunk
        return got


@pytest.mark.asyncio
async def test_malformed_input_never_stops_a_trading_daemon(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "system.yaml").write_text("feed: {speed: 600}\n")
    state = tmp_path / "state"
    seen: dict[str, Any] = {}
    admin = AdminService(AdminConfig(idle_timeout_seconds=1.0, max_connections=8))
    with structlog.testing.capture_logs() as logs:
        daemon = asyncio.create_task(
            run_daemon(
                load_config(conf),
                state,
                duration_s=60,
                services=[admin],
                config_dir=conf,
                on_started=lambda session, runtime: seen.update(session=session, runtime=runtime),
            )
        )
        try:
            await wait_until(lambda: admin.server is not None or daemon.done())
            assert not daemon.done(), daemon.result()
            path = state / "admin.sock"
            ledger = seen["session"].ledger
            await wait_until(lambda: ledger.n_fills > 0)
            before = (ledger.n_orders, ledger.n_fills)

            lines = malformed_lines(random.Random(7))
            for start in range(0, len(lines), 10):  # pipelined, ten to a connection
                batch = lines[start : start + 10]
                answers = await exchange(
                    path, b"".join(line + b"\n" for line, _ in batch), half_close=True
                )
                assert [a["ok"] for a in answers] == [False] * len(batch)
                assert [a["error"]["code"] for a in answers] == [c for _, c in batch], batch

            got = await asyncio.to_thread(oversized_line, path)
            answer = json.loads(got.splitlines()[0])
            assert answer["error"]["code"] == "bad_request"
            assert "longer than 65536 bytes" in answer["error"]["message"]

            silent = await asyncio.gather(*(silent_client(path) for _ in range(50)))
            said = [json.loads(s)["error"]["message"] for s in silent]
            crowded = sum("too many connections (at most 8)" in m for m in said)
            idle = sum("no complete request within 1s" in m for m in said)
            assert crowded + idle == 50
            assert crowded >= 1
            assert idle >= 1

            for _ in range(5):  # half-closed: a request then EOF, and EOF alone
                assert (await exchange(path, b'{"id": 9, "cmd": "status"}', half_close=True))[0][
                    "ok"
                ]
                assert await exchange(path, b"", half_close=True) == []

            await wait_until(lambda: ledger.n_fills > before[1] + 5)
            assert ledger.n_orders > before[0]
            good = await acall(path, "status", request_id="after")
            assert good.ok
            assert good.id == "after"
            assert good.result is not None
            assert good.result["trading"]["state"] == "ACTIVE"
            assert all(a["restarts"] == 0 for a in good.result["actors"])
            assert good.result["admin"]["errors"] >= len(lines) + 1
            assert not seen["runtime"].stopping
        finally:
            if not daemon.done():
                seen["runtime"].request_stop("test done")
            summary = await asyncio.wait_for(daemon, 15)
    assert summary.exit_code == 0
    assert summary.reason == "test done"
    bad = [e for e in logs if e["event"] == "admin_bad_request"]
    assert len(bad) == len(lines) + 1  # and the line too long
    assert {e["code"] for e in bad} >= {"bad_request", "unknown_command", "bad_argument"}
