"""Which venue fills the books have applied, by the venue's fill id (one venue account per
state: see :mod:`algotrading.state.venue_binding`), so that a fill sent again is applied once
and a *different* fill under an id already applied is caught before it touches the books."""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable

from algotrading.messages import Fill


def fill_terms(fill: Fill) -> tuple[str, str, str, float, float, int]:
    """What a fill was: a fill under an id already applied with other terms is another
    fill, not the same one sent again (the state's ``fills`` rows store these too)."""
    return (
        fill.client_order_id,
        fill.instrument,
        str(fill.side),
        fill.quantity,
        fill.price,
        fill.ts_event,
    )


def same_terms(a: tuple[object, ...], b: tuple[object, ...]) -> bool:
    """Whether two fills' terms agree: a venue that sends a fill again sends the same one (the
    numbers may have gone through a float and back)."""
    return len(a) == len(b) and all(
        math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-12)
        if isinstance(x, float) and isinstance(y, float)
        else x == y
        for x, y in zip(a, b, strict=True)
    )


class FillCheck(enum.Enum):
    NEW = "new"  # apply it
    REPEAT = "repeat"  # the same fill again: applied already, counts once
    CONFLICT = "conflict"  # another fill under an id applied already: never apply it


class FillBook:
    """The fills applied so far (loaded from the state at the start, then kept as they come).
    Pure: no I/O, no clock. It holds one small tuple per fill ever applied on this venue
    account."""

    def __init__(self, applied: Iterable[tuple[str, tuple[object, ...]]] = ()) -> None:
        self._terms: dict[str, tuple[object, ...]] = dict(applied)

    def __len__(self) -> int:
        return len(self._terms)

    def check(self, fill: Fill) -> FillCheck:
        """Whether ``fill`` is new, a repeat of one applied, or a conflict with one applied;
        a new fill is noted as applied."""
        terms = fill_terms(fill)
        known = self._terms.get(fill.fill_id)
        if known is None:
            self._terms[fill.fill_id] = terms
            return FillCheck.NEW
        return FillCheck.REPEAT if same_terms(known, terms) else FillCheck.CONFLICT

    def applied(self, fill_id: str) -> tuple[object, ...] | None:
        """The terms of the fill applied under ``fill_id``, if any."""
        return self._terms.get(fill_id)
