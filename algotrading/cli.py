"""The ``algotrading`` command line: the only module that parses argv.

Bad input (a config, a data file, a parameter) ends with one line naming the problem and exit
status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from algotrading import __version__
from algotrading.errors import AlgotradingError, ConfigError

if TYPE_CHECKING:
    from algotrading.config import Config

EXIT_BAD_INPUT = 2


def _params(pairs: Sequence[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError("--param", pair, "expected KEY=VALUE, e.g. --param fast=10")
        params[key.strip()] = value.strip()
    return params


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="algotrading",
        description="A live-trading daemon for forex and index CFDs: backtest, paper and live "
        "trading through one supervised actor graph.",
    )
    parser.add_argument("--version", action="version", version=f"algotrading {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run the trading daemon (paper trading on the embedded defaults)",
        description="Run the daemon. On the embedded defaults it paper-trades sma_cross on "
        "synthetic EUR_USD quotes replayed in real time against the simulated "
        "exchange. Stops on SIGTERM/SIGINT (graceful, exit 0) or after --duration.",
    )
    run.add_argument(
        "--config",
        metavar="DIR",
        help="directory with system.yaml, market.yaml, "
        "model.yaml (each optional; keys not given keep their defaults)",
    )
    run.add_argument(
        "--state-dir",
        metavar="DIR",
        default="state",
        help="where the daemon keeps its database and recordings (default: ./state)",
    )
    run.add_argument(
        "--duration",
        metavar="SECONDS",
        type=float,
        help="stop after this many seconds (default: run until stopped)",
    )
    run.add_argument(
        "--speed",
        type=float,
        metavar="X",
        help="replay speed of the data feed: 1 = real time, 60 = a minute per "
        "second (default: feed.speed of system.yaml)",
    )

    bt = sub.add_parser(
        "backtest",
        help="backtest a strategy on history through the deterministic driver",
        description="Backtest a strategy: the same actors as the daemon, driven "
        "deterministically over the bars of FILE (or a year of synthetic hourly "
        "EUR_USD bars). Writes trades.csv, orders.csv, equity.csv, metrics.json.",
    )
    bt.add_argument("--data", metavar="FILE", help="CSV of OHLCV bars (default: synthetic)")
    bt.add_argument("--strategy", metavar="NAME", help="strategy name (default: system.yaml's)")
    bt.add_argument(
        "--param",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="strategy parameter, repeatable: --param fast=10 --param slow=30",
    )
    bt.add_argument(
        "--instrument",
        metavar="SYMBOL",
        help="instrument of the data, e.g. EUR_USD (default: from the file name)",
    )
    bt.add_argument("--config", metavar="DIR", help="configuration directory")
    bt.add_argument("--out", metavar="DIR", required=True, help="output directory")
    bt.add_argument(
        "--log-level",
        default="warning",
        choices=("debug", "info", "warning", "error"),
        help="log level of the actors during the run (default: warning; info "
        "shows every signal, order and fill)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "backtest":
            return _backtest(args)
        return _run(args)
    except AlgotradingError as exc:
        print(f"algotrading {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130


def _setup(config_dir: str | None, level: str | None = None) -> Config:
    from algotrading.config import load_config
    from algotrading.log import configure_logging

    config = load_config(config_dir)
    configure_logging(level or config.system.log.level, config.system.log.format)
    return config


def _backtest(args: argparse.Namespace) -> int:
    from algotrading.backtest.runner import describe_costs, run_backtest
    from algotrading.data.instruments import BUILTIN_INSTRUMENTS, normalize_symbol
    from algotrading.runtime.loop import run as run_loop
    from algotrading.strategies.registry import build_strategy

    config = _setup(args.config, args.log_level)
    params = _params(args.param)
    name = args.strategy or config.system.strategy.name
    base = dict(config.system.strategy.params) if name == config.system.strategy.name else {}
    strategy = build_strategy(name, {**base, **params}, where="--strategy/--param")
    symbol = normalize_symbol(args.instrument) if args.instrument else None
    if (
        symbol is not None
        and symbol not in BUILTIN_INSTRUMENTS
        and not any(s.symbol == symbol for s in config.market.specs)
    ):
        raise ConfigError(
            "--instrument",
            symbol,
            "unknown instrument; add its spec to "
            "market.yaml or use one of " + ", ".join(sorted(BUILTIN_INSTRUMENTS)),
        )
    if args.data:
        from algotrading.adapters.csv_bars import read_bars

        frame = read_bars(args.data, instrument=symbol)
        symbol, interval, source = frame.instrument, frame.interval_ns, args.data
        if symbol not in BUILTIN_INSTRUMENTS and not any(
            s.symbol == symbol for s in config.market.specs
        ):
            raise ConfigError("--instrument", symbol, "unknown instrument")
        bars = frame.bars()
        total = len(frame)
    else:
        from algotrading.data.history import default_history

        symbol = symbol or "EUR_USD"
        spec = config.instrument(symbol)
        bars_list, interval = default_history(spec, config.system.feed.seed)
        bars = iter(bars_list)
        total = len(bars_list)
        source = f"synthetic (seed {config.system.feed.seed}, hourly, 2024)"
    spec = config.instrument(symbol)
    started = time.perf_counter()
    out = Path(args.out)
    result = run_loop(
        run_backtest(
            bars,
            config=config,
            strategy=strategy,
            instrument=spec,
            bar_interval_ns=interval,
            data_source=source,
            out_dir=out,
            total_bars=total,
            progress=True,
        ),
        use_uvloop=config.system.runtime.uvloop,
    )
    elapsed = time.perf_counter() - started
    m = result.metrics
    print(
        f"backtest {strategy.name} {m['run']['params']} on {symbol}: {result.bars} bars from "
        f"{source} ({m['run']['first_bar']} .. {m['run']['last_bar']})"
    )
    print(f"costs: {describe_costs(m['run']['costs'])}")
    print(f"fill rule: {m['run']['fill_rule']}")
    sharpe = "n/a" if m["sharpe"] is None else f"{m['sharpe']:.3f}"
    print(
        f"trades: {m['n_trades']}  total return: {m['total_return']:.4%}  max drawdown: "
        f"{m['max_drawdown']:.4%}  sharpe: {sharpe}  final equity: {m['final_equity']:.2f} "
        f"{m['run']['account_currency']}"
    )
    names = ("trades.csv", "orders.csv", "equity.csv", "metrics.json", "report.html")
    print(f"wrote {', '.join(str(out / name) for name in names)}")
    print(f"({result.events} messages in {elapsed:.2f}s)", file=sys.stderr)
    return 0


def _run(args: argparse.Namespace) -> int:
    from algotrading.daemon.app import run_daemon
    from algotrading.runtime.loop import run as run_loop

    config = _setup(args.config)
    if args.speed is not None and args.speed <= 0:
        raise ConfigError("--speed", "", "expected a number > 0")
    if args.duration is not None and args.duration <= 0:
        raise ConfigError("--duration", "", "expected a number of seconds > 0")
    summary = run_loop(
        run_daemon(config, Path(args.state_dir), duration_s=args.duration, speed=args.speed),
        use_uvloop=config.system.runtime.uvloop,
    )
    equity = f"{summary.equity:.2f}" if summary.equity is not None else "n/a"
    positions = ", ".join(f"{s} {q:+g}" for s, q in summary.positions.items())
    print(
        f"session {summary.session_id} stopped ({summary.reason}): {summary.orders} orders, "
        f"{summary.fills} fills, positions {positions}, equity {equity}"
    )
    return summary.exit_code
