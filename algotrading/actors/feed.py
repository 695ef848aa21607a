"""The feed actor: the door market data comes in by. It drops data that goes back in time for
its instrument (a reconnecting vendor may resend), records every input in the journal, and
passes the rest on."""

from __future__ import annotations

from algotrading.messages import Bar, Quote, Trade
from algotrading.runtime.actor import Actor
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

    async def on_quote(self, msg: Quote) -> None:
        if self._in_order(msg.instrument, msg.ts_event):
            if msg.ts_recv:
                self.last_latency_ns = msg.ts_recv - msg.ts_event
            if self.journal is not None:
                self.journal.append(msg)
            await self.send(msg)

    async def on_bar(self, msg: Bar) -> None:
        # inlined _in_order: this runs once per bar of history
        last = self._last_ts.get(msg.instrument, 0)
        if msg.ts_event < last:
            self._in_order(msg.instrument, msg.ts_event)  # counts and logs the drop
            return
        self._last_ts[msg.instrument] = msg.ts_event
        self.received += 1
        if self.journal is not None:
            self.journal.append(msg)
        await self.send(msg)

    async def on_trade(self, msg: Trade) -> None:
        self._in_order(msg.instrument, msg.ts_event)
