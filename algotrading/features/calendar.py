"""Calendar features from a bar's open time (``ts_open``, ns UTC): the time of day and the day
of the week as points on a circle, and which trading sessions are open. They need no history
(warm-up 0) and read nothing but the timestamp — in fact only its minute of the day or its
weekday — so the batch forms evaluate the incremental definitions once per minute (or weekday)
and look every bar up: the same values, bit for bit.

Cyclical times are encoded as a sine and a cosine of their phase, so 23:59 sits next to 00:00
and Sunday next to Monday; a raw hour would put them at opposite ends of the scale.

Sessions are fixed UTC hours of the bar's open, [start, end), overlaps allowed:

- asia:   23:00-08:00 (Tokyo and Sydney, crossing midnight)
- europe: 07:00-16:00 (Frankfurt and London)
- us:     12:00-21:00 (New York)

They are not shifted for daylight saving: a model sees one fixed clock all year round, and
the hour features carry the exact time of day for whatever the hours miss.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from algotrading.data.columns import BarColumns, Ints
from algotrading.features.bar_feature import NAN, BarFeature, Floats

NS_PER_MINUTE = 60_000_000_000
MINUTES_PER_DAY = 24 * 60
NS_PER_DAY = NS_PER_MINUTE * MINUTES_PER_DAY
EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday; Monday is 0
TWO_PI = 2.0 * math.pi

SESSION_HOURS_UTC: dict[str, tuple[int, int]] = {
    "asia": (23, 8),
    "europe": (7, 16),
    "us": (12, 21),
}


def minute_of_day(ts_open: int) -> int:
    """Minutes since midnight UTC, 0..1439 (seconds are dropped: bars open on the minute)."""
    return (ts_open // NS_PER_MINUTE) % MINUTES_PER_DAY


def day_phase(ts_open: int) -> float:
    """Fraction of the UTC day elapsed at ``ts_open``: (hour + minute / 60) / 24."""
    return minute_of_day(ts_open) / MINUTES_PER_DAY


def week_phase(ts_open: int) -> float:
    """The UTC weekday (Monday 0 .. Sunday 6) as a fraction of the week."""
    return ((ts_open // NS_PER_DAY + EPOCH_WEEKDAY) % 7) / 7


class CyclicalTime:
    """``wave(2 pi * phase(ts_open))`` — one coordinate of a time's point on a circle."""

    __slots__ = ("_phase", "_wave")
    warmup = 0

    def __init__(self, phase: Callable[[int], float], wave: Callable[[float], float]) -> None:
        self._phase = phase
        self._wave = wave

    def update(
        self, ts_open: int, open_: float, high: float, low: float, close: float, volume: float
    ) -> float:
        return self._wave(TWO_PI * self._phase(ts_open))


class SessionOpen:
    """1.0 if the bar opens within ``[start_hour, end_hour)`` UTC, else 0.0; a start after the
    end means the session crosses midnight."""

    __slots__ = ("end_hour", "start_hour")
    warmup = 0

    def __init__(self, start_hour: int, end_hour: int) -> None:
        if not (0 <= start_hour < 24 and 0 <= end_hour < 24):
            raise ValueError(f"session hours must be in 0..23, got {start_hour}-{end_hour}")
        self.start_hour = start_hour
        self.end_hour = end_hour

    def update(
        self, ts_open: int, open_: float, high: float, low: float, close: float, volume: float
    ) -> float:
        hour = minute_of_day(ts_open) // 60
        if self.start_hour <= self.end_hour:
            return 1.0 if self.start_hour <= hour < self.end_hour else 0.0
        return 1.0 if hour >= self.start_hour or hour < self.end_hour else 0.0


def hour_of_day_features() -> tuple[tuple[str, CyclicalTime], ...]:
    """The named columns of ``hour_of_day``."""
    return (
        ("hour_sin", CyclicalTime(day_phase, math.sin)),
        ("hour_cos", CyclicalTime(day_phase, math.cos)),
    )


def day_of_week_features() -> tuple[tuple[str, CyclicalTime], ...]:
    """The named columns of ``day_of_week``."""
    return (
        ("dow_sin", CyclicalTime(week_phase, math.sin)),
        ("dow_cos", CyclicalTime(week_phase, math.cos)),
    )


def session_features() -> tuple[tuple[str, SessionOpen], ...]:
    """The named columns of ``session``: ``session_asia``, ``session_europe``, ``session_us``."""
    return tuple(
        (f"session_{name}", SessionOpen(start, end))
        for name, (start, end) in SESSION_HOURS_UTC.items()
    )


def hour_of_day(columns: BarColumns) -> Floats:
    """``(n, 2)``: hour_sin, hour_cos of every bar, vectorised."""
    return _by_slot(hour_of_day_features(), _minute_starts(), _minutes_of_day(columns))


def day_of_week(columns: BarColumns) -> Floats:
    """``(n, 2)``: dow_sin, dow_cos of every bar, vectorised."""
    weekdays = (columns.ts_open // NS_PER_DAY + EPOCH_WEEKDAY) % 7
    weekday_starts = ((np.arange(7, dtype=np.int64) - EPOCH_WEEKDAY) % 7) * NS_PER_DAY
    return _by_slot(day_of_week_features(), weekday_starts, weekdays)


def session(columns: BarColumns) -> Floats:
    """``(n, 3)``: session_asia, session_europe, session_us of every bar (1.0 / 0.0),
    vectorised."""
    return _by_slot(session_features(), _minute_starts(), _minutes_of_day(columns))


def _by_slot(features: Sequence[tuple[str, BarFeature]], slot_starts: Ints, slots: Ints) -> Floats:
    """``(n, k)``: the features, which depend on the bar's slot alone (its minute of the day,
    its weekday), evaluated once per slot — at ``slot_starts`` — and looked up for every bar
    by its slot. The values are the definition's own, bit for bit."""
    table = np.array(
        [
            [f.update(ts, NAN, NAN, NAN, NAN, NAN) for _, f in features]
            for ts in slot_starts.tolist()
        ],
        dtype=np.float64,
    ).reshape(len(slot_starts), len(features))
    return table[slots]


def _minute_starts() -> Ints:
    """A timestamp in each minute of the day, 00:00 to 23:59 (on 1970-01-01)."""
    return np.arange(MINUTES_PER_DAY, dtype=np.int64) * NS_PER_MINUTE


def _minutes_of_day(columns: BarColumns) -> Ints:
    """:func:`minute_of_day` of every bar."""
    return (columns.ts_open // NS_PER_MINUTE) % MINUTES_PER_DAY
