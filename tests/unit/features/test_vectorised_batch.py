"""The vectorised batch forms against the definition: every family, in several
parameterisations, over realistic FX bars, the awkward synthetic bars and a market that barely
moves, equals the incremental objects looped over the same columns (``batch_reference``) to
1e-9, with the same NaN rows, and with exactly the conventional value wherever a convention
decides the answer (a flat window's 0.0, RSI's 50 and 100, a zero range's 0.5)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from algotrading.data.columns import BarColumns
from algotrading.features.feature_set import DEFAULT_FEATURES, FeatureSet, parse_spec
from algotrading.features.library import FAMILIES

SPECS = (
    "returns(1)",
    "returns(2)",
    "returns(24)",
    "volatility(2)",
    "volatility(3)",
    "volatility(20)",
    "volatility(50)",
    "atr(1)",
    "atr(2)",
    "atr(14)",
    "atr(50)",
    "rsi(1)",
    "rsi(2)",
    "rsi(14)",
    "rsi(30)",
    "macd(2,3,1)",
    "macd(3,7,2)",
    "macd(12,26,9)",
    "macd(5,35,5)",
    "bollinger_z(2)",
    "bollinger_z(5)",
    "bollinger_z(20)",
    "bollinger_z(50)",
    "ma_distance(1)",
    "ma_distance(7)",
    "ma_distance(50)",
    "ma_distance(200)",
    "range_position(1)",
    "range_position(5)",
    "range_position(20)",
    "range_position(50)",
    "range(1)",
    "range(20)",
    "range(50)",
    "volume_z(2)",
    "volume_z(20)",
    "volume_z(50)",
    "hour_of_day",
    "day_of_week",
    "session",
)


@pytest.fixture(params=["fx_20000", "bars", "quiet_20000"])
def dataset(request) -> BarColumns:
    """Realistic FX bars, the awkward synthetic bars of ``conftest``, and a quiet market."""
    return request.getfixturevalue(request.param)


def assert_same_table(vectorised: np.ndarray, reference: np.ndarray) -> None:
    assert vectorised.shape == reference.shape
    np.testing.assert_array_equal(np.isnan(vectorised), np.isnan(reference))
    np.testing.assert_allclose(vectorised, reference, rtol=0, atol=1e-9)


def flat_windows(values: np.ndarray, window: int) -> np.ndarray:
    """Per row: whether the ``window`` values ending there are all equal (False in warm-up)."""
    flat = np.zeros(len(values), dtype=bool)
    if len(values) >= window:
        windows = sliding_window_view(values, window)
        flat[window - 1 :] = windows.max(axis=1) == windows.min(axis=1)
    return flat


def conventional_values(spec: str, columns: BarColumns) -> np.ndarray:
    """Per row, the value a convention decides, read from the inputs alone; NaN where the
    ordinary formula applies (or the family has no convention)."""
    family, args = parse_spec(spec)
    close, n = columns.close, len(columns)
    window = args[0] if args else 0
    values = np.full(n, np.nan)
    if family == "bollinger_z":
        values[flat_windows(close, window)] = 0.0
    elif family == "volume_z":
        values[flat_windows(np.nan_to_num(columns.volume, nan=0.0), window)] = 0.0
    elif family == "volatility":
        values[flat_windows(close, window + 1)] = 0.0
    elif family == "range_position" and n >= window:
        highs, lows = (
            sliding_window_view(columns.high, window),
            sliding_window_view(columns.low, window),
        )
        values[window - 1 :][highs.max(axis=1) == lows.min(axis=1)] = 0.5
    elif family == "rsi":
        change = np.concatenate([[np.nan], np.diff(close)])
        if window == 1:  # the averages are this bar's gain and loss
            no_loss, no_gain = change >= 0.0, change == 0.0
        else:  # an average stays exactly zero until the first non-zero value enters it
            no_loss = np.cumsum(np.nan_to_num(change) < 0.0) == 0
            no_gain = np.cumsum(np.nan_to_num(change) > 0.0) == 0
        decided = no_loss & (np.arange(n) >= window)
        values[decided] = np.where(no_gain[decided], 50.0, 100.0)
    return values


def test_every_family_is_covered():
    assert {parse_spec(spec)[0] for spec in SPECS} == set(FAMILIES)


@pytest.mark.parametrize("spec", SPECS)
def test_vectorised_equals_the_incremental_definition(spec, dataset):
    features = FeatureSet([spec])
    vectorised, reference = features.batch(dataset), features.batch_reference(dataset)
    assert_same_table(vectorised, reference)

    expected = conventional_values(spec, dataset)
    decided = ~np.isnan(expected)
    np.testing.assert_array_equal(reference[decided, 0], expected[decided])
    np.testing.assert_array_equal(vectorised[decided, 0], expected[decided])


@pytest.mark.parametrize(
    ("spec", "value"),
    [
        ("bollinger_z(20)", 0.0),
        ("volume_z(20)", 0.0),
        ("volatility(20)", 0.0),
        ("range_position(5)", 0.5),
        ("rsi(1)", 50.0),
        ("rsi(1)", 100.0),
    ],
)
def test_the_data_meets_every_convention(spec, value, quiet_20000, bars):
    """The comparisons above are only as good as the cases they meet."""
    for columns in (quiet_20000, bars):
        assert (conventional_values(spec, columns) == value).sum() > 20


def test_the_quiet_market_has_nearly_flat_windows(quiet_20000):
    """Flat but for one pip: where a z-score is largest and most sensitive to rounding."""
    z = FeatureSet(["bollinger_z(20)"]).batch_reference(quiet_20000)[:, 0]
    assert (np.abs(z) > 4.0).sum() > 100


@pytest.mark.parametrize("n", [0, 1, 2, 19, 20, 21, 50])
def test_short_inputs_agree(n, make_fx_bars):
    features = FeatureSet(SPECS)
    columns = make_fx_bars(60, 9)
    short = BarColumns(
        instrument=columns.instrument,
        interval_ns=columns.interval_ns,
        **{
            name: getattr(columns, name)[:n]
            for name in ("ts_open", "open", "high", "low", "close", "volume")
        },
    )
    assert_same_table(features.batch(short), features.batch_reference(short))


def test_the_default_set_agrees_as_a_whole(dataset):
    features = FeatureSet(DEFAULT_FEATURES)
    assert_same_table(features.batch(dataset), features.batch_reference(dataset))


def test_batch_memory_is_a_few_columns_beyond_the_table(make_fx_bars):
    n = 200_000
    columns = make_fx_bars(n, 1)
    features = FeatureSet(DEFAULT_FEATURES)
    tracemalloc.start()
    try:
        table = features.batch(columns)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the table itself, plus working arrays of n floats: far below an (n, window) copy
    assert peak - table.nbytes < 16 * n * 8


@pytest.mark.parametrize("m", [16_384, 16_433, 19_999])
def test_a_prefix_gives_the_same_rows_across_blocks(m, fx_20000, first_bars):
    """The windows are reduced in blocks of rows; where a block ends changes no row."""
    features = FeatureSet([*DEFAULT_FEATURES, "range(20)", "volume_z(20)", "volatility(50)"])
    whole = features.batch(fx_20000)
    np.testing.assert_array_equal(features.batch(first_bars(fx_20000, m)), whole[:m])


def test_read_only_strided_columns_give_the_same_table(bars):
    """Columns from the store are read-only views; nothing is written to them, and a stride
    changes nothing."""

    def read_only_strided(values: np.ndarray) -> np.ndarray:
        view = np.repeat(values, 2)[::2]
        view.flags.writeable = False
        return view

    columns = BarColumns(
        instrument=bars.instrument,
        interval_ns=bars.interval_ns,
        **{
            name: read_only_strided(getattr(bars, name))
            for name in ("ts_open", "open", "high", "low", "close", "volume")
        },
    )
    features = FeatureSet(SPECS)
    np.testing.assert_array_equal(features.batch(columns), features.batch(bars))
