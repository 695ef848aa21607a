"""Clients of the admin socket: one request, one response. ``call`` blocks (``algotrading
ctl``, scripts); ``acall`` is the same on an event loop. Both raise :class:`CannotConnect`
when no daemon answers, and return the daemon's :class:`Response`, ``ok`` or not."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

from algotrading.ops.admin.address import unix_address
from algotrading.ops.admin.protocol import Response, decode_response, encode_request

_MAX_RESPONSE_BYTES = 64 * 1024 * 1024


class CannotConnect(Exception):
    """No daemon answered on the socket; the message says what happened."""


def call(
    path: Path,
    cmd: str,
    args: dict[str, Any] | None = None,
    *,
    timeout_s: float = 10.0,
    request_id: Any = 1,
) -> Response:
    deadline = time.monotonic() + timeout_s
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(timeout_s)
        try:
            with unix_address(path) as address:
                sock.connect(address)
        except OSError as exc:
            raise CannotConnect(_connect_problem(path, exc, timeout_s)) from None
        try:
            sock.sendall(encode_request(cmd, args, request_id))
            buffer = bytearray()
            while b"\n" not in buffer:
                sock.settimeout(max(deadline - time.monotonic(), 0.001))
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buffer += chunk
                if len(buffer) > _MAX_RESPONSE_BYTES:
                    raise CannotConnect(f"the answer on {path} is too long")
        except TimeoutError:
            raise CannotConnect(
                f"no answer from the daemon on {path} within {timeout_s:g}s"
            ) from None
        except OSError as exc:
            raise CannotConnect(f"the connection to {path} failed: {exc.strerror or exc}") from None
    return _response(path, bytes(buffer))


async def acall(
    path: Path,
    cmd: str,
    args: dict[str, Any] | None = None,
    *,
    timeout_s: float = 10.0,
    request_id: Any = 1,
) -> Response:
    try:
        with unix_address(path) as address:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(address, limit=_MAX_RESPONSE_BYTES), timeout_s
            )
    except (OSError, TimeoutError) as exc:
        raise CannotConnect(_connect_problem(path, exc, timeout_s)) from None
    try:
        writer.write(encode_request(cmd, args, request_id))
        line = await asyncio.wait_for(reader.readline(), timeout_s)
    except TimeoutError:
        raise CannotConnect(f"no answer from the daemon on {path} within {timeout_s:g}s") from None
    except (OSError, ValueError) as exc:
        raise CannotConnect(f"the connection to {path} failed: {exc}") from None
    finally:
        writer.close()
    return _response(path, line)


def _response(path: Path, data: bytes) -> Response:
    line, newline, _ = data.partition(b"\n")
    if not newline:
        raise CannotConnect(f"the daemon on {path} closed the connection without an answer")
    return decode_response(line)


def _connect_problem(path: Path, exc: BaseException, timeout_s: float) -> str:
    if isinstance(exc, FileNotFoundError | ConnectionRefusedError):
        return f"no daemon listening on {path}"
    if isinstance(exc, PermissionError):
        return f"no daemon listening on {path} that this user may use (permission denied)"
    if isinstance(exc, TimeoutError):
        return f"no daemon listening on {path} (no answer to connect within {timeout_s:g}s)"
    return f"no daemon listening on {path} ({exc})"
