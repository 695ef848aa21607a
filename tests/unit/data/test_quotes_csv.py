from pathlib import Path

import numpy as np
import pytest

from algotrading.data.columns import QuoteColumns
from algotrading.data.quotes_csv import iter_quote_chunks_csv
from algotrading.errors import DataError
from algotrading.timestamps import parse_utc

MS = 10**6
T0 = parse_utc("2024-01-02T13:00:00Z")

DUKASCOPY = """Gmt time,Ask,Bid,AskVolume,BidVolume
02.01.2024 13:00:00.123,1.10420,1.10410,1.5,2.25
02.01.2024 13:00:00.456,1.10421,1.10411,0.75,1
"""
TRUEFX = """EUR/USD,20240102 13:00:00.123,1.10410,1.10420
EUR/USD,20240102 13:00:00.124,1.10411,1.10421
"""


def write(tmp_path: Path, text: str, name: str = "EURUSD_ticks.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def read_all(path: Path, instrument: str | None = None, chunk_rows: int = 1000) -> QuoteColumns:
    chunks = list(iter_quote_chunks_csv(path, instrument, chunk_rows))
    return QuoteColumns(
        chunks[0].instrument,
        *(
            np.concatenate([getattr(c, n) for c in chunks])
            for n in ("ts", "bid", "ask", "bid_size", "ask_size")
        ),
    )


def raises_at(path: Path, row: int | None, *words: str, chunk_rows: int = 1000) -> DataError:
    with pytest.raises(DataError) as info:
        read_all(path, chunk_rows=chunk_rows)
    err = info.value
    assert err.file == str(path)
    assert err.row == row, str(err)
    for word in words:
        assert word in err.problem, str(err)
    return err


# --- formats -----------------------------------------------------------------------------------


def test_dukascopy_ticks(tmp_path: Path) -> None:
    got = read_all(write(tmp_path, DUKASCOPY))
    assert got.instrument == "EUR_USD"  # from the file name
    assert got.ts.tolist() == [T0 + 123 * MS, T0 + 456 * MS]
    assert got.bid.tolist() == [1.10410, 1.10411]  # Ask comes first in the file
    assert got.ask.tolist() == [1.10420, 1.10421]
    assert got.bid_size.tolist() == [2.25, 1.0]
    assert got.ask_size.tolist() == [1.5, 0.75]
    assert got.ts.dtype == np.int64
    assert got.bid.dtype == np.float64


def test_truefx_ticks_without_a_header(tmp_path: Path) -> None:
    got = read_all(write(tmp_path, TRUEFX, "ticks-2024-01.csv"))
    assert got.instrument == "EUR_USD"  # from the symbol column
    assert got.ts.tolist() == [T0 + 123 * MS, T0 + 124 * MS]
    assert got.bid.tolist() == [1.10410, 1.10411]
    assert got.ask.tolist() == [1.10420, 1.10421]
    assert got.bid_size.tolist() == [0.0, 0.0]
    assert got.ask_size.tolist() == [0.0, 0.0]


def test_generic_iso_times_to_the_nanosecond_with_offsets_and_sizes(tmp_path: Path) -> None:
    text = (
        "time,bid,ask,bid_size,ask_size\n"
        "2024-01-02T13:00:00.123456789Z,1.1,1.2,1,2\n"
        "2024-01-02 15:00:01+02:00,1.1,1.2,3,4\n"
        "2024-01-02T13:00:02,1.1,1.2,5,6\n"  # naive: UTC
    )
    got = read_all(write(tmp_path, text))
    assert got.ts.tolist() == [T0 + 123_456_789, T0 + 10**9, T0 + 2 * 10**9]
    assert got.bid_size.tolist() == [1, 3, 5]
    assert got.ask_size.tolist() == [2, 4, 6]


def test_generic_epoch_milliseconds_in_any_column_order(tmp_path: Path) -> None:
    ms = T0 // MS
    text = f"ask,bid,timestamp\n1.2,1.1,{ms}\n1.3,1.2,{ms + 1}\n"
    got = read_all(write(tmp_path, text, "GBPUSD.csv"))
    assert got.instrument == "GBP_USD"
    assert got.ts.tolist() == [T0, T0 + MS]
    assert got.bid.tolist() == [1.1, 1.2]
    assert got.ask.tolist() == [1.2, 1.3]


def test_epoch_seconds_are_told_from_milliseconds_by_size(tmp_path: Path) -> None:
    text = f"time,bid,ask\n{T0 // 10**9}.25,1.1,1.2\n{T0 // 10**9 + 1},1.1,1.2\n"
    assert read_all(write(tmp_path, text)).ts.tolist() == [T0 + 250 * MS, T0 + 10**9]


def test_semicolons_quoted_header_and_crlf(tmp_path: Path) -> None:
    text = '"time";"bid";"ask"\r\n2024-01-02T13:00:00Z;1.1;1.2\r\n'
    got = read_all(write(tmp_path, text))
    assert got.ts.tolist() == [T0]
    assert got.ask.tolist() == [1.2]


def test_prices_parse_exactly_as_python_floats(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    bids = [repr(float(x)) for x in rng.uniform(0.5, 200, 500)]
    lines = [f"{T0 // MS + i},{b},{float(b) * 1.001!r}" for i, b in enumerate(bids)]
    got = read_all(write(tmp_path, "time,bid,ask\n" + "\n".join(lines) + "\n"))
    assert got.bid.tolist() == [float(b) for b in bids]


def test_instrument_argument_wins_over_symbol_column_and_file_name(tmp_path: Path) -> None:
    assert read_all(write(tmp_path, TRUEFX), "gbpusd").instrument == "GBP_USD"
    assert read_all(write(tmp_path, DUKASCOPY), "USD/JPY").instrument == "USD_JPY"


def test_unknown_instrument_is_a_data_error(tmp_path: Path) -> None:
    path = write(tmp_path, DUKASCOPY, "ticks.csv")
    with pytest.raises(DataError, match="--instrument"):
        iter_quote_chunks_csv(path)


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 1000])
def test_chunks_of_any_size_give_the_same_quotes(tmp_path: Path, chunk_rows: int) -> None:
    lines = [f"{T0 // MS + i},{1 + i / 1000},{1.001 + i / 1000},{i},{i + 1}" for i in range(10)]
    path = write(tmp_path, "time,bid,ask,bid_size,ask_size\n" + "\n\n".join(lines) + "\n")
    chunks = list(iter_quote_chunks_csv(path, chunk_rows=chunk_rows))
    assert all(len(c) <= chunk_rows for c in chunks)
    got = read_all(path, chunk_rows=chunk_rows)
    assert got.ts.tolist() == [T0 + i * MS for i in range(10)]
    assert got.bid_size.tolist() == list(range(10))


# --- errors with line numbers ------------------------------------------------------------------


def ticks(n: int, bad: dict[int, str] | None = None, blank_after: int | None = None) -> str:
    """A generic tick file of ``n`` rows, data row i on line i + 2, with rows replaced."""
    lines = ["time,bid,ask"]
    for i in range(n):
        lines.append((bad or {}).get(i, f"{T0 // MS + i},1.1,1.2"))
    if blank_after is not None:
        lines.insert(blank_after + 2, "")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("chunk_rows", [1000, 3])
def test_row_numbers_are_file_lines_in_any_chunk(tmp_path: Path, chunk_rows: int) -> None:
    path = write(tmp_path, ticks(12, {9: f"{T0 // MS + 9},1.3,1.2"}, blank_after=4))
    # data row 9 is on line 11, and one blank line comes before it
    raises_at(path, 12, "bid 1.3 above ask 1.2", chunk_rows=chunk_rows)


def test_time_going_back_across_a_chunk_boundary(tmp_path: Path) -> None:
    path = write(tmp_path, ticks(8, {6: f"{T0 // MS},1.1,1.2"}))
    raises_at(path, 8, "time goes back", chunk_rows=3)  # row 6 opens the third chunk


def test_a_time_in_another_format(tmp_path: Path) -> None:
    path = write(tmp_path, DUKASCOPY + "2024-01-02 13:00:01,1.1042,1.1041,1,1\n")
    raises_at(path, 4, "'2024-01-02 13:00:01'", "dd.mm.yyyy")


def test_an_impossible_date(tmp_path: Path) -> None:
    path = write(tmp_path, DUKASCOPY + "31.02.2024 13:00:01.000,1.1042,1.1041,1,1\n")
    raises_at(path, 4, "'31.02.2024 13:00:01.000' is not a valid date")


def test_a_price_that_is_not_a_number(tmp_path: Path) -> None:
    path = write(tmp_path, ticks(5, {3: f"{T0 // MS + 3},1.1x,1.2"}))
    raises_at(path, 5, "bid '1.1x' is not a number")


def test_a_missing_field(tmp_path: Path) -> None:
    path = write(tmp_path, ticks(5, {2: f"{T0 // MS + 2},1.1"}))
    raises_at(path, 4, "missing ask")


def test_too_many_fields(tmp_path: Path) -> None:
    path = write(tmp_path, ticks(6, {4: f"{T0 // MS + 4},1.1,1.2,7"}), "EURUSD.csv")
    raises_at(path, 6, "expected 3 fields, found 4", chunk_rows=2)


def test_bad_prices_and_sizes(tmp_path: Path) -> None:
    raises_at(write(tmp_path, ticks(3, {1: f"{T0 // MS + 1},0,1.2"})), 3, "bad bid 0.0")
    raises_at(write(tmp_path, ticks(3, {2: f"{T0 // MS + 2},1.1,inf"})), 4, "bad ask inf")
    path = write(tmp_path, DUKASCOPY + "02.01.2024 13:00:01.000,1.1042,1.1041,-1,1\n")
    raises_at(path, 4, "bad ask_size -1.0")


def test_a_second_instrument_in_a_truefx_file(tmp_path: Path) -> None:
    path = write(tmp_path, TRUEFX + "GBP/USD,20240102 13:00:00.125,1.26,1.27\n")
    raises_at(path, 3, "'GBP/USD' after 'EUR/USD'")


def test_an_unknown_header_lists_the_formats(tmp_path: Path) -> None:
    err = raises_at(write(tmp_path, "date,price\n2024-01-02,1.1\n"), 1, "no time, bid, ask column")
    assert "Dukascopy" in err.problem
    assert "TrueFX" in err.problem


def test_an_unrecognised_time(tmp_path: Path) -> None:
    raises_at(write(tmp_path, "time,bid,ask\nyesterday,1.1,1.2\n"), 2, "unrecognised time")


def test_empty_files(tmp_path: Path) -> None:
    raises_at(write(tmp_path, "\n\n"), None, "empty file")
    raises_at(write(tmp_path, "time,bid,ask\n"), 1, "no data rows")
