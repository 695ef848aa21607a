"""When markets are open, as pure functions of a time in integer nanoseconds UTC.

Nothing here reads a clock: callers pass the time they care about, so a backtest, the live
daemon and a test ask the same question the same way. Local session times are converted with
``zoneinfo``, so daylight-saving shifts (which move the FX week by an hour in UTC) come out right.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

NS = 1_000_000_000
NEW_YORK = ZoneInfo("America/New_York")

# The retail FX week: Sunday 17:00 to Friday 17:00, New York time (weekday(): Monday=0).
_FX_ROLL = time(17, 0)
_FRIDAY, _SATURDAY, _SUNDAY = 4, 5, 6


class UnknownCalendarError(KeyError, ValueError):
    """A calendar name that is not in the registry: a lookup miss (``KeyError``) and a bad
    argument (``ValueError``) at once, so either ``except`` catches it."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


def _local(ts_ns: int, tz: ZoneInfo) -> datetime:
    # Sessions change on whole seconds, so flooring the nanoseconds never moves a boundary.
    return datetime.fromtimestamp(ts_ns // NS, tz)


def _ns_at(day: date, at: time, tz: ZoneInfo) -> int:
    return int(datetime.combine(day, at, tzinfo=tz).timestamp()) * NS


def fx_is_open(ts_ns: int) -> bool:
    """Whether spot FX trades at ``ts_ns`` (Sunday 17:00 to Friday 17:00 New York, the week a
    retail FX broker keeps; holidays are not modelled)."""
    local = _local(ts_ns, NEW_YORK)
    weekday, clock = local.weekday(), local.time()
    if weekday == _SATURDAY:
        return False
    if weekday == _FRIDAY:
        return clock < _FX_ROLL
    if weekday == _SUNDAY:
        return clock >= _FX_ROLL
    return True


def fx_next_open(ts_ns: int) -> int:
    """``ts_ns`` itself when FX is open, else the Sunday 17:00 New York that reopens it."""
    if fx_is_open(ts_ns):
        return ts_ns
    local = _local(ts_ns, NEW_YORK)
    days_to_sunday = (_SUNDAY - local.weekday()) % 7
    return _ns_at(local.date() + timedelta(days=days_to_sunday), _FX_ROLL, NEW_YORK)


def fx_next_close(ts_ns: int) -> int:
    """The Friday 17:00 New York that ends the FX week open at ``ts_ns`` — or, when the market
    is closed, the week that opens next. Always strictly after ``ts_ns``."""
    local = _local(fx_next_open(ts_ns), NEW_YORK)
    days_to_friday = (_FRIDAY - local.weekday()) % 7
    return _ns_at(local.date() + timedelta(days=days_to_friday), _FX_ROLL, NEW_YORK)


def fx_sessions(start_ns: int, end_ns: int) -> list[tuple[int, int]]:
    """The open stretches ``[open, close)`` of the FX market within ``[start_ns, end_ns)``,
    clipped to that window — what a vectorised generator needs to mask a whole range at once
    instead of asking :func:`fx_is_open` per timestamp."""
    sessions: list[tuple[int, int]] = []
    t = start_ns
    while t < end_ns:
        opened = fx_next_open(t)
        if opened >= end_ns:
            break
        t = min(fx_next_close(opened), end_ns)
        sessions.append((opened, t))
    return sessions


def _weekday_session(tz: ZoneInfo, opens: time, closes: time) -> Callable[[int], bool]:
    """An exchange's regular session, Monday to Friday ``[opens, closes)`` local time."""

    def is_open(ts_ns: int) -> bool:
        local = _local(ts_ns, tz)
        return local.weekday() < _SATURDAY and opens <= local.time() < closes

    return is_open


_us_regular_hours = _weekday_session(NEW_YORK, time(9, 30), time(16, 0))


def us_equity_is_open(ts_ns: int) -> bool:
    """NYSE regular hours, 09:30-16:00 New York, Monday to Friday, which is when index CFDs on
    US indices are traded here. Exchange holidays and half days are NOT modelled yet: on
    Thanksgiving this says open."""
    return _us_regular_hours(ts_ns)


_CALENDARS: dict[str, Callable[[int], bool]] = {
    "fx": fx_is_open,
    "us_equity": us_equity_is_open,
    # The other index CFDs' exchanges, regular hours, holidays likewise ignored.
    "xetra": _weekday_session(ZoneInfo("Europe/Berlin"), time(9, 0), time(17, 30)),
    "lse": _weekday_session(ZoneInfo("Europe/London"), time(8, 0), time(16, 30)),
}


def calendar_names() -> tuple[str, ...]:
    """The names :func:`is_open` knows, for validating configuration up front."""
    return tuple(sorted(_CALENDARS))


def is_open(calendar: str, ts_ns: int) -> bool:
    """Whether the market of ``calendar`` (an instrument's ``calendar`` field) is open at
    ``ts_ns``. Raises :class:`UnknownCalendarError` for a name not registered."""
    try:
        check = _CALENDARS[calendar]
    except KeyError:
        known = ", ".join(calendar_names())
        raise UnknownCalendarError(f"unknown calendar {calendar!r}; known: {known}") from None
    return check(ts_ns)


_WEDNESDAY = 2


def fx_next_rollover(ts_ns: int) -> tuple[int, int]:
    """The first daily FX rollover (17:00 New York, Monday to Friday) strictly after ``ts_ns``,
    and the days of financing it books: 3 on Wednesday (its value date spans the weekend),
    1 on the other four."""
    local = _local(ts_ns, NEW_YORK)
    day = local.date()
    while True:
        at = _ns_at(day, _FX_ROLL, NEW_YORK)
        if at > ts_ns and day.weekday() < _SATURDAY:
            return at, 3 if day.weekday() == _WEDNESDAY else 1
        day += timedelta(days=1)
