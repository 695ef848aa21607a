"""Unix socket addresses longer than ``sun_path`` allows (107 bytes on Linux): a state directory
deep in a home or a test's temporary tree must not stop the admin socket."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_SUN_PATH_MAX = 107


@contextmanager
def unix_address(path: Path) -> Iterator[str]:
    """A name for ``path`` to bind or connect to: the path itself when it fits, else the same
    file reached through ``/proc/self/fd`` of its directory, open for the duration."""
    if len(os.fsencode(path)) <= _SUN_PATH_MAX:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)
