"""Brackets built from parts, as pure logic."""

from __future__ import annotations

from algotrading.execution.bracket import SyntheticBrackets
from algotrading.messages import Fill, Order, OrderType, Side


def entry(**kw) -> Order:
    return Order(
        ts_event=0,
        client_order_id="e1",
        strategy_id="s",
        instrument="EUR_USD",
        side=Side.BUY,
        quantity=10_000,
        **kw,
    )


def fill(cid: str, qty: float) -> Fill:
    return Fill(
        ts_event=1,
        fill_id=f"f-{cid}-{qty}",
        client_order_id=cid,
        venue_order_id="v",
        strategy_id="s",
        instrument="EUR_USD",
        side=Side.BUY,
        quantity=qty,
        price=1.1,
    )


def test_entry_goes_plain_and_each_fill_gets_its_own_legs():
    b = SyntheticBrackets()
    plain = b.strip(entry(stop_loss=1.09, take_profit=1.12, trailing_stop=0.002))
    assert (plain.stop_loss, plain.take_profit, plain.trailing_stop) == (None, None, None)
    first = b.legs_for(fill("e1", 4_000), 1, entry_done=False)
    assert [(o.client_order_id, o.order_type, o.side, o.quantity) for o in first] == [
        ("e1.sl", OrderType.STOP, Side.SELL, 4_000),
        ("e1.ts", OrderType.TRAILING_STOP, Side.SELL, 4_000),
        ("e1.tp", OrderType.LIMIT, Side.SELL, 4_000),
    ]
    second = b.legs_for(fill("e1", 6_000), 2, entry_done=True)
    assert [o.client_order_id for o in second] == ["e1.2.sl", "e1.2.ts", "e1.2.tp"]
    assert b.legs_for(fill("e1", 1), 3, entry_done=True) == []  # entry forgotten once done
    assert set(b.partners_to_cancel("e1.tp")) == {"e1.sl", "e1.ts"}
    assert b.partners_to_cancel("e1.sl") == ()  # already cancelled with its partner


def test_orphans_are_legs_that_would_no_longer_reduce():
    b = SyntheticBrackets()
    b.strip(entry(stop_loss=1.09))
    legs = b.legs_for(fill("e1", 10_000), 1, entry_done=True)
    assert b.orphans(legs, "EUR_USD", 10_000) == []
    assert b.orphans(legs, "EUR_USD", 0.0) == ["e1.sl"]
    assert b.orphans(legs, "EUR_USD", -5_000) == ["e1.sl"]
    assert b.orphans(legs, "USD_JPY", 0.0) == []
    assert b.strip(entry()) == entry()  # nothing to build
