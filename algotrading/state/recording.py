"""Recording of the actors that decide: every message a recorded actor handles and every
message it sends is journaled as a :class:`~algotrading.messages.Recorded` step, in the order
the actor saw them. That order is what makes a live session reproducible: actors run
concurrently in the live runtime, so the interleaving of, say, a fill and the next bar at the
strategy is decided by timing — the recording keeps the interleaving that happened.

Steps of one actor, in journal order:

- ``in``: a message it handled live; ``out``: a message it sent while handling it;
- ``restore``: it was restored from this snapshot (``body`` is the snapshot state);
- ``warm``: a recorded input of an earlier session it was warmed up with after a restart;
- ``backfill``: an input it was warmed up with that no recording has — bars of the time the
  daemon was down, from the venue, and fills made meanwhile;
- ``restart``: the supervisor replaced it with a fresh instance.

Replaying a session (:func:`replay_actor`) follows the same steps with a fresh actor and checks
that every ``in`` step makes exactly the recorded ``out`` steps. The daemon's warm start uses the
same steps to bring a restarted actor to where the dead one was.

Snapshots of actor state are pickles. They are written by this daemon into its own state
database (mode 0600, in the state directory) and read back only if the package version and the
configuration that shaped the actors are the same; anything else is ignored, and the actor is
warmed from the journal alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import msgspec

from algotrading import __version__
from algotrading.messages import Bar, Message, Quote, Recorded, decode_msgpack, encode_msgpack
from algotrading.runtime.actor import Actor
from algotrading.runtime.clock import VirtualClock
from algotrading.state.journal import Journal

if TYPE_CHECKING:
    from algotrading.config import Config

#: The actors whose decisions a session recording reproduces: market data into bars, bars into
#: predictions, bars and predictions (and fills) into order intents.
RECORDED_ACTORS: tuple[str, ...] = ("bar_builder", "model", "strategy")

#: Steps that are inputs, and those of them that happened live.
INPUT_STEPS = ("in", "warm", "backfill")


@runtime_checkable
class Snapshottable(Protocol):
    def snapshot_state(self) -> bytes:
        """The actor's state, between two messages."""
        ...

    def restore_state(self, state: bytes) -> None:
        """Take ``state`` from :meth:`snapshot_state` of an actor made by the same factory."""
        ...


class Recorder:
    """Journals the steps of the recorded actors; remembers the journal position of the last
    input each one handled (the position its snapshot is valid at)."""

    def __init__(self, journal: Journal, actors: Iterable[str] = RECORDED_ACTORS) -> None:
        self.journal = journal
        self.actors = frozenset(actors)
        self.last_input_seq: dict[str, int] = {}
        self.last_data_ns: dict[str, int] = {}  # time of the newest quote or bar each handled

    def position(self, actor: str) -> int:
        """The journal position ``actor``'s state is valid at: its last input, or — for an
        actor that has handled nothing — the journal's end (nothing before it is owed)."""
        seq = self.last_input_seq.get(actor)
        return seq if seq is not None else int(getattr(self.journal, "last_seq", 0))

    def data_times(self) -> dict[str, int]:
        return dict(self.last_data_ns)

    def step(self, actor: str, step: str, msg: Message) -> int:
        seq = self.journal.append(
            Recorded(
                ts_event=msg.ts_event,
                ts_recv=msg.ts_recv,
                actor=actor,
                step=step,
                body=encode_msgpack(msg),
            )
        )
        if step in INPUT_STEPS:
            self.last_input_seq[actor] = seq
            if isinstance(msg, Quote | Bar):
                self.last_data_ns[actor] = max(self.last_data_ns.get(actor, 0), msg.ts_event)
        return seq

    def restored(self, actor: str, ts_event: int, state: bytes) -> None:
        self.journal.append(Recorded(ts_event=ts_event, actor=actor, step="restore", body=state))

    def restarted(self, actor: str, ts_event: int) -> None:
        self.journal.append(Recorded(ts_event=ts_event, actor=actor, step="restart", body=b""))


def config_fingerprint(config: Config) -> str:
    """What a snapshot's validity depends on: the parts of the configuration that shape the
    recorded actors (strategy, market, model). Risk limits, venue and ops settings may change
    between runs without throwing the warm state away."""
    shaped = {
        "strategy": msgspec.to_builtins(config.system.strategy),
        "currency": config.system.account.currency,
        "market": msgspec.to_builtins(config.market),
        "model": msgspec.to_builtins(config.model),
    }
    return hashlib.sha256(json.dumps(shaped, sort_keys=True).encode()).hexdigest()[:16]


def snapshot_meta(config: Config) -> dict[str, Any]:
    return {"version": __version__, "config": config_fingerprint(config)}


# -- replay ---------------------------------------------------------------------------------


@dataclass
class Difference:
    """A step where the replay did not do what the recording says."""

    seq: int  # the journal position of the input
    ts_event: int
    input: str
    recorded: list[str]
    replayed: list[str]


@dataclass
class ActorReplay:
    """One actor run again over its recorded steps."""

    actor: str
    inputs: int = 0
    warm_inputs: int = 0
    outputs: int = 0
    n_differences: int = 0
    differences: list[Difference] = field(default_factory=list)  # the first few, in detail
    out: list[Message] = field(default_factory=list)  # what the replayed actor sent, in order

    @property
    def identical(self) -> bool:
        return self.n_differences == 0


class _Capture:
    """The send function of a replayed actor: collects what it sends."""

    def __init__(self) -> None:
        self.sent: list[Message] = []

    def __call__(self, actor: Actor, msg: Message) -> Awaitable[None]:
        self.sent.append(msg)
        return _done()


async def _nothing() -> None:
    return None


def _done() -> Awaitable[None]:
    return _nothing()


def describe(msg: Message) -> str:
    return msgspec.json.encode(msg).decode()


async def replay_actor(
    name: str,
    factory: Callable[[], Actor],
    steps: Iterable[tuple[int, Recorded]],
    *,
    ignore: tuple[type[Message], ...] = (),
    max_differences: int = 20,
) -> ActorReplay:
    """Run a fresh actor from ``factory`` over its recorded ``steps`` and compare: every
    ``in`` step must send exactly the recorded ``out`` steps that follow it. Messages of the
    ``ignore`` types are left out on both sides."""
    result = ActorReplay(name)
    capture = _Capture()
    clock = VirtualClock()

    async def fresh() -> Actor:
        actor = factory()
        actor.bind(capture, clock)
        await actor.on_start()
        return actor

    actor = await fresh()
    pending: tuple[int, Message, list[Message]] | None = None  # the live input being checked
    recorded_out: list[Message] = []

    def settle() -> None:
        nonlocal pending
        if pending is None:
            return
        seq, msg, replayed = pending
        if replayed != recorded_out:
            result.n_differences += 1
        if replayed != recorded_out and len(result.differences) < max_differences:
            result.differences.append(
                Difference(
                    seq=seq,
                    ts_event=msg.ts_event,
                    input=describe(msg),
                    recorded=[describe(m) for m in recorded_out],
                    replayed=[describe(m) for m in replayed],
                )
            )
        pending = None
        recorded_out.clear()

    for seq, rec in steps:
        if rec.actor != name:
            continue
        if rec.step == "out":
            out = decode_msgpack(rec.body)
            if not isinstance(out, ignore):
                recorded_out.append(out)
                result.outputs += 1
            continue
        settle()
        if rec.step == "restart":
            await actor.on_stop()
            actor = await fresh()
            continue
        if rec.step == "restore":
            if not isinstance(actor, Snapshottable):
                raise TypeError(f"actor {name!r} cannot be restored from a snapshot")
            actor.restore_state(rec.body)
            continue
        msg = decode_msgpack(rec.body)
        clock.advance_to(msg.ts_event)
        capture.sent = []
        await actor.handle(msg)
        if rec.step == "in":
            sent = [m for m in capture.sent if not isinstance(m, ignore)]
            result.inputs += 1
            result.out.extend(sent)
            pending = (seq, msg, sent)
        else:
            result.warm_inputs += 1
    settle()
    await actor.on_stop()
    return result


def sessions_like(sessions: Sequence[dict[str, Any]], fingerprint: str) -> list[str]:
    """The newest unbroken run of ``sessions`` (oldest first, as the store lists them) whose
    configuration has ``fingerprint``: the history a warm start may draw on."""
    from algotrading.config import config_from_dict

    run: list[str] = []
    for row in reversed(sessions):
        try:
            config = config_from_dict(json.loads(row["config"]))
        except (ValueError, msgspec.ValidationError, KeyError, TypeError):
            break
        if config_fingerprint(config) != fingerprint:
            break
        run.append(row["session_id"])
    return run[::-1]
