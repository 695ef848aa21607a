"""The ``algotrading train`` command line: arguments in, :func:`run_training` out."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from algotrading.cli_args import non_empty, output_dir


def add_train_parser(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="walk-forward training and evaluation of the model of model.yaml",
        description="Train the model of model.yaml walk-forward (purged and embargoed folds), "
        "evaluate its out-of-sample predictions, backtest ml_signal on them, and save every "
        "model in a registry. On the embedded defaults: LightGBM on the default features, "
        "predicting the sign of the next bar's return, on a year of synthetic hourly EUR_USD.",
    )
    p.add_argument("--config", type=non_empty, metavar="DIR", help="configuration directory")
    p.add_argument(
        "--data",
        type=non_empty,
        metavar="PATH",
        help="CSV of OHLCV bars, or a history store directory (algotrading data convert); "
        "default: the synthetic history of --instrument",
    )
    p.add_argument(
        "--instrument",
        type=non_empty,
        metavar="SYMBOL",
        help="instrument of the data (default: from the name)",
    )
    p.add_argument("--out", type=non_empty, metavar="DIR", required=True, help="output directory")
    p.add_argument(
        "--no-progress", action="store_true", help="no progress bar (also off when not a tty)"
    )
    p.add_argument(
        "--log-level",
        default="warning",
        choices=("debug", "info", "warning", "error"),
        help="log level of the backtest's actors (default: warning)",
    )


def run_train_command(args: argparse.Namespace) -> int:
    from algotrading.backtest.sweep_jobs import load_config_cached, load_history
    from algotrading.log import configure_logging
    from algotrading.models.train_run import run_training

    config = load_config_cached(args.config)
    configure_logging(args.log_level, config.system.log.format)
    history = load_history(args.data, args.instrument, config)
    output_dir("--out", args.out)
    summary = run_training(
        config,
        history.columns(),
        Path(args.out),
        source=history.source,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    pooled = summary.pooled
    backtest = summary.backtest or {}
    print(
        f"{summary.folds} folds, out-of-sample n={pooled['n']} hit rate "
        f"{_fmt(pooled['hit_rate'])} IC {_fmt(pooled['ic'])}; ml_signal backtest: return "
        f"{_fmt(backtest.get('total_return'))}, Sharpe {_fmt(backtest.get('sharpe'))}, "
        f"{backtest.get('n_trades', 0)} trades; final model {summary.final_model_id} "
        f"(active in {Path(args.out) / 'registry.sqlite'})"
    )
    return 0


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}"
