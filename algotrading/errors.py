"""The project's error types for bad input at an edge (config, data files, network).

Each carries where the problem is (file, key path or row) and what was expected, so the CLI can
print one readable line instead of a traceback. Bugs stay ordinary exceptions.
"""

from __future__ import annotations


class AlgotradingError(Exception):
    """Bad input at an edge; the message is meant for the person who supplied it."""


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
