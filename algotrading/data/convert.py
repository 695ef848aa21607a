"""Converting downloaded CSV history into the Parquet history store, and the ``algotrading data``
command group that does it from the command line.

Bars are read whole (a year of minute bars is small) and written month by month; quotes are
streamed chunk by chunk into one partition per month, so a file of any size converts in flat
memory. A bad row anywhere leaves the store as it was.

Converting into a store that already holds some of the file's months loses nothing stored: bars
are merged into those months (where the file and the store have a bar at the same time, the
file's is kept), and quotes are added after what each month holds (a day's ticks after the days
before), refused if they do not all come after it. ``replace=True`` (``--replace``) replaces the
months the file covers instead.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from algotrading.adapters.csv_bars import read_bars
from algotrading.cli_args import non_empty, output_dir, seconds_ns
from algotrading.data.parquet_store import QuoteWriter, available, interval_name, write_bars
from algotrading.data.quotes_csv import iter_quote_chunks_csv
from algotrading.errors import AlgotradingError, DataError
from algotrading.timestamps import iso_utc

NS = 1_000_000_000


@dataclass(frozen=True)
class ConvertSummary:
    instrument: str
    kind: str
    interval_ns: int | None
    rows: int
    partitions: list[Path]


def convert_csv(
    csv_path: str | Path,
    root: str | Path,
    *,
    kind: str = "bars",
    instrument: str | None = None,
    interval_ns: int | None = None,
    chunk_rows: int = 1_000_000,
    replace: bool = False,
) -> ConvertSummary:
    """Store a CSV file of bars (any layout ``csv_bars`` reads; the interval defaults to the most
    common gap) or of quotes (Dukascopy, TrueFX or generic ticks, read ``chunk_rows`` at a time)
    under ``root``: merged into (bars) or added after (quotes) the months stored, or replacing
    them (``replace``)."""
    if kind == "bars":
        frame = read_bars(csv_path, instrument, interval_ns)
        columns = (frame.ts_open, frame.open, frame.high, frame.low, frame.close, frame.volume)
        partitions = write_bars(
            root, frame.instrument, frame.interval_ns, *columns, merge=not replace
        )
        return ConvertSummary(frame.instrument, kind, frame.interval_ns, len(frame), partitions)
    if kind != "quotes":
        raise ValueError(f"kind must be 'bars' or 'quotes', got {kind!r}")
    if interval_ns is not None:
        raise ValueError("quotes have no interval")
    writer: QuoteWriter | None = None
    try:
        for chunk in iter_quote_chunks_csv(csv_path, instrument, chunk_rows):
            writer = writer or QuoteWriter(root, chunk.instrument, append=not replace)
            writer.write(chunk.ts, chunk.bid, chunk.ask, chunk.bid_size, chunk.ask_size)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if writer is None:
        raise DataError(str(csv_path), "no quotes in the file")
    return ConvertSummary(writer.instrument, kind, None, writer.rows, writer.close())


# --- command line ------------------------------------------------------------------------------


def add_data_commands(
    subparsers: Any,
) -> argparse.ArgumentParser:
    """Add ``data convert`` and ``data list`` to the main parser's subcommands; dispatch the
    parsed arguments (``args.command == "data"``) to :func:`run_data_command`."""
    data: argparse.ArgumentParser = subparsers.add_parser(
        "data",
        help="convert CSV history into the Parquet store, and list what it holds",
        description="Manage the history store: Parquet partitioned by instrument and month, "
        "which backtests stream in flat memory.",
    )
    actions = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    convert = actions.add_parser(
        "convert",
        help="convert a CSV file of bars or quotes into the store",
        description="Convert a CSV file of OHLCV bars (broker and vendor exports) or of bid/ask "
        "ticks (Dukascopy, TrueFX, time,bid,ask) into the store under ROOT. Nothing stored is "
        "lost: bars are merged into the months stored (the file's bar wins at a time both "
        "have), quotes added after what each month holds (refused if they are not after it); "
        "--replace replaces the months the file covers instead.",
    )
    convert.add_argument(
        "--csv", type=non_empty, metavar="FILE", required=True, help="the CSV file"
    )
    convert.add_argument(
        "--out", type=non_empty, metavar="ROOT", required=True, help="the store's directory"
    )
    convert.add_argument(
        "--kind", choices=("bars", "quotes"), default="bars", help="what the file holds (bars)"
    )
    convert.add_argument(
        "--instrument",
        type=non_empty,
        metavar="SYMBOL",
        help="e.g. EUR_USD (default: from a symbol column or the file name)",
    )
    convert.add_argument(
        "--interval",
        metavar="SECONDS",
        type=seconds_ns,
        help="bar interval (default: the most common gap between bars)",
    )
    convert.add_argument(
        "--replace",
        action="store_true",
        help="replace the months the file covers instead of merging into them or adding to them",
    )
    listing = actions.add_parser(
        "list", help="list the series in a store", description="List what a store holds."
    )
    listing.add_argument("root", type=non_empty, metavar="ROOT", help="the store's directory")
    return data


def run_data_command(args: argparse.Namespace) -> int:
    """Run ``data convert`` or ``data list``; bad input raises :class:`AlgotradingError` for the
    CLI to print."""
    if args.data_command == "convert":
        if args.kind == "quotes" and args.interval is not None:
            raise AlgotradingError("--interval is for bars; quotes have none")
        output_dir("--out", args.out)
        started = time.perf_counter()
        summary = convert_csv(
            args.csv,
            args.out,
            kind=args.kind,
            instrument=args.instrument,
            interval_ns=args.interval,
            replace=args.replace,
        )
        print(_summary_line(summary, args.csv, args.out, time.perf_counter() - started))
        return 0
    print(_table(args.root))
    return 0


def _summary_line(summary: ConvertSummary, csv: str, root: str, seconds: float) -> str:
    what = summary.kind
    if summary.interval_ns is not None:
        what = f"{interval_name(summary.interval_ns)} {what}"
    months = len(summary.partitions)
    return (
        f"{csv}: {summary.rows:,} {what} of {summary.instrument} into {months} monthly "
        f"partition{'s' * (months != 1)} under {root} in {seconds:.1f} s"
    )


def _table(root: str) -> str:
    series = available(root)
    if not series:
        return f"{root}: the store is empty"
    header = ("KIND", "INSTRUMENT", "INTERVAL", "FIRST", "LAST", "ROWS")
    rows = [
        (
            s.kind,
            s.instrument,
            interval_name(s.interval_ns) if s.interval_ns is not None else "-",
            iso_utc(s.first_ts),
            iso_utc(s.last_ts),
            f"{s.rows:,}",
        )
        for s in series
    ]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.rjust(w) if i == 5 else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in (header, *rows)
    ]
    return "\n".join(line.rstrip() for line in lines)
