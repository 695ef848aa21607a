"""What an operator decided outlives a restart: a daemon stopped (or killed) while halted comes
back halted, and a breaker that only an operator may reset comes back tripped."""

from __future__ import annotations

import asyncio
import sqlite3

from algotrading.config import load_config
from algotrading.daemon.app import DB_NAME, run_daemon
from algotrading.daemon.control import Control
from algotrading.messages import Command, TradingState, decode_msgpack


def _run(config, state, *, command: str | None = None, seconds: float = 2.5):
    seen = {}
    control = Control()

    def started(session, runtime) -> None:
        seen["state"] = session.switch.state
        seen["reason"] = session.switch.reason
        if command:
            control.submit(Command(ts_event=0, name=command, args={"reason": "operator test"}))

    summary = asyncio.run(
        run_daemon(config, state, duration_s=seconds, speed=40, control=control, on_started=started)
    )
    return seen, summary


def test_a_halted_daemon_restarts_halted_and_resume_lifts_it(tmp_path):
    config = load_config()
    state = tmp_path / "state"
    first, _ = _run(config, state, command="halt")
    assert first["state"] is TradingState.ACTIVE
    second, summary = _run(config, state)
    assert second["state"] is TradingState.HALTED
    assert "restored after a restart: halt operator test" in second["reason"]
    assert summary.trading_state == "HALTED"
    db = sqlite3.connect(state / DB_NAME)
    sessions = [s for (s,) in db.execute("SELECT session_id FROM sessions ORDER BY started_ns")]
    new_orders = db.execute(
        "SELECT count(*) FROM orders WHERE session_id = ? AND strategy_id != 'flatten'",
        (sessions[-1],),
    ).fetchone()[0]
    assert new_orders == 0  # halted from its first bar: nothing new was sent
    _run(config, state, command="resume")
    third, _ = _run(config, state)
    assert third["state"] is TradingState.ACTIVE


def test_a_breaker_that_resets_only_by_hand_comes_back_tripped(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "system.yaml").write_text(
        "risk:\n  breakers:\n    max_drawdown: {limit: 0.00001, action: halt, reset: manual}\n"
    )
    config = load_config(conf)
    state = tmp_path / "state"
    _, summary = _run(config, state, seconds=4.0)
    assert summary.trading_state == "HALTED"  # it traded, lost a little, and tripped
    second, _ = _run(config, state)
    assert second["state"] is TradingState.HALTED
    assert "max_drawdown" in second["reason"]
    (conf / "system.yaml").write_text(  # a limit it will not reach again
        "risk:\n  breakers:\n    max_drawdown: {limit: 0.5, action: halt, reset: manual}\n"
    )
    config = load_config(conf)
    _run(config, state, command="reset")  # the operator's reset
    third, _ = _run(config, state, seconds=1.0)
    assert third["state"] is TradingState.ACTIVE


def test_the_days_start_equity_and_the_peak_survive_a_restart(tmp_path):
    """The breakers' figures are journaled while the daemon runs and restored at start: a
    restarted daemon measures the day's loss from the day's first equity, not from its own."""
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "system.yaml").write_text(
        "state:\n  snapshot_every_seconds: 20\n"
        "risk:\n  breakers:\n"
        "    daily_loss: {limit: 1000000000, action: halt, reset: auto}\n"
        "    max_drawdown: {limit: 0.99, action: halt, reset: manual}\n"
    )
    config = load_config(conf)
    state = tmp_path / "state"
    _run(config, state)
    db = sqlite3.connect(state / DB_NAME)
    kinds = dict(db.execute("SELECT kind, count(*) FROM journal GROUP BY kind").fetchall())
    assert kinds.get("BreakerFigures", 0) >= 2  # every 20 s of the session's time
    marks = [
        decode_msgpack(body)
        for (body,) in db.execute(
            "SELECT body FROM journal WHERE kind = 'AccountState' ORDER BY seq"
        )
    ]
    restored = {}

    def started(session, runtime) -> None:
        restored.update(session.breakers.figures())

    asyncio.run(run_daemon(config, state, duration_s=1.0, speed=40, on_started=started))
    assert restored["daily_loss"]["start_equity"] == marks[0].equity
    assert restored["max_drawdown"]["peak"] >= max(m.equity for m in marks)
