"""The vectorised building blocks against plain Python over each window: exact where the
arithmetic is (max, min, flat windows), within rounding elsewhere, and no drift over a long
series of prices near 1.1."""

from __future__ import annotations

import math

import numpy as np
import pytest

from algotrading.features.bar_feature import mean_and_population_std
from algotrading.features.moving_average import RollingEma
from algotrading.features.rolling_arrays import (
    after_warmup,
    ema_filter,
    trailing_max,
    trailing_mean,
    trailing_min,
    trailing_offset_and_std,
    wilder_smoothing,
    z_scores,
)


def fx_closes(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.round(1.1 + np.cumsum(rng.normal(0.0, 3e-4, n)), 5)


def windows(values: np.ndarray, window: int) -> list[list[float]]:
    listed = values.tolist()
    return [listed[end - window : end] for end in range(window, len(listed) + 1)]


@pytest.mark.parametrize("window", [1, 2, 7, 50])
@pytest.mark.parametrize("n", [0, 1, 7, 50, 20_000])
def test_max_min_and_mean_of_each_window(n, window):
    values = fx_closes(n, seed=n + window)
    expected = windows(values, window)
    assert trailing_max(values, window).tolist() == [max(w) for w in expected]
    assert trailing_min(values, window).tolist() == [min(w) for w in expected]
    np.testing.assert_allclose(
        trailing_mean(values, window), [math.fsum(w) / window for w in expected], rtol=0, atol=1e-15
    )


@pytest.mark.parametrize("window", [2, 3, 20, 50])
def test_offset_and_std_of_each_window(window):
    values = fx_closes(5000, seed=window)
    values[1000:1100] = values[999]  # flat windows, and windows flat but for one value
    values[1100] = values[999] + 1e-5
    offset, std = trailing_offset_and_std(values, window)
    expected = [mean_and_population_std(w) for w in windows(values, window)]
    mean, expected_std = np.array(expected).T
    np.testing.assert_allclose(std, expected_std, rtol=1e-12, atol=0)
    np.testing.assert_allclose(offset, values[window - 1 :] - mean, rtol=0, atol=1e-15)
    flat = expected_std == 0.0
    assert flat.sum() > 50
    assert (std[flat] == 0.0).all()
    assert (offset[flat] == 0.0).all()
    assert (std[~flat] > 0.0).all()


def test_a_window_flat_but_for_one_pip():
    values = np.array([1.1] * 19 + [1.10001])
    offset, std = trailing_offset_and_std(values, 20)
    pip = 1.10001 - 1.1
    np.testing.assert_allclose(std, [pip * math.sqrt(19) / 20], rtol=1e-12)
    np.testing.assert_allclose(z_scores(offset, std), [math.sqrt(19)], rtol=1e-12)


def test_no_drift_over_a_million_prices():
    """Every window is reduced afresh, so the last rows of a long series are as exact as the
    first: z-scores within 1e-9 of the exactly summed ones, at the start and the end."""
    values = fx_closes(1_000_000, seed=2)
    window = 20
    offset, std = trailing_offset_and_std(values, window)
    z = z_scores(offset, std)
    for row in [*range(100), *range(len(z) - 1000, len(z))]:
        window_values = values[row : row + window].tolist()
        mean, expected_std = mean_and_population_std(window_values)
        expected_z = 0.0 if expected_std == 0.0 else (window_values[-1] - mean) / expected_std
        assert abs(z[row] - expected_z) < 1e-9


def test_z_scores_are_zero_where_the_spread_is():
    assert z_scores(np.array([0.0, 1.0, -2.0]), np.array([0.0, 2.0, 4.0])).tolist() == [
        0.0,
        0.5,
        -0.5,
    ]


@pytest.mark.parametrize("period", [1, 2, 14])
def test_wilder_smoothing_is_the_recursion(period):
    rng = np.random.default_rng(period)
    values = np.abs(rng.normal(0.0, 1e-3, 3000))
    values[100:200] = 0.0
    smoothed = wilder_smoothing(values, period)
    expected = [math.nan] * (period - 1)
    average = math.fsum(values[:period].tolist()) / period
    expected.append(average)
    for x in values[period:].tolist():
        average = (average * (period - 1) + x) / period
        expected.append(average)
    np.testing.assert_allclose(smoothed, expected, rtol=1e-12, atol=0)
    too_short = wilder_smoothing(values[: period - 1], period)
    assert too_short.shape == (period - 1,)
    assert np.isnan(too_short).all()


def test_wilder_smoothing_keeps_zero_exactly_zero():
    values = np.array([0.0] * 30 + [1e-5] + [0.0] * 30)
    smoothed = wilder_smoothing(values, 14)
    assert (smoothed[13:30] == 0.0).all()
    assert (smoothed[30:] > 0.0).all()


@pytest.mark.parametrize("span", [1, 2, 9, 26])
def test_ema_filter_is_the_rolling_ema(span):
    values = fx_closes(3000, seed=span)
    rolling = RollingEma(span)
    expected = [rolling.update(v) for v in values.tolist()]
    np.testing.assert_allclose(ema_filter(values, span), expected, rtol=1e-14, atol=0)
    assert ema_filter(values[:0], span).shape == (0,)


def test_after_warmup_pads_the_front_with_nan():
    assert np.isnan(after_warmup(np.array([]), 3)).all()
    padded = after_warmup(np.array([1.0, 2.0]), 4)
    assert np.isnan(padded[:2]).all()
    assert padded[2:].tolist() == [1.0, 2.0]
