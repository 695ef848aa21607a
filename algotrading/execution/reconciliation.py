"""Reconciliation's diff: the books against the venue's own records, as pure functions.

The venue is the truth for what happened. Every report the venue made is ingested first (fills
the books lack are applied, unknown orders adopted, orders moved to the venue's state); only
then are positions compared, at one venue cursor. A difference that remains is one no fill
explains, and the rule is to adopt the venue's position through a *reconciliation entry*: a
fill with ``client_order_id`` and ``strategy_id`` ``"reconciliation"`` and a ``fill_id`` of
``reconcile:<cursor>:<time>:<instrument>``, so that the fills table still sums to the venue's
position and the entry is marked as what it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from algotrading.messages import Fill, Side

RECONCILIATION = "reconciliation"
QTY_EPS = 1e-6


@dataclass(frozen=True)
class PositionDifference:
    instrument: str
    ours: float
    venue: float
    venue_price: float
    ours_price: float = 0.0

    @property
    def entry_price(self) -> float:
        """What the entry is booked at: the venue's average price when it holds a position,
        else ours — a position that vanished is dropped at cost, with no P&L made up."""
        return self.venue_price if abs(self.venue) > QTY_EPS else self.ours_price

    def describe(self) -> str:
        return f"{self.instrument}: ours {self.ours:+g}, venue {self.venue:+g}"


@dataclass
class Differences:
    positions: list[PositionDifference] = field(default_factory=list)
    ours_not_at_venue: list[str] = field(default_factory=list)  # client ids
    unknown_at_venue: list[str] = field(default_factory=list)  # client ids (or v20:<id>)

    def __bool__(self) -> bool:
        return bool(self.positions or self.ours_not_at_venue or self.unknown_at_venue)

    def describe(self) -> str:
        parts = [d.describe() for d in self.positions]
        if self.ours_not_at_venue:
            parts.append(f"ours, not at the venue: {', '.join(self.ours_not_at_venue)}")
        if self.unknown_at_venue:
            parts.append(f"at the venue, not ours: {', '.join(self.unknown_at_venue)}")
        return "; ".join(parts)


def position_differences(
    ours: Mapping[str, float],
    venue: Mapping[str, tuple[float, float]],
    ours_prices: Mapping[str, float] | None = None,
) -> list[PositionDifference]:
    """Instruments whose net quantity differs, in instrument order."""
    out = []
    prices = ours_prices or {}
    for instrument in sorted(set(ours) | set(venue)):
        mine = ours.get(instrument, 0.0)
        theirs, price = venue.get(instrument, (0.0, 0.0))
        if abs(mine - theirs) > QTY_EPS:
            out.append(
                PositionDifference(instrument, mine, theirs, price, prices.get(instrument, 0.0))
            )
    return out


def order_differences(
    ours_working: Iterable[str], venue_working: Iterable[str]
) -> tuple[list[str], list[str]]:
    """``(ours the venue no longer works, working at the venue but unknown to us)``. Only
    orders the venue has acknowledged belong in ``ours_working``: one still on its way is not
    at the venue yet and is no difference."""
    mine, theirs = set(ours_working), set(venue_working)
    return sorted(mine - theirs), sorted(theirs - mine)


def diff(
    ours: Mapping[str, tuple[float, float]],
    ours_working: Iterable[str],
    venue: Mapping[str, tuple[float, float]],
    venue_working: Iterable[str],
) -> Differences:
    """``ours`` and ``venue``: instrument -> (signed quantity, average price)."""
    missing, unknown = order_differences(ours_working, venue_working)
    quantities = {i: q for i, (q, _) in ours.items()}
    prices = {i: p for i, (_, p) in ours.items()}
    return Differences(position_differences(quantities, venue, prices), missing, unknown)


def reconciliation_fill(
    difference: PositionDifference, cursor: str, ts_ns: int, currency: str
) -> Fill:
    """The entry that takes the books from ``ours`` to the venue's quantity."""
    delta = difference.venue - difference.ours
    return Fill(
        ts_event=ts_ns,
        fill_id=f"reconcile:{cursor}:{ts_ns}:{difference.instrument}",
        client_order_id=RECONCILIATION,
        venue_order_id="",
        strategy_id=RECONCILIATION,
        instrument=difference.instrument,
        side=Side.BUY if delta > 0 else Side.SELL,
        quantity=abs(delta),
        price=difference.entry_price,
        currency=currency,
    )


def is_reconciliation(fill: Fill) -> bool:
    return fill.strategy_id == RECONCILIATION
