"""Helpers for tests that run the real ``algotrading`` command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
