"""sqlite-utils, imported without importing pandas.

sqlite-utils imports pandas at import time whenever it is installed, only to add
``pandas.Timestamp`` to the column types it knows (``sqlite_utils.db.COLUMN_TYPE_MAPPING``);
that import alone was a third of a second of the daemon's start-up. Our tables are declared
with Python's types (``str``, ``int``, ``float``, ``bytes``), so the module is imported with
pandas hidden; where pandas was imported first, nothing is hidden and nothing differs."""

from __future__ import annotations

import sys

if "sqlite_utils" in sys.modules or "pandas" in sys.modules:
    import sqlite_utils as sqlite_utils
else:
    sys.modules["pandas"] = None  # type: ignore[assignment]  # import of pandas: ImportError
    try:
        import sqlite_utils as sqlite_utils
    finally:
        del sys.modules["pandas"]

__all__ = ["sqlite_utils"]
