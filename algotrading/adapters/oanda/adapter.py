"""OANDA v20 (or the ``sim-exchange`` server, which speaks its subset) as a
:class:`~algotrading.adapters.venue.Venue`: the account opened at connect, the venue actor of
:mod:`algotrading.adapters.oanda.venue`, the price and transaction streams as sources, the
candles of a downtime, and mass status from ``openPositions`` / ``pendingOrders`` /
``transactions/sinceid`` — all as of one transaction id."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from algotrading.adapters.oanda.mapping import (
    LEG_TYPES,
    SentOrders,
    events_from_transaction,
    order_from_create,
)
from algotrading.adapters.replay import ReplayClock
from algotrading.adapters.venue import MassStatus
from algotrading.log import get_logger
from algotrading.messages import Bar, Message, Order
from algotrading.state.venue_binding import VenueIdentity

if TYPE_CHECKING:
    from algotrading.adapters.oanda.connect import OandaAccount
    from algotrading.adapters.oanda.streams import PriceBuffer
    from algotrading.config import Config, OandaConfig
    from algotrading.data.instruments import InstrumentSpec
    from algotrading.runtime.actor import Actor
    from algotrading.runtime.live import Source
    from algotrading.sim.accounting import PositionState
    from algotrading.state.journal import Journal

CONSISTENT_ATTEMPTS = 5  # reads of positions and orders until both are at one transaction


def configured_identity(config: OandaConfig) -> VenueIdentity:
    """The account a configuration names (the REST endpoint, and the account id if it gives
    one: without, the token's first account is taken at connect)."""
    from algotrading.adapters.oanda.connect import urls

    return VenueIdentity("oanda", urls(config)[0], config.account_id)


class OandaVenue:
    kind = "oanda"
    mode = "paper (oanda)"
    resumes_feed = False

    def __init__(self, config: Config, symbols: list[str]) -> None:
        from algotrading.adapters.oanda.connect import urls

        self.config = config.system.venue.oanda
        self.symbols = symbols
        self.rest_url = urls(self.config)[0]
        self.account: OandaAccount | None = None
        self.prices: PriceBuffer | None = None
        self.positions: dict[str, PositionState] | None = None
        self.identity = configured_identity(self.config)
        self.log = get_logger("venue")

    async def connect(self) -> None:
        from algotrading.adapters.oanda.connect import open_account

        self.account = await open_account(self.config, self.symbols[0])
        self.positions = self.account.positions
        self.identity = VenueIdentity("oanda", self.rest_url, self.account.account_id)

    @property
    def _account(self) -> OandaAccount:
        assert self.account is not None, "connect() first"
        return self.account

    def clock(self, start_ns: int, speed: float) -> ReplayClock:
        return ReplayClock(self._account.now_ns, 1.0)  # the venue's time, in real time

    def actor(
        self, instruments: dict[str, InstrumentSpec], journal: Journal | None
    ) -> Callable[[], Actor] | None:
        from algotrading.adapters.oanda.venue import OandaVenueActor

        account = self._account
        return lambda: OandaVenueActor(
            client=account.client,
            instruments=instruments,
            sent=account.sent,
            currency=account.currency,
            journal=journal,
            account=account.account_id,
        )

    async def mass_status(self, since: str, known: Mapping[str, Order]) -> MassStatus:
        """The venue's records at one transaction L: positions and pending orders read until
        both name the same L, then every transaction after ``since`` up to L as reports. With
        no cursor (a state that never traded here) there is nothing to catch up on: the
        reports start at L. The actor's cursor is set to L: it goes on from there."""
        from algotrading.adapters.oanda.connect import positions_at

        account = self._account
        client = account.client
        for _ in range(CONSISTENT_ATTEMPTS):
            pending, orders_at = await client.pending_orders_at()
            positions, last = await positions_at(client)
            if orders_at == last:
                break
        sent = SentOrders()
        working = [sent.client_id(o) or f"v20:{o.get('id')}" for o in pending]
        reports: list[Message] = []
        if since and since.isdigit() and last.isdigit() and int(since) < int(last):
            transactions, _ = await client.transactions_since(since)
            transactions = [t for t in transactions if int(t.get("id", 0)) <= int(last)]
            sent.orders.update(_known_orders(transactions, known))
            for tx in transactions:
                cid = sent.client_id(tx)
                if cid and cid not in sent.orders:  # ours, unknown to the books: adopted
                    adopted = order_from_create(tx, cid)
                    if adopted is not None:
                        sent.orders[cid] = adopted
                        reports.append(adopted)
                reports += events_from_transaction(tx, sent, account.currency)
        account.sent.last_id = last
        account.positions = positions
        self.positions = positions
        return MassStatus(cursor=last, reports=reports, positions=positions, working=working)

    async def open_market_data(self, symbols: list[str], clock: ReplayClock) -> None:
        """The price stream opens first and holds its quotes: the bars of the downtime are
        fetched up to the bar its first quote opens, so history and live bars meet exactly."""
        from algotrading.adapters.oanda.streams import PriceBuffer, price_quotes

        self.prices = PriceBuffer(price_quotes(self._account.client, symbols, clock.now_ns))

    async def missed_bars(
        self, symbols: list[str], interval_ns: int, since_ns: int, wait_s: float
    ) -> list[Bar]:
        from algotrading.adapters.oanda.recovery import missed_bars

        assert self.prices is not None, "open_market_data() first"
        first = await self.prices.first_time(wait_s)
        until = first - first % interval_ns if first is not None else None
        bars: list[Bar] = []
        for symbol in symbols:
            try:
                got = await missed_bars(self._account.client, symbol, interval_ns, since_ns)
            except Exception as exc:  # no history: trade on, from what the journal had
                self.log.warning("backfill_failed", instrument=symbol, reason=str(exc))
                continue
            bars += [b for b in got if until is None or b.ts_event <= until]
        return bars

    def sources(self) -> list[Source]:
        """Prices to the feed (stamped on arrival by the daemon's clock), transactions to the
        venue actor: both streams, reconnecting."""
        from algotrading.adapters.oanda.streams import transaction_events
        from algotrading.runtime.live import Source

        assert self.prices is not None, "open_market_data() first"
        client = self._account.client
        return [
            Source("market_data", self.prices.quotes, "feed"),
            Source("venue_stream", lambda: transaction_events(client), "venue"),
        ]

    async def close(self) -> None:
        if self.prices is not None:
            await self.prices.close()
        if self.account is not None:
            await self.account.client.close()


def _known_orders(
    transactions: list[dict[str, Any]], known: Mapping[str, Order]
) -> dict[str, Order]:
    """The orders of ours ``transactions`` name, and the parents of the legs among them."""
    sent = SentOrders()
    out: dict[str, Order] = {}
    for tx in transactions:
        cid = sent.client_id(tx)
        if not cid:
            continue
        kind = str(tx.get("type", ""))
        names = [cid]
        if kind in LEG_TYPES:
            suffix = LEG_TYPES[kind][0]
            names.append(cid[: -len(suffix)] if cid.endswith(suffix) else "")
        for name in names:
            if name and name not in out and (order := known.get(name)) is not None:
                out[name] = order
    return out
