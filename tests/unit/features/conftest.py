"""Shared by the feature tests: seeded synthetic bars with the awkward cases built in, and
small constructors for hand-made columns."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from algotrading.data.columns import BarColumns

MINUTE_NS = 60_000_000_000
MONDAY_2024_01_01_NS = 1_704_067_200_000_000_000  # 2024-01-01 00:00 UTC, a Monday

MakeColumns = Callable[..., BarColumns]
SliceColumns = Callable[[BarColumns, int], BarColumns]


def columns_from(
    closes: Sequence[float],
    highs: Sequence[float] | None = None,
    lows: Sequence[float] | None = None,
    volumes: Sequence[float] | None = None,
    ts_open: Sequence[int] | None = None,
    interval_ns: int = MINUTE_NS,
) -> BarColumns:
    close = np.asarray(closes, dtype=np.float64)
    n = len(close)
    return BarColumns(
        instrument="EUR_USD",
        interval_ns=interval_ns,
        ts_open=(
            np.asarray(ts_open, dtype=np.int64)
            if ts_open is not None
            else MONDAY_2024_01_01_NS + interval_ns * np.arange(n, dtype=np.int64)
        ),
        open=close.copy(),
        high=np.asarray(highs, dtype=np.float64) if highs is not None else close.copy(),
        low=np.asarray(lows, dtype=np.float64) if lows is not None else close.copy(),
        close=close,
        volume=np.asarray(volumes, dtype=np.float64) if volumes is not None else np.zeros(n),
    )


def synthetic_bars(n: int, seed: int) -> BarColumns:
    """A random walk of FX-like bars (five decimals), 47-minute bars so every minute of the
    day and every weekday occur, with: a few zero-range bars, a flat stretch of 70 identical
    bars (zero range, zero returns, zero volume — longer than any window tested), and a few
    missing (NaN) volumes."""
    rng = np.random.default_rng(seed)
    close = np.round(1.1 * np.exp(np.cumsum(rng.normal(0.0, 8e-4, n))), 5)
    open_ = np.concatenate([[close[0]], close[:-1]])
    high = np.round(np.maximum(open_, close) + np.abs(rng.normal(0.0, 4e-4, n)), 5)
    low = np.round(np.minimum(open_, close) - np.abs(rng.normal(0.0, 4e-4, n)), 5)
    volume = np.round(rng.lognormal(5.0, 0.6, n))
    for i in rng.choice(np.arange(100, n), size=12, replace=False):  # zero-range bars
        open_[i] = high[i] = low[i] = close[i] = close[i - 1]
    flat = slice(n // 3, n // 3 + 70)
    open_[flat] = high[flat] = low[flat] = close[flat] = close[n // 3 - 1]
    volume[flat] = 0.0
    volume[rng.choice(np.arange(n), size=5, replace=False)] = np.nan
    interval = 47 * MINUTE_NS
    return BarColumns(
        instrument="EUR_USD",
        interval_ns=interval,
        ts_open=MONDAY_2024_01_01_NS + interval * np.arange(n, dtype=np.int64),
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
    )


def fx_bars(n: int, seed: int) -> BarColumns:
    """Hourly EUR/USD-like bars from 2024-01-01: 1.1 and a random walk of a few pips an hour,
    five decimals, lognormal volumes."""
    rng = np.random.default_rng(seed)
    close = np.round(1.1 + np.cumsum(rng.normal(0.0, 3e-4, n)), 5)
    open_ = np.concatenate([[close[0]], close[:-1]])
    high = np.round(np.maximum(open_, close) + np.abs(rng.normal(0.0, 2e-4, n)), 5)
    low = np.round(np.minimum(open_, close) - np.abs(rng.normal(0.0, 2e-4, n)), 5)
    return BarColumns(
        instrument="EUR_USD",
        interval_ns=60 * MINUTE_NS,
        ts_open=MONDAY_2024_01_01_NS + 60 * MINUTE_NS * np.arange(n, dtype=np.int64),
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=np.round(rng.lognormal(6.0, 0.8, n)),
    )


def quiet_bars(n: int, seed: int) -> BarColumns:
    """A market that mostly does not move: the close at 1.1 steps by one pip on about one bar
    in twenty, most bars have zero range, and volume is mostly zero (a few NaN) — windows that
    are flat, or flat but for one pip, where a z-score is most sensitive to rounding."""
    rng = np.random.default_rng(seed)
    steps = np.where(rng.random(n) < 0.05, rng.choice([-1e-5, 1e-5], n), 0.0)
    close = np.round(1.1 + np.cumsum(steps), 5)
    open_ = np.concatenate([[close[0]], close[:-1]])
    wick = np.where(rng.random(n) < 0.1, 1e-5, 0.0)
    volume = np.where(rng.random(n) < 0.1, np.round(rng.lognormal(3.0, 1.0, n)), 0.0)
    volume[rng.choice(np.arange(n), size=10, replace=False)] = np.nan
    return BarColumns(
        instrument="EUR_USD",
        interval_ns=MINUTE_NS,
        ts_open=MONDAY_2024_01_01_NS + MINUTE_NS * np.arange(n, dtype=np.int64),
        open=open_,
        high=np.round(np.maximum(open_, close) + wick, 5),
        low=np.minimum(open_, close),
        close=close,
        volume=volume,
    )


def head(columns: BarColumns, m: int) -> BarColumns:
    """The first ``m`` bars of ``columns``."""
    return BarColumns(
        instrument=columns.instrument,
        interval_ns=columns.interval_ns,
        ts_open=columns.ts_open[:m],
        open=columns.open[:m],
        high=columns.high[:m],
        low=columns.low[:m],
        close=columns.close[:m],
        volume=columns.volume[:m],
    )


@pytest.fixture(scope="session")
def bars() -> BarColumns:
    return synthetic_bars(3200, seed=11)


@pytest.fixture
def make_columns() -> MakeColumns:
    return columns_from


@pytest.fixture
def first_bars() -> SliceColumns:
    return head


@pytest.fixture(scope="session")
def fx_20000() -> BarColumns:
    return fx_bars(20_000, seed=3)


@pytest.fixture(scope="session")
def quiet_20000() -> BarColumns:
    return quiet_bars(20_000, seed=5)


@pytest.fixture
def make_fx_bars() -> Callable[[int, int], BarColumns]:
    return fx_bars
