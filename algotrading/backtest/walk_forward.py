"""Walk-forward optimisation: the data cut into consecutive folds; in each, the parameter set
ranked best on the in-sample window is run on the out-of-sample window that follows, and only
those out-of-sample results are reported. No fold's choice sees a bar of its own out-of-sample
window or later.
"""

from __future__ import annotations

import csv
import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from algotrading.backtest.sweep import (
    Sweep,
    clean_float,
    csv_cell,
    iso_window,
    rank_results,
    result_row,
    sweep_header,
)
from algotrading.backtest.sweep_jobs import METRICS, History, Result, Runner
from algotrading.errors import ConfigError

NS_PER_DAY = 86_400 * 10**9
WF_MODES = ("anchored", "rolling")


@dataclass(frozen=True)
class Fold:
    """A fold's windows, half-open in ns: in sample ``[is_start, is_end)``, then out of sample
    ``[oos_start, oos_end)`` from where the in-sample window ends."""

    number: int
    is_start: int
    is_end: int
    oos_start: int
    oos_end: int


def walk_forward_folds(
    start_ns: int, end_ns: int, interval_ns: int, n_folds: int, mode: str = "anchored"
) -> list[Fold]:
    """Cut ``[start_ns, end_ns)`` into ``n_folds + 1`` near-equal segments, at UTC midnights
    (or on the bar grid when the data is short). The first is in-sample only; each later one
    is a fold's out-of-sample window, whose in-sample window is everything before it
    (anchored) or the one segment before it (rolling)."""
    if n_folds < 1:
        raise ConfigError("--walk-forward", str(n_folds), "expected a number of folds >= 1")
    if mode not in WF_MODES:
        raise ConfigError("--wf-mode", mode, f"expected one of {', '.join(WF_MODES)}")
    span = end_ns - start_ns
    # whole UTC days where the folds are long enough, so no day's return straddles two windows
    by_day = interval_ns <= NS_PER_DAY and span // (n_folds + 1) >= 2 * NS_PER_DAY
    cuts = [start_ns]
    for i in range(1, n_folds + 1):
        cut = start_ns + span * i // (n_folds + 1)
        cut = cut - cut % NS_PER_DAY if by_day else cut - (cut - start_ns) % interval_ns
        cuts.append(cut)
    cuts.append(end_ns)
    if any(b - a < 2 * interval_ns for a, b in itertools.pairwise(cuts)):
        raise ConfigError(
            "--walk-forward", str(n_folds), "the data is too short for that many folds"
        )
    return [
        Fold(i, cuts[0] if mode == "anchored" else cuts[i - 1], cuts[i], cuts[i], cuts[i + 1])
        for i in range(1, n_folds + 1)
    ]


def run_walk_forward(sweep: Sweep, run: Runner, folds: Sequence[Fold]) -> list[Result]:
    """For each fold, the set ranked best on its in-sample window, run out of sample. All
    in-sample grids go out as one batch, then all out-of-sample runs as another."""
    n = len(sweep.sets)
    in_sample = run([job for f in folds for job in sweep.jobs(f.is_start, f.is_end)])
    chosen = [
        rank_results(in_sample[i * n : (i + 1) * n], sweep.rank)[0] for i in range(len(folds))
    ]
    oos = run(
        [sweep.job(c["index"], f.oos_start, f.oos_end) for c, f in zip(chosen, folds, strict=True)]
    )
    return [{"fold": f, **result} for f, result in zip(folds, oos, strict=True)]


def walk_forward_summary(rows: Sequence[Result]) -> Result:
    """The out-of-sample folds together: mean of their Sharpe ratios, compounded return."""
    sharpes = [r["metrics"]["sharpe"] for r in rows if r["metrics"]["sharpe"] is not None]
    returns = [
        r["metrics"]["total_return"] for r in rows if r["metrics"]["total_return"] is not None
    ]
    return {
        "n_folds": len(rows),
        "mean_oos_sharpe": clean_float(statistics.fmean(sharpes)) if sharpes else None,
        "oos_total_return": clean_float(math.prod(1.0 + r for r in returns) - 1.0),
        "oos_n_trades": sum(r["metrics"]["n_trades"] or 0 for r in rows),
    }


def walk_forward_report(
    sweep: Sweep, history: History, rows: Sequence[Result], mode: str
) -> Result:
    """sweep.json of a walk-forward: only out-of-sample results, per fold and together."""
    folds = [
        {
            "fold": r["fold"].number,
            "in_sample": iso_window(r["fold"].is_start, r["fold"].is_end),
            "out_of_sample": iso_window(r["fold"].oos_start, r["fold"].oos_end),
            **result_row(sweep, r),
        }
        for r in rows
    ]
    return {
        **sweep_header(sweep, history),
        "walk_forward": {"mode": mode, "folds": folds, "summary": walk_forward_summary(rows)},
    }


def write_walk_forward_csv(path: Path, sweep: Sweep, rows: Sequence[Result]) -> None:
    """walk_forward.csv: per fold its windows, the chosen parameters and out-of-sample metrics."""
    from algotrading.timestamps import iso_utc

    with path.open("w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["fold", "is_start", "is_end", "oos_start", "oos_end", *sweep.grid, *METRICS])
        for r in rows:
            fold = r["fold"]
            times = [iso_utc(t) for t in (fold.is_start, fold.is_end, fold.oos_start, fold.oos_end)]
            params = [r["params"][key] for key in sweep.grid]
            metrics = [r["metrics"][name] for name in METRICS]
            out.writerow([fold.number, *times, *(csv_cell(v) for v in (*params, *metrics))])
