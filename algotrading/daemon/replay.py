"""``algotrading replay SESSION``: run a recorded session back through the same actors.

Each recorded actor (bar-builder, model, strategy) is made afresh from the configuration the
session ran with and given exactly the steps the recording holds — the snapshot it was
restored from, what it was warmed up with, then every message it handled live, in the order it
handled them. Every live step must send exactly what the recording says the actor sent; any
step that does not is a *difference*, reported with its input and both outputs. Alerts are
left out of the comparison: they report timings (a slow inference), not decisions.

The session's trades, orders, equity and metrics are written as a backtest writes them, from
what the session journaled (its orders, fills and account marks), with the report.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import msgspec

from algotrading.backtest.ledger import Ledger
from algotrading.backtest.metrics import compute_metrics
from algotrading.backtest.outputs import BacktestRecorder, write_metrics
from algotrading.config import Config, config_from_dict
from algotrading.daemon.wiring import build_session
from algotrading.data.instruments import normalize_symbol
from algotrading.errors import DataError
from algotrading.messages import (
    AccountState,
    Alert,
    Bar,
    Fill,
    Message,
    Order,
    OrderCancelled,
    OrderRejected,
    Recorded,
    decode_msgpack,
)
from algotrading.state.recording import RECORDED_ACTORS, ActorReplay, replay_actor
from algotrading.state.store import StateStore
from algotrading.strategies.registry import build_strategy
from algotrading.timestamps import iso_utc


@dataclass
class SessionReplay:
    session_id: str
    actors: dict[str, ActorReplay]
    metrics: dict[str, Any]

    @property
    def identical(self) -> bool:
        return all(a.identical for a in self.actors.values())

    def summary(self) -> dict[str, Any]:
        return {
            "session": self.session_id,
            "identical": self.identical,
            "actors": {
                name: {
                    "inputs": a.inputs,
                    "warm_inputs": a.warm_inputs,
                    "outputs_recorded": a.outputs,
                    "outputs_replayed": len(a.out),
                    "differences": a.n_differences,
                    "first_differences": [asdict(d) for d in a.differences[:20]],
                }
                for name, a in self.actors.items()
            },
        }


def session_config(store: StateStore, session_id: str) -> Config:
    rows = [s for s in store.sessions() if s["session_id"] == session_id]
    if not rows:
        known = ", ".join(s["session_id"] for s in store.sessions()[-10:]) or "none"
        raise DataError(str(store.path), f"no session {session_id!r} (latest: {known})")
    return config_from_dict(json.loads(rows[0]["config"]), f"session {session_id}")


def resolve_session(store: StateStore, session: str) -> str:
    """``latest`` (or ``last``) names the newest session."""
    if session in ("latest", "last"):
        sessions = store.sessions()
        if not sessions:
            raise DataError(str(store.path), "no recorded session")
        return str(sessions[-1]["session_id"])
    return session


async def replay_session(db_path: Path, session: str, out_dir: Path | None = None) -> SessionReplay:
    """Replay ``session`` of the state database ``db_path`` — or, when ``session`` is the
    directory of an export (``algotrading export``), the recording in it."""
    exported = Path(session)
    if (exported / "session.json").is_file():
        from algotrading.state.export_read import read_manifest, read_records

        manifest = read_manifest(exported)
        session_id = str(manifest["session"]["session_id"])
        config = config_from_dict(manifest["config"], f"export {exported}")
        records = list(read_records(exported))
        steps = [(seq, m) for seq, m in records if isinstance(m, Recorded)]
        journal = [m for _, m in records if not isinstance(m, Recorded)]
    else:
        store = StateStore.open(db_path, lock=False)
        try:
            session_id = resolve_session(store, session)
            config = session_config(store, session_id)
            steps = list(store.recorded(0, [session_id]))
            journal = list(store.journal(session_id))
        finally:
            store.close()
    factories = _factories(config, session_id, db_path)
    actors: dict[str, ActorReplay] = {}
    for name in RECORDED_ACTORS:
        own = [(seq, r) for seq, r in steps if r.actor == name]
        if not own:
            continue
        actors[name] = await replay_actor(name, factories[name], own, ignore=(Alert,))
    bars = [m for m in _inputs(steps, "strategy") if isinstance(m, Bar)]
    metrics = session_metrics(config, session_id, journal, bars, out_dir)
    result = SessionReplay(session_id, actors, metrics)
    if out_dir is not None:
        (out_dir / "replay.json").write_text(json.dumps(result.summary(), indent=2) + "\n")
    return result


def _inputs(steps: list[tuple[int, Recorded]], actor: str) -> Iterator[Message]:
    for _, r in steps:
        if r.actor == actor and r.step == "in":
            yield decode_msgpack(r.body)


def _factories(config: Config, session_id: str, db_path: Path) -> dict[str, Any]:
    spec = config.system.strategy
    strategy = build_strategy(spec.name, spec.params, where="the session's strategy", spec=spec)
    symbols = [normalize_symbol(s) for s in config.market.instruments]
    session = build_session(
        config,
        strategy,
        {s: config.instrument(s) for s in symbols},
        bar_interval_ns=config.bar_interval_ns,
        id_prefix=session_id,
        state_db=db_path,
    )
    return {name: session.graph.specs[name].factory for name in session.graph.names}


def session_metrics(
    config: Config,
    session_id: str,
    journal: list[Message],
    bars: list[Bar],
    out_dir: Path | None,
) -> dict[str, Any]:
    """The session's trades, orders and equity as a backtest writes them, and its metrics,
    from what it journaled."""
    from algotrading.backtest.runner import BacktestResult, write_backtest_report

    account = config.system.account
    first_equity = next((m.equity for m in journal if isinstance(m, AccountState)), None)
    initial = first_equity if first_equity is not None else account.initial_cash
    recorder = BacktestRecorder(out_dir, initial_equity=initial)
    ledger = Ledger(sink=recorder, retain=False)
    commission = 0.0
    notional = 0.0
    for bar in bars:
        recorder.price(bar.ts_open, bar.open, bar.high, bar.low, bar.close)
    for msg in journal:
        match msg:
            case Order():
                ledger.record_order(msg)
            case Fill():
                ledger.record_fill(msg)
                commission += msg.commission
                notional += abs(msg.quantity * msg.price)
            case AccountState():
                ledger.record_account(msg)
            case OrderRejected():
                ledger.record_status(msg.client_order_id, "REJECTED")
            case OrderCancelled():
                ledger.record_status(msg.client_order_id, "CANCELLED")
            case _:
                pass
    ledger.close()
    recorder.close()
    metrics = compute_metrics(
        recorder.tracker,
        recorder.pnls,
        initial=initial,
        costs_paid={"commission": commission},
        traded_notional=notional,
        periods_per_year=config.system.backtest.periods_per_year,
    )
    metrics["risk_events"] = [
        {"time": iso_utc(m.ts_event), "level": m.level.value, "code": m.code, "text": m.text}
        for m in journal
        if isinstance(m, Alert)
    ][:200]
    symbols = [normalize_symbol(s) for s in config.market.instruments]
    metrics["run"] = {
        "data": f"recorded session {session_id}",
        "instrument": ", ".join(symbols),
        "bars": len(bars),
        "first_bar": iso_utc(bars[0].ts_open) if bars else None,
        "last_bar": iso_utc(bars[-1].ts_open) if bars else None,
        "strategy": config.system.strategy.name,
        "params": msgspec.to_builtins(config.system.strategy.params),
        "account_currency": account.currency,
        "costs": {"commission": commission},
        "venue": {"kind": config.system.venue.kind},
        "fill_rule": "as the venue filled them (recorded)",
    }
    if out_dir is not None:
        write_metrics(out_dir / "metrics.json", metrics)
        result = BacktestResult(
            session=None,  # type: ignore[arg-type]
            recorder=recorder,
            metrics=metrics,
            bars=len(bars),
            events=len(journal),
        )
        write_backtest_report(result, out_dir / "report.html")
    return metrics
