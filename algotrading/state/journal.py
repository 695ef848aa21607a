"""What an actor needs from durable state, as a protocol, so actors run with or without a store
(a backtest journals nothing; the daemon journals to SQLite)."""

from __future__ import annotations

from typing import Protocol

from algotrading.messages import Message, Order


class Journal(Protocol):
    def append(self, msg: Message) -> int:
        """Record ``msg`` in the journal (group-committed); return its sequence number."""
        ...

    def write_ahead(self, order: Order) -> None:
        """Record ``order`` durably *before* it is sent; refuse an id already used."""
        ...
