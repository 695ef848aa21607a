"""The OANDA venue actor applies the account's transactions strictly in the venue's order
from its cursor: one that arrives ahead of a gap (a REST answer naming a fill while the leg
created before it only comes on the stream) waits while the gap is fetched; repeats are
nothing; the cursor goes to the order manager behind the events it covers."""

from __future__ import annotations

import asyncio
from typing import Any

from algotrading.adapters.oanda.mapping import SentOrders
from algotrading.adapters.oanda.venue import OandaVenueActor
from algotrading.data.instruments import BUILTIN_INSTRUMENTS
from algotrading.messages import (
    Fill,
    Order,
    OrderAccepted,
    Side,
    VenueCursor,
    VenueEvent,
    VenuePositions,
)
from algotrading.runtime.clock import VirtualClock

T = "2024-01-08T08:00:00.000000000Z"


def _entry() -> Order:
    return Order(
        ts_event=1, client_order_id="a-1", strategy_id="s", instrument="EUR_USD",
        side=Side.BUY, quantity=1000, stop_loss=1.0,
    )  # fmt: skip


def _ledger() -> list[dict[str, Any]]:
    return [
        {"id": "11", "type": "MARKET_ORDER", "time": T, "instrument": "EUR_USD", "units": "1000",
         "clientExtensions": {"id": "a-1"}},
        {"id": "12", "type": "ORDER_FILL", "time": T, "orderID": "11", "clientOrderID": "a-1",
         "instrument": "EUR_USD", "units": "1000", "price": "1.10000"},
        {"id": "13", "type": "STOP_LOSS_ORDER", "time": T, "price": "1.00000",
         "clientExtensions": {"id": "a-1.sl"}},
        {"id": "14", "type": "ORDER_FILL", "time": T, "orderID": "13", "clientOrderID": "a-1.sl",
         "instrument": "EUR_USD", "units": "-1000", "price": "1.00000"},
    ]  # fmt: skip


class FakeClient:
    def __init__(self, ledger: list[dict[str, Any]]) -> None:
        self.ledger = ledger
        self.asked: list[str] = []
        self.positions: list[dict[str, Any]] = []

    async def transactions_since(self, since: str) -> tuple[list[dict[str, Any]], str]:
        self.asked.append(since)
        newer = [t for t in self.ledger if int(t["id"]) > int(since)]
        return newer, self.ledger[-1]["id"]

    async def pending_orders_at(self) -> tuple[list[dict[str, Any]], str]:
        return [], self.ledger[-1]["id"]

    async def open_positions_at(self) -> tuple[list[dict[str, Any]], str]:
        return self.positions, self.ledger[-1]["id"]


def _actor(client: FakeClient, last_id: str = "10") -> tuple[OandaVenueActor, list]:
    sent: list = []

    async def send(actor, msg) -> None:
        sent.append(msg)

    actor = OandaVenueActor(
        client=client,  # type: ignore[arg-type]
        instruments={"EUR_USD": BUILTIN_INSTRUMENTS["EUR_USD"]},
        sent=SentOrders(orders={"a-1": _entry()}, last_id=last_id),
        account="acc",
    )
    actor.bind(send, VirtualClock())
    return actor, sent


def _event(tx: dict[str, Any]) -> VenueEvent:
    return VenueEvent(ts_event=1, venue="oanda", payload=tx)


def test_a_transaction_ahead_of_a_gap_waits_while_the_gap_is_fetched():
    ledger = _ledger()
    client = FakeClient(ledger)
    actor, sent = _actor(client)

    async def run() -> None:
        await actor._emit(ledger[:2])  # the REST answer: creation and fill
        await actor.handle(_event(ledger[3]))  # the leg's fill, before its creation came
        await actor.handle(_event(ledger[2]))  # the creation, late: nothing twice

    asyncio.run(run())
    fills = [m for m in sent if isinstance(m, Fill)]
    assert [f.fill_id for f in fills] == ["12", "14"]
    assert fills[1].client_order_id == "a-1.sl"
    assert fills[1].strategy_id == "s"  # the leg is linked to its parent
    assert fills[1].parent_id == "a-1"
    legs = [m for m in sent if isinstance(m, Order)]
    assert [o.parent_id for o in legs] == ["a-1"]
    assert client.asked == ["12"]
    cursors = [m.transaction_id for m in sent if isinstance(m, VenueCursor)]
    assert cursors == ["12", "14"]
    last_fill = max(i for i, m in enumerate(sent) if isinstance(m, Fill))
    assert isinstance(sent[-1], VenueCursor)
    assert last_fill < len(sent) - 1


def test_a_heartbeat_naming_a_newer_transaction_fetches_it():
    ledger = _ledger()
    client = FakeClient(ledger)
    actor, sent = _actor(client, last_id="12")
    heartbeat = {"type": "HEARTBEAT", "lastTransactionID": "14", "time": T}

    async def run() -> None:
        actor._account_state = _nothing  # type: ignore[method-assign]
        await actor.handle(_event(heartbeat))

    asyncio.run(run())
    assert [m.fill_id for m in sent if isinstance(m, Fill)] == ["14"]
    assert actor.cursor == 14


def test_ids_the_venue_does_not_return_are_passed_over_not_waited_for():
    ledger = [t for t in _ledger() if t["id"] != "13"]  # 13: another account's, say
    client = FakeClient(ledger)
    actor, sent = _actor(client)

    async def run() -> None:
        await actor._emit([ledger[-1]])  # 14, with 11..13 missing

    asyncio.run(run())
    assert [m.fill_id for m in sent if isinstance(m, Fill)] == ["12", "14"]
    assert actor.cursor == 14


def test_reconcile_applies_everything_up_to_the_venues_cursor_first():
    ledger = _ledger()[:2]
    client = FakeClient(ledger)
    client.positions = [
        {"instrument": "EUR_USD", "long": {"units": "1000", "averagePrice": "1.1"},
         "short": {"units": "0"}},
    ]  # fmt: skip
    actor, sent = _actor(client)

    asyncio.run(actor.reconcile("test"))
    kinds = [type(m) for m in sent]
    assert kinds == [OrderAccepted, Fill, VenueCursor, VenuePositions]
    check = sent[-1]
    assert check.cursor == "12"
    assert check.positions == {"EUR_USD": (1000.0, 1.1)}


async def _nothing() -> None:
    return None
