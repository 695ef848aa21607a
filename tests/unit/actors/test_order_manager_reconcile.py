"""The order manager compares its books with the venue's positions at one cursor: a position
no fill explains is adopted through a marked, journaled entry; an acknowledged order the venue
no longer works is cancelled; an order it does not know is reported once."""

from __future__ import annotations

import asyncio

from algotrading.messages import (
    Alert,
    Fill,
    Order,
    OrderAccepted,
    OrderCancelled,
    Position,
    Side,
    VenueCursor,
    VenuePositions,
)
from tests.unit.actors.manager_harness import order_manager


def _manager(**kwargs):
    return order_manager(**kwargs)


def _fill(fill_id: str, cid: str, side: Side, qty: float) -> Fill:
    return Fill(
        ts_event=1, fill_id=fill_id, client_order_id=cid, venue_order_id="", strategy_id="s",
        instrument="EUR_USD", side=side, quantity=qty, price=1.1,
    )  # fmt: skip


def test_equal_books_send_nothing():
    manager, sent, _ = _manager()

    async def run() -> None:
        await manager.handle(_fill("1", "a", Side.BUY, 1000))
        sent.clear()
        await manager.handle(
            VenuePositions(ts_event=2, cursor="9", positions={"EUR_USD": (1000.0, 1.1)})
        )

    asyncio.run(run())
    assert sent == []


def test_a_position_no_fill_explains_is_adopted_through_a_marked_entry():
    manager, sent, journal = _manager()

    async def run() -> None:
        await manager.handle(_fill("1", "a", Side.BUY, 1000))
        sent.clear()
        await manager.handle(
            VenuePositions(ts_event=2, cursor="9", positions={"EUR_USD": (-1000.0, 1.2)})
        )

    asyncio.run(run())
    (alert,) = [m for m in sent if isinstance(m, Alert)]
    assert alert.code == "reconciliation_difference"
    assert "EUR_USD: ours +1000, venue -1000" in alert.text
    (entry,) = [m for m in sent if isinstance(m, Fill)]
    assert (entry.side, entry.quantity, entry.strategy_id) == (Side.SELL, 2000.0, "reconciliation")
    assert entry in journal.appended
    (position,) = [m for m in sent if isinstance(m, Position)]
    assert (position.quantity, position.avg_price) == (-1000.0, 1.2)
    assert manager.book["EUR_USD"].quantity == -1000.0


def test_an_acknowledged_order_the_venue_no_longer_works_is_cancelled_an_unknown_told_once():
    leg = Order(
        ts_event=1, client_order_id="a.sl", strategy_id="s", instrument="EUR_USD",
        side=Side.SELL, quantity=1000, parent_id="a",
    )  # fmt: skip
    manager, sent, _ = _manager(working=[leg])

    async def run() -> None:
        for _ in range(2):
            await manager.handle(
                VenuePositions(ts_event=2, cursor="9", positions={}, working=("v20:77",))
            )

    asyncio.run(run())
    (cancelled,) = [m for m in sent if isinstance(m, OrderCancelled)]
    assert cancelled.client_order_id == "a.sl"
    alerts = [m for m in sent if isinstance(m, Alert)]
    assert len(alerts) == 1  # the second check found nothing new
    assert "at the venue, not ours: v20:77" in alerts[0].text


def test_an_order_still_on_its_way_is_no_difference():
    manager, sent, _ = _manager()

    async def run() -> None:
        order = Order(
            ts_event=1, client_order_id="x", strategy_id="s", instrument="EUR_USD",
            side=Side.BUY, quantity=1000,
        )  # fmt: skip
        await manager._submit(order)  # submitted, not yet acknowledged
        sent.clear()
        await manager.handle(VenuePositions(ts_event=2, cursor="9", positions={}))
        assert sent == []
        await manager.handle(OrderAccepted(ts_event=3, client_order_id="x", venue_order_id="5"))
        sent.clear()
        await manager.handle(VenuePositions(ts_event=4, cursor="10", positions={}))
        assert [type(m) for m in sent] == [Alert, OrderCancelled]

    asyncio.run(run())


def test_the_cursor_is_journaled_behind_what_it_covers():
    manager, _, journal = _manager()

    async def run() -> None:
        await manager.handle(_fill("1", "a", Side.BUY, 1000))
        await manager.handle(
            VenueCursor(ts_event=2, venue="oanda", account="x", transaction_id="12")
        )

    asyncio.run(run())
    kinds = [type(r) for r in journal.appended]
    assert kinds == [Fill, Position, VenueCursor]
    assert manager.cursor == "12"
