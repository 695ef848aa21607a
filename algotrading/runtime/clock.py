"""Clocks. Core code never reads the time itself: it is handed a clock or a timestamp."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int: ...


class WallClock:
    """Real UTC time, for live and paper trading."""

    def now_ns(self) -> int:
        return time.time_ns()


class MonotonicClock:
    """Elapsed real time that never jumps: what restart windows and backoffs are measured in
    when the daemon runs for real, whatever the data's own time does."""

    def now_ns(self) -> int:
        return time.monotonic_ns()


class VirtualClock:
    """Time driven by the data: the deterministic driver sets it to each input's timestamp.
    It never goes backwards."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def advance_to(self, ts_ns: int) -> None:
        if ts_ns > self._now:
            self._now = ts_ns
