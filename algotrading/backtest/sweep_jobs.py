"""The jobs of a sweep and the executors that run them.

A job is plain picklable data (:class:`SweepJob`) and :func:`run_job` a plain function of it,
so the same jobs run serially, on a process pool or on Ray, and come back in job order. Each
process loads the bars once and keeps them for its later jobs. A window is half-open,
``[start_ns, end_ns)`` on the bars' open times.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from algotrading.errors import ConfigError, DataError

if TYPE_CHECKING:  # the CLI imports this module to build its parser: numpy and the rest later
    import numpy as np
    import numpy.typing as npt

    from algotrading.config import Config
    from algotrading.data.columns import BarColumns
    from algotrading.messages import Bar

METRICS = (
    "sharpe",
    "sortino",
    "calmar",
    "cagr",
    "total_return",
    "max_drawdown",
    "n_trades",
    "win_rate",
    "profit_factor",
)
Result = dict[str, Any]
Runner = Callable[[Sequence["SweepJob"]], list[Result]]


@dataclass(frozen=True, eq=False)
class History:
    """The bars a sweep runs on: a CSV file's frame, or the synthetic default history."""

    symbol: str
    interval_ns: int
    source: str
    ts_open: npt.NDArray[np.int64]
    frame: BarColumns | None = None
    synthetic: Sequence[Bar] = ()

    @property
    def start_ns(self) -> int:
        return int(self.ts_open[0])

    @property
    def end_ns(self) -> int:
        return int(self.ts_open[-1]) + self.interval_ns

    def bars(self, start_ns: int | None = None, end_ns: int | None = None) -> Iterator[Bar]:
        """The bars that open in ``[start_ns, end_ns)``; None leaves that side open."""
        import numpy as np

        lo = 0 if start_ns is None else int(np.searchsorted(self.ts_open, start_ns))
        hi = len(self.ts_open) if end_ns is None else int(np.searchsorted(self.ts_open, end_ns))
        frame = self.frame
        if frame is None:
            return iter(self.synthetic[lo:hi])
        return frame.rows(lo, hi).bars()

    def columns(self) -> BarColumns:
        """The whole history as columns (training reads arrays)."""
        if self.frame is not None:
            return self.frame
        import numpy as np

        from algotrading.data.columns import BarColumns

        bars = self.synthetic

        def column(name: str) -> npt.NDArray[np.float64]:
            return np.array([getattr(b, name) for b in bars], dtype=np.float64)

        return BarColumns(
            instrument=self.symbol,
            interval_ns=self.interval_ns,
            ts_open=np.asarray(self.ts_open, dtype=np.int64),
            open=column("open"),
            high=column("high"),
            low=column("low"),
            close=column("close"),
            volume=column("volume"),
        )


# Loaded once per process (the parent, each pool worker, each Ray worker) and reused by its jobs.
_HISTORIES: dict[tuple[str | None, str | None, int, str], History] = {}
_CONFIGS: dict[str | None, Config] = {}


def load_config_cached(config_dir: str | None) -> Config:
    """The configuration of ``config_dir`` (None: the embedded defaults), read once."""
    if config_dir not in _CONFIGS:
        from algotrading.config import load_config

        _CONFIGS[config_dir] = load_config(config_dir)
    return _CONFIGS[config_dir]


def load_history(data: str | None, instrument: str | None, config: Config) -> History:
    """The bars of ``data`` (a CSV file, or a history store directory), or the synthetic
    default history of ``instrument`` (EUR_USD when None); the instrument must be built in or
    specified in market.yaml."""
    seed = config.system.feed.seed
    key = (data, instrument, seed if data is None else 0, config.source)
    if key in _HISTORIES:
        return _HISTORIES[key]
    if data is not None:
        frame = _read_data(data, instrument)
        _check_instrument(frame.instrument, config)
        history = History(frame.instrument, frame.interval_ns, data, frame.ts_open, frame=frame)
    else:
        import numpy as np

        from algotrading.data.history import default_history

        symbol = instrument or "EUR_USD"
        _check_instrument(symbol, config)
        bars, interval = default_history(config.instrument(symbol), seed)
        ts_open = np.array([b.ts_open for b in bars], dtype=np.int64)
        source = f"synthetic (seed {seed}, hourly, 2024)"
        history = History(symbol, interval, source, ts_open, synthetic=bars)
    _HISTORIES[key] = history
    return history


def _read_data(data: str, instrument: str | None) -> BarColumns:
    """A CSV file's bars, or one bar series of a history store (``algotrading data convert``),
    whole: a sweep's jobs cut their windows from it."""
    from pathlib import Path

    if not Path(data).is_dir():
        from algotrading.adapters.csv_bars import read_bars

        return read_bars(data, instrument=instrument)
    from algotrading.data import parquet_store as store

    chosen = store.choose_series(data, instrument)
    if chosen.kind != "bars" or chosen.interval_ns is None:
        raise DataError(
            data,
            f"a sweep runs on bars and the store has only quotes of {chosen.instrument}: "
            "convert bars of it first (algotrading data convert)",
        )
    return store.read_bar_columns(data, chosen.instrument, chosen.interval_ns)


def _check_instrument(symbol: str, config: Config) -> None:
    from algotrading.data.instruments import BUILTIN_INSTRUMENTS

    if symbol not in BUILTIN_INSTRUMENTS and not any(
        s.symbol == symbol for s in config.market.specs
    ):
        raise ConfigError(
            "--instrument",
            symbol,
            "unknown instrument; add its spec to market.yaml or use one of "
            + ", ".join(sorted(BUILTIN_INSTRUMENTS)),
        )


@dataclass(frozen=True)
class SweepJob:
    """One backtest of a sweep, as plain picklable data; ``index`` is its parameter set's."""

    index: int
    strategy: str
    params: dict[str, Any]  # the base parameters overlaid with the set's
    data: str | None  # CSV path; None for the synthetic default history
    instrument: str | None
    config_dir: str | None
    start_ns: int | None = None
    end_ns: int | None = None
    log_level: str = "warning"


def run_job(job: SweepJob) -> Result:
    """Backtest one job: its parameters, key metrics, and the daily returns for the deflated
    Sharpe ratio."""
    from algotrading.backtest.metrics import daily_returns
    from algotrading.backtest.runner import run_backtest
    from algotrading.runtime.loop import run as run_loop
    from algotrading.strategies.registry import build_strategy

    config = load_config_cached(job.config_dir)
    _quiet_logging(job.log_level)
    history = load_history(job.data, job.instrument, config)
    strategy = build_strategy(job.strategy, job.params, where="--grid", spec=config.system.strategy)
    result = run_loop(
        run_backtest(
            history.bars(job.start_ns, job.end_ns),
            config=config,
            strategy=strategy,
            instrument=config.instrument(history.symbol),
            bar_interval_ns=history.interval_ns,
            data_source=history.source,
        ),
        use_uvloop=config.system.runtime.uvloop,
    )
    return {
        "index": job.index,
        "params": dict(job.params),
        "bars": result.bars,
        "metrics": {name: result.metrics.get(name) for name in METRICS},
        "daily_returns": daily_returns(result.recorder.tracker.daily),
    }


def _quiet_logging(level: str) -> None:
    """Configure a worker's logging once; a process that configured its own keeps it."""
    import structlog

    if not structlog.is_configured():
        from algotrading.log import configure_logging

        configure_logging(level)


@contextmanager
def job_runner(
    mode: str = "serial", workers: int | None = None, ray_address: str | None = None
) -> Iterator[Runner]:
    """A function that runs jobs and returns their results in job order: ``serial`` in this
    process, ``pool`` on a process pool of ``workers`` (default: one per CPU), ``ray`` on the
    Ray cluster at ``ray_address`` ("local" starts one here). Pool or cluster lives as long as
    the context, so a walk-forward's batches share it."""
    if mode == "serial":
        yield lambda jobs: [run_job(job) for job in jobs]
    elif mode == "pool":
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # never fork: the parent may hold threads (Ray, BLAS) whose locks a fork would copy
        method = (
            "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        )
        n_workers = workers or os.cpu_count() or 1
        context = multiprocessing.get_context(method)
        with ProcessPoolExecutor(max_workers=n_workers, mp_context=context) as pool:

            def run_on_pool(jobs: Sequence[SweepJob]) -> list[Result]:
                # a few chunks per worker: less traffic, and still balanced at the end
                chunk = max(1, len(jobs) // (4 * n_workers))
                return list(pool.map(run_job, jobs, chunksize=chunk))

            yield run_on_pool
    elif mode == "ray":
        with _ray_runner(ray_address or "local") as run:
            yield run
    else:
        raise ValueError(f"unknown executor {mode!r}")


@contextmanager
def _ray_runner(address: str) -> Iterator[Runner]:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--ray", address, "Ray is not installed; pip install 'algotrading[ray]'"
        ) from None
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(address=None if address == "local" else address, include_dashboard=False)
        except ConnectionError as exc:
            raise ConfigError("--ray", address, f"cannot reach the Ray cluster: {exc}") from None
    remote = ray.remote(run_job)
    try:
        yield lambda jobs: list(ray.get([remote.remote(job) for job in jobs]))
    finally:
        if started:
            ray.shutdown()
