"""Start-up reconciliation over mass status, on a real state file: reports the books lack are
ingested once (unknown orders adopted, legs linked to their parents), orders move to the
venue's state, and only a position no fill explains gets a reconciliation entry."""

from __future__ import annotations

import asyncio

import pytest

from algotrading.adapters.venue import MassStatus
from algotrading.daemon.recovery import journaled_cursor, reconcile_at_start, working_orders
from algotrading.messages import (
    Fill,
    Order,
    OrderAccepted,
    OrderCancelled,
    OrderType,
    Position,
    Side,
    VenueCursor,
)
from algotrading.sim.accounting import PositionState
from algotrading.state.store import StateStore
from algotrading.state.venue_binding import VenueIdentity
from tests.unit.state import samples


class FakeVenue:
    kind = "fake"

    def __init__(self, status: MassStatus) -> None:
        self.status = status
        self.identity = VenueIdentity("fake", "here", "acc")
        self.asked: list[str] = []

    async def mass_status(self, since, known):
        self.asked.append(since)
        return self.status


@pytest.fixture
def store(tmp_path):
    store = StateStore.open(tmp_path / "s.sqlite")
    store.begin_session("s1", "paper", {}, 0)
    yield store
    store.close()


def _leg(cid: str = "s1-000001.sl") -> Order:
    return Order(
        ts_event=3_000, client_order_id=cid, parent_id="s1-000001", strategy_id="sma",
        instrument="EUR_USD", side=Side.SELL, quantity=10_000.0, order_type=OrderType.STOP,
        stop_price=1.0,
    )  # fmt: skip


def test_fills_made_while_down_are_recorded_once_and_legs_adopted(store):
    store.write_ahead(samples.order())
    store.append(OrderAccepted(ts_event=1, client_order_id="s1-000001", venue_order_id="v1"))
    store.append(samples.fill("F1"))
    store.append(Position(ts_event=2, instrument="EUR_USD", quantity=10_000.0, avg_price=1.1))
    store.append(VenueCursor(ts_event=2, venue="fake", account="acc", transaction_id="12"))
    store.flush()
    sold = Fill(
        ts_event=4_000, fill_id="F2", client_order_id="s1-000001.sl", venue_order_id="v2",
        strategy_id="venue", instrument="EUR_USD", side=Side.SELL, quantity=10_000.0, price=1.0,
    )  # fmt: skip
    status = MassStatus(
        cursor="15",
        reports=[
            samples.fill("F1"),  # seen again: nothing
            _leg(),
            OrderAccepted(ts_event=3_000, client_order_id="s1-000001.sl", venue_order_id="v2"),
            sold,
        ],
        positions={},
    )
    venue = FakeVenue(status)
    result = asyncio.run(reconcile_at_start(store, venue))
    assert venue.asked == ["12"]
    assert result.adopted == ["s1-000001.sl"]
    assert [f.fill_id for f in result.fills] == ["F2"]
    assert result.fills[0].strategy_id == "sma"  # the parent's
    assert result.differences == []
    assert [r["fill_id"] for r in store.fills()] == ["F1", "F2"]
    assert store.order("s1-000001.sl")["status"] == "FILLED"
    assert store.positions()["EUR_USD"]["quantity"] == 0.0
    assert journaled_cursor(store) == "15"
    assert result.alerts()[0].code == "reconciliation_orders"


def test_orders_the_venue_does_not_work_are_settled(store):
    store.write_ahead(samples.order("s1-000001"))
    store.append(OrderAccepted(ts_event=1, client_order_id="s1-000001", venue_order_id="v1"))
    store.write_ahead(samples.order("s1-000002"))  # written ahead, never heard of
    store.write_ahead(samples.order("s1-000003"))
    store.append(OrderAccepted(ts_event=1, client_order_id="s1-000003", venue_order_id="v3"))
    store.flush()
    status = MassStatus(cursor="", working=["s1-000003"])
    result = asyncio.run(reconcile_at_start(store, FakeVenue(status)))
    assert result.ended == ["s1-000001"]
    assert result.never_sent == ["s1-000002"]
    assert store.order("s1-000001")["status"] == "CANCELLED"
    assert store.order("s1-000002")["status"] == "REJECTED"
    assert store.order("s1-000003")["status"] == "ACCEPTED"
    assert [o.client_order_id for o in working_orders(store)] == ["s1-000003"]
    assert journaled_cursor(store) == ""  # a venue without a cursor journals none


def test_a_position_no_fill_explains_is_adopted_through_a_marked_entry(store):
    store.append(Position(ts_event=2, instrument="EUR_USD", quantity=10_000.0, avg_price=1.1))
    store.flush()
    status = MassStatus(cursor="20", positions={"EUR_USD": PositionState(-5_000.0, 1.2)})
    result = asyncio.run(reconcile_at_start(store, FakeVenue(status)))
    (difference,) = result.differences
    assert (difference.ours, difference.venue) == (10_000.0, -5_000.0)
    (entry,) = store.fills()
    assert entry["fill_id"].startswith("reconcile:20:")
    assert entry["client_order_id"] == "reconciliation"
    assert (entry["side"], entry["quantity"]) == ("SELL", 15_000.0)
    assert store.positions()["EUR_USD"]["quantity"] == -5_000.0
    assert any(a.code == "reconciliation_difference" for a in result.alerts())


def test_a_cancelled_report_moves_the_order(store):
    store.write_ahead(samples.order())
    store.append(OrderAccepted(ts_event=1, client_order_id="s1-000001", venue_order_id="v1"))
    store.flush()
    status = MassStatus(
        cursor="3",
        reports=[OrderCancelled(ts_event=5, client_order_id="s1-000001", reason="EXPIRED")],
    )
    result = asyncio.run(reconcile_at_start(store, FakeVenue(status)))
    assert result.ended == []
    assert store.order("s1-000001")["status"] == "CANCELLED"
    assert store.order("s1-000001")["reason"] == "EXPIRED"
