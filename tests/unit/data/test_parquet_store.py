from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from algotrading.data import parquet_store
from algotrading.data.parquet_store import (
    ROW_GROUP_ROWS,
    QuoteWriter,
    StoredSeries,
    available,
    interval_name,
    iter_bar_chunks,
    iter_bars,
    iter_quote_chunks,
    iter_quotes,
    write_bars,
    write_quotes,
)
from algotrading.errors import DataError
from algotrading.messages import Bar, Quote
from algotrading.timestamps import parse_utc

S = 10**9
MINUTE = 60 * S
HOUR = 3600 * S
JAN = parse_utc("2024-01-01T00:00:00Z")
FEB = parse_utc("2024-02-01T00:00:00Z")
MAR = parse_utc("2024-03-01T00:00:00Z")


def bars(n: int, start: int = JAN, step: int = MINUTE, seed: int = 0) -> dict[str, np.ndarray]:
    """Valid bars with full-precision random prices (so a lossy round trip would show)."""
    rng = np.random.default_rng(seed)
    close = 1.1 * np.exp(np.cumsum(rng.normal(0, 1e-4, n)))
    open_ = np.concatenate(([1.1], close[:-1]))
    high = np.maximum(open_, close) + rng.uniform(0, 1e-4, n)
    low = np.minimum(open_, close) - rng.uniform(0, 1e-4, n)
    ts = start + np.arange(n, dtype=np.int64) * step
    return dict(
        ts_open=ts, open=open_, high=high, low=low, close=close, volume=rng.uniform(0, 9, n)
    )


def quotes(n: int, start: int = JAN, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    ts = start + np.cumsum(rng.integers(0, 2 * S, n))  # ties included
    bid = 1.1 * np.exp(np.cumsum(rng.normal(0, 1e-5, n)))
    ask = bid + rng.uniform(0, 3e-5, n)
    return dict(
        ts=ts, bid=bid, ask=ask, bid_size=rng.uniform(0, 5, n), ask_size=rng.uniform(0, 5, n)
    )


def read_bar_columns(root: Path, **kw: object) -> dict[str, np.ndarray]:
    chunks = list(iter_bar_chunks(root, "EUR_USD", MINUTE, **kw))
    names = ("ts_open", "open", "high", "low", "close", "volume")
    return {n: concatenated([getattr(c, n) for c in chunks], n) for n in names}


def read_quote_columns(root: Path, **kw: object) -> dict[str, np.ndarray]:
    chunks = list(iter_quote_chunks(root, "EUR_USD", **kw))
    names = ("ts", "bid", "ask", "bid_size", "ask_size")
    return {n: concatenated([getattr(c, n) for c in chunks], n) for n in names}


def concatenated(arrays: list[np.ndarray], name: str) -> np.ndarray:
    empty = np.zeros(0, dtype=np.int64 if name.startswith("ts") else np.float64)
    return np.concatenate(arrays) if arrays else empty


def assert_identical(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    """Bit for bit: the same int64 timestamps and the same float64 bit patterns."""
    assert got.keys() == want.keys()
    for name in want:
        a, b = np.asarray(got[name]), np.asarray(want[name])
        assert a.dtype == b.dtype, name
        assert np.array_equal(a.view(np.int64), b.view(np.int64)), name


# --- round trips and layout --------------------------------------------------------------------


def test_bars_round_trip_bit_for_bit(tmp_path: Path) -> None:
    data = bars(5000)
    data["ts_open"] = data["ts_open"] + 123_456_789  # ns, not only whole seconds
    write_bars(tmp_path, "EUR_USD", MINUTE, **data)
    assert_identical(read_bar_columns(tmp_path), data)


def test_quotes_round_trip_bit_for_bit(tmp_path: Path) -> None:
    data = quotes(5000)
    write_quotes(tmp_path, "EUR_USD", **data)
    assert_identical(read_quote_columns(tmp_path), data)


def test_quote_sizes_default_to_zero(tmp_path: Path) -> None:
    write_quotes(tmp_path, "EUR_USD", [JAN, JAN + S], [1.1, 1.2], [1.2, 1.3])
    (quote, _) = iter_quotes(tmp_path, "EUR_USD")
    assert quote == Quote(ts_event=JAN, instrument="EUR_USD", bid=1.1, ask=1.2)


def test_iter_bars_builds_bar_messages_stamped_at_the_close(tmp_path: Path) -> None:
    data = bars(3)
    write_bars(tmp_path, "EUR_USD", MINUTE, **data)
    got = list(iter_bars(tmp_path, "EUR_USD", MINUTE))
    assert got[1] == Bar(
        ts_event=JAN + 2 * MINUTE,
        instrument="EUR_USD",
        interval_ns=MINUTE,
        ts_open=JAN + MINUTE,
        open=float(data["open"][1]),
        high=float(data["high"][1]),
        low=float(data["low"][1]),
        close=float(data["close"][1]),
        volume=float(data["volume"][1]),
    )
    assert all(type(b.ts_open) is int and type(b.open) is float for b in got)


def test_iter_quotes_builds_quote_messages(tmp_path: Path) -> None:
    data = quotes(50)
    write_quotes(tmp_path, "EUR_USD", **data)
    got = list(iter_quotes(tmp_path, "EUR_USD"))
    assert len(got) == 50
    assert got[7] == Quote(
        ts_event=int(data["ts"][7]),
        instrument="EUR_USD",
        bid=float(data["bid"][7]),
        ask=float(data["ask"][7]),
        bid_size=float(data["bid_size"][7]),
        ask_size=float(data["ask_size"][7]),
    )


def test_a_month_boundary_splits_partitions_in_the_documented_layout(tmp_path: Path) -> None:
    start = parse_utc("2023-12-31T22:00:00Z")
    paths = write_bars(tmp_path, "EURUSD", HOUR, **bars(800, start, HOUR))  # into February
    series = tmp_path / "kind=bars" / "instrument=EUR_USD" / "interval=3600s"
    assert paths == [
        series / "year=2023" / "month=12" / "part-0.parquet",
        series / "year=2024" / "month=01" / "part-0.parquet",
        series / "year=2024" / "month=02" / "part-0.parquet",
    ]
    december = pq.read_table(paths[0]).column("ts_open").to_numpy()
    assert december.tolist() == [start, start + HOUR]
    january = pq.read_table(paths[1]).column("ts_open").to_numpy()
    assert january[0] == JAN
    assert january[-1] == FEB - HOUR
    assert len(january) == 31 * 24
    quote_paths = write_quotes(tmp_path, "EUR_USD", [FEB - 1, FEB], [1.0, 1.0], [1.0, 1.0])
    assert [p.relative_to(tmp_path).as_posix() for p in quote_paths] == [
        "kind=quotes/instrument=EUR_USD/year=2024/month=01/part-0.parquet",
        "kind=quotes/instrument=EUR_USD/year=2024/month=02/part-0.parquet",
    ]


def test_partition_files_are_zstd_with_65536_row_groups_and_the_schema(tmp_path: Path) -> None:
    (path,) = write_quotes(tmp_path, "EUR_USD", **quotes(150_000, seed=1, start=JAN))
    meta = pq.read_metadata(path)
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert sizes == [ROW_GROUP_ROWS, ROW_GROUP_ROWS, 150_000 - 2 * ROW_GROUP_ROWS]
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert str(meta.schema.to_arrow_schema()) == str(parquet_store.QUOTE_SCHEMA)


def test_interval_names() -> None:
    assert interval_name(MINUTE) == "60s"
    assert interval_name(HOUR) == "3600s"
    assert interval_name(250_000_000) == "250000000ns"
    with pytest.raises(ValueError, match="> 0"):
        interval_name(0)


# --- reading -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (None, None),
        (JAN + 10 * MINUTE, None),
        (None, JAN + 10 * MINUTE),
        (JAN + 10 * MINUTE + 1, JAN + 20 * MINUTE),  # between bars, end exclusive
        (FEB - MINUTE, FEB + MINUTE),  # across the month boundary
        (FEB, MAR),  # exactly one month
        (JAN + 70_000 * MINUTE, JAN + 70_001 * MINUTE),  # in the second row group of a month
        (JAN - HOUR, JAN),  # before everything
        (MAR + HOUR, None),  # after everything
        (JAN + 5 * MINUTE, JAN + 5 * MINUTE),  # empty range
    ],
)
def test_start_and_end_select_ts_open_in_a_half_open_range(
    tmp_path: Path, start: int | None, end: int | None
) -> None:
    data = bars(90_000)  # January and part of February, two row groups in January
    write_bars(tmp_path, "EUR_USD", MINUTE, **data)
    ts = data["ts_open"]
    keep = (ts >= (start if start is not None else ts[0])) & (
        ts < (end if end is not None else ts[-1] + 1)
    )
    want = {name: column[keep] for name, column in data.items()}
    assert_identical(read_bar_columns(tmp_path, start_ns=start, end_ns=end), want)


@pytest.mark.parametrize("chunk_rows", [1, 7, 500, 65_536, 1_000_000])
def test_chunks_of_any_size_yield_the_same_rows(tmp_path: Path, chunk_rows: int) -> None:
    n = 3000 if chunk_rows < 100 else 100_000
    data = quotes(n, start=FEB - n * S // 2)  # half in January, half in February
    write_quotes(tmp_path, "EUR_USD", **data)
    chunks = list(iter_quote_chunks(tmp_path, "EUR_USD", chunk_rows=chunk_rows))
    assert all(0 < len(c) <= chunk_rows for c in chunks)
    assert_identical(read_quote_columns(tmp_path, chunk_rows=chunk_rows), data)


def test_missing_store_instrument_or_interval_is_a_data_error_naming_what_exists(
    tmp_path: Path,
) -> None:
    with pytest.raises(DataError, match="does not exist"):
        iter_bar_chunks(tmp_path / "nowhere", "EUR_USD", MINUTE)
    with pytest.raises(DataError, match="holds nothing"):
        iter_bars(tmp_path, "EUR_USD", MINUTE)
    write_bars(tmp_path, "EUR_USD", MINUTE, **bars(3))
    write_quotes(tmp_path, "GBP_USD", [JAN], [1.2], [1.3])
    with pytest.raises(DataError) as info:
        iter_bars(tmp_path, "EUR_USD", HOUR)
    assert "no bars of EUR_USD at 3600s" in str(info.value)
    assert "bars of EUR_USD at 60s, quotes of GBP_USD" in str(info.value)
    with pytest.raises(DataError, match="no quotes of USD_JPY"):
        iter_quotes(tmp_path, "USDJPY")


def test_instrument_spellings_are_normalised(tmp_path: Path) -> None:
    write_bars(tmp_path, "eur/usd", MINUTE, **bars(3))
    assert len(list(iter_bars(tmp_path, "EURUSD", MINUTE))) == 3
    with pytest.raises(ValueError, match="not an instrument"):
        write_bars(tmp_path, "../evil", MINUTE, **bars(3))


def test_available_reports_each_series_from_metadata(tmp_path: Path) -> None:
    b = bars(100, FEB - 50 * MINUTE)
    write_bars(tmp_path, "EUR_USD", MINUTE, **b)
    write_bars(tmp_path, "EUR_USD", HOUR, **bars(10, JAN, HOUR))
    q = quotes(1000)
    write_quotes(tmp_path, "GBP_USD", **q)
    assert available(tmp_path) == [
        StoredSeries("bars", "EUR_USD", MINUTE, int(b["ts_open"][0]), int(b["ts_open"][-1]), 100),
        StoredSeries("bars", "EUR_USD", HOUR, JAN, JAN + 9 * HOUR, 10),
        StoredSeries("quotes", "GBP_USD", None, int(q["ts"][0]), int(q["ts"][-1]), 1000),
    ]
    with pytest.raises(DataError, match="does not exist"):
        available(tmp_path / "nowhere")


# --- replacing, merging, crashing --------------------------------------------------------------


def test_writing_a_stored_month_replaces_it_and_keeps_the_others(tmp_path: Path) -> None:
    write_bars(tmp_path, "EUR_USD", HOUR, **bars(24 * 40, JAN, HOUR))  # January and February
    new = bars(5, FEB + HOUR, HOUR, seed=9)
    write_bars(tmp_path, "EUR_USD", HOUR, **new)
    got = [b.ts_open for b in iter_bars(tmp_path, "EUR_USD", HOUR)]
    assert got == [JAN + i * HOUR for i in range(24 * 31)] + new["ts_open"].tolist()


def test_merge_keeps_the_new_rows_at_shared_times(tmp_path: Path) -> None:
    old = bars(10, JAN, HOUR)
    new = bars(10, JAN + 5 * HOUR, HOUR, seed=1)  # rows 5..9 overlap
    write_bars(tmp_path, "EUR_USD", HOUR, **old)
    write_bars(tmp_path, "EUR_USD", HOUR, **new, merge=True)
    got = read_bar_columns_hourly(tmp_path)
    want = {n: np.concatenate((old[n][:5], new[n])) for n in old}
    assert_identical(got, want)


def read_bar_columns_hourly(root: Path) -> dict[str, np.ndarray]:
    (chunk,) = iter_bar_chunks(root, "EUR_USD", HOUR)
    names = ("ts_open", "open", "high", "low", "close", "volume")
    return {n: getattr(chunk, n) for n in names}


def test_merge_of_quotes_drops_every_stored_quote_at_a_new_time(tmp_path: Path) -> None:
    write_quotes(tmp_path, "EUR_USD", [1, 2, 2, 3], [1.0, 1.1, 1.2, 1.3], [2.0, 2.0, 2.0, 2.0])
    write_quotes(tmp_path, "EUR_USD", [2, 2, 4], [5.0, 5.1, 5.2], [6.0, 6.0, 6.0], merge=True)
    got = [(q.ts_event, q.bid) for q in iter_quotes(tmp_path, "EUR_USD")]
    assert got == [(1, 1.0), (2, 5.0), (2, 5.1), (3, 1.3), (4, 5.2)]


def test_merge_into_an_empty_month_writes_it(tmp_path: Path) -> None:
    write_bars(tmp_path, "EUR_USD", HOUR, **bars(3, JAN, HOUR), merge=True)
    assert len(list(iter_bars(tmp_path, "EUR_USD", HOUR))) == 3


def test_a_crash_before_the_rename_leaves_the_old_partition_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = bars(100)
    (path,) = write_bars(tmp_path, "EUR_USD", MINUTE, **old)
    before = path.read_bytes()

    def crash(src: object, dst: object) -> None:
        assert Path(str(src)).stat().st_size > 0  # the temporary file was written
        raise OSError("simulated crash")

    monkeypatch.setattr(parquet_store.os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        write_bars(tmp_path, "EUR_USD", MINUTE, **bars(50, seed=3))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["part-0.parquet"]
    assert_identical(read_bar_columns(tmp_path), old)


def stream(root: Path, *batches: tuple[object, object, object], crash: bool = False) -> None:
    """Quotes through a QuoteWriter in several writes, then perhaps a crash inside the block."""
    with QuoteWriter(root, "EUR_USD") as writer:
        for ts, bid, ask in batches:
            writer.write(ts, bid, ask)
        if crash:
            raise RuntimeError("boom")


def test_a_crash_mid_stream_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    old = quotes(10, start=JAN)
    write_quotes(tmp_path, "EUR_USD", **old)
    data = quotes(1000, start=FEB - 500 * S)
    with pytest.raises(RuntimeError, match="boom"):
        stream(tmp_path, (data["ts"][:800], data["bid"][:800], data["ask"][:800]), crash=True)
    series = tmp_path / "kind=quotes" / "instrument=EUR_USD"
    assert [p.relative_to(series).as_posix() for p in series.rglob("*") if p.is_file()] == [
        "year=2024/month=01/part-0.parquet"
    ]
    assert_identical(read_quote_columns(tmp_path), old)


def test_a_bad_row_in_a_later_month_leaves_earlier_months_unchanged(tmp_path: Path) -> None:
    old = quotes(10, start=JAN)
    write_quotes(tmp_path, "EUR_USD", **old)
    with pytest.raises(DataError):
        stream(tmp_path, ([JAN, FEB], [1.0, 1.0], [1.1, 1.1]), ([FEB + 1], [1.2], [1.1]))
    assert_identical(read_quote_columns(tmp_path), old)
    assert len(list(tmp_path.rglob("*.parquet"))) == 1
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_leftover_temporary_file_is_ignored(tmp_path: Path) -> None:
    (path,) = write_bars(tmp_path, "EUR_USD", MINUTE, **bars(10))
    (path.parent / ".part-0.0123abcd.tmp").write_bytes(b"half a parquet file")
    assert len(list(iter_bars(tmp_path, "EUR_USD", MINUTE))) == 10
    assert available(tmp_path)[0].rows == 10


def test_quote_writer_streams_months_across_calls(tmp_path: Path) -> None:
    data = quotes(3000, start=FEB - 1000 * S)
    with QuoteWriter(tmp_path, "EUR_USD") as writer:
        for start in range(0, 3000, 700):
            writer.write(*(column[start : start + 700] for column in data.values()))
    assert writer.rows == 3000
    assert len(list((tmp_path / "kind=quotes").rglob("*.parquet"))) == 2
    assert_identical(read_quote_columns(tmp_path), data)


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "row", "value", "words"),
    [
        ("ts_open", 3, JAN + MINUTE, "time goes back"),
        ("ts_open", 2, JAN + MINUTE, "duplicate time"),
        ("open", 4, np.nan, "bad open nan"),
        ("close", 5, -1.0, "bad close -1.0"),
        ("low", 6, 0.0, "bad low 0.0"),
        ("high", 7, np.inf, "bad high inf"),
        ("volume", 8, -1.0, "bad volume -1.0: must be finite and >= 0"),
        ("high", 9, 0.5, "high below open or close"),
        ("low", 1, 5.0, "low above"),
    ],
)
def test_bad_bars_raise_naming_the_row(
    tmp_path: Path, column: str, row: int, value: float, words: str
) -> None:
    data = bars(12)
    data[column] = data[column].copy()
    data[column][row] = value
    with pytest.raises(DataError) as info:
        write_bars(tmp_path, "EUR_USD", MINUTE, **data)
    assert info.value.row == row
    assert words in info.value.problem
    assert not list(tmp_path.rglob("*.parquet"))


def test_the_earliest_bad_bar_is_reported(tmp_path: Path) -> None:
    data = bars(12)
    data["volume"][9] = -1.0
    data["open"][4] = np.nan
    with pytest.raises(DataError) as info:
        write_bars(tmp_path, "EUR_USD", MINUTE, **data)
    assert info.value.row == 4


@pytest.mark.parametrize(
    ("column", "row", "value", "words"),
    [
        ("ts", 3, 0, "time goes back"),
        ("bid", 4, 1.5, "bid 1.5 above ask"),
        ("bid", 5, 0.0, "bad bid 0.0"),
        ("ask", 6, np.inf, "bad ask inf"),
        ("bid_size", 7, -2.0, "bad bid_size -2.0"),
        ("ask_size", 8, np.nan, "bad ask_size nan"),
    ],
)
def test_bad_quotes_raise_naming_the_row(
    tmp_path: Path, column: str, row: int, value: float, words: str
) -> None:
    data = quotes(12)
    data[column][row] = value
    with pytest.raises(DataError) as info:
        write_quotes(tmp_path, "EUR_USD", **data)
    assert info.value.row == row
    assert words in info.value.problem


def test_quotes_may_share_a_time(tmp_path: Path) -> None:
    write_quotes(tmp_path, "EUR_USD", [JAN, JAN, JAN], [1.0, 1.1, 1.0], [1.1, 1.1, 1.2])
    assert len(list(iter_quotes(tmp_path, "EUR_USD"))) == 3


def test_the_quote_writer_counts_rows_across_calls_and_checks_order_between_them(
    tmp_path: Path,
) -> None:
    with pytest.raises(DataError) as info:
        stream(
            tmp_path,
            ([JAN, JAN + S], [1.0] * 2, [1.1] * 2),
            ([JAN + 2 * S, JAN + 1], [1.0] * 2, [1.1] * 2),
        )
    assert info.value.row == 3
    assert "time goes back" in info.value.problem


def test_columns_of_different_lengths_are_a_bug(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one length"):
        write_quotes(tmp_path, "EUR_USD", [JAN, JAN + 1], [1.0], [1.1, 1.2])


def test_choose_series_names_what_the_store_holds_with_its_range(tmp_path):
    from algotrading.data.parquet_store import choose_series

    write_bars(tmp_path, "EUR_USD", MINUTE, **bars(10))
    with pytest.raises(DataError) as info:
        choose_series(tmp_path, "GBP_USD")
    assert "no GBP_USD in the store; it holds: bars EUR_USD 60s 2024-01-01T00:00:00" in str(
        info.value
    )
    with pytest.raises(DataError, match="no bars of 3600s and no quotes"):
        choose_series(tmp_path, "EUR_USD", HOUR)
    write_quotes(tmp_path, "EUR_USD", **quotes(50))
    assert choose_series(tmp_path, "EUR_USD", HOUR).kind == "quotes"  # built from them
    assert choose_series(tmp_path, "EUR_USD", MINUTE).kind == "bars"
