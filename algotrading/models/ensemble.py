"""Ensembles of models trained on the same rows: ``mean`` of the members' predictions,
``weighted`` by given weights (normalised to sum 1), or ``stacking`` — a linear combination with
an intercept fitted by least squares on the members' predictions of the validation rows (the
same rows their early stopping watched: cheap, slightly optimistic; the out-of-sample test rows
of a walk-forward are never used). Stacked probabilities are clipped to [0, 1].

The ensemble reads the longest member window; a row where any member has no prediction yet
has none either.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from algotrading.models.base import Matrix, Model, Vector

METHODS = ("mean", "weighted", "stacking")


class EnsembleModel:
    kind = "ensemble"

    def __init__(
        self,
        members: list[Model],
        method: str = "mean",
        weights: list[float] | None = None,
    ) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one member")
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        tasks = {m.task for m in members}
        if len(tasks) != 1:
            raise ValueError(f"members must share one task, got {sorted(tasks)}")
        if method == "weighted":
            if weights is None or len(weights) != len(members) or min(weights) < 0:
                raise ValueError("weighted needs one non-negative weight per member")
            if sum(weights) <= 0:
                raise ValueError("weights must not all be 0")
        self.members = members
        self.method = method
        self.task = tasks.pop()
        self.window = max(m.window for m in members)
        total = sum(weights) if weights else 0.0
        self.weights = (
            [w / total for w in weights] if weights else [1.0 / len(members)] * len(members)
        )
        self.intercept = 0.0

    def params(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "weights": self.weights,
            "intercept": self.intercept,
            "members": [{"kind": m.kind, "params": m.params()} for m in self.members],
        }

    def fit(self, x: Matrix, y: Vector, x_valid: Matrix, y_valid: Vector) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for i, member in enumerate(self.members):
            for name, value in member.fit(x, y, x_valid, y_valid).items():
                metrics[f"member{i}_{name}"] = value
        if self.method == "stacking":
            stacked = self._member_predictions(x_valid)
            ok = ~np.isnan(stacked).any(axis=1)
            design = np.column_stack([np.ones(ok.sum()), stacked[ok]])
            coef, *_ = np.linalg.lstsq(design, y_valid[ok], rcond=None)
            self.intercept = float(coef[0])
            self.weights = [float(c) for c in coef[1:]]
        predicted = self.predict(x_valid)
        ok = ~np.isnan(predicted)
        metrics["valid_mse"] = float(np.mean((predicted[ok] - y_valid[ok]) ** 2))
        if self.task == "classification":
            metrics["valid_accuracy"] = float(np.mean((predicted[ok] > 0.5) == (y_valid[ok] > 0.5)))
        return metrics

    def _member_predictions(self, x: Matrix) -> Matrix:
        return np.column_stack([m.predict(x) for m in self.members])

    def _combine(self, predictions: Matrix) -> Vector:
        out = predictions @ np.asarray(self.weights) + self.intercept
        if self.task == "classification" and self.method == "stacking":
            out = np.clip(out, 0.0, 1.0)
        return np.asarray(out, dtype=np.float64)

    def predict(self, x: Matrix) -> Vector:
        return self._combine(self._member_predictions(x))

    def predict_last(self, window_rows: Matrix) -> float:
        values = [m.predict_last(window_rows[-m.window :]) for m in self.members]
        return float(self._combine(np.asarray([values], dtype=np.float64))[0])

    def save_artifacts(self, directory: Path) -> list[str]:
        from algotrading.models.persistence import member_directory, save_member

        files = []
        for i, member in enumerate(self.members):
            files += save_member(member, member_directory(directory, i))
        return files

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> EnsembleModel:
        from algotrading.models.persistence import build_loaded, member_directory

        members = [
            build_loaded(spec["kind"], member_directory(directory, i), spec["params"])
            for i, spec in enumerate(params["members"])
        ]
        model = cls(members)
        model.method = params["method"]
        model.weights = list(params["weights"])
        model.intercept = float(params["intercept"])
        return model
