"""A predictions file reads the same whole-column and row by row, and a bad row is reported
with its line either way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from algotrading.errors import DataError
from algotrading.models import prediction_file
from algotrading.models.prediction_file import ANY, read_predictions
from algotrading.timestamps import iso_utc, parse_utc


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "predictions.csv"
    path.write_text(text)
    return path


def rows_only(path: Path) -> dict[tuple[str, int], float]:
    return prediction_file._read_rows(path)


def test_a_training_file_reads_whole_columns_as_row_by_row(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    start = parse_utc("2024-01-08T00:00:00Z")
    lines = ["time,prediction,label,fold"]
    for i in range(2_000):
        lines.append(f"{iso_utc(start + i * 60 * 10**9)},{rng.normal()!r},1,{i // 500}")
    path = write(tmp_path, "\n".join(lines) + "\n")
    assert prediction_file._read_columns(path, ["time", "prediction", "label", "fold"]) is not None
    got = read_predictions(path)
    assert got == rows_only(path)
    assert len(got) == 2_000
    assert got[(ANY, start)] == float(lines[1].split(",")[1])


@pytest.mark.parametrize(
    "times",
    [
        ["2024-01-08T09:00:00Z", "2024-01-08T09:01:00.25Z", "2024-01-08T09:02:00.123456Z"],
        ["2024-01-08T09:00:00", "1969-12-31T23:59:59Z"],  # naive is UTC; before the epoch
    ],
)
def test_plain_times_take_the_fast_way_with_the_same_nanoseconds(
    tmp_path: Path, times: list[str]
) -> None:
    path = write(tmp_path, "time,prediction\n" + "".join(f"{t},0.5\n" for t in times))
    fast = prediction_file._read_columns(path, ["time", "prediction"])
    assert fast is not None
    assert fast == rows_only(path)
    assert sorted(ts for _, ts in fast) == sorted(parse_utc(t) for t in times)


@pytest.mark.parametrize(
    "row",
    [
        "2024-01-08T11:00:00+02:00,0.5",  # an offset
        "2024-01-08 09:00:00,0.5",  # a space for the T
        "2024-01-08T09:00:00Z,1_0",  # Python's float reads it, pyarrow does not
        " 2024-01-08T09:00:00Z,0.5",  # padded
    ],
)
def test_other_valid_rows_are_read_row_by_row(tmp_path: Path, row: str) -> None:
    path = write(tmp_path, f"time,prediction\n2024-01-08T08:00:00Z,0.1\n{row}\n")
    assert prediction_file._read_columns(path, ["time", "prediction"]) is None
    assert read_predictions(path) == rows_only(path)
    assert len(read_predictions(path)) == 2


def test_instruments_and_the_any_instrument(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "time,instrument,prediction\n"
        "2024-01-08T09:00:00Z,EUR_USD,0.6\n"
        "2024-01-08T09:00:00Z,,0.4\n"
        "2024-01-08T09:00:00Z,EUR_USD,0.7\n",  # the later row wins
    )
    ts = parse_utc("2024-01-08T09:00:00Z")
    assert read_predictions(path) == {("EUR_USD", ts): 0.7, (ANY, ts): 0.4}
    assert read_predictions(path) == rows_only(path)


@pytest.mark.parametrize(
    ("row", "says"),
    [
        ("2024-01-08T09:01:00Z,nan", "not a finite number"),
        ("2024-01-08T09:01:00Z,inf", "not a finite number"),
        ("2024-01-08T09:01:00Z,", "bad time or prediction"),
        ("2024-01-08T09:01:00Z,up", "bad time or prediction"),
        ("yesterday,0.5", "bad time or prediction"),
        ("2024-01-08T09:01:00Z", "bad time or prediction"),  # a field short
    ],
)
def test_a_bad_row_is_reported_with_its_line(tmp_path: Path, row: str, says: str) -> None:
    path = write(tmp_path, f"time,prediction\n2024-01-08T09:00:00Z,0.5\n{row}\n")
    with pytest.raises(DataError) as err:
        read_predictions(path)
    assert says in str(err.value)
    assert err.value.row == 3
    assert str(path) in str(err.value)


def test_missing_columns_and_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="expected columns time, prediction"):
        read_predictions(write(tmp_path, "when,value\n2024-01-08T09:00:00Z,0.5\n"))
    with pytest.raises(DataError, match="cannot read predictions"):
        read_predictions(tmp_path / "absent.csv")


def test_a_header_only_file_has_no_predictions(tmp_path: Path) -> None:
    assert read_predictions(write(tmp_path, "time,prediction\n")) == {}
