"""When trading sessions open and close, as the daemon's schedules see it."""

from __future__ import annotations

from datetime import UTC, datetime

from algotrading.daemon.schedules import next_session_change
from algotrading.timestamps import parse_utc


def test_the_forex_week_closes_friday_17_new_york_and_opens_sunday_17():
    wednesday = parse_utc("2024-01-10T12:00:00Z")
    at, opens = next_session_change("fx", wednesday)
    assert (at, opens) == (parse_utc("2024-01-12T22:00:00Z"), False)  # 17:00 EST = 22:00 UTC
    at, opens = next_session_change("fx", at)
    assert (at, opens) == (parse_utc("2024-01-14T22:00:00Z"), True)


def test_an_index_session_opens_and_closes_every_weekday():
    monday_night = parse_utc("2024-01-08T23:00:00Z")
    at, opens = next_session_change("us_equity", monday_night)
    assert opens is True
    assert datetime.fromtimestamp(at / 1e9, UTC).date() == datetime(2024, 1, 9).date()
    close, opens = next_session_change("us_equity", at)
    assert opens is False
    assert close > at
