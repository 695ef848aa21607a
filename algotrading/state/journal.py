"""What an actor needs from durable state, as a protocol, so actors run with or without a store
(a backtest journals nothing; the daemon journals to SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import msgspec

from algotrading.errors import DataError
from algotrading.log import get_logger
from algotrading.messages import Message, Order, decode_msgpack


class Journal(Protocol):
    def append(self, msg: Message) -> int:
        """Record ``msg`` in the journal (group-committed); return its sequence number."""
        ...

    def write_ahead(self, order: Order) -> None:
        """Record ``order`` durably *before* it is sent; refuse an id already used."""
        ...


def decode_journal(
    where: str, records: Iterator[tuple[int, bytes]]
) -> Iterator[tuple[int, Message]]:
    """Decode ``(seq, body)`` journal records in order, as they stream. A last record that
    cannot be decoded (damaged on disk) is reported and left out, every record before it
    stands; a damaged record with records after it, or records out of order, is an error
    naming it: recovery must not skip a step in the middle."""
    damaged: tuple[int, str] | None = None
    last = None
    for seq, body in records:
        if last is not None and seq <= last:
            raise DataError(where, f"journal record {seq} is out of order (after {last})", seq)
        last = seq
        if damaged is not None:  # a damaged record with records after it
            raise DataError(
                where, f"journal record {damaged[0]} cannot be read ({damaged[1]})", damaged[0]
            )
        try:
            msg = decode_msgpack(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            damaged = (seq, str(exc))
            continue
        yield seq, msg
    if damaged is not None:  # the last record: those before it stand
        get_logger("state").warning(
            "journal_tail_damaged", seq=damaged[0], reason=damaged[1], path=where
        )
