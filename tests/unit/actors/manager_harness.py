"""An order manager on its own, as the actor tests drive it: what it sends is collected, what
it journals is kept in memory."""

from __future__ import annotations

from typing import Any

from algotrading.actors.order_manager import OrderManagerActor
from algotrading.data.instruments import BUILTIN_INSTRUMENTS
from algotrading.messages import Message, Order
from algotrading.runtime.clock import VirtualClock


class RecordingJournal:
    def __init__(self) -> None:
        self.appended: list[Message] = []
        self.written_ahead: list[Order] = []

    def append(self, msg: Message) -> int:
        self.appended.append(msg)
        return len(self.appended)

    def write_ahead(self, order: Order) -> None:
        self.written_ahead.append(order)


def order_manager(**kwargs: Any) -> tuple[OrderManagerActor, list[Message], RecordingJournal]:
    """An EUR_USD order manager journaling in memory; ``kwargs`` go to the actor."""
    sent: list[Message] = []
    journal = RecordingJournal()

    async def send(actor: Any, msg: Message) -> None:
        sent.append(msg)

    manager = OrderManagerActor(
        id_prefix="t",
        instruments={"EUR_USD": BUILTIN_INSTRUMENTS["EUR_USD"]},
        journal=journal,
        **kwargs,
    )
    manager.bind(send, VirtualClock())
    return manager, sent, journal
