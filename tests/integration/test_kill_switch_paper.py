"""The kill switch in paper mode: the daemon runs under the live runtime with a real SQLite
store; once it holds a position protected by a resting bracket, an operator ``kill`` halts
trading, cancels every order and flattens every position — and it stays that way while the
strategy keeps deciding."""

from __future__ import annotations

import asyncio
import sqlite3
import time

from algotrading.config import load_config
from algotrading.daemon.app import DB_NAME, run_daemon
from algotrading.daemon.control import Control
from algotrading.messages import Command

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
    kinds = [k for (k,) in db.execute("SELECT kind FROM journal WHERE kind = 'Command'")]
    assert kinds == ["Command"]  # the operator's command is in the journal
    flatten = db.execute(
        "SELECT count(*) FROM orders WHERE strategy_id = 'flatten' AND status = 'FILLED'"
    ).fetchone()[0]
    assert flatten == 1
