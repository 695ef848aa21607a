"""The one actor graph of the design, as data. Backtest, replay, paper and live all build it
here; they differ only in the runtime that delivers messages and the adapters handed in."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from algotrading.actors.bar_builder import BarBuilderActor
from algotrading.actors.execution import ExecutionActor
from algotrading.actors.feed import FeedActor
from algotrading.actors.model import ModelActor
from algotrading.actors.monitor import MonitorActor
from algotrading.actors.order_manager import OrderManagerActor
from algotrading.actors.risk import RiskActor
from algotrading.actors.strategy import StrategyActor
from algotrading.actors.venue import SimVenueActor
from algotrading.backtest.ledger import Ledger
from algotrading.config import Config
from algotrading.data.calendars import is_open
from algotrading.data.instruments import InstrumentSpec, normalize_symbol
from algotrading.errors import ConfigError, DataError
from algotrading.execution.fill_book import FillBook
from algotrading.messages import (
    AccountState,
    ActorFailed,
    Alert,
    ApprovedOrder,
    Bar,
    BreakerFigures,
    CancelOrder,
    Command,
    Fill,
    Financing,
    Message,
    ModifyOrder,
    Order,
    OrderAccepted,
    OrderCancelled,
    OrderDenied,
    OrderIntent,
    OrderModified,
    OrderRejected,
    Position,
    Prediction,
    Quote,
    RequestRejected,
    RiskState,
    SubmitOrder,
    Timer,
    VenueCursor,
    VenuePositions,
)
from algotrading.risk.breaker_set import BreakerSet
from algotrading.risk.checks import LIMIT_NAMES, RiskLimits, TradingSwitch
from algotrading.runtime.actor import Actor
from algotrading.runtime.graph import ActorSpec, Graph, Route
from algotrading.runtime.supervision import RestartPolicy
from algotrading.sim.accounting import PositionState
from algotrading.sim.costs import CostModel, FinancingModel, FinancingRate, LatencyModel
from algotrading.sim.exchange import SimExchange
from algotrading.state.journal import Journal
from algotrading.state.store import StateStore
from algotrading.strategies.registry import StrategyFactory

if TYPE_CHECKING:  # a model (numpy, features) is loaded only where one is configured
    from algotrading.models.live import LiveModel

# Order matters where one message goes to several actors: the venue sees a bar before the
# bar-builder, so orders decided on the previous bar fill at this bar's open before any
# strategy sees this bar's close.
ROUTES: tuple[Route, ...] = (
    Route("feed", Quote, ("venue", "bar_builder", "risk")),
    Route("feed", Bar, ("venue", "bar_builder")),
    Route("clock", Timer, ("bar_builder", "risk")),
    Route("bar_builder", Bar, ("model", "strategy", "risk")),
    Route("model", Prediction, ("strategy", "monitor")),
    Route("model", Alert, ("monitor",)),
    Route("strategy", OrderIntent, ("risk",)),
    Route("risk", ApprovedOrder, ("order_manager",)),
    Route("risk", OrderDenied, ("strategy", "monitor")),
    Route("risk", RiskState, ("monitor",)),
    Route("risk", BreakerFigures, ("monitor",)),
    Route("risk", Alert, ("monitor",)),
    Route("order_manager", Order, ("risk", "monitor")),
    Route("order_manager", SubmitOrder, ("venue",)),
    Route("order_manager", CancelOrder, ("venue",)),
    Route("order_manager", ModifyOrder, ("venue",)),
    Route("order_manager", OrderModified, ("monitor",)),
    Route("order_manager", RequestRejected, ("strategy", "monitor")),
    Route("order_manager", OrderDenied, ("strategy", "risk", "monitor")),
    Route("order_manager", Fill, ("strategy", "risk", "monitor")),
    Route("order_manager", Position, ("strategy", "risk", "monitor")),
    Route("order_manager", OrderRejected, ("strategy", "risk", "monitor")),
    Route("order_manager", OrderAccepted, ("monitor",)),
    Route("order_manager", OrderCancelled, ("risk", "monitor")),
    Route("order_manager", Alert, ("monitor",)),
    Route("order_manager", Command, ("risk",)),
    Route("venue", OrderAccepted, ("order_manager",)),
    Route("venue", OrderRejected, ("order_manager",)),
    Route("venue", OrderCancelled, ("order_manager",)),
    Route("venue", Fill, ("order_manager",)),
    Route("venue", Order, ("order_manager",)),
    Route("venue", OrderModified, ("order_manager",)),
    Route("venue", RequestRejected, ("order_manager",)),
    Route("venue", Financing, ("monitor",)),
    Route("venue", Alert, ("monitor",)),
    Route("venue", AccountState, ("risk", "monitor")),
    Route("venue", VenueCursor, ("order_manager",)),
    Route("venue", VenuePositions, ("order_manager",)),
    Route("supervisor", ActorFailed, ("monitor",)),
    Route("supervisor", Alert, ("monitor",)),
)


@dataclass
class Session:
    """What a run is made of, kept outside the actors so that restarts do not lose it."""

    graph: Graph
    exchange: SimExchange
    ledger: Ledger
    instruments: dict[str, InstrumentSpec]
    policy: RestartPolicy
    switch: TradingSwitch
    breakers: BreakerSet
    limits: RiskLimits  # as configured; an operator's, once set, are the switch's


def restart_policy(config: Config) -> RestartPolicy:
    sup = config.system.supervisor
    return RestartPolicy(
        max_restarts=sup.max_restarts,
        within_ns=int(sup.within_seconds * 1e9),
        backoff_initial_ns=int(sup.backoff_initial_seconds * 1e9),
        backoff_max_ns=int(sup.backoff_max_seconds * 1e9),
    )


def simulated_exchange(
    config: Config, instruments: dict[str, InstrumentSpec], id_prefix: str = ""
) -> SimExchange:
    """The simulated venue as ``system.yaml``'s ``venue`` section configures it; its order and
    fill ids start with ``id_prefix``."""
    venue = config.system.venue
    c = venue.costs
    return SimExchange(
        instruments,
        id_prefix=id_prefix,
        account_currency=config.system.account.currency,
        initial_cash=config.system.account.initial_cash,
        costs=CostModel(
            spread_pips=c.spread_pips,
            slippage_pips=c.slippage_pips,
            commission_per_unit=c.commission_per_unit,
            commission_bps=c.commission_bps,
            commission_min=c.commission_min,
        ),
        latency=LatencyModel(
            fixed_ms=venue.latency.fixed_ms,
            jitter_ms=venue.latency.jitter_ms,
            seed=venue.latency.seed,
        ),
        financing=FinancingModel(
            rates={
                normalize_symbol(k): FinancingRate(long=v.long, short=v.short)
                for k, v in venue.financing.items()
            }
        ),
        closeout_level=venue.margin_closeout_level,
        conversion_rates={normalize_symbol(k): v for k, v in venue.conversion_rates.items()},
    )


# What the execution actor hears when an algorithm works the strategy's orders.
_EXECUTION_HEARS = {
    ("bar_builder", Bar),
    ("clock", Timer),
    ("risk", OrderDenied),
    ("order_manager", OrderDenied),
    ("order_manager", Order),
    ("order_manager", Fill),
    ("order_manager", OrderRejected),
    ("order_manager", OrderCancelled),
    ("order_manager", OrderModified),
}


def with_execution(routes: tuple[Route, ...]) -> tuple[Route, ...]:
    """``routes`` with the execution actor between the strategy and risk."""
    out = []
    for r in routes:
        if r.source == "strategy" and r.message is OrderIntent:
            out.append(Route("strategy", OrderIntent, ("execution",)))
            out.append(Route("execution", OrderIntent, ("risk",)))
        elif (r.source, r.message) in _EXECUTION_HEARS:
            out.append(Route(r.source, r.message, (*r.targets, "execution")))
        else:
            out.append(r)
    return tuple(out)


def model_actor(
    config: Config,
    state_db: Path | None = None,
    instruments: tuple[str, ...] = (),
    bar_interval_ns: int = 0,
) -> Callable[[], ModelActor]:
    """The model actor's factory. A predictions file is read (and checked) once, here; a
    registry model is loaded here too, so a missing or damaged model stops the start, as does
    one trained on other instruments, bars or features than the session's (``instruments``
    and ``bar_interval_ns``, when given); a restarted actor loads the registry's model again
    (the active one, after a swap)."""
    model = config.model.model
    if model.kind == "predictions":
        from algotrading.models.prediction_file import read_predictions  # pyarrow: only here

        predictions = read_predictions(model.path)
        model_id = f"file:{Path(model.path).name}"
        return lambda: ModelActor(kind=model.kind, predictions=predictions, model_id=model_id)
    if model.kind == "registry":
        path = Path(model.registry) if model.registry else state_db
        if path is None:
            raise ConfigError(
                "model.yaml", "model.registry", "no state database here: name the registry file"
            )
        loader = registry_loader(path)
        first = [loader(model.model_id)]
        if instruments:
            from algotrading.models.persistence import misfit

            problem = misfit(
                first[0].metadata, instruments, bar_interval_ns, tuple(config.model.features)
            )
            if problem is not None:
                key = "model.model_id" if model.model_id else "model.kind"
                raise ConfigError("model.yaml", key, problem)

        def make() -> ModelActor:
            live = first.pop() if first else loader("")
            return ModelActor(kind="registry", live=live, loader=loader)

        return make
    return lambda: ModelActor(kind=model.kind)


def registry_loader(path: Path) -> Callable[[str], LiveModel]:
    """Loads a model of the registry at ``path`` by id ("" = the active one)."""

    def load(model_id: str) -> LiveModel:
        from algotrading.models.live import LiveModel
        from algotrading.models.registry import ModelRegistry

        with ModelRegistry(path) as registry:
            entry = registry.get(model_id) if model_id else registry.active()
        if entry is None:
            raise DataError(str(path), "the registry has no active model")
        return LiveModel.load(entry.path)

    return load


def build_session(
    config: Config,
    strategy: StrategyFactory,
    instruments: dict[str, InstrumentSpec],
    *,
    bar_interval_ns: int,
    id_prefix: str,
    journal: Journal | None = None,
    summary_every_ns: int = 0,
    account_every_ns: int = 0,
    ledger: Ledger | None = None,
    state_db: Path | None = None,
    venue: Callable[[], Actor] | None = None,
    venue_positions: dict[str, PositionState] | None = None,
    working_orders: list[Order] | None = None,
    observer: Callable[[Message], None] | None = None,
    venue_ids: str = "",
) -> Session:
    """The session's graph. ``venue`` replaces the in-process simulated venue (a broker
    adapter), and ``venue_positions`` are then what the venue holds at the start.
    ``venue_ids`` prefixes the in-process venue's order and fill ids (a paper session's id:
    sessions on one state never number fills alike; a backtest keeps ``F1``…)."""
    exchange = simulated_exchange(config, instruments, venue_ids)
    fills = FillBook(
        journal.fill_terms(*journal.venue_key) if isinstance(journal, StateStore) else ()
    )
    ledger = ledger if ledger is not None else Ledger()
    r = config.system.risk
    limits = RiskLimits(**{name: getattr(r, name) for name in LIMIT_NAMES})  # risk: section
    switch = TradingSwitch()
    breakers = BreakerSet.from_config(
        config.system.risk.breakers,
        is_open=lambda symbol, ts: is_open(instruments[symbol].calendar, ts),
    )
    generation = itertools.count()
    # a session that journals keeps its breakers' figures there, as often as it snapshots
    every_s = config.system.state.snapshot_every_seconds or 60.0
    figures_every_ns = int(every_s * 1e9) if journal is not None else 0

    def positions() -> dict[str, PositionState]:
        if venue_positions is not None:
            return dict(venue_positions)
        return {s: exchange.position(s) for s in instruments if not exchange.position(s).is_flat}

    def order_manager() -> OrderManagerActor:
        gen = next(generation)
        return OrderManagerActor(
            id_prefix=id_prefix if gen == 0 else f"{id_prefix}r{gen}",
            instruments=instruments,
            journal=journal,
            book=positions(),
            native_brackets=config.system.venue.native_brackets,
            currency=config.system.account.currency,
            working=working_orders if gen == 0 else None,
            fills=fills,
        )

    specs = [
        ActorSpec("feed", lambda: FeedActor(journal=journal)),
        ActorSpec("bar_builder", lambda: BarBuilderActor(interval_ns=bar_interval_ns)),
        ActorSpec("model", model_actor(config, state_db, tuple(instruments), bar_interval_ns)),
        ActorSpec(
            "strategy",
            lambda: StrategyActor(
                factory=strategy,
                instruments=instruments,
                account_currency=config.system.account.currency,
                initial_equity=exchange.equity(),
                conversion_rates={
                    normalize_symbol(k): v for k, v in config.system.venue.conversion_rates.items()
                },
            ),
        ),
        ActorSpec(
            "risk",
            lambda: RiskActor(
                limits=limits,
                switch=switch,
                positions={s: p.quantity for s, p in positions().items()},
                breakers=breakers,
                instruments=instruments,
                account_currency=config.system.account.currency,
                figures_every_ns=figures_every_ns,
            ),
        ),
        ActorSpec("order_manager", order_manager),
        ActorSpec(
            "venue",
            venue or (lambda: SimVenueActor(exchange=exchange, account_every_ns=account_every_ns)),
        ),
        ActorSpec(
            "monitor",
            lambda: MonitorActor(
                ledger=ledger,
                journal=journal,
                summary_every_ns=summary_every_ns,
                observer=observer,
            ),
        ),
    ]
    routes = ROUTES
    if config.model.model.kind == "none":  # no model: bars need not visit the model actor
        routes = tuple(
            Route(r.source, r.message, tuple(t for t in r.targets if t != "model")) for r in routes
        )
    if journal is None:  # predictions go to the monitor only to be recorded
        routes = tuple(
            Route(r.source, r.message, tuple(t for t in r.targets if t != "monitor"))
            if (r.source, r.message) == ("model", Prediction)
            else r
            for r in routes
        )
    if observer is not None:  # the daemon's read model marks positions at the last bar
        routes = tuple(
            Route(r.source, r.message, (*r.targets, "monitor"))
            if (r.source, r.message) == ("bar_builder", Bar)
            else r
            for r in routes
        )
    if venue is not None:  # a broker prices its own orders: market data is not sent to it
        routes = tuple(
            Route(r.source, r.message, tuple(t for t in r.targets if t != "venue"))
            if r.source == "feed"
            else r
            for r in routes
        )
    if config.system.execution.algo != "none":
        specs.append(
            ActorSpec(
                "execution",
                lambda: ExecutionActor(config=config.system.execution, instruments=instruments),
            )
        )
        routes = with_execution(routes)
    if strategy.needs_equity:  # sizing reads the equity
        routes = tuple(
            Route(r.source, r.message, (*r.targets, "strategy"))
            if r.source == "venue" and r.message is AccountState
            else r
            for r in routes
        )
    return Session(
        graph=Graph(specs, routes),
        exchange=exchange,
        ledger=ledger,
        instruments=instruments,
        policy=restart_policy(config),
        switch=switch,
        breakers=breakers,
        limits=limits,
    )
