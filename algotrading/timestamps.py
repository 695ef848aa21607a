"""Conversions at the edges between integer nanoseconds UTC and text."""

from __future__ import annotations

from datetime import UTC, datetime

NS = 1_000_000_000


def iso_utc(ts_ns: int) -> str:
    """``2024-01-08T09:00:00Z``; fractions of a second only when present."""
    seconds, rest = divmod(ts_ns, NS)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
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
