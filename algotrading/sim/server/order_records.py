"""The v20 ``Order`` objects an account keeps for ``GET …/orders``: one per order ever created
(market, pending, dependent), with its state (PENDING, FILLED, CANCELLED) and the ids that link
it to the engine (while it works there) and to the transactions that filled or cancelled it."""

from __future__ import annotations

from typing import Any

import msgspec

PENDING, FILLED, CANCELLED = "PENDING", "FILLED", "CANCELLED"
STATES = (PENDING, FILLED, "TRIGGERED", CANCELLED, "ALL")
# create-transaction fields that are not fields of the Order itself
_NOT_ORDER_FIELDS = frozenset(
    {
        "id",
        "time",
        "userID",
        "accountID",
        "batchID",
        "requestID",
        "type",
        "reason",
        "orderFillTransactionID",
        "cancellingTransactionID",
    }
)


class OrderRecord(msgspec.Struct, kw_only=True):
    body: dict[str, Any]  # the v20 Order, as GET returns it
    instrument: str = ""  # dependent orders' Order objects name only their trade
    engine_id: str = ""  # the engine's client_order_id while the order works there
    fill_reason: str = ""  # the ORDER_FILL reason when it fills
    closes_trade: str = ""  # a trade close: the trade its fill closes first
    leg_extensions: dict[str, dict[str, str]] = msgspec.field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(self.body["id"])

    @property
    def type(self) -> str:
        return str(self.body["type"])

    @property
    def state(self) -> str:
        return str(self.body["state"])

    @property
    def client_id(self) -> str:
        extensions = self.body.get("clientExtensions") or {}
        return str(extensions.get("id", ""))

    @property
    def trade_id(self) -> str:
        """The trade a dependent order (take-profit, stop-loss, trailing stop) belongs to."""
        return str(self.body.get("tradeID", ""))


def order_from_create(tx: dict[str, Any]) -> dict[str, Any]:
    """A pending v20 Order from the transaction that created it."""
    kind = str(tx["type"]).removesuffix("_ORDER")
    body: dict[str, Any] = {"id": tx["id"], "createTime": tx["time"], "type": kind}
    body["state"] = PENDING
    body.update({k: v for k, v in tx.items() if k not in _NOT_ORDER_FIELDS})
    return body


def select_orders(
    records: list[OrderRecord],
    *,
    state: str = PENDING,
    instrument: str = "",
    ids: set[str] | None = None,
    before_id: int = 0,
    count: int = 50,
) -> list[OrderRecord]:
    """``GET …/orders`` filters, newest first."""
    out = []
    for record in sorted(records, key=lambda r: int(r.id), reverse=True):
        if ids is not None and record.id not in ids:
            continue
        if state != "ALL" and record.state != state:
            continue
        if instrument and record.instrument != instrument:
            continue
        if before_id and int(record.id) >= before_id:
            continue
        out.append(record)
        if len(out) >= count:
            break
    return out
