"""The feed actor: the door market data comes in by. It drops data that goes back in time for
its instrument (a reconnecting vendor may resend), records every input in the journal, and
passes the rest on."""

from __future__ import annotations

from collections.abc import Sequence

from algotrading.messages import Bar, Quote, Trade
from algotrading.runtime.actor import Actor
from algotrading.runtime.driver import sync_handler
from algotrading.state.journal import Journal


class FeedActor(Actor):
    emits = (Quote, Bar)

    def __init__(self, name: str = "feed", journal: Journal | None = None) -> None:
        super().__init__(name)
        self.journal = journal
        self._last_ts: dict[str, int] = {}
        self.received = 0
        self.dropped = 0
        self.last_latency_ns = 0

    @property
    def last_ts(self) -> dict[str, int]:
        """The newest data time let in, per instrument (for the feed latency in ``ctl``)."""
        return dict(self._last_ts)

    def _in_order(self, instrument: str, ts: int) -> bool:
        if ts < self._last_ts.get(instrument, 0):
            self.dropped += 1
            self.log.warning(
                "stale_data_dropped",
                instrument=instrument,
                ts_event=ts,
                last_ts=self._last_ts[instrument],
            )
            return False
        self._last_ts[instrument] = ts
        self.received += 1
        return True

    # The two handlers below run once per quote / bar of history: _in_order inlined.

    @sync_handler
    def on_quote(self, msg: Quote) -> Sequence[Quote]:
        last_ts = self._last_ts
        instrument, ts = msg.instrument, msg.ts_event
        if ts < last_ts.get(instrument, 0):
            self._in_order(instrument, ts)  # counts and logs the drop
            return ()
        last_ts[instrument] = ts
        self.received += 1
        if msg.ts_recv:
            self.last_latency_ns = msg.ts_recv - ts
        if self.journal is not None:
            self.journal.append(msg)
        return (msg,)

    @sync_handler
    def on_bar(self, msg: Bar) -> Sequence[Bar]:
        last_ts = self._last_ts
        instrument, ts = msg.instrument, msg.ts_event
        if ts < last_ts.get(instrument, 0):
            self._in_order(instrument, ts)  # counts and logs the drop
            return ()
        last_ts[instrument] = ts
        self.received += 1
        if self.journal is not None:
            self.journal.append(msg)
        return (msg,)

    async def on_trade(self, msg: Trade) -> None:
        self._in_order(msg.instrument, msg.ts_event)
