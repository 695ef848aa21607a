"""sqlite-utils, imported without importing pandas and numpy.

sqlite-utils imports pandas and numpy at import time whenever they are installed, only to add
their scalar types (``pandas.Timestamp``, ``numpy.int64``, ...) to the column types it knows
(``sqlite_utils.db.COLUMN_TYPE_MAPPING``). It is imported only to create or migrate tables (a
daemon's first start on a new state directory, a new model registry), and a daemon that did so
would otherwise carry pandas for its whole life. Our tables are declared with Python's types
(``str``, ``int``, ``float``, ``bytes``), so the module is imported with them hidden. One that was
imported first is not hidden, and is mapped as before."""

from __future__ import annotations

import sys

_hidden = (
    []
    if "sqlite_utils" in sys.modules
    else [name for name in ("pandas", "numpy") if name not in sys.modules]
)
for _name in _hidden:
    sys.modules[_name] = None  # type: ignore[assignment]  # its import: ImportError
try:
    import sqlite_utils as sqlite_utils
finally:
    for _name in _hidden:
        del sys.modules[_name]

__all__ = ["sqlite_utils"]
