"""A registered model at work bar by bar: its streaming predictions equal the batch ones, a
backtest trading it decides exactly as one fed the batch predictions, and a model swap puts the
new model in place between two bars without a missed prediction."""

from __future__ import annotations

import asyncio
import csv

import msgspec
import numpy as np
import pytest

from algotrading.actors.model import ModelActor
from algotrading.backtest.runner import run_backtest
from algotrading.backtest.sweep_jobs import load_history
from algotrading.config import load_config
from algotrading.daemon.wiring import registry_loader
from algotrading.features.feature_set import FeatureSet
from algotrading.messages import Alert, Command, Prediction
from algotrading.models.live import LiveModel
from algotrading.models.persistence import save_model
from algotrading.models.registry import ModelRegistry
from algotrading.models.training import build_dataset, fit_final
from algotrading.runtime.clock import VirtualClock
from algotrading.strategies.registry import build_strategy
from algotrading.timestamps import iso_utc

N_BARS = 2_500


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("live")
    config = load_config()
    history = load_history(None, "EUR_USD", config)
    columns = history.columns()
    from dataclasses import replace

    columns = replace(
        columns,
        **{
            c: getattr(columns, c)[:N_BARS]
            for c in ("ts_open", "open", "high", "low", "close", "volume")
        },
    )
    features = FeatureSet(config.model.features)
    models = {}
    for name, training in {
        "a": config.model.training,
        "b": msgspec.structs.replace(
            config.model.training,
            lightgbm=msgspec.structs.replace(config.model.training.lightgbm, num_leaves=4, seed=3),
        ),
        "lstm": msgspec.structs.replace(
            config.model.training,
            model="lstm",
            lstm=msgspec.structs.replace(
                config.model.training.lstm, window=6, hidden=6, epochs=2, patience=1
            ),
        ),
    }.items():
        data = build_dataset(columns, features, training)
        model, validation, _ = fit_final(data, training)
        models[name] = save_model(
            model,
            tmp / name,
            features=features.names,
            feature_specs=features.specs,
            label=data.label_name,
            train_start="x",
            train_end="y",
            validation=validation,
        )
    registry = tmp / "registry.sqlite"
    with ModelRegistry(registry) as r:
        for name, metadata in models.items():
            r.register(metadata, tmp / name)
        r.activate(models["a"].model_id)
    bars = list(history.bars())[:N_BARS]
    return tmp, config, columns, features, models, registry, bars


@pytest.mark.parametrize(("name", "tolerance"), [("a", 1e-9), ("lstm", 1e-6)])
def test_streaming_predictions_equal_the_batch_ones(setup, name, tolerance):
    tmp, _, columns, features, _, _, bars = setup
    live = LiveModel.load(tmp / name)
    streamed = [live.on_bar(bar) for bar in bars]
    batch = live.model.predict(features.batch(columns)[features.warmup :])
    expected = np.concatenate([np.full(features.warmup, np.nan), batch])
    first = live.warmup
    assert all(v is None for v in streamed[:first])
    assert all(v is not None for v in streamed[first:])
    assert np.allclose(
        np.array(streamed[first:], dtype=float), expected[first:], rtol=0, atol=tolerance
    )
    latency = live.latency_us()
    assert latency["n"] == len(bars) - first
    assert latency["p99"] > 0


def _backtest(config, bars, out):
    s = msgspec.structs.replace(
        config.system.strategy, name="ml_signal", params={"long_above": 0.505, "short_below": 0.495}
    )
    config = msgspec.structs.replace(
        config, system=msgspec.structs.replace(config.system, strategy=s)
    )
    asyncio.run(
        run_backtest(
            bars,
            config=config,
            strategy=build_strategy("ml_signal", s.params, spec=s),
            instrument=config.instrument("EUR_USD"),
            bar_interval_ns=bars[1].ts_event - bars[0].ts_event,
            data_source="synthetic",
            out_dir=out,
        )
    )
    return (out / "orders.csv").read_text()


def test_a_backtest_on_the_registry_model_decides_as_one_on_its_batch_predictions(setup, tmp_path):
    tmp, config, columns, features, _, registry, bars = setup
    live_config = msgspec.structs.replace(
        config,
        model=msgspec.structs.replace(
            config.model,
            model=msgspec.structs.replace(
                config.model.model, kind="registry", registry=str(registry)
            ),
        ),
    )
    streamed = _backtest(live_config, bars, tmp_path / "streamed")
    live = LiveModel.load(tmp / "a")
    batch = live.model.predict(features.batch(columns)[features.warmup :])
    path = tmp_path / "batch.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", "prediction"])
        for bar, value in zip(bars[features.warmup :], batch.tolist(), strict=True):
            w.writerow([iso_utc(bar.ts_event), repr(value)])
    file_config = msgspec.structs.replace(
        config,
        model=msgspec.structs.replace(
            config.model,
            model=msgspec.structs.replace(config.model.model, kind="predictions", path=str(path)),
        ),
    )
    from_batch = _backtest(file_config, bars, tmp_path / "batch")
    assert streamed.count("\n") > 10  # it traded
    assert streamed == from_batch


def test_a_model_swap_between_two_bars_misses_no_bar(setup):
    tmp, _, _, _, models, registry, bars = setup
    sent = []

    async def collect(actor, msg):
        sent.append(msg)

    actor = ModelActor(
        kind="registry", live=LiveModel.load(tmp / "a"), loader=registry_loader(registry)
    )
    actor.bind(collect, VirtualClock())
    swap_at = 1_200

    async def main():
        for bar in bars[:swap_at]:
            await actor.on_bar(bar)
        with ModelRegistry(registry) as r:
            r.activate(models["b"].model_id)
        await actor.on_command(
            Command(ts_event=bars[swap_at - 1].ts_event, name="model_swap", args={})
        )
        for bar in bars[swap_at:]:
            await actor.on_bar(bar)

    asyncio.run(main())
    predictions = [m for m in sent if isinstance(m, Prediction)]
    alerts = [m for m in sent if isinstance(m, Alert)]
    assert [a.code for a in alerts] == ["model_swapped"]
    warmup = LiveModel.load(tmp / "a").warmup
    assert [p.ts_event for p in predictions] == [b.ts_event for b in bars[warmup:]]  # one a bar
    ids = [p.model_id for p in predictions]
    n_a = swap_at - warmup
    assert ids == [models["a"].model_id] * n_a + [models["b"].model_id] * (len(bars) - swap_at)
    fresh_b = LiveModel.load(tmp / "b")
    expected = [fresh_b.on_bar(bar) for bar in bars]
    assert [p.value for p in predictions[n_a:]] == expected[swap_at:]  # warmed on recent bars
    with ModelRegistry(registry) as r:
        r.activate(models["a"].model_id)


def test_a_model_that_fails_to_load_leaves_the_old_one_working(setup):
    tmp, _, _, _, models, registry, bars = setup
    sent = []

    async def collect(actor, msg):
        sent.append(msg)

    actor = ModelActor(
        kind="registry", live=LiveModel.load(tmp / "a"), loader=registry_loader(registry)
    )
    actor.bind(collect, VirtualClock())

    async def main():
        await actor.on_command(Command(ts_event=0, name="model_swap", args={"model_id": "nope"}))
        for bar in bars[:100]:
            await actor.on_bar(bar)

    asyncio.run(main())
    alerts = [m for m in sent if isinstance(m, Alert)]
    assert [a.code for a in alerts] == ["model_swap_failed"]
    assert {p.model_id for p in sent if isinstance(p, Prediction)} == {models["a"].model_id}
