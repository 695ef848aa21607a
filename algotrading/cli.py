"""The ``algotrading`` command line: the only module that parses argv.

Bad input (a config, a data file, a parameter) ends with one line naming the problem and exit
status 2, never a traceback; an error that a restart may cure (a venue unreachable, a full disk)
or will not (a refused token, a read-only state directory) has its own status
(:mod:`algotrading.errors`).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from algotrading import __version__
from algotrading.cli_args import (
    OneLineParser,
    UniqueKeys,
    key_value,
    non_empty,
    output_dir,
    positive_float,
    seconds_ns,
    utc_time,
)
from algotrading.errors import AlgotradingError, ConfigError

if TYPE_CHECKING:
    from algotrading.config import Config
    from algotrading.messages import Bar, Quote

EXIT_BAD_INPUT = 2

#: The commands whose parsers this module defines. The others' parsers come from their own
#: modules, which import what those commands need (pandas, pyarrow, rich): a command line
#: naming one of these is parsed without them, so the daemon does not start slower for them.
OWN_COMMANDS = frozenset({"run", "backtest", "backup", "replay"})


def _command(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names (the top-level parser has no option that takes a value)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``command``, one of :data:`OWN_COMMANDS`, only the
    parsers this module defines (that command's parser is the same)."""
    parser = OneLineParser(
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
        type=non_empty,
        metavar="DIR",
        help="directory with system.yaml, market.yaml, "
        "model.yaml (each optional; keys not given keep their defaults)",
    )
    run.add_argument(
        "--state-dir",
        type=non_empty,
        metavar="DIR",
        default="state",
        help="where the daemon keeps its database and recordings (default: ./state)",
    )
    run.add_argument(
        "--duration",
        metavar="SECONDS",
        type=positive_float,
        help="stop after this many seconds (default: run until stopped)",
    )
    run.add_argument(
        "--speed",
        type=positive_float,
        metavar="X",
        help="replay speed of the data feed: 1 = real time, 60 = a minute per "
        "second (default: feed.speed of system.yaml)",
    )
    run.add_argument(
        "--fresh-state",
        action="store_true",
        help="set the state database aside (renamed to algotrading-<UTC time>.sqlite in the "
        "state directory, never deleted) and start on a new one: needed to trade another "
        "venue or account than the state belongs to",
    )

    bt = sub.add_parser(
        "backtest",
        help="backtest a strategy on history through the deterministic driver",
        description="Backtest a strategy: the same actors as the daemon, driven "
        "deterministically over the bars of FILE (or a year of synthetic hourly "
        "EUR_USD bars). Writes trades.csv, orders.csv, equity.csv, metrics.json and "
        "report.html.",
    )
    bt.add_argument(
        "--data",
        type=non_empty,
        metavar="PATH",
        help="CSV of OHLCV bars, or a history store directory made by 'algotrading data "
        "convert' (bars, or quotes built into bars of --interval; default: synthetic)",
    )
    bt.add_argument(
        "--interval",
        metavar="SECONDS",
        type=seconds_ns,
        help="bar size: of the stored bars to read, or to build from stored quotes "
        "(default: the stored bars' size, or market.yaml's bar_interval for quotes)",
    )
    bt.add_argument(
        "--start", metavar="TIME", type=utc_time, help="first time to use (ISO-8601, UTC)"
    )
    bt.add_argument(
        "--end", metavar="TIME", type=utc_time, help="time to stop before (ISO-8601, UTC)"
    )
    bt.add_argument(
        "--strategy", type=non_empty, metavar="NAME", help="strategy name (default: system.yaml's)"
    )
    bt.add_argument(
        "--param",
        metavar="KEY=VALUE",
        type=key_value,
        action=UniqueKeys,
        default={},
        help="strategy parameter, repeatable: --param fast=10 --param slow=30",
    )
    bt.add_argument(
        "--instrument",
        type=non_empty,
        metavar="SYMBOL",
        help="instrument of the data, e.g. EUR_USD (default: from the file name)",
    )
    bt.add_argument("--config", type=non_empty, metavar="DIR", help="configuration directory")
    bt.add_argument("--out", type=non_empty, metavar="DIR", required=True, help="output directory")
    bt.add_argument(
        "--log-level",
        default="warning",
        choices=("debug", "info", "warning", "error"),
        help="log level of the actors during the run (default: warning; info "
        "shows every signal, order and fill)",
    )
    backup = sub.add_parser(
        "backup",
        help="copy the daemon's state database safely, even while it runs",
        description="A consistent copy of the state database (SQLite online backup; the "
        "running daemon is not stopped or locked out), checked for integrity before it "
        "replaces --out.",
    )
    backup.add_argument(
        "--state-dir", type=non_empty, metavar="DIR", default="state", help="default: ./state"
    )
    backup.add_argument(
        "--out", type=non_empty, metavar="FILE", required=True, help="where the copy goes"
    )
    replay = sub.add_parser(
        "replay",
        help="run a recorded paper/live session back through the same actors",
        description="Replay SESSION (an id from 'algotrading sessions', or 'latest') of the "
        "state database: the recorded actors are made afresh from the session's own "
        "configuration and given exactly what they handled; every decision that differs from "
        "the recording is reported. Writes replay.json and, like a backtest, the session's "
        "trades.csv, orders.csv, equity.csv, metrics.json and report.html. Exit status 1 "
        "when any decision differs.",
    )
    replay.add_argument(
        "session",
        type=non_empty,
        metavar="SESSION",
        help="session id, 'latest', or the directory of an export (algotrading export)",
    )
    replay.add_argument(
        "--state-dir", type=non_empty, metavar="DIR", default="state", help="default: ./state"
    )
    replay.add_argument(
        "--out", type=non_empty, metavar="DIR", required=True, help="output directory"
    )
    if command in OWN_COMMANDS:
        return parser
    from algotrading.backtest.sweep_cli import add_sweep_parser
    from algotrading.data.convert import add_data_commands
    from algotrading.models.train_cli import add_train_parser
    from algotrading.sim.server.cli import add_sim_exchange_parser

    add_sweep_parser(sub)
    add_train_parser(sub)
    add_sim_exchange_parser(sub)
    add_data_commands(sub)
    from algotrading.ops.ctl import add_ctl_parser
    from algotrading.state.state_cli import add_state_commands

    add_state_commands(sub)
    add_ctl_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser(_command(sys.argv[1:] if argv is None else argv)).parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "backtest":
            return _backtest(args)
        if args.command == "data":
            from algotrading.data.convert import run_data_command

            return run_data_command(args)
        if args.command == "sweep":
            from algotrading.backtest.sweep_cli import run_sweep_command

            return run_sweep_command(args)
        if args.command == "sim-exchange":
            from algotrading.sim.server.cli import run_sim_exchange_command

            return run_sim_exchange_command(args)
        if args.command == "backup":
            return _backup(args)
        if args.command == "replay":
            return _replay(args)
        if args.command == "ctl":
            from algotrading.ops.ctl import run_ctl_command

            return run_ctl_command(args)
        from algotrading.state.state_cli import STATE_COMMANDS

        if args.command in STATE_COMMANDS:
            from algotrading.state.private import private_umask
            from algotrading.state.state_cli import run_state_command

            private_umask()  # exports and archives hold what the state database holds

            return run_state_command(args)
        if args.command == "train":
            from algotrading.models.train_cli import run_train_command

            return run_train_command(args)
        return _run(args)
    except AlgotradingError as exc:
        from algotrading.log import scrub

        message = scrub(" ".join(str(exc).split()))  # one line, whatever the cause said
        print(f"algotrading {args.command}: error: {message}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        return 130


def _backup(args: argparse.Namespace) -> int:
    import sqlite3

    from algotrading.daemon.app import DB_NAME
    from algotrading.state.private import private_umask
    from algotrading.state.store import backup_database

    private_umask()
    out = Path(args.out)
    if out.is_dir():
        raise ConfigError("--out", args.out, "is a directory; expected the copy's file name")
    try:
        copied = backup_database(Path(args.state_dir) / DB_NAME, out)
    except (OSError, sqlite3.Error) as exc:  # a missing, read-only or file parent of --out
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise ConfigError("--out", args.out, f"cannot write the copy: {reason}") from None
    print(f"{args.out}: {copied} journal records, integrity ok")
    return 0


def _replay(args: argparse.Namespace) -> int:
    from algotrading.daemon.app import DB_NAME
    from algotrading.daemon.replay import replay_session
    from algotrading.log import configure_logging
    from algotrading.runtime.loop import run as run_loop

    configure_logging("warning", "auto")
    db = Path(args.state_dir) / DB_NAME
    exported = (Path(args.session) / "session.json").is_file()
    if not exported and not db.is_file():
        raise AlgotradingError(f"{db}: no state database here")
    out = output_dir("--out", args.out)
    result = run_loop(replay_session(db, args.session, out))
    for name, actor in result.actors.items():
        print(
            f"{name}: {actor.inputs} inputs ({actor.warm_inputs} warm-up), {len(actor.out)} "
            f"outputs replayed, {actor.outputs} recorded, {actor.n_differences} differences"
        )
        for d in actor.differences[:5]:
            print(f"  at journal #{d.seq}: {d.input}")
            print(f"    recorded: {d.recorded}")
            print(f"    replayed: {d.replayed}")
    m = result.metrics
    print(
        f"session {result.session_id}: {m['n_trades']} trades, total return "
        f"{m['total_return']:.4%}, final equity {m['final_equity']:.2f}"
    )
    verdict = "every decision reproduced" if result.identical else "DECISIONS DIFFER"
    print(f"{verdict}; wrote {out / 'replay.json'} and the session's backtest files in {out}")
    return 0 if result.identical else 1


def _setup(config_dir: str | None, level: str | None = None) -> Config:
    from algotrading.config import load_config
    from algotrading.log import configure_logging

    config = load_config(config_dir)
    configure_logging(level or config.system.log.level, config.system.log.format)
    return config


def _shown(value: float | None, spec: str) -> str:
    """A metric for the terminal; "n/a" where it is undefined (a ratio of daily returns on a
    run shorter than two days)."""
    return "n/a" if value is None else format(value, spec)


def _backtest(args: argparse.Namespace) -> int:
    from algotrading.backtest.runner import describe_costs, run_backtest
    from algotrading.data.instruments import BUILTIN_INSTRUMENTS, normalize_symbol
    from algotrading.runtime.loop import run as run_loop
    from algotrading.strategies.registry import build_strategy

    config = _setup(args.config, args.log_level)
    params = dict(args.param)
    name = args.strategy or config.system.strategy.name
    base = dict(config.system.strategy.params) if name == config.system.strategy.name else {}
    if name == "ml_signal" and config.model.model.kind == "none":
        raise ConfigError("--strategy", name, "ml_signal trades on predictions: set model.kind")
    strategy = build_strategy(
        name, {**base, **params}, where="--strategy/--param", spec=config.system.strategy
    )
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
    start_ns = _time_arg("--start", args.start)
    end_ns = _time_arg("--end", args.end)
    if start_ns is not None and end_ns is not None and start_ns >= end_ns:
        raise ConfigError("--start", args.start, f"is not before --end {args.end}")
    interval_arg: int | None = args.interval
    unit = "bars"
    if args.data and Path(args.data).is_dir():
        bars, symbol, interval, total, unit = _stored_history(
            Path(args.data), symbol, interval_arg, start_ns, end_ns, config
        )
        source = args.data
    elif args.data:
        from algotrading.adapters.csv_bars import read_bars

        frame = read_bars(args.data, instrument=symbol)
        symbol, interval, source = frame.instrument, frame.interval_ns, args.data
        if symbol not in BUILTIN_INSTRUMENTS and not any(
            s.symbol == symbol for s in config.market.specs
        ):
            raise ConfigError("--instrument", symbol, "unknown instrument")
        if interval_arg is not None and interval_arg != interval:
            raise _not_buildable(args.data, interval_arg, f"{interval / 1e9:g}s bars")
        if len(frame):
            first, last = int(frame.ts_open[0]), int(frame.ts_open[-1])
            _check_window(start_ns, end_ns, first, last, source, f"bars of {symbol}")
        bars = _window(frame.bars(), start_ns, end_ns)
        total = len(frame)
    else:
        from algotrading.data.history import default_history

        symbol = symbol or "EUR_USD"
        spec = config.instrument(symbol)
        bars_list, interval = default_history(spec, config.system.feed.seed)
        source = f"synthetic (seed {config.system.feed.seed}, hourly, 2024)"
        if interval_arg is not None and interval_arg != interval:
            raise _not_buildable(source, interval_arg, f"{interval / 1e9:g}s bars")
        first, last = bars_list[0].ts_open, bars_list[-1].ts_open
        _check_window(start_ns, end_ns, first, last, source, f"bars of {symbol}")
        bars = _window(iter(bars_list), start_ns, end_ns)
        total = len(bars_list)
    spec = config.instrument(symbol)
    out = output_dir("--out", args.out)
    started = time.perf_counter()
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
        f"backtest {strategy.name} {m['run']['params']} on {symbol}: {result.bars} {unit} from "
        f"{source} ({m['run']['first_bar']} .. {m['run']['last_bar']})"
    )
    print(f"costs: {describe_costs(m['run']['costs'])}")
    print(f"fill rule: {m['run']['fill_rule']}")
    print(
        f"trades: {m['n_trades']}  total return: {_shown(m['total_return'], '.4%')}  "
        f"max drawdown: {_shown(m['max_drawdown'], '.4%')}  sharpe: {_shown(m['sharpe'], '.3f')}  "
        f"final equity: {m['final_equity']:.2f} {m['run']['account_currency']}"
    )
    names = ("trades.csv", "orders.csv", "equity.csv", "metrics.json", "report.html")
    print(f"wrote {', '.join(str(out / name) for name in names)}")
    print(f"({result.events} messages in {elapsed:.2f}s)", file=sys.stderr)
    return 0


def _time_arg(flag: str, text: str | None) -> int | None:
    from algotrading.timestamps import parse_utc

    if not text:
        return None
    try:
        return parse_utc(text)
    except ValueError:
        raise ConfigError(
            flag, text, "expected an ISO-8601 time, e.g. 2024-03-01T00:00:00Z"
        ) from None


def _window(bars: Iterator[Bar], start_ns: int | None, end_ns: int | None) -> Iterator[Bar]:
    for bar in bars:
        if start_ns is not None and bar.ts_open < start_ns:
            continue
        if end_ns is not None and bar.ts_open >= end_ns:
            return
        yield bar


def _check_window(
    start_ns: int | None, end_ns: int | None, first: int, last: int, source: str, what: str
) -> None:
    """A --start/--end that selects nothing of ``what`` running ``first`` .. ``last``
    (included) is an error naming the data's range, not an empty report."""
    from algotrading.errors import DataError
    from algotrading.timestamps import iso_utc

    if (start_ns is not None and start_ns > last) or (end_ns is not None and end_ns <= first):
        asked = " .. ".join(iso_utc(t) if t is not None else "" for t in (start_ns, end_ns))
        raise DataError(
            source,
            f"--start/--end ({asked}) selects no {what}: they run from {iso_utc(first)} "
            f"to {iso_utc(last)}",
        )


def _not_buildable(source: str, interval_ns: int, holds: str) -> AlgotradingError:
    from algotrading.errors import DataError

    return DataError(
        source,
        f"--interval {interval_ns / 1e9:g} cannot be built: the data holds {holds} "
        "(bars are built only from quotes)",
    )


def _stored_history(
    root: Path,
    symbol: str | None,
    interval_ns: int | None,
    start_ns: int | None,
    end_ns: int | None,
    config: Config,
) -> tuple[Iterator[Bar | Quote], str, int, int | None, str]:
    """Bars (or quotes) of one series of the history store, streamed, and which they are."""
    from algotrading.data import parquet_store as store

    chosen = store.choose_series(root, symbol, interval_ns)
    what = f"{chosen.kind} of {chosen.instrument}"
    _check_window(start_ns, end_ns, chosen.first_ts, chosen.last_ts, str(root), what)
    if chosen.kind == "bars":
        assert chosen.interval_ns is not None
        events: Iterator[Bar | Quote] = store.iter_bars(
            root, chosen.instrument, chosen.interval_ns, start_ns, end_ns
        )
        return events, chosen.instrument, chosen.interval_ns, chosen.rows, "bars"
    interval = interval_ns or config.bar_interval_ns
    events = store.iter_quotes(root, chosen.instrument, start_ns, end_ns)
    return events, chosen.instrument, interval, chosen.rows, "quotes"


def _run(args: argparse.Namespace) -> int:
    from algotrading.daemon.app import run_daemon
    from algotrading.runtime.loop import run as run_loop
    from algotrading.state.private import private_umask

    private_umask()  # what the daemon writes (state, recordings, models) is its user's only

    config = _setup(args.config)
    from algotrading.config import SECRET_ENV
    from algotrading.daemon.app import secret_environment
    from algotrading.log import add_secrets
    from algotrading.ops.alerts.config import check_alerts_config

    environment = secret_environment()
    add_secrets(environment.get(name, "") for name in SECRET_ENV.values())  # masked in logs
    check_alerts_config(config.system.alerts, environment)  # before anything trades
    if args.fresh_state:
        from algotrading.daemon.app import DB_NAME
        from algotrading.state.venue_binding import set_aside

        kept = set_aside(Path(args.state_dir) / DB_NAME)
        if kept is not None:
            print(f"the old state is set aside as {kept}")
    # The modules and the configuration live as long as the daemon: frozen, the collector's
    # full passes skip them (else one lands in the restart, about 20 ms, and recurs trading).
    gc.freeze()
    summary = run_loop(
        run_daemon(
            config,
            Path(args.state_dir),
            duration_s=args.duration,
            speed=args.speed,
            config_dir=Path(args.config) if args.config else None,
        ),
        use_uvloop=config.system.runtime.uvloop,
    )
    equity = f"{summary.equity:.2f}" if summary.equity is not None else "n/a"
    positions = ", ".join(f"{s} {q:+g}" for s, q in summary.positions.items())
    print(
        f"session {summary.session_id} stopped ({summary.reason}): {summary.orders} orders, "
        f"{summary.fills} fills, positions {positions}, {summary.open_orders} open orders, "
        f"trading {summary.trading_state}, equity {equity}"
    )
    return summary.exit_code
