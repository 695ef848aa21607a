"""Orders and fills as the state store's tests write them."""

from __future__ import annotations

from algotrading.messages import Fill, Order, Side


def order(cid: str = "s1-000001", quantity: float = 10_000.0) -> Order:
    return Order(
        ts_event=1_000,
        client_order_id=cid,
        strategy_id="sma",
        instrument="EUR_USD",
        side=Side.BUY,
        quantity=quantity,
    )


def fill(fid: str, quantity: float = 10_000.0, price: float = 1.1, cid: str = "s1-000001") -> Fill:
    return Fill(
        ts_event=2_000,
        fill_id=fid,
        client_order_id=cid,
        venue_order_id="v1",
        strategy_id="sma",
        instrument="EUR_USD",
        side=Side.BUY,
        quantity=quantity,
        price=price,
    )
