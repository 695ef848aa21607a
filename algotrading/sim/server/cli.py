"""``algotrading sim-exchange``: the simulated exchange as a v20 server, for paper trading and
fault tests. ``algotrading/cli.py`` adds the parser with :func:`add_sim_exchange_parser` and
runs the command with :func:`run_sim_exchange_command`; SIGTERM/SIGINT shut it down gracefully
(streams closed, state written, exit 0)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from algotrading.cli_args import non_empty, non_negative_float, output_dir, port, positive_float
from algotrading.sim.server import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_TOKEN, TOKEN_ENV

# connections the kernel queues before the server accepts them (aiohttp's default is 128,
# too few for hundreds of clients connecting at once; the kernel caps it at somaxconn)
LISTEN_BACKLOG = 1024

if TYPE_CHECKING:
    from algotrading.sim.server.settings import ServerSettings


def add_sim_exchange_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``sim-exchange`` to the subcommands ``sub`` (from ``add_subparsers``)."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "sim-exchange",
        help="run the simulated exchange as an OANDA v20 server (paper trading, fault tests)",
        description="Serve the simulated exchange over the subset of OANDA's v20 REST and "
        "streaming protocol in docs/adapters/oanda-v20-subset.md: a v20 client works against it "
        "unchanged but for the host name. Prices come from the synthetic generator (default) or "
        "a CSV of bars, paced in data time. Requests need 'Authorization: Bearer <token>', the "
        f"token from ${TOKEN_ENV} (default {DEFAULT_TOKEN!r}, for local use). Faults are "
        "switched at run time with POST/GET/DELETE /admin/faults. Stops on SIGTERM/SIGINT.",
    )
    parser.add_argument(
        "--host", type=non_empty, default=DEFAULT_HOST, help=f"(default {DEFAULT_HOST})"
    )
    parser.add_argument(
        "--port", type=port, default=DEFAULT_PORT, help=f"(default {DEFAULT_PORT}; 0 = any free)"
    )
    parser.add_argument(
        "--state-dir",
        type=non_empty,
        metavar="DIR",
        default="sim-state",
        help="where the server keeps its SQLite file (default ./sim-state); a server started "
        "again on the same directory resumes its accounts, orders and prices",
    )
    parser.add_argument(
        "--data",
        type=non_empty,
        metavar="FILE",
        action="append",
        default=[],
        help="CSV of bars to replay as prices (repeat for more instruments; default: the "
        "config's feed, synthetic quotes unless feed.source is csv)",
    )
    parser.add_argument(
        "--config",
        type=non_empty,
        metavar="DIR",
        help="directory with system.yaml, market.yaml and sim_exchange.yaml (accounts)",
    )
    parser.add_argument(
        "--speed",
        type=positive_float,
        metavar="X",
        help="data time per wall time: 1 = real time (default: feed.speed of system.yaml)",
    )
    parser.add_argument(
        "--history-hours",
        type=non_negative_float,
        default=None,
        metavar="H",
        help="load the first H hours of data at once, as candle history (default 0)",
    )
    return parser


def run_sim_exchange_command(args: argparse.Namespace) -> int:
    """Run the server until SIGTERM/SIGINT; 0 on a clean stop. Raises ``ConfigError`` and
    ``DataError`` for bad input, which the CLI prints."""
    from pathlib import Path

    from algotrading.config import load_config
    from algotrading.errors import ConfigError
    from algotrading.log import configure_logging
    from algotrading.runtime.loop import run as run_loop
    from algotrading.sim.server.settings import ServerSettings, load_server_file, token_from_env

    config = load_config(args.config)
    configure_logging(config.system.log.level, config.system.log.format)
    server_file = load_server_file(args.config)
    history = args.history_hours if args.history_hours is not None else server_file.history_hours
    if history < 0:
        raise ConfigError("--history-hours", "", "expected a number >= 0")
    output_dir("--state-dir", args.state_dir)
    settings = ServerSettings(
        config=config,
        state_dir=Path(args.state_dir),
        token=token_from_env(),
        data_files=tuple(Path(p) for p in args.data),
        speed=args.speed,
        accounts=tuple(server_file.accounts),
        heartbeat_seconds=server_file.heartbeat_seconds,
        history_seconds=history * 3600.0,
    )
    return run_loop(serve(settings, args.host, args.port), use_uvloop=config.system.runtime.uvloop)


async def serve(settings: ServerSettings, host: str, port: int) -> int:
    """Serve until SIGTERM/SIGINT, printing where and what at start."""
    import asyncio
    import signal

    from aiohttp import web

    from algotrading.errors import ConfigError
    from algotrading.log import get_logger
    from algotrading.sim.server.app import create_app, service_of

    log = get_logger("sim_exchange")
    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, backlog=LISTEN_BACKLOG).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError("--port", str(port), f"cannot listen on {host}: {exc.strerror}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        bound = runner.addresses[0][1] if runner.addresses else port
        service = service_of(app)
        print(f"sim-exchange listening on http://{host}:{bound} (REST and streams under /v3)")
        for account_id in service.accounts:
            print(f"account {account_id}")
        token = settings.token
        shown = token if token == DEFAULT_TOKEN else "from $" + TOKEN_ENV
        print(f"token: {shown}", flush=True)
        await stop.wait()
        log.info("stopping", reason="signal")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await runner.cleanup()
    return 0
