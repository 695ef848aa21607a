"""``algotrading sweep``: the argv side of parameter sweeps, attached to the CLI by cli.py."""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from typing import Any

from algotrading.backtest.sweep import (
    RANK_METRICS,
    Sweep,
    grid_summary,
    parse_grid,
    plan_sweep,
    rank_results,
    run_grid,
    write_json,
    write_results_csv,
)
from algotrading.backtest.sweep_jobs import (
    History,
    Result,
    job_runner,
    load_config_cached,
    load_history,
)
from algotrading.backtest.walk_forward import (
    WF_MODES,
    Fold,
    run_walk_forward,
    walk_forward_folds,
    walk_forward_report,
    write_walk_forward_csv,
)
from algotrading.cli_args import non_empty, non_negative_int, output_dir, positive_int
from algotrading.errors import ConfigError

TOP = 10
SHOWN = ("sharpe", "total_return", "max_drawdown", "n_trades")


def add_sweep_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``sweep`` command to the ``subparsers`` of the main parser."""
    sweep = subparsers.add_parser(
        "sweep",
        help="backtest a strategy over a grid of parameters, in parallel, and rank the sets",
        description="Backtest every combination of the --grid values (or --trials of them "
        "drawn at random) on FILE or the synthetic default history, rank them by --rank, "
        "and write results.csv and sweep.json (with the deflated Sharpe ratio of the best). "
        "With --walk-forward K, choose the best set on each in-sample window and report it "
        "on the out-of-sample window that follows, in walk_forward.csv and sweep.json.",
    )
    sweep.add_argument(
        "--strategy", type=non_empty, metavar="NAME", help="strategy name (default: system.yaml's)"
    )
    sweep.add_argument(
        "--grid",
        metavar="KEY=VALUES",
        action="append",
        required=True,
        help="values of one parameter, repeatable: --grid fast=5,10,20 or --grid "
        "slow=20:60:10 (integers START:STOP:STEP, STOP included)",
    )
    sweep.add_argument(
        "--trials",
        type=positive_int,
        metavar="N",
        help="run N combinations drawn at random without replacement (default: all)",
    )
    sweep.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed of the --trials draw (default: 0)"
    )
    sweep.add_argument(
        "--data",
        type=non_empty,
        metavar="PATH",
        help="CSV of OHLCV bars, or a history store directory (algotrading data convert); "
        "default: synthetic",
    )
    sweep.add_argument(
        "--instrument",
        type=non_empty,
        metavar="SYMBOL",
        help="instrument of the data, e.g. EUR_USD (default: from the file name, or the "
        "store's one series)",
    )
    sweep.add_argument("--config", type=non_empty, metavar="DIR", help="configuration directory")
    sweep.add_argument(
        "--out", type=non_empty, metavar="DIR", required=True, help="output directory"
    )
    where = sweep.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="processes of the local pool (default: one per CPU)",
    )
    where.add_argument("--serial", action="store_true", help="run in this process, one by one")
    where.add_argument(
        "--ray",
        type=non_empty,
        metavar="ADDRESS",
        help="run on the Ray cluster at ADDRESS, or 'local' for a Ray instance started here "
        "(needs the ray extra; FILE and DIR must exist at the same paths on every node)",
    )
    sweep.add_argument(
        "--rank",
        default="sharpe",
        choices=RANK_METRICS,
        help="metric to rank by, more is better (default: sharpe)",
    )
    sweep.add_argument(
        "--walk-forward",
        type=positive_int,
        metavar="K",
        help="walk-forward optimisation over K out-of-sample folds after a first in-sample "
        "window (the data cut into K+1 equal parts)",
    )
    sweep.add_argument(
        "--wf-mode",
        default="anchored",
        choices=WF_MODES,
        help="in-sample window of each fold: anchored (all data before it, the default) or "
        "rolling (the one part before it)",
    )
    sweep.add_argument(
        "--log-level",
        default="warning",
        choices=("debug", "info", "warning", "error"),
        help="log level of the backtests (default: warning)",
    )
    return sweep  # type: ignore[no-any-return]


def run_sweep_command(args: argparse.Namespace) -> int:
    """Run ``algotrading sweep``; bad input raises ConfigError or DataError before any run."""
    sweep, history, folds = _plan(args)
    mode = "serial" if args.serial else "ray" if args.ray else "pool"
    out = output_dir("--out", args.out)
    started = time.perf_counter()
    print(_describe(sweep, history, folds is not None))
    with job_runner(mode, args.workers, args.ray) as run:
        if folds is None:
            ranked = rank_results(run_grid(sweep, run), sweep.rank)
            summary = grid_summary(sweep, history, ranked)
            write_results_csv(out / "results.csv", sweep, ranked)
            write_json(out / "sweep.json", summary)
            _print_ranked(sweep, ranked)
            _print_deflated(summary["deflated_sharpe"])
            written = ["results.csv", "sweep.json"]
        else:
            rows = run_walk_forward(sweep, run, folds)
            report = walk_forward_report(sweep, history, rows, args.wf_mode)
            write_walk_forward_csv(out / "walk_forward.csv", sweep, rows)
            write_json(out / "sweep.json", report)
            _print_folds(sweep, rows, report["walk_forward"]["summary"])
            written = ["walk_forward.csv", "sweep.json"]
    print(f"wrote {', '.join(str(out / name) for name in written)}")
    print(f"({mode} in {time.perf_counter() - started:.2f}s)", file=sys.stderr)
    return 0


def _plan(args: argparse.Namespace) -> tuple[Sweep, History, list[Fold] | None]:
    """Check every argument and load the data in this process, so that the workers get only
    jobs that run."""
    from algotrading.data.instruments import normalize_symbol
    from algotrading.log import configure_logging

    config = load_config_cached(args.config)
    configure_logging(args.log_level, config.system.log.format)
    if args.workers is not None and args.workers < 1:
        raise ConfigError("--workers", str(args.workers), "expected a number >= 1")
    if args.ray and importlib.util.find_spec("ray") is None:
        raise ConfigError("--ray", args.ray, "Ray is not installed; pip install 'algotrading[ray]'")
    name = args.strategy or config.system.strategy.name
    base = dict(config.system.strategy.params) if name == config.system.strategy.name else {}
    symbol = normalize_symbol(args.instrument) if args.instrument else None
    history = load_history(args.data, symbol, config)
    folds = None
    if args.walk_forward is not None:
        folds = walk_forward_folds(
            history.start_ns, history.end_ns, history.interval_ns, args.walk_forward, args.wf_mode
        )
    sweep = plan_sweep(
        name,
        parse_grid(args.grid),
        base=base,
        trials=args.trials,
        seed=args.seed,
        data=args.data,
        instrument=history.symbol,
        config_dir=args.config,
        rank=args.rank,
        log_level=args.log_level,
    )
    return sweep, history, folds


def _describe(sweep: Sweep, history: History, walk_forward: bool) -> str:
    invalid = f", {sweep.n_invalid} invalid skipped" if sweep.n_invalid else ""
    drawn = f" ({sweep.trials} drawn with seed {sweep.seed})" if sweep.trials else ""
    kind = "walk-forward" if walk_forward else "sweep"
    return (
        f"{kind} {sweep.strategy}: {len(sweep.sets)} parameter set"
        f"{'' if len(sweep.sets) == 1 else 's'} of "
        f"{sweep.n_combinations}{drawn}{invalid} on {history.symbol}, {len(history.ts_open)} "
        f"bars from {history.source}; ranked by {sweep.rank}"
    )


def _print_ranked(sweep: Sweep, ranked: list[Result]) -> None:
    table = _table(f"top {min(TOP, len(ranked))} of {len(ranked)} by {sweep.rank}", sweep)
    for rank, result in enumerate(ranked[:TOP], start=1):
        table.add_row(str(rank), *_cells(sweep, result))
    _console().print(table)


def _print_folds(sweep: Sweep, rows: list[Result], summary: dict[str, Any]) -> None:
    from algotrading.timestamps import iso_utc

    title = "walk-forward: the set chosen in sample, out of sample"
    table = _table(title, sweep, first=("fold", "out of sample"))
    for row in rows:
        fold = row["fold"]
        window = f"{iso_utc(fold.oos_start)[:10]} .. {iso_utc(fold.oos_end)[:10]}"
        table.add_row(str(fold.number), window, *_cells(sweep, row))
    _console().print(table)
    mean = summary["mean_oos_sharpe"]
    print(
        f"out of sample over {summary['n_folds']} folds: mean sharpe "
        f"{'n/a' if mean is None else f'{mean:.3f}'}, compounded return "
        f"{summary['oos_total_return']:.4%}, {summary['oos_n_trades']} trades"
    )


def _console() -> Any:
    """A terminal's width, or 120 columns when the output goes to a file or a pipe."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=120)


def _shown(sweep: Sweep) -> list[str]:
    """The metrics a terminal table has room for; every one is in the CSV."""
    return list(dict.fromkeys((sweep.rank, *SHOWN)))


def _table(title: str, sweep: Sweep, first: tuple[str, ...] = ("rank",)) -> Any:
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD)
    for column in (*first, *sweep.grid, *_shown(sweep)):
        table.add_column(column, justify="right")
    return table


def _cells(sweep: Sweep, result: Result) -> list[str]:
    cells = [str(result["params"][key]) for key in sweep.grid]
    for name in _shown(sweep):
        value = result["metrics"][name]
        cells.append(
            "" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
        )
    return cells


def _print_deflated(deflated: dict[str, Any] | None) -> None:
    if not deflated or deflated["deflated_sharpe"] is None:
        print("deflated sharpe of the best: n/a")
        return
    print(
        f"deflated sharpe of the best: {deflated['deflated_sharpe']:.3f} (daily sharpe "
        f"{deflated['sharpe']:.4f} against {deflated['expected_max_sharpe']:.4f} expected of "
        f"the best of {deflated['n_trials']} trials by luck, {deflated['n_returns']} days)"
    )
