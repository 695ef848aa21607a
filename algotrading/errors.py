"""The project's error types for bad input at an edge (config, data files, network).

Each carries where the problem is (file, key path or row) and what was expected, so the CLI can
print one readable line instead of a traceback, and the exit status that tells systemd whether a
restart can help (docs/operations/README.md, "Exit statuses"). Bugs stay ordinary exceptions.
"""

from __future__ import annotations


class AlgotradingError(Exception):
    """Bad input at an edge; the message is meant for the person who supplied it."""

    exit_status = 2  # bad input: a restart cannot fix it (RestartPreventExitStatus=)


class VenueUnavailableError(AlgotradingError):
    """The venue cannot be reached (connection refused, no route, DNS, timeouts): it may come
    back, so systemd restarts the daemon (EX_UNAVAILABLE)."""

    exit_status = 69


class StateNotWritableError(AlgotradingError):
    """The state directory or database cannot be created or written for good: a read-only file
    system, missing permission. A restart cannot fix it (EX_CANTCREAT)."""

    exit_status = 73


class StateIOError(AlgotradingError):
    """The state store cannot write now (disk full, I/O error): restarted once it may work
    (EX_IOERR)."""

    exit_status = 74


class CredentialsRefusedError(AlgotradingError):
    """The venue refused the credentials (HTTP 401/403): a wrong or revoked token, an account
    the token may not use. Fixed in the configuration, not by a restart (EX_CONFIG)."""

    exit_status = 78


class ConfigError(AlgotradingError):
    def __init__(self, file: str, key: str, problem: str, line: int | None = None) -> None:
        self.file = file
        self.key = key
        self.problem = problem
        self.line = line
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {key or '<top level>'}: {problem}")


class DataError(AlgotradingError):
    def __init__(self, file: str, problem: str, row: int | None = None) -> None:
        self.file = file
        self.problem = problem
        self.row = row
        where = f"{file}, row {row}" if row is not None else file
        super().__init__(f"{where}: {problem}")
