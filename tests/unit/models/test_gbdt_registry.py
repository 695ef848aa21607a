"""LightGBM, ensembles, saving with metadata and the registry: a model trained, saved, loaded
and registered predicts identically, and its description is complete."""

from __future__ import annotations

import json

import numpy as np
import pytest

from algotrading.errors import DataError
from algotrading.models.base import Model
from algotrading.models.ensemble import EnsembleModel
from algotrading.models.gbdt import GbdtModel
from algotrading.models.persistence import load_model, save_model
from algotrading.models.registry import ModelRegistry


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(4_000, 6))
    y = (x[:, 0] - 0.5 * x[:, 1] + rng.normal(0, 1.0, 4_000) > 0).astype(np.float64)
    return x[:3_000], y[:3_000], x[3_000:], y[3_000:]


def fitted(data, **kw) -> GbdtModel:
    x, y, xv, yv = data
    model = GbdtModel(n_estimators=60, **kw)
    model.fit(x, y, xv, yv)
    return model


def save(model, directory):
    return save_model(
        model,
        directory,
        features=("f0", "f1", "f2", "f3", "f4", "f5"),
        label="sign(forward_return(1))",
        train_start="2024-01-01T00:00:00Z",
        train_end="2024-06-01T00:00:00Z",
        validation={"valid_accuracy": 0.6},
    )


def test_lightgbm_learns_and_is_deterministic(data):
    _, _, xv, yv = data
    a, b = fitted(data), fitted(data)
    assert isinstance(a, Model)
    assert np.array_equal(a.predict(xv), b.predict(xv))
    assert np.mean((a.predict(xv) > 0.5) == (yv > 0.5)) > 0.65
    assert a.predict_last(xv[:5]) == a.predict(xv[4:5])[0]
    regressor = GbdtModel("regression", n_estimators=30)
    metrics = regressor.fit(data[0], data[0][:, 0], data[2], data[2][:, 0])
    assert metrics["l2"] < np.var(data[2][:, 0]) * 0.2


def test_saved_loaded_and_registered_model_predicts_the_same(tmp_path, data):
    model = fitted(data)
    metadata = save(model, tmp_path / "m")
    assert metadata.model_id == f"lightgbm-{metadata.content_hash[:12]}"
    described = json.loads((tmp_path / "m" / "model.json").read_text())
    for key in ("features", "params", "train_start", "train_end", "validation", "versions"):
        assert described[key], key
    assert {"python", "numpy", "lightgbm"} <= set(described["versions"])
    loaded, again = load_model(tmp_path / "m")
    assert again == metadata
    assert np.array_equal(loaded.predict(data[2]), model.predict(data[2]))
    with ModelRegistry(tmp_path / "registry.sqlite") as registry:
        registry.register(metadata, tmp_path / "m")
        registry.register(metadata, tmp_path / "m")  # same content: once
        assert registry.active() is None
        registry.activate(metadata.model_id)
        entry = registry.active()
        assert entry is not None
        assert entry.metadata == metadata
        assert [e.model_id for e in registry.entries()] == [metadata.model_id]
        with pytest.raises(DataError, match="no model"):
            registry.activate("nope")
        assert registry.active().model_id == metadata.model_id  # unchanged by the failure
    from_registry, _ = load_model(entry.path)
    assert np.array_equal(from_registry.predict(data[2]), model.predict(data[2]))


def test_same_training_gives_the_same_content_hash_and_tampering_is_caught(tmp_path, data):
    first = save(fitted(data), tmp_path / "a")
    second = save(fitted(data), tmp_path / "b")
    assert first.content_hash == second.content_hash
    (tmp_path / "a" / "lightgbm.txt").write_text(
        (tmp_path / "a" / "lightgbm.txt").read_text().replace("shrinkage=0.05", "shrinkage=0.5")
    )
    with pytest.raises(DataError, match="content hash mismatch"):
        load_model(tmp_path / "a")


@pytest.mark.parametrize("method", ["mean", "weighted", "stacking"])
def test_ensembles_combine_and_round_trip(tmp_path, data, method):
    x, y, xv, yv = data
    members = [GbdtModel(n_estimators=30, seed=1), GbdtModel(n_estimators=30, num_leaves=4)]
    weights = [3.0, 1.0] if method == "weighted" else None
    ensemble = EnsembleModel(members, method, weights)
    ensemble.fit(x, y, xv, yv)
    p = ensemble.predict(xv)
    a, b = members[0].predict(xv), members[1].predict(xv)
    if method == "mean":
        assert p == pytest.approx((a + b) / 2)
    elif method == "weighted":
        assert p == pytest.approx(0.75 * a + 0.25 * b)
    else:
        assert ((p >= 0) & (p <= 1)).all()
    assert ensemble.predict_last(xv[:3]) == pytest.approx(p[2])
    metadata = save(ensemble, tmp_path / method)
    loaded, _ = load_model(tmp_path / method)
    assert np.array_equal(loaded.predict(xv), p)
    assert metadata.kind == "ensemble"


def test_a_model_records_what_it_was_trained_on_and_refuses_another_session(tmp_path, data):
    from algotrading.models.persistence import content_hash, misfit

    hour, second = 3600 * 10**9, 10**9
    model = fitted(data)
    metadata = save_model(
        model,
        tmp_path / "m",
        features=("f0", "f1", "f2", "f3", "f4", "f5"),
        feature_specs=("returns(1)",),
        label="sign(forward_return(1))",
        train_start="2024-01-01T00:00:00Z",
        train_end="2024-06-01T00:00:00Z",
        validation={},
        instrument="EUR_USD",
        bar_interval_ns=hour,
    )
    assert load_model(tmp_path / "m")[1] == metadata
    assert misfit(metadata, ("EUR_USD",), hour, ()) is None
    assert misfit(metadata, ("EUR_USD",), hour, ("returns(1)",)) is None
    problem = misfit(metadata, ("EUR_USD",), second, ())
    assert problem == (
        f"model {metadata.model_id} was trained on EUR_USD 1h bars; this session trades "
        "EUR_USD 1s bars"
    )
    assert "trained on EUR_USD 1h bars" in (misfit(metadata, ("GBP_USD",), hour, ()) or "")
    assert "model.yaml names ['rsi(14)']" in (
        misfit(metadata, ("EUR_USD",), hour, ("rsi(14)",)) or ""
    )
    # a model saved before these were recorded keeps its hash, and is not checked
    old = save(model, tmp_path / "old")
    files = [p.name for p in (tmp_path / "old").iterdir() if p.name != "model.json"]
    assert content_hash(tmp_path / "old", files, old) == old.content_hash
    assert misfit(old, ("GBP_USD",), second, ()) is None
