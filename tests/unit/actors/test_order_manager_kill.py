"""The kill switch and orders already approved: risk halts, but an order it approved just
before is still on its way to the order manager. It must be refused, not sent after the
flatten (it would leave a position behind the kill switch)."""

from __future__ import annotations

import asyncio

from algotrading.actors.order_manager import OrderManagerActor
from algotrading.data.instruments import BUILTIN_INSTRUMENTS
from algotrading.messages import ApprovedOrder, Command, OrderDenied, OrderIntent, Side, SubmitOrder
from algotrading.runtime.clock import VirtualClock


def _manager() -> tuple[OrderManagerActor, list]:
    sent: list = []

    async def send(actor, msg) -> None:
        sent.append(msg)

    manager = OrderManagerActor(
        id_prefix="t", instruments={"EUR_USD": BUILTIN_INSTRUMENTS["EUR_USD"]}
    )
    manager.bind(send, VirtualClock())
    return manager, sent


def _approved(ts: int) -> ApprovedOrder:
    intent = OrderIntent(
        ts_event=ts, strategy_id="s", instrument="EUR_USD", side=Side.BUY, quantity=10_000
    )
    return intent.approved(ts)


def test_an_order_approved_before_the_kill_is_refused_until_resume():
    manager, sent = _manager()

    async def run() -> None:
        await manager.handle(Command(ts_event=1, name="kill"))
        await manager.handle(_approved(2))  # approved before risk halted, arrives after
        assert not [m for m in sent if isinstance(m, SubmitOrder)]
        (denied,) = [m for m in sent if isinstance(m, OrderDenied)]
        assert denied.code == "killed"
        sent.clear()
        await manager.handle(Command(ts_event=3, name="resume"))
        await manager.handle(_approved(4))
        assert [type(m) for m in sent if isinstance(m, SubmitOrder)] == [SubmitOrder]

    asyncio.run(run())
