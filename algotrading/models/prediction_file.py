"""Predictions made elsewhere, read from a CSV file: the out-of-sample predictions of a
walk-forward training (``predictions.csv``), or a scripted stream for tests.

Columns: ``time`` (ISO-8601, the close time of the bar the prediction is made on — when it can
first be known), ``prediction``, and optionally ``instrument`` (without it, the prediction is
for every instrument); other columns are ignored.

A file is read in one of two ways with one result. Whole columns at once (pyarrow), when every
time is in the plain form a training writes (``2024-01-08T09:00:00Z``, an optional fraction of
up to six digits, a naive time being UTC) and every prediction is a finite number — a year of
minute predictions in well under a second. Anything else goes row by row through the same rules
as every other time in the package (:func:`~algotrading.timestamps.parse_utc`), so an odd but
valid time is still read, and a bad row is reported with its line.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from algotrading.errors import DataError
from algotrading.timestamps import parse_utc

ANY = ""
# What the column reader takes; others go row by row. Six fraction digits at most: parse_utc
# keeps microseconds, so both ways give the same nanoseconds.
_PLAIN_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z?$"


def read_predictions(path: str | Path) -> dict[tuple[str, int], float]:
    """``{(instrument or "", bar close time ns): prediction}``; a time given twice keeps the
    later row."""
    path = Path(path)
    try:
        f = path.open(newline="")
    except OSError as exc:
        raise DataError(str(path), f"cannot read predictions: {exc.strerror}") from None
    with f:
        columns = list(csv.DictReader(f).fieldnames or [])
    if "time" not in columns or "prediction" not in columns:
        raise DataError(str(path), f"expected columns time, prediction; found {columns}", 1)
    fast = _read_columns(path, columns)
    return fast if fast is not None else _read_rows(path)


def _read_columns(path: Path, columns: list[str]) -> dict[tuple[str, int], float] | None:
    """The whole file as columns; None when any row needs the row-by-row reader."""
    import numpy as np  # here, not at the top: the model actor imports this module
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    wanted = [c for c in ("time", "prediction", "instrument") if c in columns]
    if len(set(columns)) != len(columns):
        return None  # a repeated header: leave it to csv.DictReader's rule (the last wins)
    try:
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                include_columns=wanted,
                column_types={"time": pa.string(), "instrument": pa.string()},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError):
        return None
    if table.num_rows == 0:
        return {}
    times, values = table.column("time"), table.column("prediction")
    if not pa.types.is_floating(values.type) and not pa.types.is_integer(values.type):
        return None
    if values.null_count or not pc.all(pc.match_substring_regex(times, _PLAIN_TIME)).as_py():
        return None
    predictions = values.to_numpy().astype(np.float64)
    if not np.isfinite(predictions).all():
        return None
    naive = pc.replace_substring(times, "Z", "")  # every time is UTC
    stamps = pc.cast(naive, pa.timestamp("ns")).cast(pa.int64()).to_numpy().tolist()
    if "instrument" in columns:
        instruments = table.column("instrument").to_pylist()
        keys = list(zip([i or ANY for i in instruments], stamps, strict=True))
    else:
        keys = [(ANY, ts) for ts in stamps]
    return dict(zip(keys, predictions.tolist(), strict=True))


def _read_rows(path: Path) -> dict[tuple[str, int], float]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        out: dict[tuple[str, int], float] = {}
        for line, row in enumerate(reader, start=2):
            try:
                ts = parse_utc(row["time"])
                value = float(row["prediction"])
            except (TypeError, ValueError) as exc:
                raise DataError(str(path), f"bad time or prediction: {exc}", line) from None
            if not math.isfinite(value):
                raise DataError(str(path), f"prediction is not a finite number: {value}", line)
            out[(row.get("instrument") or ANY, ts)] = value
    return out
