"""Conversions at the edges between integer nanoseconds UTC and text."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported by the one function that needs it
    import numpy as np
    from numpy.typing import NDArray

NS = 1_000_000_000


@lru_cache(maxsize=4096)
def _date_prefix(day: int) -> str:
    return datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%dT")


def iso_utc(ts_ns: int) -> str:
    """``2024-01-08T09:00:00Z``; fractions of a second only when present. (Written for speed:
    a backtest formats a time for every row of its equity curve.)"""
    seconds, rest = divmod(ts_ns, NS)
    day, in_day = divmod(seconds, 86_400)
    hours, in_hour = divmod(in_day, 3600)
    minutes, secs = divmod(in_hour, 60)
    text = f"{_date_prefix(day)}{hours:02d}:{minutes:02d}:{secs:02d}"
    if rest:
        text += f".{rest:09d}".rstrip("0")
    return text + "Z"


def parse_utc(text: str) -> int:
    """An ISO-8601 time; naive times are UTC."""
    dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * NS + delta.microseconds * 1000


def iso_utc_many(ts_ns: Sequence[int] | NDArray[np.int64]) -> list[str]:
    """:func:`iso_utc` of many times at once, vectorised (an equity curve of millions of rows);
    identical text, fractions included."""
    import numpy as np

    ts = np.asarray(ts_ns, dtype=np.int64)
    seconds, fractions = np.divmod(ts, NS)
    text = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s").tolist()
    out = [t + "Z" for t in text]
    for i in np.flatnonzero(fractions).tolist():
        out[i] = iso_utc(int(ts[i]))
    return out
