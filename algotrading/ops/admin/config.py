"""The ``admin`` section of ``system.yaml``: where the admin socket is and how much it takes."""

from __future__ import annotations

from pathlib import Path

import msgspec

from algotrading.ops.admin.protocol import MAX_LINE_BYTES

SOCKET_NAME = "admin.sock"


class AdminConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    enabled: bool = True
    socket: str = ""  # "" = <state-dir>/admin.sock; a relative path is from the working directory
    idle_timeout_seconds: float = 10.0  # a client silent this long is dropped
    max_connections: int = 8  # more at once are refused
    max_line_bytes: int = MAX_LINE_BYTES  # a longer request line closes the connection

    def problems(self) -> list[str]:
        """What is wrong with the values, as ``key: expected ...`` lines (empty when none)."""
        out = []
        if not self.idle_timeout_seconds > 0:
            out.append("idle_timeout_seconds: expected a number of seconds > 0")
        if self.max_connections < 1:
            out.append("max_connections: expected an integer >= 1")
        if self.max_line_bytes < 1024:
            out.append("max_line_bytes: expected an integer >= 1024")
        return out


def socket_path(config: AdminConfig | None, state_dir: str | Path) -> Path:
    """The socket the daemon listens on and ``algotrading ctl`` connects to."""
    if config is not None and config.socket:
        return Path(config.socket)
    return Path(state_dir) / SOCKET_NAME
