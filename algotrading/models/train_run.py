"""``algotrading train``: walk-forward training and evaluation, written out.

``OUT/`` receives:

- ``predictions.csv`` — out-of-sample only: ``time`` (the close of the bar predicted on),
  ``prediction``, ``label`` (realised), ``forward_return`` (realised, over the label horizon),
  ``fold``;
- ``evaluation.json`` — per fold and pooled: ``n``, ``hit_rate``, ``ic``;
- ``models/fold-<k>/`` — each fold's model; ``models/final/`` — the model to trade with, trained
  on the latest window of the whole history; all registered in ``registry.sqlite``, the final
  one active;
- ``backtest/`` — ``ml_signal`` trading the out-of-sample predictions only (the same files as
  ``algotrading backtest``);
- ``report.html``.

Same data, configuration and seeds give the same files byte for byte (but each model's
``model.json`` records when it was made).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from algotrading.config import Config
from algotrading.data.columns import BarColumns
from algotrading.features.feature_set import FeatureSet
from algotrading.models.persistence import save_model
from algotrading.models.registry import ModelRegistry
from algotrading.models.report import write_training_report
from algotrading.models.training import (
    Dataset,
    Progress,
    WalkForwardResult,
    build_dataset,
    fit_final,
    run_walk_forward,
)
from algotrading.timestamps import iso_utc

PREDICTIONS = "predictions.csv"


@dataclass(frozen=True)
class TrainSummary:
    folds: int
    pooled: dict[str, float]
    final_model_id: str
    backtest: dict[str, Any] | None


def _clean(value: float) -> float | None:
    return None if isinstance(value, float) and math.isnan(value) else value


def write_predictions(path: Path, result: WalkForwardResult) -> None:
    data = result.data
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["time", "prediction", "label", "forward_return", "fold"])
        for fold in result.folds:
            for row, value in zip(fold.fold.test.tolist(), fold.predictions.tolist(), strict=True):
                if math.isnan(value):
                    continue
                writer.writerow(
                    [
                        iso_utc(int(data.ts[row])),
                        repr(value),
                        repr(float(data.y[row])),
                        repr(float(data.forward[row])),
                        fold.fold.index,
                    ]
                )


def write_evaluation(path: Path, result: WalkForwardResult, task: str) -> dict[str, Any]:
    evaluation = {
        "task": task,
        "label": result.data.label_name,
        "pooled": {k: _clean(v) for k, v in result.pooled(task).items()},
        "folds": [
            {
                "fold": f.fold.index,
                "test_start": iso_utc(int(result.data.ts[f.fold.test_start])),
                "test_end": iso_utc(int(result.data.ts[f.fold.test_end - 1])),
                "fit_rows": len(f.fold.fit),
                **{k: _clean(v) for k, v in f.evaluation.items()},
                "validation": {k: _clean(v) for k, v in sorted(f.validation.items())},
            }
            for f in result.folds
        ],
    }
    path.write_text(json.dumps(evaluation, indent=2, sort_keys=True) + "\n")
    return evaluation


def _window(data: Dataset, rows: np.ndarray) -> tuple[str, str]:
    return iso_utc(int(data.ts[rows[0]])), iso_utc(int(data.ts[rows[-1]]))


def save_models(
    out: Path,
    result: WalkForwardResult,
    config: Config,
    progress: Progress | None,
    columns: BarColumns,
) -> str:
    """Every fold's model and the final one, saved and registered with the instrument and bar
    interval of ``columns``; the final one active."""
    data, training = result.data, config.model.training
    names = data.features.names
    # recorded with each model: a session on other bars refuses it (persistence.misfit)
    trained_on: dict[str, Any] = {
        "instrument": columns.instrument,
        "bar_interval_ns": columns.interval_ns,
    }
    with ModelRegistry(out / "registry.sqlite") as registry:
        for f in result.folds:
            start, end = _window(data, f.fold.fit)
            metadata = save_model(
                f.model,
                out / "models" / f"fold-{f.fold.index}",
                features=names,
                feature_specs=data.features.specs,
                label=data.label_name,
                train_start=start,
                train_end=end,
                validation=f.validation,
                **trained_on,
            )
            registry.register(metadata, out / "models" / f"fold-{f.fold.index}")
        model, validation, fit = fit_final(data, training, progress)
        start, end = _window(data, fit)
        final = save_model(
            model,
            out / "models" / "final",
            features=names,
            feature_specs=data.features.specs,
            label=data.label_name,
            train_start=start,
            train_end=end,
            validation=validation,
            **trained_on,
        )
        registry.register(final, out / "models" / "final")
        registry.activate(final.model_id)
    return final.model_id


def backtest_predictions(
    out: Path, config: Config, columns: BarColumns, result: WalkForwardResult, source: str
) -> dict[str, Any]:
    """``ml_signal`` on the out-of-sample predictions, over the out-of-sample bars only."""
    from algotrading.backtest.runner import run_backtest
    from algotrading.runtime.loop import run as run_loop
    from algotrading.strategies.registry import build_strategy

    s = config.system.strategy
    params = dict(s.params) if s.name == "ml_signal" else {}
    if not params and config.model.training.task == "regression":
        params = {"long_above": 0.0, "short_below": 0.0}
    strategy_spec = msgspec.structs.replace(s, name="ml_signal", params=params)
    model_spec = msgspec.structs.replace(
        config.model.model, kind="predictions", path=str(out / PREDICTIONS)
    )
    config = msgspec.structs.replace(
        config,
        system=msgspec.structs.replace(config.system, strategy=strategy_spec),
        model=msgspec.structs.replace(config.model, model=model_spec),
    )
    rows = result.rows
    lo, hi = int(rows[0]), int(rows[-1]) + 1
    frame = columns.rows(lo, hi)
    backtest = run_loop(
        run_backtest(
            frame.bars(),
            config=config,
            strategy=build_strategy("ml_signal", params, spec=strategy_spec),
            instrument=config.instrument(columns.instrument),
            bar_interval_ns=columns.interval_ns,
            data_source=f"{source} (out-of-sample bars of the walk-forward)",
            out_dir=out / "backtest",
            total_bars=hi - lo,
        ),
        use_uvloop=config.system.runtime.uvloop,
    )
    return backtest.metrics


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Progress | None]:
    """Folds and epochs on the terminal (rich), or nothing."""
    if not enabled:
        yield None
        return
    from rich.progress import Progress as RichProgress

    with RichProgress(transient=True) as bar:
        folds = bar.add_task("folds", total=None)
        epochs = bar.add_task("epochs", total=None, visible=False)

        def report(event: str, fields: dict[str, Any]) -> None:
            if event == "fold_started":
                bar.update(folds, total=fields["folds"], description=f"fold {fields['fold']}")
                bar.reset(epochs, visible=False)
            elif event == "fold_done":
                bar.advance(folds)
            elif event == "final_started":
                bar.update(folds, description="final model")
            elif event == "epoch":
                bar.update(
                    epochs,
                    visible=True,
                    completed=fields["epoch"],
                    description=f"epoch {fields['epoch']} valid {fields['valid_loss']:.5f}",
                )

        yield report


def run_training(
    config: Config, columns: BarColumns, out: Path, *, source: str, progress: bool = False
) -> TrainSummary:
    out.mkdir(parents=True, exist_ok=True)
    training = config.model.training
    features = FeatureSet(config.model.features)
    data = build_dataset(columns, features, training)
    with progress_bar(progress) as report:
        result = run_walk_forward(data, training, report)
        write_predictions(out / PREDICTIONS, result)
        evaluation = write_evaluation(out / "evaluation.json", result, training.task)
        final_id = save_models(out, result, config, report, columns)
    metrics = backtest_predictions(out, config, columns, result, source)
    setup = {
        "data": source,
        "instrument": columns.instrument,
        "bars": len(columns),
        "features": ", ".join(features.names),
        "warm-up bars": features.warmup,
        "label": data.label_name,
        "model": training.model,
        "task": training.task,
        "walk forward": msgspec.to_builtins(training.walk_forward),
        "model parameters": msgspec.to_builtins(getattr(training, training.model, {})),
        "final model": final_id,
    }
    write_training_report(
        out / "report.html",
        result=result,
        task=training.task,
        setup=setup,
        backtest_metrics=metrics,
    )
    return TrainSummary(len(result.folds), evaluation["pooled"], final_id, metrics)
