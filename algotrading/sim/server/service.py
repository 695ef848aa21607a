"""The running simulated exchange behind the HTTP shell: its accounts (each its own engine),
the market fed by one paced task per instrument, the store, the transaction-stream
subscribers and the faults. Explicit lifecycle — :meth:`start` restores or creates everything
and starts the feeds, :meth:`stop` stops them and writes a last snapshot — and every change goes
through :meth:`commit`: stored first, then published.

The server's clock is the market's data time (the feed's ``start`` moving ``speed`` times as
fast as the wall clock): every ``time`` it sends is in that clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import msgspec

from algotrading.adapters.replay import ReplayClock
from algotrading.config import AccountConfig
from algotrading.daemon.wiring import simulated_exchange
from algotrading.data.instruments import InstrumentSpec, normalize_symbol
from algotrading.errors import ConfigError
from algotrading.log import get_logger
from algotrading.messages import Quote
from algotrading.sim.costs import LatencyModel
from algotrading.sim.exchange import SimExchange
from algotrading.sim.server.accounts import SimAccount
from algotrading.sim.server.faults import Faults
from algotrading.sim.server.market import Market, Source, bar_file, bar_source, synthetic_source
from algotrading.sim.server.order_requests import Outcome
from algotrading.sim.server.settings import ServerSettings, default_account_id, user_id_of
from algotrading.sim.server.store import ServerStore
from algotrading.sim.server.transactions import Transaction
from algotrading.timestamps import parse_utc

NS = 1_000_000_000
# the RequestID of the request being served (set by the app's middleware, read by handlers)
REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="")
SUBSCRIBER_BACKLOG = 10_000  # transactions a stream may fall behind before it is closed


class Subscriber:
    """One transaction stream's queue; it overflows (and the stream closes) if it lags."""

    def __init__(self) -> None:
        self.queue: deque[Transaction] = deque()
        self.ready = asyncio.Event()
        self.overflowed = False

    def push(self, transactions: list[Transaction]) -> None:
        self.queue.extend(transactions)
        if len(self.queue) > SUBSCRIBER_BACKLOG:
            self.overflowed = True
        self.ready.set()


class SimExchangeService:
    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.config = settings.config
        self.log = get_logger("sim_exchange")
        self.faults = Faults()
        self.accounts: dict[str, SimAccount] = {}
        self.initial_balances: dict[str, float] = {}
        self.instruments: dict[str, InstrumentSpec] = {}
        self.market = Market({})
        self.clock = ReplayClock(0)
        self.closing = asyncio.Event()
        self.subscribers: dict[str, set[Subscriber]] = {}
        self._store: ServerStore | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._request_ids = itertools.count(1)

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        sources = self._sources()
        self.instruments = {s: self._spec(s) for s in sources}
        self.market = Market(self.instruments)
        self._store = store = ServerStore.open(self.settings.state_dir)
        starts = [s.first_ns for s in sources.values() if s.first_ns is not None]
        # live from when every instrument has a price (earlier quotes are history)
        live_start = (max(starts) if starts else 0) + int(self.settings.history_seconds * NS)
        clock_ns = store.meta("clock_ns")
        positions: dict[str, int] = store.meta("positions", {})
        self._restore_accounts(store, clock_ns or live_start)
        for symbol, source in sources.items():
            self._skip(source, positions.get(symbol, live_start))
        speed = self.settings.speed or self.config.system.feed.speed
        self.clock = ReplayClock(clock_ns or live_start, speed)
        self.commit()
        for source in sources.values():
            self._own(self._feed(source), f"feed:{source.instrument}")
        self._own(self._snapshots(), "snapshots")
        self.log.info(
            "started",
            accounts=list(self.accounts),
            instruments=list(self.instruments),
            data_time=self.clock.now_ns(),
            speed=speed,
            resumed=clock_ns is not None,
            state=str(store.path),
        )

    async def stop(self) -> None:
        """Stop the feeds and streams, and write the last snapshot."""
        self.closing.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._store is not None:
            self.commit()
            self._store.close()
            self._store = None
        self.log.info("stopped")

    def _own(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        task.add_done_callback(self._task_done)
        self._tasks.append(task)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.log.error("task_failed", task=task.get_name(), error=repr(task.exception()))

    # --- accounts -------------------------------------------------------------------------

    def _engine(self, currency: str, balance: float) -> SimExchange:
        system = msgspec.structs.replace(
            self.config.system, account=AccountConfig(currency=currency, initial_cash=balance)
        )
        exchange = simulated_exchange(
            msgspec.structs.replace(self.config, system=system), self.instruments
        )
        # latency is the network's here (or the order-delay fault), not the engine's model
        exchange.latency = LatencyModel()
        return exchange

    def _restore_accounts(self, store: ServerStore, now_ns: int) -> None:
        for saved in store.accounts():
            exchange = self._engine(saved.currency, saved.initial_balance)
            exchange.restore_engine(saved.engine)
            account = SimAccount(
                saved.id,
                exchange,
                user_id=saved.user_id,
                alias=saved.alias,
                created_ns=saved.created_ns,
            )
            account.restore(saved.totals, saved.transactions, saved.orders, saved.trades)
            self.accounts[saved.id] = account
            self.initial_balances[saved.id] = saved.initial_balance
        defaults = self.config.system.account
        for position, wanted in enumerate(self.settings.accounts or (None,)):
            account_id = (wanted.id if wanted else "") or default_account_id(position)
            if account_id in self.accounts:
                continue
            currency = (wanted.currency if wanted else "") or defaults.currency
            balance = (wanted.balance if wanted else 0.0) or defaults.initial_cash
            self.accounts[account_id] = SimAccount(
                account_id,
                self._engine(currency, balance),
                user_id=user_id_of(account_id),
                alias=wanted.alias if wanted else "",
                created_ns=now_ns,
            )
            self.initial_balances[account_id] = balance

    # --- market ---------------------------------------------------------------------------

    def _spec(self, symbol: str) -> InstrumentSpec:
        try:
            return self.config.instrument(symbol)
        except KeyError:
            raise ConfigError("market.yaml", "specs", f"no instrument spec for {symbol}") from None

    def _sources(self) -> dict[str, Source]:
        feed = self.config.system.feed
        files = list(self.settings.data_files)
        if not files and feed.source == "csv" and feed.path:
            files = [Path(feed.path)]
        sources: dict[str, Source] = {}
        for path in files:
            columns = bar_file(path)
            spec = self._spec(columns.instrument)
            sources[spec.symbol] = bar_source(columns, spec)
        if files:
            return sources
        start = parse_utc(feed.start)
        for i, raw in enumerate(self.config.market.instruments):
            spec = self._spec(normalize_symbol(raw))
            sources[spec.symbol] = synthetic_source(spec, start, feed.seed + i, feed.rate_hz)
        return sources

    def _skip(self, source: Source, through_ns: int) -> None:
        """Quotes up to ``through_ns`` (seen before a restart, or history) go to the candles and
        the latest price only; the feed goes on from the next one."""
        last: Quote | None = None
        for quote in source.quotes:
            if quote.ts_event > through_ns:
                source.quotes = itertools.chain([quote], source.quotes)
                break
            self.market.record(quote)
            last = quote
        if last is not None:
            self.market.position[source.instrument] = last.ts_event
            for account in self.accounts.values():
                account.set_quote(last)

    async def _feed(self, source: Source) -> None:
        for quote in source.quotes:
            delay = self.clock.seconds_until(quote.ts_event)
            if delay > 0:
                await asyncio.sleep(delay)
            self.deliver(quote)
        self.log.info("market_data_ended", instrument=source.instrument)

    def deliver(self, quote: Quote) -> None:
        """A price, to the market and every account; fills are stored, then published."""
        self.market.record(quote)
        self.market.position[quote.instrument] = quote.ts_event
        changed = False
        for account in self.accounts.values():
            changed = bool(account.on_quote(quote)) or changed
        if changed:
            self.commit()

    async def _snapshots(self) -> None:
        while True:
            await asyncio.sleep(self.settings.snapshot_seconds)
            self.commit()

    # --- requests and publishing ----------------------------------------------------------

    def now_ns(self) -> int:
        return self.clock.now_ns()

    def next_request_id(self) -> str:
        return str(10**16 + next(self._request_ids))

    def apply(self, request: Callable[[], Outcome]) -> Outcome:
        """Run a request against an account; its transactions are stored before it returns."""
        outcome = request()
        self.commit()
        return outcome

    def commit(self) -> None:
        if self._store is None:
            return
        published = self._store.commit(
            list(self.accounts.values()),
            self.market.position,
            self.clock.now_ns(),
            self.initial_balances,
        )
        for account_id, transactions in published.items():
            if transactions:
                for subscriber in self.subscribers.get(account_id, ()):
                    subscriber.push(transactions)

    def subscribe(self, account_id: str) -> Subscriber:
        subscriber = Subscriber()
        self.subscribers.setdefault(account_id, set()).add(subscriber)
        return subscriber

    def unsubscribe(self, account_id: str, subscriber: Subscriber) -> None:
        self.subscribers.get(account_id, set()).discard(subscriber)
