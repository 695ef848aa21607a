"""The order manager applies each venue fill once, and stops trading on a different fill
under an id it has applied: alert (``fill_conflict``), halt through risk, the fill journaled
but never booked."""

from __future__ import annotations

import asyncio

from algotrading.actors.order_manager import OrderManagerActor
from algotrading.execution.fill_book import FillBook, fill_terms
from algotrading.messages import Alert, AlertLevel, Command, Fill, Position
from tests.unit.actors.manager_harness import RecordingJournal, order_manager
from tests.unit.state.samples import fill


def _manager(fills: FillBook | None = None) -> tuple[OrderManagerActor, list, RecordingJournal]:
    return order_manager(fills=fills)


def test_a_fill_sent_again_is_booked_once():
    manager, sent, journal = _manager()
    asyncio.run(manager.handle(fill("F1")))
    asyncio.run(manager.handle(fill("F1")))
    assert manager.book["EUR_USD"].quantity == 10_000
    assert sum(isinstance(m, Fill) for m in sent) == 1
    assert sum(isinstance(m, Fill) for m in journal.appended) == 1


def test_a_fill_the_state_had_applied_is_not_booked_again():
    manager, sent, _ = _manager(FillBook([("F1", fill_terms(fill("F1")))]))
    asyncio.run(manager.handle(fill("F1")))
    assert "EUR_USD" not in manager.book
    assert sent == []


def test_a_different_fill_under_an_applied_id_alerts_and_halts():
    manager, sent, journal = _manager()
    asyncio.run(manager.handle(fill("F1")))
    sent.clear()
    asyncio.run(manager.handle(fill("F1", price=1.25)))
    assert manager.book["EUR_USD"].quantity == 10_000  # never booked
    assert not [m for m in sent if isinstance(m, Fill | Position)]
    (alert,) = [m for m in sent if isinstance(m, Alert)]
    assert (alert.level, alert.code) == (AlertLevel.CRITICAL, "fill_conflict")
    assert "F1" in alert.text
    (halt,) = [m for m in sent if isinstance(m, Command)]
    assert halt.name == "halt"
    assert halt.args["reason"].startswith("fill_conflict")
    # journaled: the conflicting fill (the store records it) and the halt (a restart keeps it)
    assert [m.price for m in journal.appended if isinstance(m, Fill)] == [1.1, 1.25]
    assert halt in journal.appended
