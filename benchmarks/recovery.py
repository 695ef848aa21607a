"""Recovery time: ``python benchmarks/recovery.py [--quote-hz HZ] [--days D] [--restarts N]``
(also run by ``benchmarks/run.py``).

A state database holding a day of one-minute bars as a paper session journals it — every quote
the feed let in, every quote and timer the bar-builder handled, the 1,440 bars and the order
intents of ``sma_cross`` 5/12, made by the real actors — and then the daemon is started on it.
Measured: from the call that starts the daemon to the moment its actors run again (the warm
start included: snapshot restored, journal tail replayed), in two cases:

- *journal only*: no snapshot, the whole day is replayed (the worst case);
- *snapshot*: the snapshot the daemon takes every minute, with a minute of tail.

Target: under 1 s for a day of minute bars.

Then the restart systemd makes after a crash, as a whole process: ``algotrading run`` is started
on the state directory with the snapshot (``python -m algotrading run``, ``$NOTIFY_SOCKET``
pointing at a datagram socket this benchmark listens on), timed from just before ``Popen`` to
the ``READY=1`` datagram (interpreter start, imports, store open, warm start and services
included), then killed with ``SIGKILL`` and started again on the same directory, ``--restarts``
times: median and p99. Target: median under 0.5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from algotrading.config import load_config
from algotrading.daemon.app import DB_NAME, run_daemon
from algotrading.daemon.services import DaemonContext
from algotrading.daemon.wiring import build_session
from algotrading.data.synthetic import synthetic_quotes
from algotrading.log import configure_logging
from algotrading.messages import Message, Timer
from algotrading.runtime.actor import Actor
from algotrading.state.recording import Recorder, snapshot_meta
from algotrading.state.store import StateStore
from algotrading.strategies.registry import build_strategy
from algotrading.timestamps import parse_utc

DAY_NS = 86_400 * 10**9
READY_TIMEOUT_S = 60.0
RESTART_TARGET_S = 0.5


def _config(tmp: Path):
    conf = tmp / "conf"
    conf.mkdir(exist_ok=True)
    (conf / "market.yaml").write_text("bar_interval: 1m\n")
    (conf / "system.yaml").write_text(
        "state:\n  snapshot_every_seconds: 0\nfeed:\n  start: '2024-01-08T00:00:00Z'\n"
    )
    return load_config(conf)


async def journal_a_day(db: Path, config, quote_hz: float, days: float, snapshot: bool) -> dict:
    """Run the real feed-side actors over ``days`` of synthetic quotes, journaling what the
    daemon journals; with ``snapshot``, end with a snapshot set one minute before the end."""
    spec = config.instrument("EUR_USD")
    strategy = build_strategy("sma_cross", {"fast": 5, "slow": 12}, where="bench")
    session = build_session(
        config, strategy, {"EUR_USD": spec}, bar_interval_ns=config.bar_interval_ns, id_prefix="b"
    )
    store = StateStore.open(db)
    store.begin_session("bench", "paper", config.as_dict(), 0)
    recorder = Recorder(store)
    actors: dict[str, Actor] = {}
    queue: list[tuple[str, Message]] = []

    async def send(actor: Actor, msg: Message) -> None:
        recorder.step(actor.name, "out", msg)
        if actor.name == "bar_builder":
            queue.append(("strategy", msg))

    for name in ("bar_builder", "model", "strategy"):  # the model: no model, idle, as live
        actors[name] = session.graph.specs[name].factory()
        actors[name].bind(send, actors[name].clock)
    start = parse_utc(config.system.feed.start)
    end = start + int(days * DAY_NS)
    counts = {"quotes": 0, "bars": 0}
    snapshot_at = end - 60 * 10**9
    snapped = False
    next_timer = start
    for quote in synthetic_quotes("EUR_USD", start, 3, rate_hz=quote_hz, pip_size=spec.pip_size):
        if quote.ts_event >= end:
            break
        store.append(quote)  # the feed's journal
        inputs: list[tuple[str, Message]] = []
        while next_timer <= quote.ts_event:  # the clock's ticks, as the daemon's: 4 a second
            inputs.append(("bar_builder", Timer(ts_event=next_timer)))
            next_timer += 250_000_000 if quote_hz >= 4 else int(1e9 / quote_hz)
        inputs.append(("bar_builder", quote))
        for target, msg in inputs:
            queue.append((target, msg))
            while queue:
                name, m = queue.pop(0)
                recorder.step(name, "in", m)
                await actors[name].handle(m)
                counts["bars"] += name == "strategy"
        counts["quotes"] += 1
        if snapshot and not snapped and quote.ts_event >= snapshot_at:
            # as the daemon's snapshot: each recorded actor at its own position
            states = {n: (recorder.position(n), a.snapshot_state())  # type: ignore[attr-defined]
                      for n, a in actors.items()}  # fmt: skip
            store.save_snapshots(quote.ts_event, states, snapshot_meta(config))
            snapped = True
    store.end_session(1, "bench")
    counts["journal_records"] = store.last_seq
    store.close()
    return counts


async def time_restart(config, state_dir: Path) -> tuple[float, float]:
    """Seconds from the daemon's start to its actors running, and of that the warm start."""
    ready = asyncio.Event()
    started = time.perf_counter()
    marks: dict[str, float] = {}

    class Ready:
        name = "bench-ready"

        async def start(self, ctx: DaemonContext) -> None:
            marks["running"] = time.perf_counter() - started
            ready.set()

        async def stop(self) -> None:
            return None

    def on_started(session, runtime) -> None:
        marks["warm"] = time.perf_counter() - started

    task = asyncio.create_task(
        run_daemon(config, state_dir, duration_s=0.5, services=[Ready()], on_started=on_started)
    )
    await ready.wait()
    await task
    return marks["running"], marks["warm"]


def _drain(sock: socket.socket) -> None:
    """Drop datagrams left by the process killed before (none is expected)."""
    sock.setblocking(False)
    try:
        while True:
            sock.recv(4096)
    except BlockingIOError:
        pass
    finally:
        sock.setblocking(True)


def _wait_ready(sock: socket.socket, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            raise RuntimeError(f"no READY=1 from the daemon; its log: {log.read_text()[-2000:]}")
        sock.settimeout(min(left, 0.5))
        try:
            data = sock.recv(4096)
        except TimeoutError:
            continue
        if "READY=1" in data.decode("utf-8", "replace").split("\n"):
            return


def _warm_start_event(log: Path) -> dict:
    """The daemon's ``warm_start`` log event (JSON lines on stderr when it is not a terminal)."""
    for line in log.read_text().splitlines():
        if '"warm_start"' in line:
            event: dict = json.loads(line)
            return event
    return {}


def time_process_restarts(
    conf: Path, state_dir: Path, restarts: int, sock_path: str, pycache: str
) -> tuple[list[float], list[dict]]:
    """Start ``algotrading run`` on ``state_dir`` ``restarts`` times, each time timed from just
    before ``Popen`` to ``READY=1`` and then killed with SIGKILL (after one untimed start).
    Returns the seconds, and each timed run's ``warm_start`` event."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    # Bytecode is cached, as it is for an installed package (pip compiles it) and for a daemon
    # that ran before its crash: kept in a directory of its own, warmed by an untimed start.
    env = {**os.environ, "NOTIFY_SOCKET": sock_path, "PYTHONPYCACHEPREFIX": pycache}
    for name in ("WATCHDOG_USEC", "WATCHDOG_PID", "PYTHONDONTWRITEBYTECODE"):
        env.pop(name, None)
    command = [sys.executable, "-m", "algotrading", "run", "--config", str(conf),
               "--state-dir", str(state_dir)]  # fmt: skip
    seconds: list[float] = []
    events: list[dict] = []
    log = state_dir.parent / "daemon.log"
    try:
        for run in range(restarts + 1):
            _drain(sock)
            with log.open("wb") as err:
                started = time.perf_counter()
                proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=err)
                try:
                    _wait_ready(sock, proc, log)
                    took = time.perf_counter() - started
                finally:
                    proc.send_signal(signal.SIGKILL)
                    _, _, usage = os.wait4(proc.pid, 0)  # its CPU time: not the machine's load
                    proc.returncode = -signal.SIGKILL
            if run:  # the first start writes the bytecode
                seconds.append(took)
                events.append({**_warm_start_event(log), "cpu_s": usage.ru_utime + usage.ru_stime})
    finally:
        sock.close()
    return seconds, events


def p99(values: list[float]) -> float:
    """The 99th percentile, nearest rank (the largest value for fewer than 100)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def report_process_restarts(quote_hz: float, days: float, restarts: int) -> None:
    with tempfile.TemporaryDirectory(prefix="recovery") as tmp:
        config = _config(Path(tmp))
        state = Path(tmp) / "state"
        asyncio.run(journal_a_day(state / DB_NAME, config, quote_hz, days, True))
        seconds, events = time_process_restarts(
            Path(tmp) / "conf", state, restarts, str(Path(tmp) / "notify.sock"), f"{tmp}/pycache"
        )
    used = sum(1 for e in events if e.get("snapshot_set") is not None)
    warm = [e["seconds"] for e in events if "seconds" in e]
    cpu = [e["cpu_s"] for e in events]
    median = statistics.median(seconds)
    verdict = "met" if median < RESTART_TARGET_S else "NOT met"
    print(
        f"  process start to READY=1 after kill -9 (snapshot, {restarts} restarts): median "
        f"{median * 1e3:6.1f} ms, p99 {p99(seconds) * 1e3:6.1f} ms, min {min(seconds) * 1e3:6.1f}"
        f" ms; its CPU time (user + system, to the kill) median "
        f"{statistics.median(cpu) * 1e3:.0f} ms; warm start median "
        f"{statistics.median(warm) * 1e3 if warm else math.nan:.1f} ms, "
        f"snapshot used {used}/{len(events)}  target median < {RESTART_TARGET_S * 1e3:.0f} ms: "
        f"{verdict}"
    )


def report(quote_hz: float = 1.0, days: float = 1.0, restarts: int = 20) -> None:
    configure_logging("error", "console")
    print(f"recovery after {days:g} day(s) of minute bars journaled ({quote_hz:g} quotes/s):")
    for snapshot in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            config = _config(Path(tmp))
            state = Path(tmp) / "state"
            made = asyncio.run(journal_a_day(state / DB_NAME, config, quote_hz, days, snapshot))
            made["db_mb"] = round((state / DB_NAME).stat().st_size / 1e6, 1)
            running, warm = asyncio.run(time_restart(config, state))
            case = "snapshot + 1 min tail" if snapshot else "journal only (no snapshot)"
            print(
                f"  {case:28s}: restart to trading {running * 1e3:7.1f} ms "
                f"(warm start done at {warm * 1e3:6.1f} ms); journal {made['journal_records']:,} "
                f"records, {made['bars']:,} bars, {made['db_mb']} MB"
            )
    if restarts > 0:
        report_process_restarts(quote_hz, days, restarts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quote-hz", type=float, default=1.0, help="quotes a second (default 1)")
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument(
        "--restarts",
        type=int,
        default=20,
        help="daemon processes started and killed (kill -9) in turn (default 20; 0: none)",
    )
    args = parser.parse_args()
    report(args.quote_hz, args.days, args.restarts)


if __name__ == "__main__":
    main()
