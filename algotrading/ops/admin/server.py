"""The admin socket's server: a Unix stream socket, mode 0600, that only the daemon's own user
may talk to, reading one JSON request per line and answering each with one line.

Nothing a client does reaches the daemon as an exception: a bad line is answered with an error
(and logged), a line too long or a client too slow or silent is dropped, and a connection past
the cap is refused. Commands run as coroutines on the daemon's loop and must be quick.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import stat
import struct
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from algotrading.log import get_logger
from algotrading.ops.admin.address import unix_address
from algotrading.ops.admin.protocol import (
    MAX_LINE_BYTES,
    AdminError,
    ErrorCode,
    Request,
    decode_request,
    error,
    ok,
)

_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
_PROBE_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Peer:
    """Who is on the other end, as the kernel says (SO_PEERCRED), not as the client claims."""

    pid: int
    uid: int
    gid: int


Dispatch = Callable[[Request, Peer], Awaitable[dict[str, Any]]]


class AdminSocketError(Exception):
    """The socket cannot be opened: another daemon listens on it, or the path is not ours."""


class AdminServer:
    def __init__(
        self,
        path: Path,
        dispatch: Dispatch,
        *,
        idle_timeout_s: float = 10.0,
        max_connections: int = 8,
        max_line_bytes: int = MAX_LINE_BYTES,
        allowed_uids: Collection[int] | None = None,
    ) -> None:
        self.path = path
        self.dispatch = dispatch
        self.idle_timeout_s = idle_timeout_s
        self.max_connections = max_connections
        self.max_line_bytes = max_line_bytes
        self.allowed_uids = frozenset(allowed_uids if allowed_uids is not None else (os.getuid(),))
        self.log = get_logger("admin")
        self.counts = dict.fromkeys(
            ("connections", "requests", "errors", "refused", "idle_dropped", "too_long"), 0
        )
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._open = 0
        self._inode: tuple[int, int] | None = None

    @property
    def open_connections(self) -> int:
        return self._open

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        await self._take_over_stale()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with unix_address(self.path) as address:
                sock.bind(address)
            # Closed to others before listen(): until then every connect is refused, so there
            # is no moment in which another user could get in. (Not umask: it is process-wide,
            # and other threads of the daemon create files.)
            os.chmod(self.path, 0o600)
            info = os.stat(self.path)
            self._inode = (info.st_dev, info.st_ino)
            sock.listen(max(64, 2 * self.max_connections))
            sock.setblocking(False)
            self._server = await asyncio.start_unix_server(
                self._serve, sock=sock, limit=self.max_line_bytes
            )
        except BaseException:
            sock.close()
            self._unlink_own()
            raise
        self.log.info("admin_listening", path=str(self.path), uids=sorted(self.allowed_uids))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        self._unlink_own()

    async def _take_over_stale(self) -> None:
        """Replace a socket file a dead daemon left; refuse one a live daemon listens on."""
        try:
            info = os.lstat(self.path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(info.st_mode):
            raise AdminSocketError(f"{self.path} exists and is not a socket; remove it")
        if await self._someone_listens():
            raise AdminSocketError(f"another daemon is listening on {self.path}")
        self.log.warning("admin_stale_socket_replaced", path=str(self.path))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    async def _someone_listens(self) -> bool:
        try:
            with unix_address(self.path) as address:
                _, writer = await asyncio.wait_for(
                    asyncio.open_unix_connection(address), _PROBE_TIMEOUT_S
                )
        except (ConnectionRefusedError, FileNotFoundError):
            return False
        except TimeoutError:  # a listener whose backlog is full
            return True
        except PermissionError:
            raise AdminSocketError(
                f"{self.path} belongs to another user; cannot replace it"
            ) from None
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
        return True

    def _unlink_own(self) -> None:
        """Remove the socket file if it is still the one this server made."""
        if self._inode is None:
            return
        try:
            info = os.lstat(self.path)
            if (info.st_dev, info.st_ino) == self._inode:
                os.unlink(self.path)
        except FileNotFoundError:
            pass
        self._inode = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self.counts["connections"] += 1
        counted = False
        try:
            peer = _peer(writer)
            refusal = self._refusal(peer)
            if refusal is not None:
                self.counts["refused"] += 1
                self.log.warning(
                    "admin_connection_refused", reason=refusal, pid=peer.pid, uid=peer.uid
                )
                await self._send(writer, error(None, ErrorCode.REFUSED, refusal))
                return
            self._open += 1
            counted = True
            await self._session(reader, writer, peer)
        except (ConnectionError, TimeoutError):
            pass  # the client went away, or would not read its answers
        except Exception:
            self.log.exception("admin_connection_failed")
        finally:
            if counted:
                self._open -= 1
            writer.close()
            if task is not None:
                self._tasks.discard(task)

    def _refusal(self, peer: Peer) -> str | None:
        if peer.uid not in self.allowed_uids:
            return (
                f"uid {peer.uid} may not use this socket (only uid "
                + ", ".join(str(u) for u in sorted(self.allowed_uids))
                + ")"
            )
        if self._open >= self.max_connections:
            return f"too many connections (at most {self.max_connections}); try again"
        return None

    async def _session(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer
    ) -> None:
        while True:
            try:
                line = await asyncio.wait_for(reader.readuntil(b"\n"), self.idle_timeout_s)
            except TimeoutError:
                self.counts["idle_dropped"] += 1
                self.log.info("admin_idle_dropped", pid=peer.pid, seconds=self.idle_timeout_s)
                await self._send(
                    writer,
                    error(
                        None,
                        ErrorCode.REFUSED,
                        f"no complete request within {self.idle_timeout_s:g}s; closing",
                    ),
                )
                return
            except asyncio.IncompleteReadError as eof:  # the client closed its side
                if eof.partial.strip():  # a last request without its newline
                    await self._answer(eof.partial, writer, peer)
                return
            except asyncio.LimitOverrunError:
                self.counts["too_long"] += 1
                message = f"request line longer than {self.max_line_bytes} bytes; closing"
                self._log_error(peer, ErrorCode.BAD_REQUEST, message, b"")
                await self._send(writer, error(None, ErrorCode.BAD_REQUEST, message))
                return
            await self._answer(line[:-1], writer, peer)

    async def _answer(self, line: bytes, writer: asyncio.StreamWriter, peer: Peer) -> None:
        self.counts["requests"] += 1
        request: Request | None = None
        try:
            request = decode_request(line)
            out = ok(request.id, await self.dispatch(request, peer))
        except AdminError as exc:
            request_id = request.id if request is not None else exc.request_id
            self._log_error(peer, exc.code, exc.message, line, request)
            out = error(request_id, exc.code, exc.message)
        except Exception as exc:
            self.counts["errors"] += 1
            self.log.exception("admin_command_failed", cmd=request.cmd if request else None)
            request_id = request.id if request is not None else None
            out = error(request_id, ErrorCode.INTERNAL, f"{type(exc).__name__}: {exc}")
        await self._send(writer, out)

    def _log_error(
        self,
        peer: Peer,
        code: ErrorCode,
        message: str,
        line: bytes,
        request: Request | None = None,
    ) -> None:
        self.counts["errors"] += 1
        self.log.warning(
            "admin_request_refused" if code is ErrorCode.REFUSED else "admin_bad_request",
            code=str(code),
            error=message,
            cmd=request.cmd if request is not None else None,
            pid=peer.pid,
            line=line[:120].decode("utf-8", "backslashreplace") if request is None else None,
        )

    async def _send(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        """Write one answer; a client that does not read it within the idle timeout is
        dropped (TimeoutError), so a stuck client never holds a task for long."""
        writer.write(data)
        await asyncio.wait_for(writer.drain(), self.idle_timeout_s)


def _peer(writer: asyncio.StreamWriter) -> Peer:
    """The peer's credentials; a peer the kernel cannot name is nobody (refused)."""
    sock = writer.get_extra_info("socket")
    try:
        pid, uid, gid = _UCRED.unpack(
            sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
        )
    except (AttributeError, OSError):
        return Peer(pid=0, uid=-1, gid=-1)
    return Peer(pid=pid, uid=uid, gid=gid)
