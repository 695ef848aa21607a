"""Helpers for tests that run the real ``algotrading`` command in a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from algotrading.adapters.csv_bars import write_bars_csv
from algotrading.data.synthetic import synthetic_bars
from algotrading.timestamps import parse_utc

HOUR_NS = 3600 * 10**9


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "algotrading", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
    )


def write_dukascopy_csv(path: Path, start: str, end: str, seed: int) -> Path:
    """Hourly EUR/USD bars in the layout Dukascopy exports: ``Gmt time`` as day.month.year."""
    return write_bars_csv(
        path, synthetic_bars("EUR_USD", parse_utc(start), parse_utc(end), HOUR_NS, seed)
    )


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def hourly_csv(tmp_path: Path) -> Path:
    return write_dukascopy_csv(
        tmp_path / "EURUSD_H1.csv", "2024-03-04T00:00:00Z", "2024-05-04T00:00:00Z", seed=11
    )


# --- the sim-exchange server as a separate process --------------------------------------

SIM_TOKEN = "test-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def v20(url: str, path: str, method: str = "GET", body: dict | None = None) -> dict:
    request = urllib.request.Request(
        url + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {SIM_TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


class SimServer(NamedTuple):
    """A running ``algotrading sim-exchange``: its URL, its default account, and a v20 call."""

    url: str
    account: str
    token: str = SIM_TOKEN

    def call(self, path: str, method: str = "GET", body: dict | None = None) -> dict:
        return v20(self.url, path, method, body)


@contextlib.contextmanager
def sim_server(tmp_path: Path, *extra: str) -> Iterator[SimServer]:
    """Start ``algotrading sim-exchange`` (with ``extra`` arguments) and stop it gracefully."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "ALGOTRADING_SIM_TOKEN": SIM_TOKEN, "PYTHONUNBUFFERED": "1"}
    log = (tmp_path / "sim-exchange.log").open("w")  # a file: a full pipe would stall it
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "algotrading",
            "sim-exchange",
            "--port",
            str(port),
            "--state-dir",
            str(tmp_path / "sim"),
            *extra,
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    account = None
    while time.monotonic() < deadline and account is None and proc.poll() is None:
        try:
            account = v20(url, "/v3/accounts")["accounts"][0]["id"]
        except OSError:
            time.sleep(0.2)
    assert account, (tmp_path / "sim-exchange.log").read_text()[-3000:]
    try:
        yield SimServer(url, account)
    finally:
        proc.terminate()
        try:
            assert proc.wait(timeout=15) == 0  # a graceful stop
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()


@pytest.fixture
def server(tmp_path):
    with sim_server(tmp_path) as running:
        yield running


@pytest.fixture
def sim_server_with(tmp_path):
    """``sim_server_with(*args)``: a sim-exchange server started with more arguments."""
    return lambda *extra: sim_server(tmp_path, *extra)


def daemon_process(
    tmp_path: Path, conf: Path, state: Path, env: dict[str, str], *extra: str, log: str
) -> subprocess.Popen:
    """``algotrading run`` as its own process (so that it can be SIGKILLed), its output in
    ``<log>.out`` / ``<log>.err``."""
    return subprocess.Popen(
        [sys.executable, "-m", "algotrading", "run", "--config", str(conf),
         "--state-dir", str(state), *extra],
        env=env, stdout=(tmp_path / f"{log}.out").open("w"),
        stderr=(tmp_path / f"{log}.err").open("w"), text=True,
    )  # fmt: skip
