"""What went wrong with the state's disk, in one line that says what to do, as the error whose
exit status tells systemd whether a restart can help: a full disk or an I/O error may clear
(74, restarted), a read-only file system or a missing permission will not (73, left stopped)."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from algotrading.errors import AlgotradingError, StateIOError, StateNotWritableError

_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
_NOT_WRITABLE = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})
# SQLite's primary result codes (sqlite3.SQLITE_* on 3.11+)
_SQLITE_PERM, _SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN = 3, 8, 10, 13, 14


def state_error(path: Path, exc: OSError | sqlite3.DatabaseError) -> AlgotradingError:
    """The error to raise for ``exc``, met opening or writing the state at ``path``."""
    where = path.parent if path.suffix else path
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
        if exc.errno in _FULL:
            return _full(where, reason)
        if exc.errno in _NOT_WRITABLE:
            return _not_writable(where, reason)
        if exc.errno in (errno.ENOTDIR, errno.EEXIST):
            return AlgotradingError(
                f"{where}: {reason}: a file stands where a directory should be; "
                "choose another --state-dir"
            )
        return _io(path, reason)
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code == _SQLITE_FULL:
        return _full(where, str(exc))
    if code in (_SQLITE_READONLY, _SQLITE_CANTOPEN, _SQLITE_PERM):
        return _not_writable(where, str(exc))
    if code == _SQLITE_IOERR:
        return _io(path, str(exc))
    return AlgotradingError(f"{path}: not a usable state database: {exc}")


def _full(where: Path, reason: str) -> StateIOError:
    return StateIOError(
        f"{where}: {reason}: the disk is full; free space on it (df -h {where}), "
        "the daemon starts again once it can write"
    )


def _not_writable(where: Path, reason: str) -> StateNotWritableError:
    return StateNotWritableError(
        f"{where}: cannot write the state here ({reason}); give the daemon's user a "
        "writable --state-dir (a read-write file system; under systemd: StateDirectory=)"
    )


def _io(path: Path, reason: str) -> StateIOError:
    return StateIOError(
        f"{path}: {reason}: the disk may be full or failing; free space (df -h {path.parent}) "
        "or check it (dmesg); the daemon starts again once it can write"
    )
