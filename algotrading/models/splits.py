"""Walk-forward splits with purge and embargo: each fold trains on the past and is tested on the
block after it, and no training label reads a bar of that block.

Rows are bars ``0 … n-1``; ``label_end[i]`` is the last bar row i's label reads. For the fold
tested on ``[test_start, test_end)``:

- the **training window** ends where the test block starts — ``rolling`` keeps the last
  ``train_size`` rows before it, ``expanding`` every row since ``first``;
- **purge**: a training row whose label reads bar ``test_start - embargo`` or later is dropped
  (so labels never overlap the test block, nor the embargo before it);
- **embargo**: ``embargo`` further bars before the test block are kept out of training, a margin
  for serial correlation between the last training bars and the first test bars;
- the last ``valid_fraction`` of the training rows are held out for early stopping; a fit row
  whose label reads a validation bar is dropped too.

The test blocks tile ``[first + min_train, n)`` in consecutive pieces of ``test_size`` rows (the
last one shorter), so every out-of-sample prediction comes from a model that saw only the past.
Blocks are fixed in size, not a fraction of the history: cutting the history after a time ``t``
leaves every fold before ``t`` — and so every prediction before ``t`` — exactly as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Ints = NDArray[np.int64]


@dataclass(frozen=True)
class Fold:
    index: int
    fit: Ints  # rows the model is fitted on
    valid: Ints  # rows for early stopping
    test: Ints  # rows it predicts out of sample

    @property
    def test_start(self) -> int:
        return int(self.test[0])

    @property
    def test_end(self) -> int:
        return int(self.test[-1]) + 1


def walk_forward(
    label_end: Ints,
    *,
    first: int,
    test_size: int,
    min_train: int,
    scheme: str = "expanding",
    train_size: int = 0,
    embargo: int = 0,
    valid_fraction: float = 0.2,
) -> list[Fold]:
    """The folds over rows ``first … len(label_end) - 1`` (``first``: the first row whose
    features are warmed up). Rows whose label is unknown must be excluded by the caller
    (they are typically the last ``horizon`` rows, which are then never tested either)."""
    n = len(label_end)
    if scheme not in ("expanding", "rolling"):
        raise ValueError(f"scheme must be expanding or rolling, got {scheme!r}")
    if scheme == "rolling" and train_size <= 0:
        raise ValueError("a rolling scheme needs train_size > 0")
    if test_size < 1 or min_train < 2 or embargo < 0 or not 0 < valid_fraction < 1:
        raise ValueError(
            "need test_size >= 1, min_train >= 2, embargo >= 0, 0 < valid_fraction < 1"
        )
    start = first + min_train
    if start >= n:
        raise ValueError(
            f"not enough rows: {n - first} usable, {min_train} needed before the first test"
        )
    folds = []
    for i, test_start in enumerate(range(start, n, test_size)):
        test_end = min(test_start + test_size, n)
        lo = first if scheme == "expanding" else max(first, test_start - train_size)
        rows = np.arange(lo, test_start, dtype=np.int64)
        rows = rows[label_end[rows] < test_start - embargo]  # purge + embargo
        n_valid = max(1, int(len(rows) * valid_fraction))
        if len(rows) - n_valid < 2:
            raise ValueError(f"fold {i}: too few training rows after purging ({len(rows)})")
        valid = rows[-n_valid:]
        fit = rows[:-n_valid]
        fit = fit[label_end[fit] < valid[0]]  # no fit label reads a validation bar
        folds.append(Fold(i, fit, valid, np.arange(test_start, test_end, dtype=np.int64)))
    return folds
