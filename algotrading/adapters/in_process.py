"""The in-process simulated exchange as a :class:`~algotrading.adapters.venue.Venue`: paper
trading with no network. The exchange itself lives in the session (the venue actor of
:mod:`algotrading.actors.venue` trades on it); this adapter only says what such a venue is.

It lives and dies with the process: after a restart it holds nothing and works no order, so
mass status says exactly that, and the daemon's start-up reconciliation ends the orders of the
last session that were still working and books the positions that vanished with it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from algotrading.adapters.replay import ReplayClock
from algotrading.adapters.venue import MassStatus
from algotrading.messages import Bar, Order
from algotrading.state.venue_binding import IN_PROCESS, VenueIdentity

IDENTITY = VenueIdentity("simulated", IN_PROCESS, "paper")

if TYPE_CHECKING:
    from algotrading.config import Config
    from algotrading.data.instruments import InstrumentSpec
    from algotrading.runtime.actor import Actor
    from algotrading.runtime.live import Source
    from algotrading.sim.accounting import PositionState
    from algotrading.state.journal import Journal


class InProcessVenue:
    kind = "simulated"
    mode = "paper"
    positions: dict[str, PositionState] | None = None
    resumes_feed = True

    def __init__(self, config: Config, symbols: list[str]) -> None:
        self.config = config
        self.symbols = symbols
        self.identity = IDENTITY

    async def connect(self) -> None:
        return None

    def clock(self, start_ns: int, speed: float) -> ReplayClock:
        return ReplayClock(start_ns, speed)

    def actor(
        self, instruments: dict[str, InstrumentSpec], journal: Journal | None
    ) -> Callable[[], Actor] | None:
        return None

    async def mass_status(self, since: str, known: Mapping[str, Order]) -> MassStatus:
        return MassStatus(cursor="")

    async def open_market_data(self, symbols: list[str], clock: ReplayClock) -> None:
        return None

    async def missed_bars(
        self, symbols: list[str], interval_ns: int, since_ns: int, wait_s: float
    ) -> list[Bar]:
        return []

    def sources(self) -> list[Source]:
        return []

    async def close(self) -> None:
        return None
