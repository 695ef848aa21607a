"""``algotrading train`` end to end: on the synthetic default and on a CSV, the out-of-sample
predictions, their evaluation, the registered models, the ml_signal backtest and the report;
on a random walk, no edge beyond noise; and no look-ahead anywhere in the pipeline."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from dataclasses import replace

import msgspec
import numpy as np
import pytest

from algotrading.adapters.csv_bars import write_bars_csv
from algotrading.backtest.sweep_jobs import load_history
from algotrading.config import load_config
from algotrading.features.feature_set import FeatureSet
from algotrading.models.persistence import load_model
from algotrading.models.registry import ModelRegistry
from algotrading.models.training import build_dataset, run_walk_forward
from algotrading.timestamps import parse_utc


def train(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "algotrading", "train", "--no-progress", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def check_outputs(out):
    evaluation = json.loads((out / "evaluation.json").read_text())
    pooled = evaluation["pooled"]
    assert set(pooled) == {"n", "hit_rate", "ic"}
    assert all({"n", "hit_rate", "ic", "fold"} <= set(f) for f in evaluation["folds"])
    with (out / "predictions.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["time", "prediction", "label", "forward_return", "fold"]
    assert len(rows) == pooled["n"] == sum(f["n"] for f in evaluation["folds"])
    first_test = parse_utc(evaluation["folds"][0]["test_start"])
    assert all(parse_utc(r["time"]) >= first_test for r in rows)  # out of sample only
    n = pooled["n"]
    # a random walk: nothing to predict, so no edge beyond noise (4 standard errors)
    assert abs(pooled["hit_rate"] - 0.5) < 4 * 0.5 / math.sqrt(n)
    assert abs(pooled["ic"]) < 4 / math.sqrt(n)
    metrics = json.loads((out / "backtest" / "metrics.json").read_text())
    assert {"sharpe", "total_return", "n_trades"} <= set(metrics)
    assert (out / "backtest" / "trades.csv").exists()
    report = (out / "report.html").read_text()
    assert "Walk-forward folds" in report
    assert "backtest/report.html" in report
    with ModelRegistry(out / "registry.sqlite") as registry:
        active = registry.active()
        assert active is not None
        assert len(registry.entries()) == len(evaluation["folds"]) + 1
    _, metadata = load_model(active.path)
    assert metadata.features
    assert metadata.train_end
    return evaluation


def test_train_on_the_embedded_defaults(tmp_path):
    out = tmp_path / "out"
    done = train("--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "folds" in done.stdout
    evaluation = check_outputs(out)
    assert evaluation["label"] == "sign(forward_return(1))"


def test_train_an_lstm_on_a_csv(tmp_path):
    history = load_history(None, "GBP_USD", load_config())
    path = tmp_path / "GBPUSD_H1.csv"
    write_bars_csv(path, list(history.bars())[:4000])
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "model.yaml").write_text(
        "training:\n  model: lstm\n  walk_forward: {min_train_bars: 1500, test_bars: 1200}\n"
        "  lstm: {window: 8, hidden: 8, epochs: 3, patience: 2}\n"
    )
    out = tmp_path / "out"
    done = train("--config", str(conf), "--data", str(path), "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    evaluation = check_outputs(out)
    assert len(evaluation["folds"]) >= 2
    assert (out / "models" / "final" / "weights.pt").exists()


def test_a_bad_training_config_is_named(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "model.yaml").write_text("training:\n  model: xgboost\n")
    done = train("--config", str(conf), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "model.yaml:2: training.model" in done.stderr


@pytest.fixture(scope="module")
def small_training():
    config = load_config()
    training = msgspec.structs.replace(
        config.model.training,
        walk_forward=msgspec.structs.replace(
            config.model.training.walk_forward, min_train_bars=1500, test_bars=700
        ),
    )
    return FeatureSet(config.model.features), training


def test_changing_or_removing_data_after_t_changes_nothing_at_or_before_t(small_training):
    features, training = small_training
    columns = load_history(None, "EUR_USD", load_config()).columns()
    t = 4_100
    changed_close = columns.close.copy()
    changed_close[t + 1 :] *= np.exp(np.linspace(0, 0.3, len(changed_close) - t - 1))
    variants = {
        "changed": replace(
            columns,
            close=changed_close,
            high=np.maximum(columns.high, changed_close),
            low=np.minimum(columns.low, changed_close),
        ),
        "removed": replace(
            columns,
            **{
                c: getattr(columns, c)[: t + 1]
                for c in ("ts_open", "open", "high", "low", "close", "volume")
            },
        ),
    }
    base = build_dataset(columns, features, training)
    base_result = run_walk_forward(base, training)
    base_pred = dict(zip(base_result.rows.tolist(), base_result.predictions.tolist(), strict=True))
    for name, variant in variants.items():
        data = build_dataset(variant, features, training)
        assert np.array_equal(data.x[: t + 1], base.x[: t + 1], equal_nan=True), name
        known = data.label_end[: t + 1] <= t  # labels that read nothing after t
        assert np.array_equal(data.y[: t + 1][known], base.y[: t + 1][known]), name
        result = run_walk_forward(data, training)
        got = dict(zip(result.rows.tolist(), result.predictions.tolist(), strict=True))
        before = [r for r in got if r <= t]
        assert before, name
        assert [got[r] for r in before] == [base_pred[r] for r in before], name
