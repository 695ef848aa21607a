"""Execution algorithms: a parent order worked as child orders, each of which goes through the
risk checks like any other order.

- **TWAP** splits the parent into ``slices`` equal children, due at ``start + i * window /
  slices`` (i = 0 … slices - 1): the first at once, the last before the window ends. A child is
  released at the first event (bar, quote timer) at or after its due time.
- **Iceberg** splits it into the fewest equal children of at most ``max_child`` units and shows
  one at a time: the next is released when the one before it has filled completely.

Children sum to the parent exactly: equal parts rounded down to the lot step, the remaining
steps added one to each of the first children. A child that risk denies, or that the venue
rejects or cancels, ends its parent: the rest is not sent (the strategy learns of the denial as
usual and decides afresh). Pure logic, no asyncio: the execution actor is its shell.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Annotated

import msgspec

from algotrading.bounded import Amount, OffAmount, Seconds
from algotrading.data.instruments import InstrumentSpec
from algotrading.messages import OrderIntent, OrderType

ALGOS = ("none", "twap", "iceberg")


class ExecutionConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    algo: str = "none"  # none | twap | iceberg
    min_quantity: OffAmount = 0.0  # parents below this are sent as they are
    twap_window_seconds: Seconds = 300.0
    twap_slices: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 5
    iceberg_max_child: Amount = 100_000.0

    def __post_init__(self) -> None:
        if self.algo not in ALGOS:
            raise ValueError(f"unknown execution algo {self.algo!r}; one of {', '.join(ALGOS)}")
        if self.twap_window_seconds <= 0 or self.twap_slices < 1:
            raise ValueError("twap_window_seconds must be > 0 and twap_slices >= 1")
        if self.iceberg_max_child <= 0 or self.min_quantity < 0:
            raise ValueError("iceberg_max_child must be > 0 and min_quantity >= 0")


def split_evenly(quantity: float, parts: int, spec: InstrumentSpec) -> list[float]:
    """``quantity`` in at most ``parts`` lot-rounded children summing to it exactly (fewer when
    equal parts would fall below the instrument's minimum)."""
    step = spec.quantity_step
    total_steps = math.floor(quantity / step + 1e-9)
    min_steps = max(1, math.ceil(spec.min_quantity / step - 1e-9))
    parts = max(1, min(parts, total_steps // min_steps))
    base, extra = divmod(total_steps, parts)
    return [round((base + (1 if i < extra else 0)) * step, 10) for i in range(parts)]


@dataclass
class Parent:
    exec_id: str
    algo: str
    template: OrderIntent
    schedule: deque[tuple[int, float]]  # (due time ns, quantity) not yet released
    n_children: int
    released: float = 0.0
    filled: float = 0.0
    children: dict[str, float] = field(default_factory=dict)  # client id -> quantity
    waiting: int = 0  # children released but not yet seen as orders
    ended: str = ""  # why it stopped early
    dropped: int = 0  # parents queued behind it, dropped when it failed

    @property
    def done(self) -> bool:
        """Nothing left to release and nothing out: its children all filled or ended."""
        return (bool(self.ended) or not self.schedule) and not self.children and not self.waiting


class ExecutionEngine:
    def __init__(self, config: ExecutionConfig, instruments: dict[str, InstrumentSpec]) -> None:
        self.config = config
        self.instruments = instruments
        self.parents: dict[str, Parent] = {}
        self.queued: dict[str, deque[OrderIntent]] = {}  # parents waiting for their instrument
        self._by_child: dict[str, str] = {}
        self._seq = 0

    def submit(self, intent: OrderIntent, now_ns: int) -> list[OrderIntent]:
        """Children of ``intent`` due now (``intent`` itself when no algorithm applies). One
        parent works an instrument at a time: a later one (the opening half of a reversal)
        waits for the one before to finish, so a close never races an open."""
        c = self.config
        if (
            c.algo == "none"
            or intent.order_type is not OrderType.MARKET
            or intent.quantity < c.min_quantity
        ):
            return [intent]
        if any(p.template.instrument == intent.instrument for p in self.parents.values()):
            self.queued.setdefault(intent.instrument, deque()).append(intent)
            return []
        return self._start(intent, now_ns)

    def _start(self, intent: OrderIntent, now_ns: int) -> list[OrderIntent]:
        c = self.config
        spec = self.instruments[intent.instrument]
        if c.algo == "twap":
            sizes = split_evenly(intent.quantity, c.twap_slices, spec)
            step = c.twap_window_seconds * 1e9 / len(sizes)
            due = [now_ns + int(i * step) for i in range(len(sizes))]
        else:
            parts = max(1, math.ceil(intent.quantity / c.iceberg_max_child - 1e-9))
            sizes = split_evenly(intent.quantity, parts, spec)
            due = [now_ns] * len(sizes)
        self._seq += 1
        exec_id = f"{c.algo}-{self._seq}"
        self.parents[exec_id] = Parent(
            exec_id, c.algo, intent, deque(zip(due, sizes, strict=True)), len(sizes)
        )
        return self._release(self.parents[exec_id], now_ns)

    def on_time(self, now_ns: int) -> list[OrderIntent]:
        """TWAP children that have come due."""
        out: list[OrderIntent] = []
        for parent in list(self.parents.values()):
            if parent.algo == "twap":
                out.extend(self._release(parent, now_ns))
        return out

    def on_order(self, exec_id: str, client_order_id: str, quantity: float) -> None:
        """The order manager made a child into an order: follow it by its client id."""
        parent = self.parents.get(exec_id)
        if parent is None:
            return
        parent.waiting = max(0, parent.waiting - 1)
        parent.children[client_order_id] = quantity
        self._by_child[client_order_id] = exec_id

    def on_modified(self, client_order_id: str, quantity: float) -> None:
        """The venue changed a child's size (a reduce-only child cut to the position)."""
        parent = self._parent_of(client_order_id)
        if parent is not None and client_order_id in parent.children:
            parent.children[client_order_id] = quantity

    def on_fill(self, client_order_id: str, quantity: float, now_ns: int) -> list[OrderIntent]:
        parent = self._parent_of(client_order_id)
        if parent is None:
            return []
        parent.filled += quantity
        left = parent.children[client_order_id] - quantity
        if left > 1e-9:
            parent.children[client_order_id] = left
            return []
        self._forget_child(parent, client_order_id)
        out = self._release(parent, now_ns) if parent.algo == "iceberg" else []
        return out + self._finish_if_done(parent, now_ns)

    def on_child_ended(self, client_order_id: str, why: str, now_ns: int) -> list[OrderIntent]:
        """The venue rejected or cancelled a child: the parent stops here. A reduce-only child
        cancelled because the position is already closed completes its parent normally (a
        stop got there first); anything else ends it and the parents queued behind it."""
        parent = self._parent_of(client_order_id)
        if parent is None:
            return []
        self._forget_child(parent, client_order_id)
        return self.end(parent.exec_id, why, now_ns, failed=not parent.template.reduce_only)

    def on_denied(self, intent: OrderIntent, why: str, now_ns: int) -> list[OrderIntent]:
        parent = self.parents.get(intent.exec_id)
        if parent is None:
            return []
        parent.waiting = max(0, parent.waiting - 1)
        return self.end(intent.exec_id, why, now_ns)

    def end(
        self, exec_id: str, why: str, now_ns: int = 0, failed: bool = True
    ) -> list[OrderIntent]:
        """Stop releasing ``exec_id``'s children. When it ``failed`` (denied, rejected) the
        parents queued behind it on the instrument are dropped too: the strategy learns of
        the failure and decides afresh."""
        parent = self.parents.get(exec_id)
        if parent is None:
            return []
        parent.ended = why
        parent.schedule.clear()
        if failed:
            dropped = self.queued.pop(parent.template.instrument, None)
            parent.dropped = len(dropped) if dropped else 0
        return self._finish_if_done(parent, now_ns)

    def _release(self, parent: Parent, now_ns: int) -> list[OrderIntent]:
        out: list[OrderIntent] = []
        schedule = parent.schedule
        while schedule and schedule[0][0] <= now_ns:
            if parent.algo == "iceberg" and (parent.children or parent.waiting):
                break  # one child showing at a time
            _, quantity = schedule.popleft()
            index = parent.n_children - len(schedule)
            parent.released += quantity
            parent.waiting += 1
            out.append(
                msgspec.structs.replace(
                    parent.template,
                    ts_event=now_ns,
                    quantity=quantity,
                    exec_id=parent.exec_id,
                    reason=f"{parent.template.reason} [{parent.algo} {index}/{parent.n_children}]",
                )
            )
        return out

    def _parent_of(self, client_order_id: str) -> Parent | None:
        exec_id = self._by_child.get(client_order_id)
        return None if exec_id is None else self.parents.get(exec_id)

    def _forget_child(self, parent: Parent, client_order_id: str) -> None:
        parent.children.pop(client_order_id, None)
        self._by_child.pop(client_order_id, None)

    def _finish_if_done(self, parent: Parent, now_ns: int) -> list[OrderIntent]:
        """Forget a finished parent and start the next one queued on its instrument."""
        if not parent.done:
            return []
        self.parents.pop(parent.exec_id, None)
        queue = self.queued.get(parent.template.instrument)
        if not queue:
            return []
        intent = queue.popleft()
        if not queue:
            del self.queued[parent.template.instrument]
        return self._start(intent, now_ns)
