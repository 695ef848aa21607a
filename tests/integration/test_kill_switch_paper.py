"""Operator commands in paper mode: the daemon runs under the live runtime with a real SQLite
store. Once it holds a position protected by a resting bracket, an operator ``kill`` halts
trading, cancels every order and flattens every position — and it stays that way while the
strategy keeps deciding. A breaker that resets only by command stays tripped until ``reset``."""

from __future__ import annotations

import asyncio
import sqlite3
import time

from algotrading.config import load_config
from algotrading.daemon.app import DB_NAME, run_daemon
from algotrading.daemon.control import Control
from algotrading.messages import Command, RiskState, TradingState, decode_msgpack

FINAL = ("FILLED", "CANCELLED", "REJECTED", "EXPIRED")


def working_bracket_and_position(db_path) -> bool:
    if not db_path.exists():
        return False
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    try:
        legs = db.execute(
            "SELECT count(*) FROM orders WHERE client_order_id LIKE '%.sl' AND status NOT IN "
            f"({','.join('?' * len(FINAL))})",
            FINAL,
        ).fetchone()[0]
        held = db.execute("SELECT count(*) FROM positions WHERE quantity != 0").fetchone()[0]
        return bool(legs and held)
    except sqlite3.OperationalError:  # tables not created yet
        return False
    finally:
        db.close()


def test_kill_switch_in_paper_mode_leaves_no_orders_and_no_positions(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "system.yaml").write_text(
        "feed: {speed: 600}\nstrategy:\n  exits: {stop_loss: {pips: 40}, take_profit: {pips: 40}}\n"
    )
    config = load_config(conf)
    state = tmp_path / "state"
    state.mkdir()
    control = Control()
    killed_at: list[float] = []

    async def operator() -> None:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            if working_bracket_and_position(state / DB_NAME):
                control.submit(Command(ts_event=0, name="kill", args={"reason": "operator test"}))
                killed_at.append(time.monotonic())
                return
            await asyncio.sleep(0.05)

    runtimes = []

    async def main():
        daemon = asyncio.create_task(
            run_daemon(
                config,
                state,
                duration_s=60,
                control=control,
                on_started=lambda session, runtime: runtimes.append(runtime),
            )
        )
        await operator()
        await asyncio.sleep(3)  # the strategy keeps deciding; nothing may trade
        runtimes[0].request_stop("test done")
        return await daemon

    summary = asyncio.run(main())
    assert killed_at, "the daemon never held a position with a resting stop-loss"
    assert summary.exit_code == 0
    assert summary.open_orders == 0
    assert all(q == 0 for q in summary.positions.values()), summary.positions
    assert summary.trading_state == "HALTED"
    db = sqlite3.connect(state / DB_NAME)
    open_rows = db.execute(
        f"SELECT client_order_id, status FROM orders WHERE status NOT IN ({','.join('?' * 4)})",
        FINAL,
    ).fetchall()
    assert open_rows == []
    assert db.execute("SELECT count(*) FROM positions WHERE quantity != 0").fetchone()[0] == 0
    commands = [
        decode_msgpack(body).name
        for (body,) in db.execute("SELECT body FROM journal WHERE kind = 'Command'")
    ]
    assert commands == ["recover", "kill"]  # the operator's command is in the journal
    flatten = db.execute(
        "SELECT count(*) FROM orders WHERE strategy_id = 'flatten' AND status = 'FILLED'"
    ).fetchone()[0]
    assert flatten == 1


def risk_states(db_path) -> list[RiskState]:
    if not db_path.exists():
        return []
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    try:
        rows = db.execute("SELECT body FROM journal WHERE kind = 'RiskState' ORDER BY seq")
        return [decode_msgpack(body) for (body,) in rows]
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


def test_a_manual_reset_breaker_stays_tripped_until_the_operator_resets_it(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "system.yaml").write_text(
        "feed: {speed: 600}\n"
        "strategy:\n  exits: {stop_loss: {pips: 5}}\n"
        "risk:\n  breakers:\n"
        "    consecutive_losses: {limit: 1, action: halt, reset: manual}\n"
    )
    config = load_config(conf)
    state = tmp_path / "state"
    state.mkdir()
    control = Control()
    runtimes = []
    seen: dict[str, list[RiskState]] = {}

    async def wait_for(predicate, seconds: float) -> list[RiskState]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            states = risk_states(state / DB_NAME)
            if predicate(states):
                return states
            await asyncio.sleep(0.05)
        return risk_states(state / DB_NAME)

    async def main():
        daemon = asyncio.create_task(
            run_daemon(
                config,
                state,
                duration_s=60,
                control=control,
                on_started=lambda session, runtime: runtimes.append(runtime),
            )
        )
        tripped = await wait_for(lambda s: any(x.state is TradingState.HALTED for x in s), 40)
        seen["tripped"] = tripped
        await asyncio.sleep(1.5)  # later bars do not reset it by themselves
        seen["before_reset"] = risk_states(state / DB_NAME)
        control.submit(Command(ts_event=0, name="reset", args={"breaker": "consecutive_losses"}))
        n = len(seen["before_reset"])
        seen["after_reset"] = await wait_for(
            lambda s: any(x.state is TradingState.ACTIVE for x in s[n:]), 10
        )
        runtimes[0].request_stop("test done")
        return await daemon

    summary = asyncio.run(main())
    assert summary.exit_code == 0
    assert any(x.state is TradingState.HALTED for x in seen["tripped"]), "never lost a trade"
    assert seen["before_reset"][-1].state is TradingState.HALTED
    assert "losing trades in a row" in seen["before_reset"][-1].reason
    after = seen["after_reset"][len(seen["before_reset"]) :]
    assert any(x.state is TradingState.ACTIVE for x in after)  # reset by the command (and a
    # later loss may trip it again: that is the breaker working)
