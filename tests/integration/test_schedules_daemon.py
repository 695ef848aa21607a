"""The daemon's schedules run on its own event loop and are listed for ``ctl status``."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta

from algotrading.config import SchedulesConfig, load_config
from algotrading.daemon.app import DB_NAME, run_daemon
from algotrading.daemon.schedules import ScheduleService
from algotrading.messages import Alert, decode_msgpack


def test_the_jobs_run_on_the_daemon_loop_and_are_listed(tmp_path):
    config = load_config()
    state = tmp_path / "state"
    summaries: list[str] = []

    async def summary() -> None:
        summaries.append("sent")

    service = ScheduleService(SchedulesConfig(), daily_summary=summary)

    async def main() -> None:
        async def poke() -> None:
            while service.scheduler is None or not service.scheduler.running:  # noqa: ASYNC110
                await asyncio.sleep(0.05)  # polled: the service offers no event to wait on
            listed = {name for name, _ in service._ctx.schedules}  # what ctl status shows
            assert listed == {"daily_summary", "session:EUR_USD"}
            now = datetime.now(UTC)
            for job in ("daily_summary", "session:EUR_USD"):
                service.scheduler.modify_job(job, next_run_time=now + timedelta(seconds=0.1))

        poking = asyncio.create_task(poke())
        await run_daemon(config, state, duration_s=2.0, speed=30, services=[service])
        await poking

    asyncio.run(main())
    assert summaries == ["sent"]
    assert "daily_summary" in service.fired
    assert any(f.startswith("session_") and f.endswith("EUR_USD") for f in service.fired)
    db = sqlite3.connect(state / DB_NAME)
    alerts = [
        decode_msgpack(b) for (b,) in db.execute("SELECT body FROM journal WHERE kind = 'Alert'")
    ]
    assert any(isinstance(a, Alert) and a.code.startswith("session_") for a in alerts)
