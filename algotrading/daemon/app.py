"""``algotrading run``: the daemon. Builds the actor graph, opens the state store, starts the
market-data and clock sources under the live runtime, and shuts down gracefully on SIGTERM /
SIGINT: stop the feed, drain the inboxes, flush the store, exit 0."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from algotrading.adapters.replay import paced, ticks
from algotrading.adapters.venue import Venue, build_venue
from algotrading.backtest.ledger import Ledger
from algotrading.config import Config
from algotrading.daemon.control import Control, command_targets
from algotrading.daemon.read_model import ReadModel
from algotrading.daemon.reconcile import ReconcileService
from algotrading.daemon.recovery import reconcile_at_start, working_orders
from algotrading.daemon.schedules import ScheduleService
from algotrading.daemon.services import DaemonContext, Observer, Service, fan_out
from algotrading.daemon.snapshots import SnapshotService
from algotrading.daemon.warm_start import (
    WarmStart,
    backfill,
    recover_command,
    restore_risk_state,
    warm_start,
)
from algotrading.daemon.wiring import Session, build_session
from algotrading.data.instruments import normalize_symbol
from algotrading.log import get_logger
from algotrading.messages import Bar, Command, Fill, Message
from algotrading.runtime.live import LiveRuntime, Source
from algotrading.runtime.tasks import OwnedTasks
from algotrading.state.recording import Recorder, config_fingerprint, snapshot_meta
from algotrading.state.store import StateStore, StateWriteError
from algotrading.state.venue_binding import check_binding, settle_orders
from algotrading.strategies.registry import build_strategy
from algotrading.timestamps import parse_utc

if TYPE_CHECKING:
    from algotrading.daemon.retraining import Retrainer

DB_NAME = "algotrading.sqlite"
BACKFILL_WAIT_S = 10.0  # for the first live quote, where the bars from the venue end
EXIT_STATE_FAILED = 74  # EX_IOERR: the state store cannot write; systemd restarts the daemon


@dataclass
class RunSummary:
    exit_code: int
    reason: str
    session_id: str
    orders: int
    fills: int
    equity: float | None
    positions: dict[str, float]
    open_orders: int = 0
    trading_state: str = ""


def market_data(config: Config, start_ns: int, after_ns: int = 0) -> Iterator[Message]:
    """The inputs of a paper session on the configured feed, in data time (those after
    ``after_ns``, where a restarted session resumes, for a synthetic feed: made, not skipped)."""
    feed = config.system.feed
    symbol = normalize_symbol(config.market.instruments[0])
    if feed.source == "csv":
        from algotrading.adapters.csv_bars import iter_bars

        yield from iter_bars(feed.path, instrument=symbol)
        return
    from algotrading.data.synthetic import synthetic_quotes

    spec = config.instrument(symbol)
    yield from synthetic_quotes(
        symbol,
        start_ns,
        feed.seed,
        rate_hz=feed.rate_hz,
        pip_size=spec.pip_size,
        price_precision=spec.price_precision,
        after_ns=after_ns,
    )


async def run_daemon(
    config: Config,
    state_dir: Path,
    *,
    duration_s: float | None = None,
    speed: float | None = None,
    control: Control | None = None,
    on_started: Callable[[Session, LiveRuntime], None] | None = None,
    services: Sequence[Service] | None = None,
    config_dir: Path | None = None,
) -> RunSummary:
    """Run the paper daemon until ``duration_s``, a signal, or the end of the feed. Operator
    commands come in through ``control``; ``on_started`` sees the session once it runs;
    ``services`` (default: those the configuration asks for) start once the actors run."""
    log = get_logger("daemon")
    feed = config.system.feed
    strategy = build_strategy(
        config.system.strategy.name,
        config.system.strategy.params,
        where="system.yaml: strategy",
        spec=config.system.strategy,
    )
    symbols = [normalize_symbol(s) for s in config.market.instruments]
    instruments = {s: config.instrument(s) for s in symbols}
    start_ns = parse_utc(feed.start)
    venue = build_venue(config, symbols)
    try:
        await venue.connect()
    except BaseException:
        await venue.close()
        raise
    clock = venue.clock(start_ns, speed if speed is not None else feed.speed)

    store = StateStore.open(state_dir / DB_NAME)
    # the state is one venue account's: another's is refused before anything is sent
    try:
        check_binding(store, venue.identity, time.time_ns())
    except BaseException:
        store.close()
        await venue.close()
        raise
    session_id = f"p{clock.wall_start_ns // 1_000_000:x}"
    store.begin_session(session_id, "paper", config.as_dict(), clock.wall_start_ns)
    session: Session | None = None
    runtime: LiveRuntime | None = None
    observers: list[Observer] = []
    recorder = Recorder(store)
    try:
        recovered = await reconcile_at_start(store, venue)
        working = working_orders(store)
        book = ReadModel.starting(venue.positions or {}, working)
        observers.append(book.observe)  # first: what services read is current when they look
        session = build_session(
            config,
            strategy,
            instruments,
            bar_interval_ns=config.bar_interval_ns,
            id_prefix=session_id,
            venue_ids=f"{session_id}-",
            journal=store,
            summary_every_ns=5 * 10**9,
            account_every_ns=10**9,
            ledger=Ledger(retain=False),
            state_db=state_dir / DB_NAME,
            venue=venue.actor(instruments, store),
            venue_positions=venue.positions,
            working_orders=working,
            observer=fan_out(observers),
        )
        restored = restore_risk_state(store, session.switch, session.breakers)
        book.trading_state, book.trading_reason = session.switch.state, session.switch.reason
        if restored:
            log.warning("risk_state_restored", restored=restored, state=str(session.switch.state))
        runtime = LiveRuntime(
            session.graph,
            clock,
            session.policy,
            queue_size=config.system.runtime.queue_size,
            drain_timeout_s=config.system.runtime.drain_timeout_seconds,
            escalation_commands=_escalation_commands(config),
            recorder=recorder,
        )
        store.on_failure(_stop_on_store_failure(runtime))
        tasks = OwnedTasks(_stop_on_task_failure(runtime))
        meta = snapshot_meta(config)
        warm = await warm_start(store, runtime, recorder, config_fingerprint(config), meta)
        await venue.open_market_data(symbols, clock)
        if config.system.state.recovery.backfill and warm.last_bar_ns:
            bars = await venue.missed_bars(
                symbols, config.bar_interval_ns, warm.last_bar_ns, BACKFILL_WAIT_S
            )
            warm.backfilled = await _backfill(runtime, recorder, bars, warm, recovered.fills)

        resume_ns = warm.last_market_ns if venue.resumes_feed else 0
        if resume_ns:  # a paper feed of our own: go on after the last data handled
            clock.restart_at(resume_ns)

        def open_feed() -> AsyncIterator[Message]:
            data = market_data(config, start_ns, resume_ns)
            return paced((m for m in data if m.ts_event > resume_ns), clock)

        venue_sources = venue.sources()  # a broker brings its own market data
        for source in venue_sources:
            runtime.add_source(source)
        if venue_sources:
            log.info("venue_market_data", venue=venue.kind)
        elif feed.websocket is not None and feed.source == "websocket":
            from algotrading.adapters.websocket_feed import WebsocketFeed

            vendor = feed.websocket
            runtime.add_source(
                Source("market_data", lambda: WebsocketFeed(vendor).quotes(), "feed")
            )
        else:
            runtime.add_source(Source("market_data", open_feed, "feed", stops_runtime=True))
        runtime.add_source(Source("clock", lambda: ticks(clock, 0.25), "bar_builder"))
        control = control or Control()
        control.journal = store
        control.submit(  # the venue's positions, for the warmed-up strategy
            recover_command(
                _venue_positions(session, venue, symbols),
                symbols,
                config.system.state.recovery.catch_up,
                clock.now_ns(),
            )
        )
        runtime.add_source(Source("control", control.commands, "risk", targets_of=command_targets))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, runtime.request_stop, f"signal {sig.name}")
        log.info(
            "started",
            session=session_id,
            strategy=strategy.name,
            params=msgspec.to_builtins(strategy.params),
            instruments=symbols,
            feed=feed.source,
            speed=clock.speed,
            state=str(state_dir / DB_NAME),
        )
        if on_started is not None:
            on_started(session, runtime)
        ctx = DaemonContext(
            config=config,
            config_dir=config_dir,
            state_dir=state_dir,
            store=store,
            session=session,
            runtime=runtime,
            control=control,
            session_id=session_id,
            mode=venue.mode,
            observers=observers,
            book=book,
            tasks=tasks,
        )
        running: list[Service] = []
        wanted = list(services) if services is not None else default_services(ctx)
        if services is None:  # before READY, which stays last
            every = config.system.state.reconcile_every_seconds
            wanted.insert(-1 if os.environ.get("NOTIFY_SOCKET") else len(wanted),
                          ReconcileService(every, recovered.alerts()))  # fmt: skip
        starting = tasks.spawn(_start_services(ctx, wanted, running), "services:start")
        try:
            code = await runtime.run(duration_s)
        finally:
            await _stop_services(starting, running)
            await tasks.close()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
    finally:
        reason = runtime.stop_reason if runtime is not None else "failed to start"
        try:
            settle_orders(store, venue.identity, time.time_ns())  # an in-process venue ends here
            store.end_session(time.time_ns(), reason)
        except StateWriteError as exc:  # the journal is not written: exit for a restart
            if runtime is None:
                raise
            runtime.request_stop(f"state store failed: {exc}", EXIT_STATE_FAILED)
        finally:
            store.close()
            await venue.close()
    assert session is not None
    assert runtime is not None
    return RunSummary(
        exit_code=max(code, runtime.exit_code),
        reason=runtime.stop_reason,
        session_id=session_id,
        orders=book.orders,
        fills=book.fills,
        equity=book.account.equity if book.account else None,
        positions=book.quantities(symbols),
        open_orders=len(book.working),
        trading_state=str(session.switch.state),
    )


def default_services(ctx: DaemonContext) -> list[Service]:
    """The services ``system.yaml`` asks for. READY (systemd) goes last: once it is sent,
    everything else runs."""
    system = ctx.config.system
    services: list[Service] = [
        SnapshotService(system.state.snapshot_every_seconds, snapshot_meta(ctx.config))
    ]
    alerts = None
    if system.alerts.telegram.enabled or system.alerts.slack.enabled:
        from algotrading.ops.alerts.service import AlertService

        alerts = AlertService(system.alerts, environ=secret_environment())
        services.append(alerts)
    services.append(
        ScheduleService(
            system.schedules,
            retention=system.state.retention,
            retrainer=_retrainer(ctx),
            daily_summary=alerts.daily_summary if alerts is not None else None,
        )
    )
    if system.admin.enabled:
        from algotrading.ops.admin.service import AdminService

        services.append(AdminService(system.admin))
    if system.metrics.enabled:
        from algotrading.ops.metrics import MetricsService

        services.append(MetricsService(system.metrics))
    if os.environ.get("NOTIFY_SOCKET"):
        from algotrading.ops.systemd import SystemdService

        services.append(SystemdService(system.systemd))
    return services


def secret_environment() -> dict[str, str]:
    """The environment, with a ``.env`` file in the working directory under it."""
    from dotenv import dotenv_values

    values = {k: v for k, v in dotenv_values(".env").items() if v is not None}
    return {**values, **os.environ}


async def _backfill(
    runtime: LiveRuntime,
    recorder: Recorder,
    bars: list[Bar],
    warm: WarmStart,
    missed: list[Fill],
) -> int:
    """The bars the strategy missed while the daemon was down (from the venue, up to where
    the live bars begin), with the fills made meanwhile, into the warm actors in time order."""
    log = get_logger("recovery")
    inputs: list[tuple[int, int, str, Message]] = []
    for bar in bars:
        inputs += [(bar.ts_event, 0, "model", bar), (bar.ts_event, 1, "strategy", bar)]
    if not inputs:
        return 0
    inputs += [(f.ts_event, 2, "strategy", f) for f in missed if f.ts_event >= warm.last_bar_ns]
    inputs.sort(key=lambda item: item[:2])
    first = inputs[0][3].ts_event
    reset = Command(ts_event=first, name="reset_bars")
    ordered = [("bar_builder", reset), *((name, msg) for _, _, name, msg in inputs)]
    count = await backfill(runtime, recorder, ordered)
    log.info("backfilled", bars=sum(1 for _, o, _, _ in inputs if o == 1), inputs=count)
    return count


def _venue_positions(session: Session, venue: Venue, symbols: list[str]) -> dict[str, float]:
    if venue.positions is not None:
        return {s: p.quantity for s, p in venue.positions.items()}
    return {s: session.exchange.position(s).quantity for s in symbols}


async def _start_services(
    ctx: DaemonContext, services: list[Service], running: list[Service]
) -> None:
    """Start ``services`` once the actors run, adding each to ``running``; a service that
    fails to start stops the daemon (it was asked for: running without it is running blind)."""
    await ctx.runtime.running.wait()
    for service in services:
        try:
            await service.start(ctx)
        except Exception as exc:
            get_logger("daemon").exception("service_failed", service=service.name)
            ctx.runtime.request_stop(f"service {service.name} failed to start: {exc}", 1)
            return
        running.append(service)


async def _stop_services(starting: asyncio.Task[None], running: list[Service]) -> None:
    starting.cancel()
    await asyncio.gather(starting, return_exceptions=True)
    for service in reversed(running):
        try:
            await service.stop()
        except Exception:
            get_logger("daemon").exception("service_stop_failed", service=service.name)


def _retrainer(ctx: DaemonContext) -> Retrainer | None:
    """The retraining job, when there is a registry model to retrain."""
    from algotrading.daemon.retraining import Retrainer
    from algotrading.models.registry import ModelRegistry

    model = ctx.config.model.model
    if model.kind != "registry":
        return None
    path = model.registry
    store = ctx.store

    def registry() -> ModelRegistry:
        return ModelRegistry(path) if path else store.model_registry()

    return Retrainer(ctx.config, registry, ctx.state_dir / "models", ctx.control)


def _stop_on_store_failure(runtime: LiveRuntime) -> Callable[[StateWriteError], None]:
    """Stop the daemon, non-zero, when the store's writer fails (told on the writer's thread):
    trading on without a journal would lose what recovery needs."""
    loop = asyncio.get_running_loop()

    def stop(error: StateWriteError) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: the daemon is done
            loop.call_soon_threadsafe(
                runtime.request_stop, f"state store failed: {error}", EXIT_STATE_FAILED
            )

    return stop


def _stop_on_task_failure(runtime: LiveRuntime) -> Callable[[str, BaseException], None]:
    """A task of the daemon's that died with an exception stops it, non-zero: a service it
    ran (alerts, the watchdog, reconciliation) would otherwise be gone without a word."""

    def stop(name: str, error: BaseException) -> None:
        runtime.request_stop(f"task {name} failed: {type(error).__name__}: {error}", 1)

    return stop


def _escalation_commands(config: Config) -> tuple[tuple[str, str], ...]:
    commands: tuple[tuple[str, str], ...] = (("risk", "halt"),)
    if config.system.supervisor.on_escalation == "flatten":
        commands += (("order_manager", "flatten"),)
    return commands
