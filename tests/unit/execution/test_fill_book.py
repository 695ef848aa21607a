"""The fill book: a fill id applied once; the same fill again is a repeat; another fill under
an applied id is a conflict."""

from __future__ import annotations

from algotrading.execution.fill_book import FillBook, FillCheck, fill_terms
from tests.unit.state.samples import fill


def test_new_repeat_and_conflict():
    book = FillBook()
    assert book.check(fill("F1")) is FillCheck.NEW
    assert book.check(fill("F1")) is FillCheck.REPEAT
    assert book.check(fill("F1", price=1.2)) is FillCheck.CONFLICT
    assert book.check(fill("F1", cid="other")) is FillCheck.CONFLICT
    assert book.check(fill("F2")) is FillCheck.NEW
    assert len(book) == 2
    assert book.applied("F1") == fill_terms(fill("F1"))


def test_loaded_from_what_the_state_applied():
    book = FillBook([("F1", fill_terms(fill("F1")))])
    assert book.check(fill("F1")) is FillCheck.REPEAT
    assert book.check(fill("F1", quantity=5_000.0)) is FillCheck.CONFLICT


def test_a_price_through_a_float_and_back_is_the_same_fill():
    stored = ("c", "EUR_USD", "BUY", 10_000.0, 1.1 + 1e-16, 2_000)
    book = FillBook([("F1", stored)])
    assert book.check(fill("F1", cid="c")) is FillCheck.REPEAT
