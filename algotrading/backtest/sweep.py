"""Parameter sweeps: one strategy backtested over a grid of parameters, ranked by a metric,
with the deflated Sharpe ratio of the best.

The grid is drawn into parameter sets (all, or a seeded sample) and each set the strategy
accepts becomes a job (:mod:`algotrading.backtest.sweep_jobs`); results come back in set order
whichever executor ran them, and are ranked and written byte for byte the same.
"""

from __future__ import annotations

import csv
import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from algotrading.backtest.deflated_sharpe import deflate_best, sharpe_ratio
from algotrading.backtest.sweep_jobs import METRICS, History, Result, Runner, SweepJob
from algotrading.errors import ConfigError

MAX_SETS = 100_000
# metrics where more is better, so a ranking sorts them all the same way
RANK_METRICS = tuple(m for m in METRICS if m != "n_trades")
Window = tuple[int | None, int | None]


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """``KEY=V1,V2,...`` (ints, floats or strings) or ``KEY=START:STOP[:STEP]`` (ints, STOP
    included), one item per key, in the order given."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError("--grid", item, "expected KEY=V1,V2,... or KEY=START:STOP:STEP")
        if key in grid:
            raise ConfigError("--grid", key, "given twice; list all its values in one --grid")
        grid[key] = _grid_values(key, text.strip())
    if not grid:
        raise ConfigError("--grid", "", "nothing to sweep; give --grid KEY=V1,V2,...")
    return grid


def _grid_values(key: str, text: str) -> list[Any]:
    if not text:
        raise ConfigError("--grid", key, "no values after '='")
    if ":" in text and "," not in text:
        return _grid_range(key, text)
    values = [_scalar(token.strip()) for token in text.split(",")]
    for value in values:
        if isinstance(value, str) and _is_number(value):
            raise ConfigError("--grid", key, f"{value!r} is not a finite number")
    if "" in values:
        raise ConfigError("--grid", key, f"empty value in {text!r}")
    if len(set(values)) != len(values):
        raise ConfigError("--grid", key, f"a value is repeated in {text!r}")
    return values


def _grid_range(key: str, text: str) -> list[Any]:
    parts = text.split(":")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        start, stop, step = (int(p) for p in [*parts, "1"][:3])
    except ValueError:
        raise ConfigError(
            "--grid", key, f"range {text!r}: expected integers START:STOP or START:STOP:STEP"
        ) from None
    if step <= 0:
        raise ConfigError("--grid", key, f"range {text!r}: STEP must be > 0")
    if stop < start:
        raise ConfigError("--grid", key, f"range {text!r} is empty: STOP is below START")
    if (stop - start) // step >= MAX_SETS:
        raise ConfigError("--grid", key, f"range {text!r} has more than {MAX_SETS} values")
    return list(range(start, stop + 1, step))


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _scalar(token: str) -> int | float | str:
    for kind in (int, float):
        try:
            value = kind(token)
        except ValueError:
            continue
        if isinstance(value, float) and not math.isfinite(value):
            break  # "nan" and "inf" stay strings for the strategy to refuse
        return value
    return token


def param_sets(grid: Mapping[str, Sequence[Any]], trials: int | None, seed: int) -> list[Result]:
    """Every combination of ``grid`` in :func:`itertools.product` order (the last key varies
    fastest), or ``trials`` of them drawn without replacement with ``seed``, in that order."""
    keys, sizes = list(grid), [len(values) for values in grid.values()]
    total = math.prod(sizes)
    if trials is not None and trials < 1:
        raise ConfigError("--trials", str(trials), "expected a number >= 1")
    if trials is None or trials >= total:
        if total > MAX_SETS:
            raise ConfigError("--grid", "", f"{total} combinations; sample some with --trials N")
        positions: Sequence[int] = range(total)
    else:
        positions = sorted(random.Random(seed).sample(range(total), trials))
    sets = []
    for position in positions:
        combination = {}
        for key, size in zip(reversed(keys), reversed(sizes), strict=True):
            position, digit = divmod(position, size)
            combination[key] = grid[key][digit]
        sets.append({key: combination[key] for key in keys})
    return sets


def valid_param_sets(
    strategy: str, sets: Sequence[Result], base: Mapping[str, Any]
) -> tuple[list[Result], int]:
    """The sets the strategy accepts (over ``base``), and how many it refused. If it refuses
    them all, that is a mistake in the grid (a misspelt key), reported as such."""
    from algotrading.strategies.registry import build_strategy

    valid: list[Result] = []
    first: ConfigError | None = None
    for params in sets:
        try:
            build_strategy(strategy, {**base, **params}, where="--grid")
        except ConfigError as exc:
            first = first or exc
            continue
        valid.append(params)
    if not valid and first is not None:
        raise ConfigError("--grid", first.key, f"no combination is valid: {first.problem}")
    return valid, len(sets) - len(valid)


@dataclass(frozen=True)
class Sweep:
    """What to sweep: the valid parameter sets of a strategy, and the data to run them on."""

    strategy: str
    grid: dict[str, list[Any]]
    sets: list[Result]  # the valid combinations, grid keys only
    base: dict[str, Any] = field(default_factory=dict)
    n_combinations: int = 0
    n_invalid: int = 0
    trials: int | None = None
    seed: int = 0
    data: str | None = None
    instrument: str | None = None
    config_dir: str | None = None
    rank: str = "sharpe"
    log_level: str = "warning"

    def job(self, index: int, start_ns: int | None = None, end_ns: int | None = None) -> SweepJob:
        return SweepJob(
            index=index,
            strategy=self.strategy,
            params={**self.base, **self.sets[index]},
            data=self.data,
            instrument=self.instrument,
            config_dir=self.config_dir,
            start_ns=start_ns,
            end_ns=end_ns,
            log_level=self.log_level,
        )

    def jobs(self, start_ns: int | None = None, end_ns: int | None = None) -> list[SweepJob]:
        return [self.job(i, start_ns, end_ns) for i in range(len(self.sets))]


def plan_sweep(
    strategy: str,
    grid: dict[str, list[Any]],
    *,
    base: Mapping[str, Any] | None = None,
    trials: int | None = None,
    seed: int = 0,
    data: str | None = None,
    instrument: str | None = None,
    config_dir: str | None = None,
    rank: str = "sharpe",
    log_level: str = "warning",
) -> Sweep:
    """Draw the parameter sets of ``grid`` and keep those ``strategy`` accepts over ``base``."""
    from algotrading.strategies.registry import strategy_names

    if strategy not in strategy_names():
        raise ConfigError(
            "--strategy", strategy, f"unknown strategy; built-in: {', '.join(strategy_names())}"
        )
    if rank not in RANK_METRICS:
        raise ConfigError("--rank", rank, f"expected one of {', '.join(RANK_METRICS)}")
    base = dict(base or {})
    sets, n_invalid = valid_param_sets(strategy, param_sets(grid, trials, seed), base)
    return Sweep(
        strategy,
        grid,
        sets,
        base,
        n_combinations=math.prod(len(v) for v in grid.values()),
        n_invalid=n_invalid,
        trials=trials,
        seed=seed,
        data=data,
        instrument=instrument,
        config_dir=config_dir,
        rank=rank,
        log_level=log_level,
    )


def run_grid(
    sweep: Sweep, run: Runner, start_ns: int | None = None, end_ns: int | None = None
) -> list[Result]:
    """Every parameter set on the window, results in set order."""
    return run(sweep.jobs(start_ns, end_ns))


def rank_results(results: Sequence[Result], metric: str) -> list[Result]:
    """Best first by ``metric`` (more is better); undefined values last; ties by set index."""

    def key(result: Result) -> tuple[bool, float, int]:
        value = result["metrics"].get(metric)
        return (value is None, -value if value is not None else 0.0, result["index"])

    return sorted(results, key=key)


def grid_summary(
    sweep: Sweep, history: History, ranked: Sequence[Result], window: Window = (None, None)
) -> Result:
    """sweep.json of a grid sweep: what ran, the best set, and its deflated Sharpe ratio."""
    best = ranked[0] if ranked else None
    deflated = None
    if best is not None:
        sharpes = [sharpe_ratio(r["daily_returns"]) for r in ranked]
        deflated = {
            k: clean_float(v) for k, v in deflate_best(best["daily_returns"], sharpes).items()
        }
    return {
        **sweep_header(sweep, history, window),
        "best": None if best is None else {"index": best["index"], **result_row(sweep, best)},
        "deflated_sharpe": deflated,
    }


def sweep_header(sweep: Sweep, history: History, window: Window = (None, None)) -> Result:
    start, end = window
    return {
        "strategy": sweep.strategy,
        "grid": sweep.grid,
        "base_params": sweep.base,
        "data": history.source,
        "instrument": history.symbol,
        "window": iso_window(
            history.start_ns if start is None else start, history.end_ns if end is None else end
        ),
        "rank_metric": sweep.rank,
        "trials_requested": sweep.trials,
        "seed": sweep.seed,
        "n_combinations": sweep.n_combinations,
        "n_invalid": sweep.n_invalid,
        "n_trials": len(sweep.sets),
    }


def result_row(sweep: Sweep, result: Result) -> Result:
    params = {key: result["params"][key] for key in sweep.grid}
    return {"params": params, "metrics": result["metrics"], "bars": result["bars"]}


def write_results_csv(path: Path, sweep: Sweep, ranked: Sequence[Result]) -> None:
    """results.csv: rank, the grid's parameters, then the metrics; one row per set, best first."""
    with path.open("w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["rank", *sweep.grid, *METRICS])
        for rank, result in enumerate(ranked, start=1):
            params = [result["params"][key] for key in sweep.grid]
            metrics = [result["metrics"][name] for name in METRICS]
            out.writerow([rank, *(csv_cell(v) for v in (*params, *metrics))])


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def clean_float(value: Any) -> Any:
    """Floats to 12 significant digits (byte-stable JSON), NaN and infinity to None."""
    if not isinstance(value, float):
        return value
    return float(f"{value:.12g}") if math.isfinite(value) else None


def iso_window(start_ns: int, end_ns: int) -> dict[str, str]:
    from algotrading.timestamps import iso_utc

    return {"start": iso_utc(start_ns), "end": iso_utc(end_ns)}
