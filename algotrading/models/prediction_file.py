"""Predictions made elsewhere, read from a CSV file: the out-of-sample predictions of a
walk-forward training (``predictions.csv``), or a scripted stream for tests.

Columns: ``time`` (ISO-8601, the close time of the bar the prediction is made on — when it can
first be known), ``prediction``, and optionally ``instrument`` (without it, the prediction is
for every instrument); other columns are ignored.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from algotrading.errors import DataError
from algotrading.timestamps import parse_utc

ANY = ""


def read_predictions(path: str | Path) -> dict[tuple[str, int], float]:
    """``{(instrument or "", bar close time ns): prediction}``."""
    path = Path(path)
    try:
        f = path.open(newline="")
    except OSError as exc:
        raise DataError(str(path), f"cannot read predictions: {exc.strerror}") from None
    with f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        if "time" not in columns or "prediction" not in columns:
            raise DataError(str(path), f"expected columns time, prediction; found {columns}", 1)
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
