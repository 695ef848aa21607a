"""Warm start: a restarted daemon's deciding actors (bar-builder, model, strategy) are brought to
where the dead daemon's were, so the next decision is the one a daemon that never died would
make.

1. Each actor is restored from the newest snapshot set, if that set was taken by this version
   under the same strategy/market/model configuration (:func:`config_fingerprint`).
2. It is then given the recorded inputs it handled after its snapshot position — the journal
   tail — with whatever it sends thrown away: those decisions were made (and acted on) before.
   Without a usable snapshot, the whole recorded history of the same configuration is the tail.
3. With a broker venue, the bars of the time the daemon was down come from the venue (v20
   candles) and fills made meanwhile from its transactions (``backfill``), in time order.
4. Once the actors run, the strategy is told the venue's positions (a ``recover`` command):
   with ``state.recovery.catch_up`` it trades once to what it holds; otherwise it takes the
   venue's positions as its own.

Every input of 1-3 is recorded in the new session too (``restore``, ``warm``, ``backfill``
steps), so the session's recording replays on its own.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from algotrading.log import get_logger
from algotrading.messages import (
    AccountState,
    Alert,
    Bar,
    BreakerFigures,
    Command,
    Message,
    Position,
    Quote,
    TradingState,
    decode_msgpack,
)
from algotrading.risk.breaker_set import BreakerSet
from algotrading.risk.breakers import Reset, Trip
from algotrading.risk.checks import TradingSwitch
from algotrading.runtime.actor import Actor
from algotrading.runtime.live import LiveRuntime
from algotrading.state.recording import (
    Recorder,
    Snapshottable,
    sessions_like,
)
from algotrading.state.store import StateStore


@dataclass
class WarmStart:
    snapshot_set: int | None = None
    restored: list[str] = field(default_factory=list)
    tail: dict[str, int] = field(default_factory=dict)  # actor -> inputs replayed
    backfilled: int = 0
    last_bar_ns: int = 0  # end of the newest bar the strategy had seen (0: none)
    last_market_ns: int = 0  # time of the newest market data the bar-builder had handled
    seconds: float = 0.0
    ignored_snapshot: str = ""  # why the newest snapshot set was not used


async def _discard(actor: Actor, msg: Message) -> None:
    return None


def _discarding(actor: Actor) -> None:
    actor.bind(_discard, actor.clock)


async def warm_start(
    store: StateStore,
    runtime: LiveRuntime,
    recorder: Recorder,
    fingerprint: str,
    meta: dict[str, object],
) -> WarmStart:
    """Steps 1 and 2 (see the module docstring), before the runtime runs."""
    started = time.perf_counter()
    log = get_logger("recovery")
    result = WarmStart()
    current = store.session_id
    history = sessions_like(
        [s for s in store.sessions() if s["session_id"] != current], fingerprint
    )
    actors = {
        name: runtime.actor(name) for name in sorted(recorder.actors & set(runtime.graph.names))
    }
    floors = dict.fromkeys(actors, 0)
    latest = store.latest_snapshots()
    if latest is not None:
        taken_under = {k: latest.meta.get(k) for k in meta}
        if taken_under != meta:
            result.ignored_snapshot = f"taken under {taken_under}, running {meta}"
        elif latest.session_id not in history:
            result.ignored_snapshot = f"session {latest.session_id} ran another configuration"
        else:
            try:
                for name, (seq, state) in latest.states.items():
                    actor = actors.get(name)
                    if isinstance(actor, Snapshottable):
                        actor.restore_state(state)
                        recorder.restored(name, latest.ts_event, state)
                        recorder.last_input_seq[name] = floors[name] = seq
                        result.restored.append(name)
            except Exception as exc:  # a snapshot only shortens recovery
                # Taken by other code under the same version number, or damaged: start the
                # actors afresh and warm them from the whole journal instead.
                result.ignored_snapshot = f"cannot be restored: {type(exc).__name__}: {exc}"
                result.restored.clear()
                for name in actors:
                    actors[name] = await runtime.supervisor.restart(name)
                    recorder.restarted(name, latest.ts_event)
                    recorder.last_input_seq[name] = floors[name] = 0
            else:
                result.snapshot_set = latest.set_id
                data_ns = latest.meta.get("data_ns") or {}
                result.last_bar_ns = int(data_ns.get("strategy", 0))
                result.last_market_ns = int(data_ns.get("bar_builder", 0))
    for actor in actors.values():
        _discarding(actor)
    try:
        if history:
            for seq, rec in store.recorded(min(floors.values(), default=0), history):
                actor = actors.get(rec.actor)
                if actor is None or seq <= floors[rec.actor]:
                    continue
                if rec.step == "restart":  # the dead daemon's actor started afresh here
                    actor = actors[rec.actor] = await runtime.supervisor.restart(rec.actor)
                    _discarding(actor)
                    recorder.restarted(rec.actor, rec.ts_event)
                    continue
                if rec.step not in ("in", "backfill"):
                    continue
                msg = decode_msgpack(rec.body)
                await actor.handle(msg)
                recorder.step(rec.actor, "warm", msg)
                result.tail[rec.actor] = result.tail.get(rec.actor, 0) + 1
                if rec.actor == "strategy" and isinstance(msg, Bar):
                    result.last_bar_ns = max(result.last_bar_ns, msg.ts_event)
                elif rec.actor == "bar_builder" and isinstance(msg, (Quote, Bar)):
                    result.last_market_ns = max(result.last_market_ns, msg.ts_event)
    finally:
        for name in actors:
            runtime.supervisor.rebind(name)
    result.seconds = time.perf_counter() - started
    log.info(
        "warm_start",
        snapshot_set=result.snapshot_set,
        restored=result.restored,
        tail=result.tail,
        sessions=len(history),
        ignored_snapshot=result.ignored_snapshot or None,
        seconds=round(result.seconds, 3),
    )
    return result


async def backfill(
    runtime: LiveRuntime, recorder: Recorder, inputs: Sequence[tuple[str, Message]]
) -> int:
    """Step 3: ``(actor, message)`` inputs the venue supplied for the time the daemon was down,
    in time order, handled with what they send thrown away."""
    handled = 0
    touched: dict[str, Actor] = {}
    try:
        for name, msg in inputs:
            if name not in runtime.graph.names:
                continue
            actor = touched.get(name)
            if actor is None:
                actor = touched[name] = runtime.actor(name)
                _discarding(actor)
            await actor.handle(msg)
            recorder.step(name, "backfill", msg)
            handled += 1
    finally:
        for name in touched:
            runtime.supervisor.rebind(name)
    return handled


def recover_command(
    positions: dict[str, float], instruments: Sequence[str], catch_up: bool, now_ns: int
) -> Command:
    """Step 4: the strategy's ``recover`` command."""
    args = {symbol: repr(float(positions.get(symbol, 0.0))) for symbol in instruments}
    args["catch_up"] = "true" if catch_up else "false"
    return Command(ts_event=now_ns, name="recover", args=args)


_OPERATOR_STATES = {
    "halt": TradingState.HALTED,
    "kill": TradingState.HALTED,
    "reduce": TradingState.REDUCING,
    "resume": TradingState.ACTIVE,
}


def restore_risk_state(store: StateStore, switch: TradingSwitch, breakers: BreakerSet) -> list[str]:
    """What an operator decided outlives a restart: the last halt / kill / reduce / resume in
    the journal sets the trading state again, and a breaker that resets only by hand and had
    tripped (its last alert a trip, not a reset) is tripped again. A daemon killed while halted
    comes back halted. So do the breakers' running figures (:func:`restore_breaker_figures`):
    a restart neither forgets the day's loss nor the equity peak. Returns what was restored,
    for the log."""
    restored = restore_breaker_figures(store, breakers)
    last: Command | None = None
    for msg in store.journal_of_kind("Command"):
        if isinstance(msg, Command) and msg.name in _OPERATOR_STATES:
            last = msg
    if last is not None and _OPERATOR_STATES[last.name] is not TradingState.ACTIVE:
        why = last.args.get("reason", "")
        switch.set(_OPERATOR_STATES[last.name], f"restored after a restart: {last.name} {why}")
        restored.append(f"operator {last.name}")
    manual = {b.name: b for b in breakers.all() if b.reset is Reset.MANUAL}
    trips: dict[str, str | None] = {}
    for msg in store.journal_of_kind("Alert"):
        if isinstance(msg, Alert) and msg.code.startswith("breaker_"):
            name = msg.code.removeprefix("breaker_")
            head, sep, reason = msg.text.partition(" tripped: ")
            trips[name] = reason if sep and head == name else None
    for name, why_tripped in trips.items():
        breaker = manual.get(name)
        if breaker is not None and why_tripped is not None and breaker.tripped is None:
            breaker.tripped = Trip(
                name, breaker.action, f"{name} tripped before a restart: {why_tripped}"
            )
            restored.append(f"breaker {name}")
    for breaker in breakers.all():
        if breaker.tripped is not None:
            switch.breakers[breaker.name] = (breaker.action, breaker.tripped.reason)
    return restored


def restore_breaker_figures(store: StateStore, breakers: BreakerSet) -> list[str]:
    """The breakers' running figures as they were at the last stop: the newest
    :class:`BreakerFigures` journaled, then every equity mark and position journaled after it,
    replayed through the breakers (a session's figures are journaled every
    ``state.snapshot_every_seconds``, so the replay is short). A breaker that resets by itself
    is tripped again if its figures say so (a day's loss past the limit stays past it), unless
    an operator's ``reset`` journaled after them undid it; one that resets only by hand takes
    its trip from the alerts (an operator's reset is there).
    Returns what was restored, for the log."""
    losses = breakers.consecutive_losses
    equity = breakers.daily_loss is not None or breakers.max_drawdown is not None
    kinds = ("AccountState",) * equity + ("Position",) * (losses is not None)
    if not kinds:
        return []  # no breaker keeps running figures: nothing to read
    last = store.last_of_kind("BreakerFigures")
    after, session, restored = 0, "", []
    if last is not None and isinstance(figures := last[2], BreakerFigures):
        after, session = last[0], last[1]
        restored = [f"figures of {name}" for name in breakers.restore(figures.figures)]
        for breaker in breakers.all():
            if breaker.reset is Reset.MANUAL:
                breaker.tripped = None
    marks = 0
    for _, session_id, msg in store.journal_of_kinds((*kinds, "Command"), after):
        if session_id != session and losses is not None:
            losses.new_order_manager()  # each process's order manager counts from 0
        session = session_id
        if isinstance(msg, AccountState):
            breakers.replay_equity(msg.ts_event, msg.equity)
            marks += 1
        elif isinstance(msg, Position) and losses is not None:
            losses.on_position(msg.ts_event, msg.instrument, msg.realized_pnl)
        elif isinstance(msg, Command) and msg.name == "reset":  # an operator's, in its place
            breakers.operator_reset(msg.args.get("breaker", ""))
    if losses is not None:
        losses.new_order_manager()  # and so does this one's
    for breaker in breakers.all():
        if breaker.tripped is not None:
            reason = f"{breaker.name} tripped before a restart: {breaker.tripped.reason}"
            breaker.tripped = Trip(breaker.name, breaker.action, reason)
            restored.append(f"breaker {breaker.name}")
    if marks:
        restored.append(f"{marks} equity marks replayed")
    return restored
