"""Tick-to-order latency of a paper session over loopback: ``python benchmarks/paper_latency.py
[--seconds S]`` (also run by ``benchmarks/run.py``).

Two processes, as paper trading runs: the ``sim-exchange`` server (OANDA v20 over HTTP) and the
daemon trading ``sma_cross`` 2/4 on one-second bars through the OANDA adapter. Measured inside
the daemon: from the arrival of the quote that closed the deciding bar (its receive time,
stamped when the price stream delivered it) to the moment the order request leaves for the
venue — feed, bar-builder, strategy, risk and order manager, with the order's write-ahead to
SQLite included. Reported as median and p99 over every order of the session.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

from algotrading.config import load_config
from algotrading.daemon.app import run_daemon
from algotrading.log import configure_logging

TOKEN = "bench-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_server(url: str, proc: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    request = urllib.request.Request(
        url + "/v3/accounts", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if json.loads(response.read())["accounts"]:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the sim-exchange server did not start")


def main(seconds: float = 30.0) -> None:
    configure_logging("error", "json")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "ALGOTRADING_SIM_TOKEN": TOKEN}
        with (tmp_path / "server.log").open("wb") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "algotrading", "sim-exchange", "--port", str(port),
                 "--state-dir", str(tmp_path / "sim")],
                env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            try:
                wait_for_server(url, server)
                latencies = run_session(tmp_path, url, seconds)
            finally:
                server.terminate()
                server.wait(timeout=15)
    if not latencies:
        print("paper tick-to-order latency: no order in the session")
        return
    us = np.asarray(latencies, dtype=np.float64) / 1e3
    print(
        f"paper tick-to-order latency over loopback ({len(us)} orders in {seconds:g} s): "
        f"median {np.median(us):,.0f} us, p99 {np.percentile(us, 99):,.0f} us, "
        f"max {us.max():,.0f} us"
    )


def run_session(tmp_path: Path, url: str, seconds: float) -> list[int]:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "system.yaml").write_text(
        f"venue:\n  kind: oanda\n  oanda: {{environment: custom, rest_url: '{url}'}}\n"
        "strategy:\n  params: {fast: 2, slow: 4}\n"
        "log: {level: error}\n"
    )
    os.environ["ALGOTRADING_OANDA_TOKEN"] = TOKEN
    config = load_config(conf)
    runtimes = []
    asyncio.run(
        run_daemon(
            config,
            tmp_path / "state",
            duration_s=seconds,
            on_started=lambda session, runtime: runtimes.append(runtime),
        )
    )
    venue = runtimes[0].actor("venue")
    return list(venue.tick_to_order_ns)  # type: ignore[attr-defined]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the session")
    main(parser.parse_args().seconds)
