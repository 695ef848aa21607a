import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from algotrading.models.base import Model
from algotrading.models.sequence import SequenceModel

ROWS, FEATURES, SPLIT = 1500, 4, 1000
FAST: dict[str, Any] = {
    "window": 8,
    "hidden": 8,
    "batch_size": 64,
    "learning_rate": 2e-2,
    "device": "cpu",
}


def lagged_sign_data(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """y[t] = 1 when feature 0 three bars earlier was positive: learnable only from history."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(ROWS, FEATURES))
    y = np.zeros(ROWS)
    y[3:] = x[:-3, 0] > 0
    return x, y


def fit(model: SequenceModel, x: np.ndarray, y: np.ndarray, **kwargs: Any) -> dict[str, float]:
    return model.fit(x[:SPLIT], y[:SPLIT], x[SPLIT:], y[SPLIT:], **kwargs)


@pytest.fixture(scope="module")
def fitted() -> tuple[SequenceModel, np.ndarray]:
    x, y = lagged_sign_data()
    model = SequenceModel(kind="lstm", epochs=6, seed=3, **FAST)
    fit(model, x, y)
    return model, x


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_learns_a_lagged_signal(kind: str) -> None:
    x, y = lagged_sign_data()
    model = SequenceModel(kind=kind, epochs=20, patience=3, **FAST)
    metrics = fit(model, x, y)
    assert metrics["valid_accuracy"] > 0.85
    assert 1 <= metrics["best_epoch"] <= metrics["epochs"] <= 20
    assert math.isfinite(metrics["valid_loss"])
    assert isinstance(model, Model)


def test_same_seed_same_predictions_other_seed_other_predictions() -> None:
    x, y = lagged_sign_data()
    settings = {**FAST, "epochs": 3, "layers": 2, "dropout": 0.2}  # dropout draws randomness too
    rng_before = torch.random.get_rng_state()
    runs = []
    for seed in (7, 7, 8):
        model = SequenceModel(kind="gru", seed=seed, **settings)
        fit(model, x, y)
        runs.append(model.predict(x))
    assert np.array_equal(runs[0], runs[1], equal_nan=True)
    assert not np.allclose(runs[0][7:], runs[2][7:])
    assert torch.equal(torch.random.get_rng_state(), rng_before)  # the caller's RNG is untouched


def test_predict_last_equals_predict_row_by_row(fitted: tuple[SequenceModel, np.ndarray]) -> None:
    model, x = fitted
    batch = model.predict(x)
    for t in range(1100, 1160):
        live = model.predict_last(x[t - model.window + 1 : t + 1])
        assert live == pytest.approx(batch[t], abs=1e-6)


def test_first_window_minus_one_predictions_are_nan(
    fitted: tuple[SequenceModel, np.ndarray],
) -> None:
    model, x = fitted
    out = model.predict(x[:50])
    assert out.shape == (50,)
    assert out.dtype == np.float64
    assert np.isnan(out[:7]).all()
    assert np.isfinite(out[7:]).all()
    assert ((out[7:] > 0) & (out[7:] < 1)).all()  # probabilities
    assert np.isnan(model.predict(x[:5])).all()


def test_save_and_load_predict_identically(
    fitted: tuple[SequenceModel, np.ndarray], tmp_path: Path
) -> None:
    model, x = fitted
    files = model.save_artifacts(tmp_path)
    assert sorted(files) == ["sequence.json", "weights.pt"]
    loaded = SequenceModel.load(tmp_path)
    assert loaded.params() == model.params()
    assert (loaded.kind, loaded.task, loaded.window) == ("lstm", "classification", 8)
    assert np.array_equal(loaded.predict(x), model.predict(x), equal_nan=True)
    assert loaded.predict_last(x[-8:]) == model.predict_last(x[-8:])


def test_regression_beats_the_variance_of_the_target() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(ROWS, FEATURES))
    y = np.zeros(ROWS)
    y[2:] = 0.5 * x[:-2, 1] + rng.normal(0, 0.1, ROWS - 2)
    model = SequenceModel(kind="gru", task="regression", epochs=15, **FAST)
    metrics = fit(model, x, y)
    assert "valid_accuracy" not in metrics
    assert metrics["valid_loss"] < 0.5 * np.var(y[SPLIT:])
    out = model.predict(x[SPLIT:])
    mse = np.mean((out[7:] - y[SPLIT + 7 :]) ** 2)
    assert mse == pytest.approx(metrics["valid_loss"], rel=1e-4)


def test_early_stopping_on_noise_stops_long_before_the_last_epoch() -> None:
    rng = np.random.default_rng(11)
    x = rng.normal(size=(ROWS, FEATURES))
    y = (rng.random(ROWS) > 0.5).astype(float)
    seen: list[tuple[int, float, float]] = []
    model = SequenceModel(epochs=50, patience=1, **FAST)
    metrics = fit(model, x, y, on_epoch=lambda *e: seen.append(e))
    assert metrics["epochs"] < 20
    assert metrics["best_epoch"] == metrics["epochs"] - 1
    assert [e[0] for e in seen] == list(range(1, int(metrics["epochs"]) + 1))
    assert min(e[2] for e in seen) == pytest.approx(metrics["valid_loss"], abs=1e-6)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("kind", "transformer"),
        ("task", "ranking"),
        ("window", 0),
        ("hidden", 2.5),
        ("layers", True),
        ("dropout", 1.0),
        ("epochs", 0),
        ("batch_size", -1),
        ("learning_rate", 0.0),
        ("learning_rate", float("nan")),
        ("patience", 0),
        ("seed", -1),
        ("device", "tpu"),
    ],
)
def test_bad_params_are_refused_by_name(name: str, value: Any) -> None:
    with pytest.raises(ValueError, match=f"^{name}:"):
        SequenceModel(**{name: value})


def test_bad_inputs_are_refused(fitted: tuple[SequenceModel, np.ndarray]) -> None:
    model, x = fitted
    with pytest.raises(ValueError, match="window_rows"):
        model.predict_last(x[-9:])
    with pytest.raises(ValueError, match="x:"):
        model.predict(x[:, :3])
    with pytest.raises(RuntimeError, match="fit or load"):
        SequenceModel().predict(x)
    with pytest.raises(ValueError, match="labels"):
        SequenceModel(**FAST).fit(x[:100], np.full(100, 2.0), x[100:200], np.zeros(100))


def test_params_round_trip_through_the_constructor() -> None:
    model = SequenceModel(kind="gru", task="regression", window=16, dropout=0.1, seed=4)
    assert SequenceModel(**model.params()).params() == model.params()


def test_importing_the_module_does_not_import_torch() -> None:
    code = "import sys, algotrading.models.sequence; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
