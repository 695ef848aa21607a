"""Marks are taken on every bar and quote: the exchange's totals skip multiplying by a rate of
1, which must change no bit of equity or margin."""

from __future__ import annotations

import random

from algotrading.data.instruments import BUILTIN_INSTRUMENTS
from algotrading.sim.accounting import EPS, PositionState
from algotrading.sim.exchange import SimExchange


def textbook_totals(exchange: SimExchange) -> tuple[float, float]:
    """The totals as written before: every term multiplied by its rate."""
    unrealized = used = 0.0
    for book in exchange.books.values():
        qty = book.position.quantity
        if -EPS < qty < EPS:
            continue
        price = book.last_price
        rate = 1.0 if book.unit_rate else (exchange._rate(book.spec, price) or 0.0)
        unrealized += (price - book.position.avg_price) * qty * rate
        used += abs(qty) * price * book.spec.margin_rate * rate
    return unrealized, used


def test_totals_are_bit_identical_to_the_textbook_sums():
    rng = random.Random(3)
    instruments = {s: BUILTIN_INSTRUMENTS[s] for s in ("EUR_USD", "USD_JPY", "EUR_GBP")}
    exchange = SimExchange(instruments, conversion_rates={"GBP_USD": 1.27})
    for _ in range(5_000):
        for symbol, book in exchange.books.items():
            base = {"EUR_USD": 1.1, "USD_JPY": 150.0, "EUR_GBP": 0.86}[symbol]
            book.last_price = exchange.mids[symbol] = base * (1 + rng.gauss(0, 0.01))
            quantity = rng.choice([0.0, 1e-12, -1e-12, rng.uniform(-1e6, 1e6), 10_000.0, -1.0])
            book.position = PositionState(quantity, base * (1 + rng.gauss(0, 0.01)))
        got, expected = exchange._totals(), textbook_totals(exchange)
        assert repr(got) == repr(expected)
