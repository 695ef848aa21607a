"""Machine-learning benchmarks: ``python benchmarks/ml.py`` (``--quick`` for a smaller run; also
run by ``benchmarks/run.py``).

- inference latency per bar in the live path (``LiveModel.on_bar``: the features of the bar,
  then the model on the last ``window`` rows), median and p99, for LightGBM with 200 trees and
  an LSTM (window 32, hidden 32), and the model call alone;
- backtest throughput of ``ml_signal`` trading a LightGBM model over one-minute bars, the model
  run bar by bar in the model actor (streaming) and with its predictions computed over the
  whole history at once (batch: features as arrays, one ``predict`` call; allowed in backtests
  because a test shows it decides exactly as streaming), with the batch set-up time apart.

Targets on this machine: LightGBM p99 < 200 us per bar, LSTM p99 < 1 ms, the ML backtest
>= 100,000 bars/s with LightGBM.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import msgspec
import numpy as np

from algotrading.backtest.runner import run_backtest
from algotrading.config import Config, load_config
from algotrading.data.columns import BarColumns
from algotrading.data.instruments import BUILTIN_INSTRUMENTS
from algotrading.data.synthetic import synthetic_bars
from algotrading.features.feature_set import FeatureSet
from algotrading.log import configure_logging
from algotrading.messages import Bar
from algotrading.models.live import LiveModel
from algotrading.models.persistence import save_model
from algotrading.models.registry import ModelRegistry
from algotrading.models.training import build_dataset, fit_final
from algotrading.strategies.registry import build_strategy
from algotrading.timestamps import parse_utc

MINUTE = 60 * 10**9
START = parse_utc("2015-01-05T00:00:00Z")
TARGETS_US = {"lightgbm": 200.0, "lstm": 1_000.0}
BACKTEST_TARGET = 100_000


def bars(count: int) -> list[Bar]:
    end = START + count * MINUTE * 2  # weekends are skipped: ask for enough time
    out = []
    for bar in synthetic_bars("EUR_USD", START, end, MINUTE, 11, annual_vol=0.08):
        out.append(bar)
        if len(out) == count:
            break
    return out


def columns_of(data: list[Bar]) -> BarColumns:
    def col(name: str) -> np.ndarray:
        return np.array([getattr(b, name) for b in data], dtype=np.float64)

    return BarColumns(
        instrument="EUR_USD",
        interval_ns=MINUTE,
        ts_open=np.array([b.ts_open for b in data], dtype=np.int64),
        open=col("open"),
        high=col("high"),
        low=col("low"),
        close=col("close"),
        volume=col("volume"),
    )


def train(config: Config, kind: str, columns: BarColumns, out: Path) -> Path:
    t = config.model.training
    training = msgspec.structs.replace(
        t,
        model=kind,
        lightgbm=msgspec.structs.replace(t.lightgbm, n_estimators=200, early_stopping_rounds=1000),
        lstm=msgspec.structs.replace(t.lstm, window=32, hidden=32, epochs=2, patience=5),
    )
    features = FeatureSet(config.model.features)
    data = build_dataset(columns, features, training)
    model, validation, _ = fit_final(data, training)
    save_model(
        model,
        out,
        features=features.names,
        feature_specs=features.specs,
        label=data.label_name,
        train_start="",
        train_end="",
        validation=validation,
    )
    return out


def latency(directory: Path, data: list[Bar]) -> dict[str, float]:
    live = LiveModel.load(directory)
    per_bar = []
    for bar in data:
        started = time.perf_counter_ns()
        live.on_bar(bar)
        per_bar.append(time.perf_counter_ns() - started)
    model_only = live.latency_us()
    whole = np.asarray(per_bar[live.warmup + 100 :], dtype=np.float64) / 1e3
    return {
        "median": float(np.median(whole)),
        "p99": float(np.percentile(whole, 99)),
        "model_median": model_only["median"],
        "model_p99": model_only["p99"],
    }


def backtest(config: Config, data: list[Bar], model: dict[str, str]) -> tuple[float, int]:
    s = msgspec.structs.replace(
        config.system.strategy, name="ml_signal", params={"long_above": 0.505, "short_below": 0.495}
    )
    config = msgspec.structs.replace(
        config,
        system=msgspec.structs.replace(config.system, strategy=s),
        model=msgspec.structs.replace(
            config.model, model=msgspec.structs.replace(config.model.model, **model)
        ),
    )
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        result = asyncio.run(
            run_backtest(
                iter(data),
                config=config,
                strategy=build_strategy("ml_signal", s.params, spec=s),
                instrument=BUILTIN_INSTRUMENTS["EUR_USD"],
                bar_interval_ns=MINUTE,
                data_source="benchmark",
                out_dir=Path(out),
            )
        )
        seconds = time.perf_counter() - started
    return result.bars / seconds, result.session.ledger.n_orders


def batch_predictions(directory: Path, columns: BarColumns, path: Path) -> float:
    """Write the batch predictions file; return the seconds it took."""
    started = time.perf_counter()
    live = LiveModel.load(directory)
    x = live.features.batch(columns)
    warm = live.features.warmup
    values = live.model.predict(x[warm:])
    closes = columns.ts_open[warm:] + columns.interval_ns
    from algotrading.timestamps import iso_utc_many

    lines = [f"{t},{v!r}\n" for t, v in zip(iso_utc_many(closes), values.tolist(), strict=True)]
    path.write_text("time,prediction\n" + "".join(lines))
    return time.perf_counter() - started


def main(quick: bool = False) -> None:
    configure_logging("error", "json")
    config = load_config()
    n_train = 20_000 if quick else 100_000
    n_backtest = 100_000 if quick else 1_000_000
    data = bars(max(n_train, n_backtest))
    columns = columns_of(data[:n_train])
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        for kind in ("lightgbm", "lstm"):
            directory = train(config, kind, columns, tmp_path / kind)
            f = latency(directory, data[:5_000])
            target = TARGETS_US[kind]
            print(
                f"inference {kind:8s} per bar: median {f['median']:7.1f} us, p99 {f['p99']:7.1f} us"
                f" (model alone: median {f['model_median']:6.1f} us, p99 {f['model_p99']:6.1f} us)"
                f"  target p99 < {target:,.0f} us: {'met' if f['p99'] < target else 'NOT met'}"
            )
        lgbm = tmp_path / "lightgbm"
        registry = tmp_path / "registry.sqlite"
        with ModelRegistry(registry) as r:
            from algotrading.models.persistence import read_metadata

            metadata = read_metadata(lgbm)
            r.register(metadata, lgbm)
            r.activate(metadata.model_id)
        sample = data[:n_backtest]
        rate, orders = backtest(config, sample, {"kind": "registry", "registry": str(registry)})
        print(
            f"ml_signal backtest, LightGBM streaming: {len(sample):,} bars, {rate:,.0f} bars/s, "
            f"{orders:,} orders"
        )
        predictions = tmp_path / "predictions.csv"
        setup = batch_predictions(lgbm, columns_of(sample), predictions)
        rate, orders = backtest(config, sample, {"kind": "predictions", "path": str(predictions)})
        verdict = "met" if rate >= BACKTEST_TARGET else "NOT met"
        print(
            f"ml_signal backtest, LightGBM batch: {len(sample):,} bars, {rate:,.0f} bars/s "
            f"(+ {setup:.1f} s to compute the predictions), {orders:,} orders"
            f"  target {BACKTEST_TARGET:,}/s: {verdict}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    main(parser.parse_args().quick)
