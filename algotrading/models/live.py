"""A model at work in the live stream: per instrument, the features computed bar by bar (the
same definitions as training) and the last ``window`` feature rows the model reads; one
prediction per bar once the features are warmed up and the window is full — never earlier.

Inference time is measured per bar (``timings``), so the cost the event loop pays is known:
the model actor reports its median and p99, and alerts when a prediction exceeds its budget.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from algotrading.features.feature_set import FeatureSet, FeatureStream
from algotrading.messages import Bar
from algotrading.models.base import Model, ModelMetadata
from algotrading.models.persistence import load_model

TIMINGS_KEPT = 10_000


@dataclass
class _Series:
    stream: FeatureStream
    rows: deque[np.ndarray]


@dataclass
class LiveModel:
    model: Model
    metadata: ModelMetadata
    features: FeatureSet
    series: dict[str, _Series] = field(default_factory=dict)
    timings: deque[int] = field(default_factory=lambda: deque(maxlen=TIMINGS_KEPT))

    @classmethod
    def load(cls, directory: Path) -> LiveModel:
        model, metadata = load_model(directory)
        _one_torch_thread()
        if not metadata.feature_specs:
            raise ValueError(f"model {metadata.model_id} does not say how to compute its features")
        features = FeatureSet(metadata.feature_specs)
        if features.names != tuple(metadata.features):
            raise ValueError(
                f"model {metadata.model_id}: its feature specs give {features.names}, "
                f"it was trained on {metadata.features}"
            )
        return cls(model, metadata, features)

    @property
    def model_id(self) -> str:
        return self.metadata.model_id

    @property
    def warmup(self) -> int:
        """Bars before the first prediction."""
        return self.features.warmup + self.model.window - 1

    def _series(self, instrument: str) -> _Series:
        series = self.series.get(instrument)
        if series is None:
            series = _Series(self.features.stream(), deque(maxlen=self.model.window))
            self.series[instrument] = series
        return series

    def warm(self, bar: Bar) -> None:
        """Take ``bar`` into the features and the window without predicting (a model swapped
        in catches up on the recent bars this way)."""
        series = self._series(bar.instrument)
        row = series.stream.update(bar)
        if row is not None:
            series.rows.append(row)

    def on_bar(self, bar: Bar) -> float | None:
        series = self._series(bar.instrument)
        row = series.stream.update(bar)
        if row is None:
            return None
        series.rows.append(row)
        if len(series.rows) < self.model.window:
            return None
        started = time.perf_counter_ns()
        value = self.model.predict_last(np.stack(series.rows))
        self.timings.append(time.perf_counter_ns() - started)
        return value

    def latency_us(self) -> dict[str, float]:
        if not self.timings:
            return {"n": 0}
        values = np.asarray(self.timings, dtype=np.float64) / 1e3
        return {
            "n": len(values),
            "median": float(np.median(values)),
            "p99": float(np.percentile(values, 99)),
            "max": float(values.max()),
        }


def _one_torch_thread() -> None:
    """Live inference is one small window at a time: torch's intra-op thread pool only adds
    hand-offs, and on a busy machine its threads wait for a core (an LSTM's p99 on 2 cores:
    37 ms with two threads, 0.25 ms with one). Set only when torch is in use already."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)
