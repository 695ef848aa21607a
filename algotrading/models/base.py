"""What every model is to the rest of the system: fit on feature rows, predict, save and load,
and describe itself.

Rows are feature vectors in time order, one per bar (``X``: ``(n, k)`` float64, no NaN — the
warm-up is cut off before a model sees it). A model predicts one value per row: a probability
of an up move (``task="classification"``) or a return (``task="regression"``). A sequence model
reads the ``window`` rows ending at a row; its first ``window - 1`` predictions are NaN.

A saved model is a directory: ``model.json`` (its :class:`ModelMetadata`) and the artifact files
the model writes (:mod:`algotrading.models.persistence`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import msgspec
import numpy as np
from numpy.typing import NDArray

Matrix = NDArray[np.float64]
Vector = NDArray[np.float64]

TASKS = ("classification", "regression")
METADATA_FILE = "model.json"


class ModelMetadata(msgspec.Struct, frozen=True, kw_only=True):
    model_id: str
    kind: str  # lightgbm | lstm | gru | ensemble
    task: str  # classification | regression
    features: tuple[str, ...]  # the feature columns, in order
    window: int  # feature rows per prediction
    params: dict[str, Any]
    label: str  # e.g. "sign(forward_return(1))"
    train_start: str  # ISO times of the training window (the bars' close times)
    train_end: str
    validation: dict[str, float]  # metrics on the validation fold used for early stopping
    versions: dict[str, str]  # python, numpy, lightgbm / torch, algotrading
    created: str
    content_hash: str = ""
    feature_specs: tuple[str, ...] = ()  # how to compute them: FeatureSet(feature_specs)
    instrument: str = ""  # trained on its bars ("": not recorded, a model saved before)
    bar_interval_ns: int = 0  # of those bars (0: not recorded)


@runtime_checkable
class Model(Protocol):
    kind: str
    task: str
    window: int

    def fit(self, x: Matrix, y: Vector, x_valid: Matrix, y_valid: Vector) -> dict[str, float]:
        """Train with early stopping on the validation rows; return validation metrics."""
        ...

    def predict(self, x: Matrix) -> Vector:
        """One prediction per row (NaN where a sequence model has fewer than ``window`` rows)."""
        ...

    def predict_last(self, window_rows: Matrix) -> float:
        """The prediction for the last of ``window_rows`` (the last ``window`` feature rows):
        the live path, one bar at a time; equal to :meth:`predict`'s for that row."""
        ...

    def params(self) -> dict[str, Any]: ...

    def save_artifacts(self, directory: Path) -> list[str]:
        """Write the model's own files into ``directory``; return their names."""
        ...
