"""ml_signal's thresholds on a scripted prediction stream."""

from __future__ import annotations

import pytest

from algotrading.data.instruments import BUILTIN_INSTRUMENTS
from algotrading.messages import Prediction
from algotrading.strategies.ml_signal import MlSignal, MlSignalParams
from algotrading.strategies.registry import build_strategy


def stream(values, model_id="m"):
    return [
        Prediction(ts_event=i, instrument="EUR_USD", model_id=model_id, value=v)
        for i, v in enumerate(values)
    ]


def test_thresholds_are_inclusive_and_the_band_holds_by_default():
    rule = MlSignal(MlSignalParams(long_above=0.6, short_below=0.4))
    got = [rule.on_prediction(p) for p in stream([0.5, 0.6, 0.59, 0.41, 0.4, 0.7])]
    assert got == [None, 1, None, None, -1, 1]


def test_exit_inside_goes_flat_in_the_band():
    rule = MlSignal(MlSignalParams(long_above=0.6, short_below=0.4, exit_inside=True))
    got = [rule.on_prediction(p) for p in stream([0.7, 0.5, 0.3, 0.45])]
    assert got == [1, 0, -1, 0]


def test_other_models_are_ignored():
    rule = MlSignal(MlSignalParams(model_id="lgbm-1"))
    assert rule.on_prediction(stream([0.9], model_id="other")[0]) is None
    assert rule.on_prediction(stream([0.9], model_id="lgbm-1")[0]) == 1


def test_composed_ml_signal_decides_on_predictions_at_the_last_close(bars_of, account):
    factory = build_strategy("ml_signal", {"long_above": 0.01, "short_below": -0.01})
    strategy = factory.make(BUILTIN_INSTRUMENTS["EUR_USD"])
    assert strategy.on_prediction(stream([0.02])[0], account) is None  # no bar seen yet
    decisions = []
    for bar, value in zip(bars_of([1.1, 1.2, 1.3]), [0.02, 0.0, -0.05], strict=True):
        assert strategy.on_bar(bar, account) is None
        d = strategy.on_prediction(stream([value])[0], account)
        decisions.append(None if d is None else (d.target, d.reason))
    assert decisions == [(10_000, "entry"), None, (-10_000, "signal_reversal")]


def test_thresholds_must_be_ordered():
    with pytest.raises(ValueError, match="short_below"):
        MlSignalParams(long_above=0.4, short_below=0.6)
