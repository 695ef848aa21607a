"""Scheduled retraining: on ``model.retrain``'s schedule, train a new model in a separate process
(``algotrading train``, so training never competes with the event loop for the interpreter),
register it in the daemon's registry, activate it, and ask the model actor to swap it in —
between two bars, through the operator command path, so the swap is journaled like any command
and announced by the model actor's alert.

A retraining that fails (the process exits non-zero, times out, or produces no model) changes
nothing: the running model keeps trading, and the failure is logged. Runs never overlap.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from algotrading.config import Config, RetrainConfig
from algotrading.daemon.control import Control
from algotrading.log import get_logger
from algotrading.messages import Command
from algotrading.models.registry import ModelRegistry


class Retrainer:
    def __init__(
        self,
        config: Config,
        registry: Callable[[], ModelRegistry],
        work_dir: Path,
        control: Control,
    ) -> None:
        self.config = config
        self.retrain: RetrainConfig = config.model.retrain
        self.registry = registry  # opens the daemon's registry (closed after each use)
        self.work_dir = work_dir
        self.control = control
        self.log = get_logger("retraining")
        self.runs = 0
        self.last: dict[str, str] = {}
        self._running = asyncio.Lock()

    def command(self, out: Path) -> list[str]:
        args = [sys.executable, "-m", "algotrading", "train", "--no-progress", "--out", str(out)]
        if self.config.source != "<embedded defaults>":
            args += ["--config", self.config.source]
        if self.retrain.data:
            args += ["--data", self.retrain.data]
        else:
            args += ["--instrument", self.config.market.instruments[0]]
        return args

    async def run_once(self) -> str | None:
        """Train, register, activate, swap. Returns the new model's id, or None."""
        if self._running.locked():
            self.log.warning("retrain_skipped", reason="the previous run is still going")
            return None
        async with self._running:
            self.runs += 1
            out = self.work_dir / f"retrain-{time.time_ns()}"
            self.log.info("retrain_started", out=str(out))
            process = await asyncio.create_subprocess_exec(
                *self.command(out),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                stdout, stderr = await asyncio.wait_for(
                    process.communicate(), self.retrain.timeout_seconds
                )
            except TimeoutError:
                self.log.error("retrain_failed", reason="timed out")
                return None
            finally:  # timed out, or the daemon is stopping: no training outlives the run
                if process.returncode is None:
                    process.kill()
                    await asyncio.shield(process.wait())
            if process.returncode != 0:
                self.log.error(
                    "retrain_failed", exit_code=process.returncode, stderr=stderr.decode()[-2000:]
                )
                return None
            with ModelRegistry(out / "registry.sqlite") as trained:
                entry = trained.active()
            if entry is None:
                self.log.error("retrain_failed", reason="the training registered no model")
                return None
            with self.registry() as registry:
                registry.register(entry.metadata, entry.path)
                registry.activate(entry.model_id)
            self.last = {"model_id": entry.model_id, "summary": stdout.decode().strip()}
            self.log.info("retrain_done", model_id=entry.model_id, summary=self.last["summary"])
            self.control.submit(
                Command(
                    ts_event=time.time_ns(), name="model_swap", args={"model_id": entry.model_id}
                )
            )
            return entry.model_id


def retrain_trigger(r: RetrainConfig) -> CronTrigger | IntervalTrigger | None:
    """The trigger of ``model.yaml``'s ``retrain`` schedule, None when it has none."""
    if not r.cron and r.every_seconds <= 0:
        return None
    if r.cron:
        return CronTrigger.from_crontab(r.cron, timezone="UTC")
    return IntervalTrigger(seconds=r.every_seconds)


def schedule_retraining(retrainer: Retrainer) -> AsyncIOScheduler | None:
    """An apscheduler scheduler running ``retrainer`` on its schedule (None when it has none).
    The caller starts it inside the running event loop and shuts it down on exit."""
    trigger = retrain_trigger(retrainer.retrain)
    if trigger is None:
        return None
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(retrainer.run_once, trigger, id="retrain", max_instances=1, coalesce=True)
    return scheduler
