"""LightGBM gradient-boosted trees: a classifier of the sign of the forward return (binary
log-loss; predictions are probabilities of an up move) or a regressor of the return (L2).

Training stops early on the validation rows (``early_stopping_rounds`` without improvement) and
keeps the best iteration. ``deterministic`` LightGBM with a fixed ``seed`` and row-wise histograms
gives the same trees for the same data on any run. ``window`` is 1: one feature row per
prediction.

The live path predicts one row per bar with :meth:`GbdtModel.predict_last` — the same booster
call on a one-row matrix, so it returns exactly what :meth:`predict` gives for that row (about
20 µs for 200 trees on this machine; ``benchmarks/`` measures it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from algotrading.models.base import TASKS, Matrix, Vector

ARTIFACT = "lightgbm.txt"


class GbdtModel:
    kind = "lightgbm"
    window = 1

    def __init__(
        self,
        task: str = "classification",
        *,
        n_estimators: int = 200,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 50,
        feature_fraction: float = 0.9,
        bagging_fraction: float = 0.8,
        lambda_l2: float = 1.0,
        early_stopping_rounds: int = 20,
        seed: int = 0,
        num_threads: int = 1,
    ) -> None:
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        if n_estimators < 1 or num_leaves < 2 or not 0 < learning_rate <= 1:
            raise ValueError("need n_estimators >= 1, num_leaves >= 2, 0 < learning_rate <= 1")
        if early_stopping_rounds < 1 or min_child_samples < 1:
            raise ValueError("early_stopping_rounds and min_child_samples must be >= 1")
        self.task = task
        self._params: dict[str, Any] = {
            "n_estimators": n_estimators,
            "learning_rate": learning_rate,
            "num_leaves": num_leaves,
            "min_child_samples": min_child_samples,
            "feature_fraction": feature_fraction,
            "bagging_fraction": bagging_fraction,
            "lambda_l2": lambda_l2,
            "early_stopping_rounds": early_stopping_rounds,
            "seed": seed,
            "num_threads": num_threads,
        }
        self.booster: lgb.Booster | None = None

    def params(self) -> dict[str, Any]:
        return {"task": self.task, **self._params}

    def _lgb_params(self) -> dict[str, Any]:
        p = self._params
        return {
            "objective": "binary" if self.task == "classification" else "regression",
            "metric": "binary_logloss" if self.task == "classification" else "l2",
            "learning_rate": p["learning_rate"],
            "num_leaves": p["num_leaves"],
            "min_data_in_leaf": p["min_child_samples"],
            "feature_fraction": p["feature_fraction"],
            "bagging_fraction": p["bagging_fraction"],
            "bagging_freq": 1 if p["bagging_fraction"] < 1 else 0,
            "lambda_l2": p["lambda_l2"],
            "seed": p["seed"],
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": p["num_threads"],
            "verbosity": -1,
        }

    def fit(self, x: Matrix, y: Vector, x_valid: Matrix, y_valid: Vector) -> dict[str, float]:
        train = lgb.Dataset(x, label=y, free_raw_data=True)
        valid = lgb.Dataset(x_valid, label=y_valid, reference=train)
        self.booster = lgb.train(
            self._lgb_params(),
            train,
            num_boost_round=self._params["n_estimators"],
            valid_sets=[valid],
            valid_names=["valid"],
            callbacks=[lgb.early_stopping(self._params["early_stopping_rounds"], verbose=False)],
        )
        best = self.booster.best_iteration or self.booster.current_iteration()
        scores = self.booster.best_score.get("valid", {})
        metrics = {"best_iteration": float(best)}
        metrics.update({name: float(value) for name, value in scores.items()})
        if self.task == "classification":
            predicted = self.predict(x_valid) > 0.5
            metrics["valid_accuracy"] = float(np.mean(predicted == (y_valid > 0.5)))
        return metrics

    def _require(self) -> lgb.Booster:
        if self.booster is None:
            raise RuntimeError("the model is not fitted")
        return self.booster

    def predict(self, x: Matrix) -> Vector:
        booster = self._require()
        out = booster.predict(x, num_iteration=booster.best_iteration or None)
        return np.asarray(out, dtype=np.float64)

    def predict_last(self, window_rows: Matrix) -> float:
        """The prediction for the last row — the live path, one bar at a time."""
        booster = self._require()
        row = np.ascontiguousarray(window_rows[-1:], dtype=np.float64)
        # One thread: for one row, waking a thread pool costs more than the trees, and its
        # spinning threads would compete with the event loop.
        value = booster.predict(row, num_iteration=booster.best_iteration or None, num_threads=1)
        return float(value[0])

    def save_artifacts(self, directory: Path) -> list[str]:
        booster = self._require()
        booster.save_model(str(directory / ARTIFACT), num_iteration=booster.best_iteration or None)
        return [ARTIFACT]

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> GbdtModel:
        model = cls(**params)
        model.booster = lgb.Booster(model_file=str(directory / ARTIFACT))
        return model
