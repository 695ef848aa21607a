import argparse
import tracemalloc
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest

from algotrading.adapters.csv_bars import read_bars
from algotrading.data.convert import add_data_commands, convert_csv, run_data_command
from algotrading.data.parquet_store import iter_bar_chunks, iter_quote_chunks, iter_quotes
from algotrading.data.quotes_csv import iter_quote_chunks_csv
from algotrading.errors import AlgotradingError, DataError
from algotrading.timestamps import iso_utc, parse_utc

S = 10**9
MS = 10**6
HOUR = 3600 * S
MB = 10**6
JAN_30 = parse_utc("2024-01-30T00:00:00Z")
FEB = parse_utc("2024-02-01T00:00:00Z")


def bar_csv(tmp_path: Path, n: int = 100, name: str = "EURUSD_H1.csv") -> Path:
    lines = ["time,open,high,low,close,volume"]
    for i in range(n):
        price = 1.1 + i * 1e-4
        lines.append(f"{iso_utc(JAN_30 + i * HOUR)},{price},{price + 2e-4},{price - 1e-4},")
        lines[-1] += f"{price + 1e-4},{i}"
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def quote_csv(tmp_path: Path, n: int, step_ms: int, name: str = "EURUSD_ticks.csv") -> Path:
    """Generic ticks in epoch ms from 30 January, written fast by pyarrow."""
    i = np.arange(n, dtype=np.int64)
    bid = 1.1 + (i % 1000) * 1e-5
    table = pa.table({"time": JAN_30 // MS + i * step_ms, "bid": bid, "ask": bid + 2e-5})
    path = tmp_path / name
    pa_csv.write_csv(table, path, pa_csv.WriteOptions(quoting_style="none"))
    return path


def test_bars_convert_month_by_month_and_read_back_as_in_the_csv(tmp_path: Path) -> None:
    path = bar_csv(tmp_path)
    summary = convert_csv(path, tmp_path / "store")
    assert (summary.instrument, summary.kind, summary.interval_ns, summary.rows) == (
        "EUR_USD",
        "bars",
        HOUR,
        100,
    )
    assert [p.parent.name for p in summary.partitions] == ["month=01", "month=02"]
    frame = read_bars(path)
    (january, february) = iter_bar_chunks(tmp_path / "store", "EUR_USD", HOUR)
    for name in ("ts_open", "open", "high", "low", "close", "volume"):
        got = np.concatenate((getattr(january, name), getattr(february, name)))
        assert got.tolist() == getattr(frame, name).tolist()
    assert february.ts_open[0] == FEB


def test_bars_take_the_instrument_and_interval_given(tmp_path: Path) -> None:
    summary = convert_csv(
        bar_csv(tmp_path), tmp_path / "store", instrument="GBPUSD", interval_ns=HOUR
    )
    assert (summary.instrument, summary.interval_ns) == ("GBP_USD", HOUR)


def test_quotes_stream_into_one_partition_per_month_whatever_the_chunks(tmp_path: Path) -> None:
    path = quote_csv(tmp_path, 5000, step_ms=60_000)  # 30 January to 2 February
    summary = convert_csv(path, tmp_path / "store", kind="quotes", chunk_rows=700)
    assert (summary.instrument, summary.kind, summary.interval_ns, summary.rows) == (
        "EUR_USD",
        "quotes",
        None,
        5000,
    )
    assert [p.parent.name for p in summary.partitions] == ["month=01", "month=02"]
    assert sorted(p.name for p in summary.partitions[1].parent.iterdir()) == ["part-0.parquet"]
    stored = list(iter_quote_chunks(tmp_path / "store", "EUR_USD"))
    parsed = list(iter_quote_chunks_csv(path))
    for name in ("ts", "bid", "ask"):
        got = np.concatenate([getattr(c, name) for c in stored])
        assert got.tolist() == np.concatenate([getattr(c, name) for c in parsed]).tolist()


def test_converting_again_with_replace_replaces_the_months_covered(tmp_path: Path) -> None:
    root = tmp_path / "store"
    convert_csv(quote_csv(tmp_path, 100, step_ms=1000), root, kind="quotes")
    convert_csv(quote_csv(tmp_path, 40, step_ms=1000), root, kind="quotes", replace=True)
    assert len(list(iter_quotes(root, "EUR_USD"))) == 40
    assert [p.name for p in (root / "kind=quotes").rglob("*.parquet")] == ["part-0.parquet"]


def test_quotes_of_later_days_are_added_to_the_month_not_put_in_its_place(tmp_path: Path) -> None:
    """Regression: converting a month's ticks a day at a time (as vendors export them) kept only
    the last file's: each replaced the month the one before had written."""
    root = tmp_path / "store"
    day = 86_400 * 1000
    first = quote_csv(tmp_path, 50, step_ms=1000, name="d1_EURUSD.csv")
    convert_csv(first, root, kind="quotes")
    later = tmp_path / "d2_EURUSD.csv"
    later.write_text(
        "time,bid,ask\n" + "".join(f"{JAN_30 // MS + day + i},1.2,1.2001\n" for i in range(30))
    )
    convert_csv(later, root, kind="quotes")
    quotes = list(iter_quotes(root, "EUR_USD"))
    assert len(quotes) == 80
    assert [q.ts_event for q in quotes] == sorted(q.ts_event for q in quotes)
    parts = sorted(p.name for p in (root / "kind=quotes").rglob("*.parquet"))
    assert parts == ["part-0.parquet", "part-1.parquet"]


def test_quotes_that_overlap_the_stored_ones_are_refused_and_nothing_changes(
    tmp_path: Path,
) -> None:
    root = tmp_path / "store"
    convert_csv(quote_csv(tmp_path, 100, step_ms=1000), root, kind="quotes")
    before = sorted((p.name, p.read_bytes()) for p in root.rglob("*.parquet"))
    with pytest.raises(DataError, match="--replace") as refused:
        convert_csv(quote_csv(tmp_path, 40, step_ms=1000), root, kind="quotes")
    assert "month=01" in str(refused.value)
    assert sorted((p.name, p.read_bytes()) for p in root.rglob("*.parquet")) == before
    assert not list(root.rglob("*.tmp"))


def test_bars_of_a_later_half_month_are_merged_into_it(tmp_path: Path) -> None:
    """Regression: the second half of a month replaced the first, converted before it."""
    root = tmp_path / "store"
    lines = ["time,open,high,low,close"]
    rows = [f"{iso_utc(JAN_30 - 20 * 24 * HOUR + i * HOUR)},1.1,1.2,1.0,1.15" for i in range(48)]
    first, second = tmp_path / "a_EURUSD_H1.csv", tmp_path / "b_EURUSD_H1.csv"
    first.write_text("\n".join(lines + rows[:24]) + "\n")
    second.write_text("\n".join(lines + rows[20:]) + "\n")  # 4 hours overlap: the file's win
    convert_csv(first, root)
    convert_csv(second, root)
    stored = np.concatenate([c.ts_open for c in iter_bar_chunks(root, "EUR_USD", HOUR)])
    assert len(stored) == 48
    assert stored.tolist() == sorted(set(stored.tolist()))


def test_a_bad_row_in_a_later_month_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "EURUSD.csv"
    rows = [f"{JAN_30 // MS},1.1,1.2", f"{FEB // MS},1.1,1.2", f"{FEB // MS + 1},1.3,1.2"]
    path.write_text("time,bid,ask\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError) as info:
        convert_csv(path, tmp_path / "store", kind="quotes", chunk_rows=1)
    assert info.value.row == 4
    assert not list(tmp_path.glob("store/**/*.parquet"))
    assert not list(tmp_path.glob("store/**/*.tmp"))


def test_quotes_have_no_interval(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no interval"):
        convert_csv(quote_csv(tmp_path, 3, 1), tmp_path / "s", kind="quotes", interval_ns=S)


def test_streaming_conversion_and_reading_keep_memory_flat(tmp_path: Path) -> None:
    """2M quotes are 80 MB as five float64 columns; streaming them takes a fraction of that."""
    n = 2_000_000
    path = quote_csv(tmp_path, n, step_ms=1500)  # 30 January to 3 March
    root = tmp_path / "store"
    tracemalloc.start()
    try:
        summary = convert_csv(path, root, kind="quotes", chunk_rows=100_000)
        convert_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        rows, total = 0, 0.0
        for chunk in iter_quote_chunks(root, "EUR_USD", chunk_rows=100_000):
            rows += len(chunk)
            total += float(np.sum(chunk.ask - chunk.bid))
        read_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        whole = list(iter_quote_chunks_csv(path, chunk_rows=100_000))  # the control: all kept
        full_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert summary.rows == rows == sum(len(c) for c in whole) == n
    assert len(summary.partitions) == 3
    assert total == pytest.approx(n * 2e-5)
    assert full_peak > 80 * MB  # tracemalloc does see the arrays a full load keeps
    assert convert_peak < 50 * MB, convert_peak
    assert read_peak < 50 * MB, read_peak


# --- command line ------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="algotrading")
    add_data_commands(main.add_subparsers(dest="command", required=True))
    return main


def test_cli_convert_prints_one_line_and_list_prints_a_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(tmp_path / "store")
    args = parser().parse_args(["data", "convert", "--csv", str(bar_csv(tmp_path)), "--out", root])
    assert (args.command, args.kind, args.interval) == ("data", "bars", None)
    assert run_data_command(args) == 0
    line = capsys.readouterr().out
    assert line.count("\n") == 1
    assert "100 3600s bars of EUR_USD into 2 monthly partitions" in line
    ticks = str(quote_csv(tmp_path, 10, 1000))
    args = parser().parse_args(
        [
            "data",
            "convert",
            "--csv",
            ticks,
            "--out",
            root,
            "--kind",
            "quotes",
            "--instrument",
            "GBP/USD",
        ]
    )
    assert run_data_command(args) == 0
    assert "10 quotes of GBP_USD into 1 monthly partition " in capsys.readouterr().out
    assert run_data_command(parser().parse_args(["data", "list", root])) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["KIND", "INSTRUMENT", "INTERVAL", "FIRST", "LAST", "ROWS"]
    assert table[1].split() == [
        "bars",
        "EUR_USD",
        "3600s",
        "2024-01-30T00:00:00Z",
        "2024-02-03T03:00:00Z",
        "100",
    ]
    assert table[2].split() == [
        "quotes",
        "GBP_USD",
        "-",
        "2024-01-30T00:00:00Z",
        "2024-01-30T00:00:09Z",
        "10",
    ]


def test_cli_interval_is_in_seconds(tmp_path: Path) -> None:
    args = parser().parse_args(["data", "convert", "--csv", "x", "--out", "y", "--interval", "0.5"])
    assert args.interval == S // 2
    with pytest.raises(SystemExit):
        parser().parse_args(["data", "convert", "--csv", "x", "--out", "y", "--interval", "0"])


def test_cli_errors_are_project_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(
        ["data", "convert", "--csv", "x", "--out", "y", "--kind", "quotes", "--interval", "60"]
    )
    with pytest.raises(AlgotradingError, match="--interval"):
        run_data_command(args)
    with pytest.raises(DataError, match="does not exist"):
        run_data_command(parser().parse_args(["data", "list", str(tmp_path / "nowhere")]))
    (tmp_path / "empty").mkdir()
    assert run_data_command(parser().parse_args(["data", "list", str(tmp_path / "empty")])) == 0
    assert "empty" in capsys.readouterr().out
