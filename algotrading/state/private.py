"""The daemon's files are its user's alone: orders, fills, positions and the configuration are
in them. A state directory we create is 0700; the database, its ``-wal``/``-shm`` (SQLite gives
them the database's mode), its lock, a backup and an export are 0600. An existing directory
that others may read is the operator's choice: it is reported, never changed behind their back.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from algotrading.errors import AlgotradingError
from algotrading.log import get_logger

PRIVATE_UMASK = 0o077  # what systemd's UMask=0077 sets: nothing for group or others
DIR_MODE = 0o700
FILE_MODE = 0o600


def private_umask() -> int:
    """Files the process creates from now on are its user's only; returns the old umask."""
    return os.umask(PRIVATE_UMASK)


def private_dir(path: Path) -> None:
    """Make ``path`` (mode 0700, its missing parents as the umask says), or check an existing
    one: group or world access is logged as ``state_dir_not_private``, not changed. Raises
    OSError when it cannot be made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=DIR_MODE)
    except FileExistsError:
        if not path.is_dir():
            raise AlgotradingError(f"{path}: exists and is not a directory") from None
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            get_logger("state").warning(
                "state_dir_not_private",
                path=str(path),
                mode=f"{mode:04o}",
                fix=f"chmod 700 {path}",
            )
        return
    os.chmod(path, DIR_MODE)  # exactly 0700, whatever the umask took away


def private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if it is missing; tighten it to 0600 if it is ours
    and others may read it (a database written before this rule)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        with contextlib.suppress(OSError):  # not ours, or a read-only file system: left as is
            info = os.stat(path)
            if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
                os.chmod(path, FILE_MODE)
        return
    os.close(fd)
    os.chmod(path, FILE_MODE)


def private_tree(root: Path) -> None:
    """Every file under ``root`` 0600 and every directory 0700 (an export before it appears)."""
    os.chmod(root, DIR_MODE)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            os.chmod(os.path.join(folder, name), DIR_MODE)
        for name in files:
            os.chmod(os.path.join(folder, name), FILE_MODE)
