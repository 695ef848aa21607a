"""Reconciliation's diff, as pure functions."""

from __future__ import annotations

from algotrading.execution.reconciliation import (
    PositionDifference,
    diff,
    is_reconciliation,
    position_differences,
    reconciliation_fill,
)
from algotrading.messages import Side


def test_equal_books_differ_in_nothing():
    found = diff({"EUR_USD": (1000.0, 1.1)}, ["a"], {"EUR_USD": (1000.0, 1.1)}, ["a"])
    assert not found
    assert found.describe() == ""


def test_a_flat_instrument_on_one_side_only_is_no_difference():
    assert position_differences({"EUR_USD": 0.0}, {}) == []
    assert position_differences({}, {"GBP_USD": (0.0, 0.0)}) == []


def test_positions_differ_per_instrument_in_order():
    found = position_differences(
        {"EUR_USD": 1000.0, "USD_JPY": -500.0}, {"EUR_USD": (2000.0, 1.1), "AUD_USD": (10.0, 0.7)}
    )
    assert found == [
        PositionDifference("AUD_USD", 0.0, 10.0, 0.7),
        PositionDifference("EUR_USD", 1000.0, 2000.0, 1.1),
        PositionDifference("USD_JPY", -500.0, 0.0, 0.0),
    ]


def test_orders_differ_both_ways():
    found = diff({}, ["ours-1", "both"], {}, ["both", "v20:7"])
    assert found.ours_not_at_venue == ["ours-1"]
    assert found.unknown_at_venue == ["v20:7"]
    assert "ours, not at the venue: ours-1" in found.describe()
    assert "at the venue, not ours: v20:7" in found.describe()


def test_the_entry_takes_the_books_to_the_venues_quantity_and_is_marked():
    short = PositionDifference("EUR_USD", 10_000.0, -10_000.0, 1.2)
    fill = reconciliation_fill(short, "57", 9, "USD")
    assert (fill.side, fill.quantity, fill.price) == (Side.SELL, 20_000.0, 1.2)
    assert fill.fill_id == "reconcile:57:9:EUR_USD"
    assert is_reconciliation(fill)
    gone = PositionDifference("EUR_USD", -5.0, 0.0, 0.0, ours_price=1.3)
    up = reconciliation_fill(gone, "58", 9, "USD")
    assert (up.side, up.quantity) == (Side.BUY, 5.0)
    assert up.price == 1.3  # a position that vanished is dropped at cost: no P&L made up
