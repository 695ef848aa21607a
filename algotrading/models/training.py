"""Walk-forward training: features and labels over a history, a model per fold trained on the
past only (purged and embargoed, :mod:`algotrading.models.splits`), its out-of-sample
predictions, and their evaluation. No files here — :mod:`algotrading.models.train_run` writes
them; this module is the part a notebook calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from algotrading.config import SequenceConfig, TrainingConfig
from algotrading.data.columns import BarColumns
from algotrading.features.feature_set import FeatureSet
from algotrading.models.base import Model
from algotrading.models.evaluation import evaluate
from algotrading.models.labels import forward_return, rolling_vol, sign_label, triple_barrier
from algotrading.models.splits import Fold, walk_forward

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
Progress = Callable[[str, dict[str, Any]], None]  # (event, fields): fold_started, epoch, ...


def make_model(training: TrainingConfig, kind: str | None = None) -> Model:
    """A fresh, unfitted model as ``training`` describes it."""
    kind = kind or training.model
    task = training.task
    if kind == "lightgbm":
        from algotrading.models.gbdt import GbdtModel

        lgb = training.lightgbm
        return GbdtModel(
            task,
            n_estimators=lgb.n_estimators,
            learning_rate=lgb.learning_rate,
            num_leaves=lgb.num_leaves,
            min_child_samples=lgb.min_child_samples,
            feature_fraction=lgb.feature_fraction,
            bagging_fraction=lgb.bagging_fraction,
            lambda_l2=lgb.lambda_l2,
            early_stopping_rounds=lgb.early_stopping_rounds,
            seed=lgb.seed,
        )
    if kind in ("lstm", "gru"):
        from algotrading.models.sequence import SequenceModel

        seq: SequenceConfig = getattr(training, kind)
        return SequenceModel(
            kind,
            task,
            window=seq.window,
            hidden=seq.hidden,
            layers=seq.layers,
            dropout=seq.dropout,
            epochs=seq.epochs,
            batch_size=seq.batch_size,
            learning_rate=seq.learning_rate,
            patience=seq.patience,
            seed=seq.seed,
            device=seq.device,
        )
    if kind == "ensemble":
        from algotrading.models.ensemble import EnsembleModel

        e = training.ensemble
        members = [make_model(training, member) for member in e.members]
        return EnsembleModel(members, e.method, list(e.weights) or None)
    raise ValueError(f"unknown model kind {kind!r}")


@dataclass(frozen=True)
class Dataset:
    """Features, label and forward return per bar, and which rows can be used."""

    features: FeatureSet
    x: Floats  # (n, k), NaN in the warm-up
    y: Floats  # the label (NaN where unknown)
    forward: Floats  # the forward return over the label's horizon (for the IC)
    label_end: Ints  # the last bar each label reads
    first: int  # the first usable row (features warmed up)
    last: int  # one past the last usable row (labels known)
    ts: Ints  # bar close times
    label_name: str


def build_dataset(columns: BarColumns, features: FeatureSet, training: TrainingConfig) -> Dataset:
    label = training.label
    close = np.asarray(columns.close, dtype=np.float64)
    forward, end = forward_return(close, label.horizon)
    if label.kind == "triple_barrier":
        vol = rolling_vol(close, label.vol_window)
        y, end = triple_barrier(close, label.horizon, label.barrier_up, label.barrier_down, vol)
        name = (
            f"triple_barrier(h={label.horizon}, up={label.barrier_up:g}, "
            f"down={label.barrier_down:g}, vol={label.vol_window})"
        )
        if training.task == "regression":
            y = np.where(np.isnan(y), np.nan, 2 * y - 1)  # +1 / -1
    elif training.task == "classification":
        y, name = sign_label(forward), f"sign(forward_return({label.horizon}))"
    else:
        y, name = forward, f"forward_return({label.horizon})"
    x = features.batch(columns)
    known = ~np.isnan(y) & ~np.isnan(x).any(axis=1)
    rows = np.flatnonzero(known)
    if len(rows) == 0:
        raise ValueError("no bar has both its features and its label")
    first, last = int(rows[0]), int(rows[-1]) + 1
    return Dataset(
        features=features,
        x=x,
        y=y,
        forward=forward,
        label_end=end,
        first=max(first, features.warmup),
        last=last,
        ts=np.asarray(columns.ts_open, dtype=np.int64) + columns.interval_ns,
        label_name=name,
    )


def folds_of(data: Dataset, training: TrainingConfig) -> list[Fold]:
    wf = training.walk_forward
    return walk_forward(
        data.label_end[: data.last],
        first=data.first,
        test_size=wf.test_bars,
        min_train=wf.min_train_bars,
        scheme=wf.scheme,
        train_size=wf.train_bars,
        embargo=wf.embargo_bars,
        valid_fraction=wf.valid_fraction,
    )


def fit_rows(
    model: Model, data: Dataset, fit: Ints, valid: Ints, progress: Progress | None
) -> dict[str, float]:
    kwargs: dict[str, Any] = {}
    if model.kind in ("lstm", "gru") and progress is not None:
        kwargs["on_epoch"] = lambda epoch, train, valid_loss: progress(
            "epoch", {"epoch": epoch, "train_loss": train, "valid_loss": valid_loss}
        )
    return model.fit(data.x[fit], data.y[fit], data.x[valid], data.y[valid], **kwargs)


def predict_block(model: Model, data: Dataset, start: int, end: int) -> Floats:
    """Predictions for rows ``[start, end)``; a sequence model reads the rows before ``start``
    as its context (their features are known by then — only labels are purged)."""
    context = max(0, min(model.window - 1, start - data.first))
    out = model.predict(data.x[start - context : end])
    return np.asarray(out[context:], dtype=np.float64)


@dataclass
class FoldResult:
    fold: Fold
    validation: dict[str, float]
    predictions: Floats
    evaluation: dict[str, float]
    model: Model


@dataclass
class WalkForwardResult:
    data: Dataset
    folds: list[FoldResult] = field(default_factory=list)

    @property
    def rows(self) -> Ints:
        return np.concatenate([f.fold.test for f in self.folds])

    @property
    def predictions(self) -> Floats:
        return np.concatenate([f.predictions for f in self.folds])

    def pooled(self, task: str) -> dict[str, float]:
        rows = self.rows
        return evaluate(self.predictions, self.data.y[rows], self.data.forward[rows], task)


def run_walk_forward(
    data: Dataset, training: TrainingConfig, progress: Progress | None = None
) -> WalkForwardResult:
    result = WalkForwardResult(data)
    folds = folds_of(data, training)
    for fold in folds:
        if progress is not None:
            progress("fold_started", {"fold": fold.index, "folds": len(folds)})
        model = make_model(training)
        validation = fit_rows(model, data, fold.fit, fold.valid, progress)
        predictions = predict_block(model, data, fold.test_start, fold.test_end)
        rows = fold.test
        evaluation = evaluate(predictions, data.y[rows], data.forward[rows], training.task)
        result.folds.append(FoldResult(fold, validation, predictions, evaluation, model))
        if progress is not None:
            progress("fold_done", {"fold": fold.index, **evaluation})
    return result


def fit_final(
    data: Dataset, training: TrainingConfig, progress: Progress | None = None
) -> tuple[Model, dict[str, float], Ints]:
    """The model to trade with: trained on the latest training window of the whole history
    (the same scheme and validation split as a fold tested just after the last labelled bar)."""
    wf = training.walk_forward
    end = data.last
    lo = data.first if wf.scheme == "expanding" else max(data.first, end - wf.train_bars)
    rows = np.arange(lo, end, dtype=np.int64)
    n_valid = max(1, int(len(rows) * wf.valid_fraction))
    valid, fit = rows[-n_valid:], rows[:-n_valid]
    fit = fit[data.label_end[fit] < valid[0]]
    model = make_model(training)
    if progress is not None:
        progress("final_started", {})
    return model, fit_rows(model, data, fit, valid, progress), fit
