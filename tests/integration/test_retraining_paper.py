"""Scheduled retraining in paper mode: the daemon trades on a registry model; the retraining job
trains a new one in a separate process, registers and activates it, and the model actor swaps
it in between two bars — journaled, announced, and without a missed bar."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time

from algotrading.adapters.csv_bars import write_bars_csv
from algotrading.config import load_config
from algotrading.daemon.app import DB_NAME, run_daemon
from algotrading.data.synthetic import synthetic_bars
from algotrading.messages import Prediction, decode_msgpack
from algotrading.models.registry import ModelRegistry
from algotrading.timestamps import parse_utc


def journal(db_path, kind):
    if not db_path.exists():
        return []
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    try:
        rows = db.execute("SELECT body FROM journal WHERE kind = ? ORDER BY seq", (kind,))
        return [decode_msgpack(body) for (body,) in rows]
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


def test_retraining_swaps_the_model_without_a_missed_bar(tmp_path):
    first = tmp_path / "first"
    first.mkdir()
    (first / "model.yaml").write_text("training:\n  lightgbm: {seed: 5, num_leaves: 4}\n")
    # trained on the session's own bars (1s, the default): one trained on others is refused
    minute_bars = write_bars_csv(
        tmp_path / "EURUSD_S1.csv",
        synthetic_bars(
            "EUR_USD",
            parse_utc("2024-03-04T08:00:00Z"),
            parse_utc("2024-03-04T10:00:00Z"),
            10**9,
            5,
        ),
    )
    trained = subprocess.run(
        [
            sys.executable,
            "-m",
            "algotrading",
            "train",
            "--no-progress",
            "--config",
            str(first),
            "--out",
            str(tmp_path / "initial"),
            "--data",
            str(minute_bars),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert trained.returncode == 0, trained.stderr[-2000:]
    state = tmp_path / "state"
    state.mkdir()
    with ModelRegistry(tmp_path / "initial" / "registry.sqlite") as r:
        initial = r.active()
    with ModelRegistry(state / DB_NAME) as r:
        r.register(initial.metadata, initial.path)
        r.activate(initial.model_id)
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "model.yaml").write_text("model: {kind: registry}\nretrain: {every_seconds: 2}\n")
    (conf / "system.yaml").write_text(
        "feed: {speed: 600}\n"
        "strategy:\n  name: ml_signal\n  params: {long_above: 0.5, short_below: 0.5}\n"
    )
    config = load_config(conf)
    runtimes = []

    async def main():
        daemon = asyncio.create_task(
            run_daemon(
                config,
                state,
                duration_s=90,
                on_started=lambda session, runtime: runtimes.append(runtime),
            )
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(a.code == "model_swapped" for a in journal(state / DB_NAME, "Alert")):
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.5)
        runtimes[0].request_stop("test done")
        return await daemon

    summary = asyncio.run(main())
    assert summary.exit_code == 0
    swaps = [c for c in journal(state / DB_NAME, "Command") if c.name == "model_swap"]
    assert swaps, "the retraining never asked for a swap"
    alerts = [a for a in journal(state / DB_NAME, "Alert") if a.code == "model_swapped"]
    assert alerts
    new_id = swaps[0].args["model_id"]
    assert new_id != initial.model_id
    predictions: list[Prediction] = journal(state / DB_NAME, "Prediction")
    ids = [p.model_id for p in predictions]
    assert ids[0] == initial.model_id
    assert new_id in ids
    switch = ids.index(new_id)
    assert set(ids[:switch]) == {initial.model_id}  # one switch, at one bar
    # a bar closes every interval that saw a quote; each must have had its prediction
    interval = config.bar_interval_ns
    quotes = journal(state / DB_NAME, "Quote")
    closes = sorted({(q.ts_event // interval + 1) * interval for q in quotes})
    times = [p.ts_event for p in predictions]
    expected = [t for t in closes if times[0] <= t <= times[-1]]
    assert times == expected
    assert times[switch - 1] < times[switch]  # the switch fell between two bars
    with ModelRegistry(state / DB_NAME) as r:
        assert r.active().model_id == new_id
