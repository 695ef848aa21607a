"""Start-up reconciliation, before anything trades: the books are brought to the venue's own
records, whatever the venue. It works on :class:`~algotrading.adapters.venue.MassStatus` only.

1. The cursor is the last :class:`VenueCursor` the journal holds: everything up to it reached
   the books (the order manager journals it behind what it covers).
2. Mass status since that cursor, as of one venue transaction L.
3. Every report is ingested: an order of ours the books lack is adopted (a leg linked to its
   parent), every fill the books lack is recorded once — keyed by its venue fill id, so the
   same fill seen again is nothing — and orders move to the state the venue reports.
4. An order the venue does not work and no report explains is settled: never acknowledged, it
   never arrived (``never_sent``, a refusal); acknowledged, the venue no longer has it
   (cancelled — the in-process venue, for one, dies with its process).
5. Only then are positions compared: the books' (the positions table plus the fills just
   ingested) against the venue's at L. A difference no fill explains is alerted and the
   venue's position adopted through a journaled reconciliation entry
   (:mod:`algotrading.execution.reconciliation`).
6. The cursor L is journaled last. The live venue actor goes on from L.

Nothing is ever sent to the venue here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import msgspec

from algotrading.execution.reconciliation import (
    PositionDifference,
    position_differences,
    reconciliation_fill,
)
from algotrading.log import get_logger
from algotrading.messages import (
    Alert,
    AlertLevel,
    Fill,
    Financing,
    Order,
    OrderAccepted,
    OrderCancelled,
    OrderRejected,
    Position,
    VenueCursor,
    decode_msgpack,
)

if TYPE_CHECKING:
    from algotrading.adapters.venue import MassStatus, Venue
    from algotrading.state.store import StateStore

UNACKNOWLEDGED = ("PENDING_SUBMIT", "SUBMITTED")
WORKING = ("ACCEPTED", "PARTIALLY_FILLED")


@dataclass
class Recovered:
    cursor: str = ""
    fills: list[Fill] = field(default_factory=list)  # made while the daemon was down
    adopted: list[str] = field(default_factory=list)
    never_sent: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    differences: list[PositionDifference] = field(default_factory=list)

    def alerts(self) -> list[Alert]:
        """What the start-up reconciliation found, as alerts for the operator."""
        found: list[tuple[AlertLevel, str, str]] = []
        if self.adopted or self.never_sent or self.ended:
            found.append((
                AlertLevel.WARNING,
                "reconciliation_orders",
                f"at the restart: {len(self.adopted)} orders of ours found at the venue and "
                f"adopted, {len(self.never_sent)} never arrived (marked never_sent), "
                f"{len(self.ended)} no longer worked by the venue (cancelled)",
            ))  # fmt: skip
        if self.fills:
            found.append((
                AlertLevel.INFO,
                "reconciliation_fills",
                f"{len(self.fills)} fills made at the venue while the daemon was down, recorded",
            ))  # fmt: skip
        if self.differences:
            found.append((
                AlertLevel.WARNING,
                "reconciliation_difference",
                f"{'; '.join(d.describe() for d in self.differences)} (at the restart, venue "
                f"transaction {self.cursor or '-'}; the venue's positions are taken as ours)",
            ))  # fmt: skip
        now = time.time_ns()
        return [
            Alert(ts_event=now, level=level, code=code, text=text, source="reconcile")
            for level, code, text in found
        ]


class StoredOrders(Mapping[str, Order]):
    """The orders the state store holds, by client id, read when asked for."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    def __getitem__(self, client_order_id: str) -> Order:
        row = self.store.order(client_order_id)
        if row is None or not row.get("body"):
            raise KeyError(client_order_id)
        order = decode_msgpack(row["body"])
        if not isinstance(order, Order):
            raise KeyError(client_order_id)
        return order

    def __iter__(self) -> Iterator[str]:
        return (str(r["client_order_id"]) for r in self.store.orders())

    def __len__(self) -> int:
        return len(self.store.orders())


def journaled_cursor(store: StateStore) -> str:
    """The venue transaction the books are applied up to ("" when none was ever journaled)."""
    last = store.last_of_kind("VenueCursor")
    return last[2].transaction_id if last is not None else ""  # type: ignore[attr-defined]


async def reconcile_at_start(store: StateStore, venue: Venue) -> Recovered:
    """Steps 1 to 6 of the module's docstring."""
    status = await venue.mass_status(journaled_cursor(store), StoredOrders(store))
    result = ingest(store, status, time.time_ns())
    if status.cursor:
        store.append(
            VenueCursor(
                ts_event=time.time_ns(),
                venue=venue.identity.kind,
                account=venue.identity.account,
                transaction_id=status.cursor,
            )
        )
    store.flush()
    get_logger("recovery").info(
        "reconciled_at_start",
        cursor=status.cursor,
        reports=len(status.reports),
        missed_fills=len(result.fills),
        adopted=len(result.adopted),
        never_sent=len(result.never_sent),
        ended=len(result.ended),
        differences=len(result.differences),
    )
    return result


def ingest(store: StateStore, status: MassStatus, now_ns: int) -> Recovered:
    """Steps 3 to 5: the reports into the books, the orders settled, the positions compared."""
    result = Recovered(cursor=status.cursor)
    held = {i: float(r["quantity"]) for i, r in store.positions().items()}
    costs = {i: float(r["avg_price"] or 0.0) for i, r in store.positions().items()}
    for report in status.reports:
        match report:
            case Order():
                if store.order(report.client_order_id) is None:
                    store.write_ahead(report)
                    result.adopted.append(report.client_order_id)
            case Fill():
                if store.has_fill(report.fill_id):
                    continue  # in the books already: a fill counts once
                fill = _with_strategy(store, report)
                store.append(fill)
                result.fills.append(fill)
                held[fill.instrument] = held.get(fill.instrument, 0.0) + fill.side.sign * (
                    fill.quantity
                )
            case OrderAccepted() | OrderCancelled() | OrderRejected() | Financing():
                store.append(report)
    store.flush()  # the table now shows what the reports did
    _settle_orders(store, status, now_ns, result)
    venue = {i: (p.quantity, p.avg_price) for i, p in status.positions.items()}
    result.differences = position_differences(held, venue, costs)
    currency = _currency(store)
    for difference in result.differences:
        store.append(reconciliation_fill(difference, status.cursor, now_ns, currency))
    table = store.positions()
    for instrument in sorted(set(table) | set(venue)):
        quantity, price = venue.get(instrument, (0.0, 0.0))
        row = table.get(instrument)
        if row is None or abs(float(row["quantity"]) - quantity) > 1e-9:
            realized = float(row["realized_pnl"]) if row is not None else 0.0
            store.append(
                Position(
                    ts_event=now_ns,
                    instrument=instrument,
                    quantity=quantity,
                    avg_price=price,
                    realized_pnl=realized,
                )
            )
    return result


def _settle_orders(store: StateStore, status: MassStatus, now_ns: int, result: Recovered) -> None:
    working = set(status.working)
    for row in store.orders(status=(*UNACKNOWLEDGED, *WORKING)):
        cid = str(row["client_order_id"])
        if cid in working:
            continue
        if row["status"] in UNACKNOWLEDGED:
            store.append(
                OrderRejected(
                    ts_event=now_ns,
                    client_order_id=cid,
                    code="never_sent",
                    reason="not at the venue after a restart: it never arrived",
                )
            )
            result.never_sent.append(cid)
        else:
            store.append(
                OrderCancelled(
                    ts_event=now_ns,
                    client_order_id=cid,
                    reason="reconciliation: the venue no longer works it",
                )
            )
            result.ended.append(cid)


def _with_strategy(store: StateStore, fill: Fill) -> Fill:
    """``fill`` with the strategy of its order (of the parent, for a leg) when the books know."""
    for cid in (fill.client_order_id, fill.client_order_id.rpartition(".")[0]):
        row = store.order(cid) if cid else None
        if row is not None and row.get("strategy_id"):
            return msgspec.structs.replace(fill, strategy_id=str(row["strategy_id"]))
    return fill


def _currency(store: StateStore) -> str:
    last = store.last_of_kind("AccountState")
    return str(getattr(last[2], "currency", "USD")) if last is not None else "USD"


def working_orders(store: StateStore) -> list[Order]:
    """The orders the venue works for us after the start-up reconciliation, for the order
    manager to follow."""
    orders = StoredOrders(store)
    out = []
    for row in store.orders(status=WORKING):
        try:
            out.append(orders[str(row["client_order_id"])])
        except KeyError:
            continue
    return out
