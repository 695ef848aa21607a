import importlib.util
from pathlib import Path

import numpy as np
import pytest

from algotrading.adapters.csv_bars import iter_bars, read_bars
from algotrading.data.synthetic import synthetic_bars
from algotrading.errors import DataError
from algotrading.messages import Bar
from algotrading.timestamps import parse_utc

S = 10**9
MINUTE = 60 * S
HOUR = 3600 * S
DAY = 86400 * S
T0 = parse_utc("2020-01-02T13:00:00Z")
HEADER = "time,open,high,low,close,volume"


def write(tmp_path: Path, text: str, name: str = "EURUSD_H1.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def raises_at(path: Path, row: int | None, *words: str) -> DataError:
    with pytest.raises(DataError) as info:
        read_bars(path)
    err = info.value
    assert err.row == row, str(err)
    assert err.file == str(path)
    if row is not None:
        assert f"row {row}:" in str(err)
    for word in words:
        assert word in str(err), str(err)
    return err


# --- timestamps --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "expected", "step"),
    [
        ("2020-01-02T13:00:00Z", "2020-01-02T14:00:00Z", T0, HOUR),
        ("2020-01-02T13:00:00", "2020-01-02T14:00:00", T0, HOUR),
        ("2020-01-02 13:00", "2020-01-02 14:00", T0, HOUR),
        ("2020-01-02 13:00:00.5", "2020-01-02 13:00:01.5", T0 + S // 2, S),
        ("2020-01-02T13:00:00.123456789Z", "2020-01-02T13:00:01.123456789Z", T0 + 123456789, S),
        ("2020-01-02T14:00:00+01:00", "2020-01-02T15:00:00+01:00", T0, HOUR),
        ("2020-01-02T08:00:00-05:00", "2020-01-02T09:00:00-0500", T0, HOUR),
        ("2020.01.02 13:00", "2020.01.02 13:01", T0, MINUTE),
        ("2020.01.02 13:00:00", "2020.01.02 13:01:00", T0, MINUTE),
        ("02.01.2020 13:00:00.000", "02.01.2020 14:00:00.000", T0, HOUR),
        ("02.01.2020 14:00:00.000 GMT+0100", "02.01.2020 15:00:00.000 GMT+0100", T0, HOUR),
        ("20200102 130000", "20200102 130100", T0, MINUTE),
        ("20200102 13:00:00", "20200102 13:01:00", T0, MINUTE),
        ("1/2/2020 13:00", "1/2/2020 14:00", T0, HOUR),
        ("12/31/2019 13:00", "1/2/2020 13:00", T0 - 2 * DAY, 2 * DAY),
        ("2020-01-02", "2020-01-03", T0 - 13 * HOUR, DAY),
        ("20200102", "20200103", T0 - 13 * HOUR, DAY),
        ("1577970000", "1577973600", T0, HOUR),
        ("1577970000000", "1577970060000", T0, MINUTE),
        ("1577970000000000", "1577970000000001", T0, 1000),
        ("1577970000123456789", "1577970000123456790", T0 + 123456789, 1),
        ("1577970000.25", "1577970001.25", T0 + S // 4, S),
    ],
)
def test_each_timestamp_format_is_read_exactly(tmp_path, first, second, expected, step):
    path = write(tmp_path, f"{HEADER}\n{first},1.1,1.2,1.0,1.15,10\n{second},1.1,1.2,1.0,1.15,5\n")
    frame = read_bars(path)
    assert frame.ts_open.dtype == np.int64
    assert frame.ts_open.tolist() == [expected, expected + step]
    assert frame.interval_ns == step


def test_a_row_in_another_format_than_the_first_is_an_error(tmp_path):
    path = write(tmp_path, f"{HEADER}\n2020-01-02 13:00,1,1,1,1,1\n02.01.2020 14:00:00,1,1,1,1,1\n")
    raises_at(path, 3, "02.01.2020 14:00:00", "yyyy-mm-dd")


@pytest.mark.parametrize("bad", ["2020-02-30 13:00", "2020-01-02 25:00", "2020-01-02 13:61"])
def test_impossible_dates_and_times_are_errors(tmp_path, bad):
    path = write(tmp_path, f"{HEADER}\n2020-01-02 13:00,1,1,1,1,1\n{bad},1,1,1,1,1\n")
    raises_at(path, 3, bad)


def test_an_unrecognised_first_time_lists_the_formats(tmp_path):
    path = write(tmp_path, f"{HEADER}\nyesterday,1,1,1,1,1\n")
    raises_at(path, 2, "unrecognised time 'yesterday'", "ISO 8601")


# --- layouts -----------------------------------------------------------------------------------

ROWS = [("2020.01.02", "13:00"), ("2020.01.02", "14:00"), ("2020.01.02", "15:00")]
PRICES = [(1.1, 1.2, 1.0, 1.15, 100.0), (1.15, 1.25, 1.1, 1.2, 50.0), (1.2, 1.3, 1.19, 1.21, 7.5)]


def assert_three_hours(frame, volume=True):
    assert frame.instrument == "EUR_USD"
    assert frame.interval_ns == HOUR
    assert frame.ts_open.tolist() == [T0, T0 + HOUR, T0 + 2 * HOUR]
    columns = [frame.open, frame.high, frame.low, frame.close, frame.volume]
    expected = [list(c) for c in zip(*PRICES, strict=True)]
    if not volume:
        expected[4] = [0.0, 0.0, 0.0]
    assert [c.tolist() for c in columns] == expected


def table(header: str | None, delim: str, time_fields: int = 2, volume: bool = True) -> str:
    lines = [header] if header is not None else []
    for (day, tod), prices in zip(ROWS, PRICES, strict=True):
        time = [day, tod] if time_fields == 2 else [f"{day} {tod}"]
        values = [repr(p) for p in prices[: 5 if volume else 4]]
        lines.append(delim.join(time + values))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("delim", [",", ";", "\t", " ", "   "])
def test_delimiters_are_sniffed(tmp_path, delim):
    header = delim.join(["Date", "Time", "Open", "High", "Low", "Close", "Volume"])
    assert_three_hours(read_bars(write(tmp_path, table(header, delim))))


@pytest.mark.parametrize("delim", [",", "\t", " "])
def test_headerless_metatrader_history_exports(tmp_path, delim):
    assert "2020.01.02,13:00,1.1,1.2,1.0,1.15,100.0" in table(None, ",")
    assert_three_hours(read_bars(write(tmp_path, table(None, delim))))


def test_headerless_compact_date_and_time_split_by_whitespace(tmp_path):
    path = write(tmp_path, "20200102 130000 1.1 1.2 1.0 1.15 100\n20200102 140000 1 1 1 1 1\n")
    assert read_bars(path).ts_open.tolist() == [T0, T0 + HOUR]


def test_headerless_daily_bars_whose_price_looks_like_a_time(tmp_path):
    text = "20200102,1300,1310,1290,1305,100\n20200103,1305,1320,1300,1310,90\n"
    frame = read_bars(write(tmp_path, text, "SPX500_USD_D1.csv"))
    assert frame.instrument == "SPX500_USD"
    assert frame.ts_open.tolist() == [T0 - 13 * HOUR, T0 + 11 * HOUR]
    assert frame.open.tolist() == [1300.0, 1305.0]
    assert frame.interval_ns == DAY


def test_headerless_with_one_time_field_and_no_volume(tmp_path):
    text = table(None, ",", time_fields=1, volume=False)
    assert_three_hours(read_bars(write(tmp_path, text)), volume=False)


@pytest.mark.parametrize(
    "header",
    [
        "Gmt time,Open,High,Low,Close,Volume",
        "Local time,Open,High,Low,Close,Volume",
        "timestamp,open,high,low,close,volume",
        "DateTime,O,H,L,C,V",
        " TIME , OPEN , HIGH , LOW , CLOSE , TICK VOLUME ",
        ",open,high,low,close,volume",
        "<DATETIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<TICKVOL>",
        '"Date","Open","High","Low","Close","Vol"',
    ],
)
def test_header_names_in_their_usual_spellings(tmp_path, header):
    assert_three_hours(read_bars(write(tmp_path, table(header, ",", time_fields=1))))


def test_separate_date_and_time_columns_in_any_position(tmp_path):
    lines = ["Open,High,Low,Close,Time,Date"]
    for (day, tod), (o, h, lo, c, _) in zip(ROWS, PRICES, strict=True):
        lines.append(f"{o},{h},{lo},{c},{tod},{day}")
    assert_three_hours(read_bars(write(tmp_path, "\n".join(lines))), volume=False)


def test_metatrader5_export_with_tickvol_vol_and_spread(tmp_path):
    lines = ["<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>"]
    for (day, tod), prices in zip(ROWS, PRICES, strict=True):
        lines.append("\t".join([day, f"{tod}:00", *map(repr, prices), "0", "12"]))
    path = tmp_path / "EURUSD_H1.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-16")
    assert_three_hours(read_bars(path))


def test_byte_order_mark_crlf_and_blank_lines_are_tolerated(tmp_path):
    text = "\ufeff" + table("Date,Time,Open,High,Low,Close,Volume", ",").replace("\n", "\r\n\r\n")
    assert_three_hours(read_bars(write(tmp_path, text)))


def test_prices_are_kept_as_parsed(tmp_path):
    path = write(tmp_path, f"{HEADER}\n2020-01-02,1.123456789,1.2,0.1,0.30000000000000004,3\n")
    frame = read_bars(path, interval_ns=DAY)
    assert frame.open[0] == 1.123456789
    assert frame.close[0] == 0.30000000000000004


# --- interval ----------------------------------------------------------------------------------


def test_weekend_gaps_do_not_change_the_modal_interval(tmp_path):
    friday = parse_utc("2020-01-03T18:00:00Z")
    sunday = parse_utc("2020-01-05T22:00:00Z")
    times = [friday + i * HOUR for i in range(3)] + [sunday + i * HOUR for i in range(3)]
    body = "".join(f"{t // S},1,1,1,1,1\n" for t in times)
    frame = read_bars(write(tmp_path, f"{HEADER}\n{body}"))
    assert frame.interval_ns == HOUR
    assert frame.ts_open.tolist() == times


def test_interval_ties_go_to_the_smallest_gap(tmp_path):
    body = "".join(f"{t},1,1,1,1,1\n" for t in (0, 60, 180, 240, 360))
    assert read_bars(write(tmp_path, f"{HEADER}\n{body}")).interval_ns == MINUTE


def test_a_given_interval_wins(tmp_path):
    path = write(tmp_path, table(None, ","))
    assert read_bars(path, interval_ns=4 * HOUR).interval_ns == 4 * HOUR


def test_a_single_bar_needs_its_interval(tmp_path):
    path = write(tmp_path, f"{HEADER}\n2020-01-02 13:00,1,1,1,1,1\n")
    raises_at(path, None, "interval_ns")
    assert len(read_bars(path, interval_ns=HOUR)) == 1


# --- instrument --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "symbol"),
    [
        ("EURUSD.csv", "EUR_USD"),
        ("EUR_USD.csv", "EUR_USD"),
        ("eur-usd.csv", "EUR_USD"),
        ("EURUSD_H1.csv", "EUR_USD"),
        ("GBPJPY60.csv", "GBP_JPY"),
        ("EURUSD_Candlestick_1_Hour_BID_01.01.2020-31.12.2020.csv", "EUR_USD"),
        ("USDSEK_2020.csv", "USD_SEK"),
        ("US30_USD_M1.csv", "US30_USD"),
        ("oanda_SPX500_USD_H1.csv", "SPX500_USD"),
        ("nas100_h1.csv", "NAS100_USD"),
        ("export-DE30EUR-2020.csv", "DE30_EUR"),
        ("history_eurusd_m1.csv", "EUR_USD"),
    ],
)
def test_instrument_from_the_file_name(tmp_path, name, symbol):
    assert read_bars(write(tmp_path, table(None, ","), name)).instrument == symbol


@pytest.mark.parametrize("name", ["prices.csv", "bars_2020.csv", "US300.csv", "data.txt"])
def test_an_unknown_file_name_asks_for_the_instrument(tmp_path, name):
    path = write(tmp_path, table(None, ","), name)
    raises_at(path, None, "--instrument")
    assert read_bars(path, instrument="eur/usd").instrument == "EUR_USD"


def test_instrument_from_a_symbol_column_and_the_argument_wins(tmp_path):
    path = write(
        tmp_path,
        "symbol,time,open,high,low,close\nGBPUSD,0,1,1,1,1\nGBPUSD,60,1,1,1,1\n",
        "bars.csv",
    )
    assert read_bars(path).instrument == "GBP_USD"
    assert read_bars(path, instrument="US30").instrument == "US30_USD"
    assert read_bars(write(tmp_path, table(None, ",")), instrument="SPX500_USD").instrument == (
        "SPX500_USD"
    )


def test_a_symbol_column_with_two_instruments_is_an_error(tmp_path):
    text = "symbol,time,open,high,low,close\nEURUSD,0,1,1,1,1\nGBPUSD,60,1,1,1,1\n"
    raises_at(write(tmp_path, text, "bars.csv"), 3, "GBPUSD", "EURUSD")


# --- errors ------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    raises_at(tmp_path / "EURUSD_missing.csv", None, "cannot read")


@pytest.mark.parametrize("text", ["", "\n\n", "  \n"])
def test_empty_file(tmp_path, text):
    raises_at(write(tmp_path, text), None, "empty")


def test_not_text(tmp_path):
    path = tmp_path / "EURUSD.csv"
    path.write_bytes(b"time,open\n\xff\xfe\x00\x81junk")
    raises_at(path, None, "not UTF-8 text")


def test_a_lone_word_is_a_header_without_data(tmp_path):
    raises_at(write(tmp_path, "hello\n"), 1, "no data rows")
    raises_at(write(tmp_path, "hello\nworld\n"), 1, "no time, open, high, low, close column")


def test_header_without_data(tmp_path):
    raises_at(write(tmp_path, f"\n{HEADER}\n\n"), 2, "no data rows")


def test_missing_columns_name_what_was_found_and_expected(tmp_path):
    err = raises_at(write(tmp_path, "when,open,high,close\n1,1,1,1\n"), 1, "no time, low column")
    assert "'when'" in str(err)
    assert "open, high, low, close" in str(err)


@pytest.mark.parametrize(
    ("row", "words"),
    [
        ("abc", ("high 'abc' is not a number",)),
        ("", ("high '' is not a number",)),
        ("nan", ("bad high nan",)),
        ("inf", ("bad high inf",)),
        ("-1.2", ("bad high -1.2",)),
        ("0", ("bad high 0.0",)),
    ],
)
def test_bad_prices_are_errors_with_their_line(tmp_path, row, words):
    text = f"{HEADER}\n0,1,1,1,1,1\n\n60,1,{row},1,1,1\n120,1,1,1,1,1\n"
    raises_at(write(tmp_path, text), 4, *words)


def test_bad_volume(tmp_path):
    text = f"{HEADER}\n0,1,1,1,1,1\n60,1,1,1,1,-5\n"
    raises_at(write(tmp_path, text), 3, "bad volume -5.0")


@pytest.mark.parametrize(
    "ohlc",
    ["1.1,1.15,1.0,1.2", "1.1,1.2,1.08,1.05", "1.1,1.2,1.15,1.12", "1.1,1.2,1.0,0.99"],
)
def test_inconsistent_ohlc_is_an_error(tmp_path, ohlc):
    text = f"{HEADER}\n0,1,1,1,1,1\n60,{ohlc},1\n"
    raises_at(write(tmp_path, text), 3, "inconsistent open, high, low, close")


def test_the_earliest_problem_is_reported(tmp_path):
    text = f"{HEADER}\n0,1,1,1,1,1\n60,1,1,1,1,1\n60,1,1,1,1,1\n120,1,0.5,1,1,1\n"
    raises_at(write(tmp_path, text), 4, "duplicate time", "1970-01-01T00:01:00Z")


def test_time_going_back_is_an_error(tmp_path):
    text = f"{HEADER}\n0,1,1,1,1,1\n120,1,1,1,1,1\n60,1,1,1,1,1\n"
    raises_at(write(tmp_path, text), 4, "time goes back")


@pytest.mark.parametrize("row", ["60,1,1,1,1", "60,1,1,1,1,1,1"])
def test_wrong_number_of_fields(tmp_path, row):
    text = f"{HEADER}\n0,1,1,1,1,1\n{row}\n"
    raises_at(write(tmp_path, text), 3, "expected 6 fields")


def test_errors_read_as_one_line_with_file_and_row(tmp_path):
    path = write(tmp_path, f"{HEADER}\n0,1,1,1,1,1\n60,x,1,1,1,1\n")
    assert str(raises_at(path, 3)) == f"{path}, row 3: open 'x' is not a number"


# --- Dukascopy and bars ------------------------------------------------------------------------


def _write_dukascopy_csv():
    conftest = Path(__file__).parents[2] / "integration" / "conftest.py"
    spec = importlib.util.spec_from_file_location("integration_conftest", conftest)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_dukascopy_csv


def test_dukascopy_export_round_trips_the_synthetic_bars(tmp_path):
    start, end = "2024-03-04T00:00:00Z", "2024-04-04T00:00:00Z"
    path = _write_dukascopy_csv()(tmp_path / "EURUSD_H1.csv", start, end, seed=11)
    expected = synthetic_bars("EUR_USD", parse_utc(start), parse_utc(end), HOUR, seed=11)
    bars = list(iter_bars(path))
    assert len(bars) == len(expected) > 500
    for got, want in zip(bars, expected, strict=True):
        assert got == Bar(
            ts_event=want.ts_event,
            instrument="EUR_USD",
            interval_ns=HOUR,
            ts_open=want.ts_open,
            open=round(want.open, 5),
            high=round(want.high, 5),
            low=round(want.low, 5),
            close=round(want.close, 5),
            volume=round(want.volume, 2),
        )


def test_bar_frame_columns_and_bars_agree(tmp_path):
    frame = read_bars(write(tmp_path, table(None, ",")))
    assert len(frame) == 3
    bars = list(frame.bars())
    assert [b.ts_event for b in bars] == [T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR]
    assert all(type(b.ts_open) is int and type(b.open) is float for b in bars)
    assert bars[1] == Bar(
        ts_event=T0 + 2 * HOUR,
        instrument="EUR_USD",
        interval_ns=HOUR,
        ts_open=T0 + HOUR,
        open=1.15,
        high=1.25,
        low=1.1,
        close=1.2,
        volume=50.0,
    )
