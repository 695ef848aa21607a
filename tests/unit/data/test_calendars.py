"""The FX week and exchange sessions, checked at their edges in winter and summer time."""

from __future__ import annotations

import pytest

from algotrading.data.calendars import (
    UnknownCalendarError,
    calendar_names,
    fx_is_open,
    fx_next_close,
    fx_next_open,
    fx_sessions,
    is_open,
)
from algotrading.timestamps import NS, parse_utc

# New York is UTC-5 in EST weeks and UTC-4 in EDT weeks, so 17:00 NY is 22:00 or 21:00 UTC.
EST_FRIDAY_CLOSE = parse_utc("2024-01-05T22:00:00Z")
EST_SUNDAY_OPEN = parse_utc("2024-01-07T22:00:00Z")
EDT_FRIDAY_CLOSE = parse_utc("2024-07-05T21:00:00Z")
EDT_SUNDAY_OPEN = parse_utc("2024-07-07T21:00:00Z")


@pytest.mark.parametrize("close", [EST_FRIDAY_CLOSE, EDT_FRIDAY_CLOSE])
def test_fx_closes_at_friday_1700_new_york(close: int) -> None:
    assert fx_is_open(close - 1)
    assert fx_is_open(close - NS)
    assert not fx_is_open(close)
    assert not fx_is_open(close + NS)


@pytest.mark.parametrize("opening", [EST_SUNDAY_OPEN, EDT_SUNDAY_OPEN])
def test_fx_opens_at_sunday_1700_new_york(opening: int) -> None:
    assert not fx_is_open(opening - 1)
    assert not fx_is_open(opening - NS)
    assert fx_is_open(opening)
    assert fx_is_open(opening + 1)


def test_fx_week_across_the_daylight_saving_changes() -> None:
    # US clocks go forward on Sunday 2024-03-10 and back on Sunday 2024-11-03, at 02:00 local.
    assert not fx_is_open(parse_utc("2024-03-08T22:00:00Z"))  # Friday 17:00 EST
    assert fx_is_open(parse_utc("2024-03-08T21:59:59Z"))
    assert fx_next_open(parse_utc("2024-03-09T12:00:00Z")) == parse_utc("2024-03-10T21:00:00Z")
    assert not fx_is_open(parse_utc("2024-11-01T21:00:00Z"))  # Friday 17:00 EDT
    assert fx_next_open(parse_utc("2024-11-02T12:00:00Z")) == parse_utc("2024-11-03T22:00:00Z")


def test_fx_is_open_midweek_and_closed_on_saturday() -> None:
    assert fx_is_open(parse_utc("2024-01-10T03:00:00Z"))  # Wednesday
    assert not fx_is_open(parse_utc("2024-01-06T12:00:00Z"))  # Saturday


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2024-01-06T12:00:00Z", EST_SUNDAY_OPEN),  # Saturday
        ("2024-01-05T22:00:00Z", EST_SUNDAY_OPEN),  # the Friday close itself
        ("2024-01-07T21:59:59Z", EST_SUNDAY_OPEN),  # Sunday, a second before
        ("2024-07-06T00:00:00Z", EDT_SUNDAY_OPEN),  # Saturday in summer
    ],
)
def test_fx_next_open_from_the_weekend(when: str, expected: int) -> None:
    assert fx_next_open(parse_utc(when)) == expected


def test_fx_next_open_is_now_when_open() -> None:
    ts = parse_utc("2024-01-09T10:11:12.5Z")
    assert fx_next_open(ts) == ts


def test_fx_next_close_is_the_end_of_the_open_or_next_week() -> None:
    assert fx_next_close(parse_utc("2024-01-03T10:00:00Z")) == EST_FRIDAY_CLOSE
    assert fx_next_close(EST_FRIDAY_CLOSE - 1) == EST_FRIDAY_CLOSE
    assert fx_next_close(EST_FRIDAY_CLOSE) == parse_utc("2024-01-12T22:00:00Z")
    assert fx_next_close(parse_utc("2024-07-06T12:00:00Z")) == parse_utc("2024-07-12T21:00:00Z")


def test_fx_sessions_agree_with_fx_is_open() -> None:
    start, end = parse_utc("2024-03-01T00:00:00Z"), parse_utc("2024-04-01T00:00:00Z")
    sessions = fx_sessions(start, end)
    assert sessions[0][0] == start  # clipped to the window: it starts on an open Friday
    assert sessions[-1][1] <= end
    hour = 3600 * NS
    for ts in range(start, end, hour // 2):
        inside = any(opened <= ts < closed for opened, closed in sessions)
        assert inside == fx_is_open(ts), ts


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2024-01-08T14:29:59Z", False),  # Monday 09:29:59 EST
        ("2024-01-08T14:30:00Z", True),  # 09:30 EST
        ("2024-01-08T20:59:59Z", True),  # 15:59:59 EST
        ("2024-01-08T21:00:00Z", False),  # 16:00 EST
        ("2024-07-08T13:30:00Z", True),  # 09:30 EDT
        ("2024-07-08T13:29:59Z", False),
        ("2024-07-08T20:00:00Z", False),  # 16:00 EDT
        ("2024-07-06T15:00:00Z", False),  # Saturday
        ("2024-07-07T15:00:00Z", False),  # Sunday
    ],
)
def test_us_equity_regular_hours(when: str, expected: bool) -> None:
    assert is_open("us_equity", parse_utc(when)) is expected


def test_registry_dispatches_fx() -> None:
    assert is_open("fx", EST_SUNDAY_OPEN)
    assert not is_open("fx", EST_FRIDAY_CLOSE)
    assert {"fx", "us_equity"} <= set(calendar_names())


def test_unknown_calendar_is_a_value_error_and_a_key_error() -> None:
    with pytest.raises(ValueError, match="unknown calendar 'moon'"):
        is_open("moon", 0)
    with pytest.raises(KeyError):
        is_open("moon", 0)
    with pytest.raises(UnknownCalendarError):
        is_open("moon", 0)
