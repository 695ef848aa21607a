"""The bar-builder actor: quotes into time bars (mid prices), short bars into longer ones."""

from __future__ import annotations

import pickle
from collections.abc import Sequence

import msgspec

from algotrading.data.bars import BarAggregator
from algotrading.messages import Bar, Command, Quote, Timer
from algotrading.runtime.actor import Actor
from algotrading.runtime.driver import sync_handler


class BarBuilderActor(Actor):
    emits = (Bar,)

    def __init__(self, name: str = "bar_builder", *, interval_ns: int) -> None:
        super().__init__(name)
        self.interval_ns = interval_ns
        self._aggregators: dict[str, BarAggregator] = {}

    def _agg(self, instrument: str) -> BarAggregator:
        agg = self._aggregators.get(instrument)
        if agg is None:
            agg = self._aggregators[instrument] = BarAggregator(instrument, self.interval_ns)
        return agg

    # -- snapshots (algotrading.state.recording) --

    def snapshot_state(self) -> bytes:
        return pickle.dumps(self._aggregators, protocol=pickle.HIGHEST_PROTOCOL)

    def restore_state(self, state: bytes) -> None:
        self._aggregators = pickle.loads(state)

    async def on_command(self, msg: Command) -> None:
        """``reset_bars``: forget the bars in progress (after a restart, bars of the time the
        daemon was down came from the venue whole; a half-built one would overlap them)."""
        if msg.name == "reset_bars":
            self._aggregators.clear()

    async def _emit(self, bar: Bar | None) -> None:
        if bar is not None:
            await self.send(bar)

    # The two handlers below run once per quote / bar of history: kept free of calls that
    # are not needed (no per-bar debug logging; the bar itself is in the journal).

    @sync_handler
    def on_quote(self, msg: Quote) -> Sequence[Bar]:
        agg = self._aggregators.get(msg.instrument) or self._agg(msg.instrument)
        bar = agg.on_price(msg.ts_event, (msg.bid + msg.ask) * 0.5)
        if bar is None:
            return ()
        if msg.ts_recv > bar.ts_recv:  # live: the bar is known when this quote arrived
            bar = msgspec.structs.replace(bar, ts_recv=msg.ts_recv)
        return (bar,)

    @sync_handler
    def on_bar(self, msg: Bar) -> Sequence[Bar]:
        if msg.interval_ns >= self.interval_ns:  # already as long as ours: through
            return (msg,)
        bar = (self._aggregators.get(msg.instrument) or self._agg(msg.instrument)).on_bar(msg)
        return () if bar is None else (bar,)

    async def on_timer(self, msg: Timer) -> None:
        for agg in self._aggregators.values():
            await self._emit(agg.on_time(msg.ts_event))
