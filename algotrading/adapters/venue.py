"""The one interface every venue implements, and the factory that builds one by kind.

A venue is where orders trade: the in-process simulated exchange, or a broker (OANDA v20 —
and, through the same adapter, the ``sim-exchange`` server). The daemon sees only this
interface; the kind is looked up once, in :data:`FACTORIES`, and never branched on elsewhere.

What a venue gives the daemon:

- **an actor** that takes the order manager's ``SubmitOrder`` / ``CancelOrder`` /
  ``ModifyOrder`` and answers in *execution reports*, typed messages — ``Order`` (a leg the
  venue attached), ``OrderAccepted``, ``OrderRejected``, ``OrderCancelled``, ``Fill``,
  ``AccountState``, ``VenueCursor`` (how far its reports are applied) and, on the
  ``reconcile`` command, ``VenuePositions`` (its positions and working orders at one cursor);
- **mass status** (:meth:`Venue.mass_status`): every report since a cursor and everything open
  now, as of one cursor — what the daemon reconciles with at start;
- its **market data** and its **report stream** as runtime sources, when it has them;
- its **identity** (kind, endpoint, account), which the state directory is bound to.

``docs/adapters/writing-a-venue.md`` says how to add one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from algotrading.messages import Bar, Message, Order

if TYPE_CHECKING:
    from algotrading.adapters.replay import ReplayClock
    from algotrading.config import Config, VenueConfig
    from algotrading.data.instruments import InstrumentSpec
    from algotrading.runtime.actor import Actor
    from algotrading.runtime.live import Source
    from algotrading.sim.accounting import PositionState
    from algotrading.state.journal import Journal
    from algotrading.state.venue_binding import VenueIdentity


@dataclass
class MassStatus:
    """The venue's own records as of its transaction ``cursor``: the execution reports after
    the cursor asked for (in the venue's order), the positions and the orders working."""

    cursor: str
    reports: list[Message] = field(default_factory=list)
    positions: dict[str, PositionState] = field(default_factory=dict)
    working: list[str] = field(default_factory=list)  # client ids (or venue ids: "v20:…")


class Venue(Protocol):
    kind: str
    mode: str  # what the daemon's status calls a session on it ("paper", "paper (oanda)")
    identity: VenueIdentity
    #: the venue's positions when the daemon connected (None: the in-process exchange's own)
    positions: dict[str, PositionState] | None
    #: a paper feed of our own resumes after the last data the journal holds
    resumes_feed: bool

    async def connect(self) -> None:
        """Open the connection; the venue's clock and positions are known after it."""

    def clock(self, start_ns: int, speed: float) -> ReplayClock:
        """The session's clock: data time of the configured feed, or the venue's own."""

    def actor(
        self, instruments: dict[str, InstrumentSpec], journal: Journal | None
    ) -> Callable[[], Actor] | None:
        """The venue actor's factory (None: the session's in-process simulated venue)."""

    async def mass_status(self, since: str, known: Mapping[str, Order]) -> MassStatus:
        """Everything since the cursor ``since`` and everything open now. ``known``: the orders
        of ours the books hold, so that a leg the venue attached is linked to its parent."""

    async def open_market_data(self, symbols: list[str], clock: ReplayClock) -> None:
        """Start the venue's market data ahead of the actors (nothing, without any)."""

    async def missed_bars(
        self, symbols: list[str], interval_ns: int, since_ns: int, wait_s: float
    ) -> list[Bar]:
        """The bars that closed since ``since_ns``, up to the bar the venue's live data begins
        at (waiting up to ``wait_s`` for its first quote): none, for a venue without history."""

    def sources(self) -> list[Source]:
        """The venue's market-data and report streams ([]: the configured feed is used)."""

    async def close(self) -> None: ...


VenueFactory = Callable[["Config", list[str]], Venue]


@dataclass(frozen=True)
class VenueKind:
    """One kind of venue: how to build it, and which account a configuration of it names
    before it connects (for a state recorded before venues were)."""

    build: VenueFactory
    configured: Callable[[VenueConfig], VenueIdentity]


def _in_process(config: Config, symbols: list[str]) -> Venue:
    from algotrading.adapters.in_process import InProcessVenue

    return InProcessVenue(config, symbols)


def _in_process_identity(config: VenueConfig) -> VenueIdentity:
    from algotrading.adapters.in_process import IDENTITY

    return IDENTITY


def _oanda(config: Config, symbols: list[str]) -> Venue:
    from algotrading.adapters.oanda.adapter import OandaVenue

    return OandaVenue(config, symbols)


def _oanda_identity(config: VenueConfig) -> VenueIdentity:
    from algotrading.adapters.oanda.adapter import configured_identity

    return configured_identity(config.oanda)


#: venue kind (``system.yaml: venue.kind``) -> what it is. Adding a venue adds a line here.
KINDS: dict[str, VenueKind] = {
    "simulated": VenueKind(_in_process, _in_process_identity),
    "oanda": VenueKind(_oanda, _oanda_identity),
}


def build_venue(config: Config, symbols: list[str]) -> Venue:
    """The venue ``system.yaml`` configures (its kind is checked when the config loads)."""
    return KINDS[config.system.venue.kind].build(config, symbols)


def configured_identity(config: VenueConfig) -> VenueIdentity:
    """The venue account a venue configuration names, before connecting (its account may be
    left to the venue: then it is "")."""
    return KINDS[config.kind].configured(config)
