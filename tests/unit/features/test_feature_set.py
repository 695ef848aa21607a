"""The feature library's promises: batch and live give the same numbers, the declared warm-up
is exactly the NaN rows, nothing looks ahead, the values are the textbook ones, and a bad spec
is refused with a message that says which. The batch promises are checked for both batch
forms: the vectorised one (``batch``) and the definition looped (``batch_reference``)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from algotrading.data.columns import BarColumns
from algotrading.features.feature_set import DEFAULT_FEATURES, FeatureSet, parse_spec
from algotrading.features.library import FAMILIES

OTHER_SPECS = (
    "returns(3)",
    "volatility(2)",
    "atr(1)",
    "atr(3)",
    "rsi(1)",
    "rsi(2)",
    "macd(3,7,2)",
    "bollinger_z(2)",
    "ma_distance(1)",
    "ma_distance(7)",
    "range_position(1)",
    "range_position(5)",
    "range(1)",
    "range(20)",
    "volume_z(2)",
    "volume_z(20)",
)


BATCH_FORMS = ("batch", "batch_reference")


def batch_form(features: FeatureSet, form: str) -> Callable[[BarColumns], np.ndarray]:
    return getattr(features, form)


def stream_table(features: FeatureSet, columns: BarColumns) -> list[np.ndarray | None]:
    stream = features.stream()
    return [stream.update(bar) for bar in columns.bars()]


def leading_nan_rows(table: np.ndarray) -> int:
    has_nan = np.isnan(table).any(axis=1)
    return len(has_nan) if has_nan.all() else int(np.argmin(has_nan))


# --- batch and live agree; warm-up is exact ----------------------------------------------------


@pytest.mark.parametrize("form", BATCH_FORMS)
@pytest.mark.parametrize("spec", [*DEFAULT_FEATURES, *OTHER_SPECS])
def test_batch_and_stream_agree_and_warmup_is_the_nan_rows(spec, form, bars):
    features = FeatureSet([spec])
    table = batch_form(features, form)(bars)
    streamed = stream_table(features, bars)

    assert table.shape == (len(bars), len(features.names))
    assert leading_nan_rows(table) == features.warmup
    assert not np.isnan(table[features.warmup :]).any()
    for row, vector in zip(table, streamed, strict=True):
        if vector is None:
            assert np.isnan(row).any()
        else:
            assert vector.shape == row.shape
            np.testing.assert_allclose(vector, row, rtol=0, atol=1e-9)
    assert sum(vector is None for vector in streamed) == features.warmup


@pytest.mark.parametrize("form", BATCH_FORMS)
def test_default_set_agrees_as_a_whole(form, bars):
    features = FeatureSet(DEFAULT_FEATURES)
    table = batch_form(features, form)(bars)
    streamed = stream_table(features, bars)

    assert features.warmup == 49  # ma_distance(50)
    assert all(vector is None for vector in streamed[: features.warmup])
    live = np.array(streamed[features.warmup :])
    np.testing.assert_allclose(live, table[features.warmup :], rtol=0, atol=1e-9)
    assert np.isfinite(table[features.warmup :]).all()


def test_names_and_warmups_of_the_default_set():
    features = FeatureSet(DEFAULT_FEATURES)
    assert features.names == (
        "returns_1",
        "returns_5",
        "volatility_20",
        "atr_14",
        "rsi_14",
        "macd_12_26_9",
        "bollinger_z_20",
        "ma_distance_50",
        "range_position_20",
        "hour_sin",
        "hour_cos",
        "dow_sin",
        "dow_cos",
        "session_asia",
        "session_europe",
        "session_us",
    )
    warmups = {spec: FeatureSet([spec]).warmup for spec in DEFAULT_FEATURES}
    assert warmups == {
        "returns(1)": 1,
        "returns(5)": 5,
        "volatility(20)": 20,
        "atr(14)": 13,
        "rsi(14)": 14,
        "macd(12,26,9)": 34,
        "bollinger_z(20)": 19,
        "ma_distance(50)": 49,
        "range_position(20)": 19,
        "hour_of_day": 0,
        "day_of_week": 0,
        "session": 0,
    }


@pytest.mark.parametrize("form", BATCH_FORMS)
def test_empty_and_short_inputs(form, make_columns):
    batch = batch_form(FeatureSet(DEFAULT_FEATURES), form)
    assert batch(make_columns([])).shape == (0, 16)
    short = batch(make_columns([1.0, 1.1, 1.2]))
    assert short.shape == (3, 16)
    assert np.isnan(short).any(axis=1).all()
    assert batch_form(FeatureSet([]), form)(make_columns([1.0])).shape == (1, 0)


# --- no look-ahead -----------------------------------------------------------------------------


@pytest.mark.parametrize("form", BATCH_FORMS)
@pytest.mark.parametrize("m", [1, 13, 49, 50, 1000, 3199])
def test_a_prefix_gives_the_same_rows(m, form, bars, first_bars):
    batch = batch_form(FeatureSet([*DEFAULT_FEATURES, "range(20)", "volume_z(20)"]), form)
    whole = batch(bars)
    np.testing.assert_array_equal(batch(first_bars(bars, m)), whole[:m])


@pytest.mark.parametrize("form", BATCH_FORMS)
def test_changing_later_bars_changes_nothing_before(form, bars):
    features = FeatureSet([*DEFAULT_FEATURES, "range(20)", "volume_z(20)"])
    t = 1500
    rng = np.random.default_rng(5)
    scale = rng.uniform(0.5, 2.0, len(bars) - t - 1)
    changed = BarColumns(
        instrument=bars.instrument,
        interval_ns=bars.interval_ns,
        ts_open=bars.ts_open,
        **{
            name: np.concatenate(
                [getattr(bars, name)[: t + 1], getattr(bars, name)[t + 1 :] * scale]
            )
            for name in ("open", "high", "low", "close", "volume")
        },
    )
    batch = batch_form(features, form)
    before, after = batch(bars), batch(changed)
    np.testing.assert_array_equal(after[: t + 1], before[: t + 1])
    assert not np.allclose(after[t + 1 :], before[t + 1 :])


# --- the values are the textbook ones ----------------------------------------------------------


def computed(spec: str, columns: BarColumns, form: str) -> np.ndarray:
    """The columns of ``spec`` over ``columns`` by one batch form; ``(n,)`` for one column."""
    table = batch_form(FeatureSet([spec]), form)(columns)
    return table[:, 0] if table.shape[1] == 1 else table


@pytest.mark.parametrize("form", BATCH_FORMS)
def test_returns_by_hand(form, make_columns):
    columns = make_columns([1.0, 2.0, 4.0, 1.0])
    np.testing.assert_allclose(
        computed("returns(1)", columns, form), [np.nan, math.log(2), math.log(2), math.log(0.25)]
    )
    np.testing.assert_allclose(
        computed("returns(2)", columns, form), [np.nan, np.nan, math.log(4), math.log(0.5)]
    )


@pytest.mark.parametrize("form", BATCH_FORMS)
def test_rsi_by_hand(form, make_columns):
    # changes +1, -0.5, +1: first averages gain 0.5, loss 0.25 (RS 2); then Wilder's smoothing
    # gain (0.5 + 1) / 2 = 0.75, loss (0.25 + 0) / 2 = 0.125 (RS 6)
    values = computed("rsi(2)", make_columns([1.0, 2.0, 1.5, 2.5]), form)
    np.testing.assert_allclose(values, [np.nan, np.nan, 100 - 100 / 3, 100 - 100 / 7])
    assert computed("rsi(2)", make_columns([1.0, 1.1, 1.2, 1.3]), form)[-1] == 100.0  # no losses
    assert computed("rsi(2)", make_columns([1.0, 0.9, 0.8, 0.7]), form)[-1] == 0.0  # no gains
    assert computed("rsi(2)", make_columns([1.2] * 5), form)[-1] == 50.0  # flat
    assert computed("rsi(1)", make_columns([1.0, 1.1, 1.1, 1.0]), form).tolist()[1:] == [
        100.0,
        50.0,
        0.0,
    ]


@pytest.mark.parametrize("form", BATCH_FORMS)
def test_range_position_and_range_by_hand(form, make_columns):
    columns = make_columns(
        closes=[10.0, 11.0, 12.0, 9.0, 9.0],
        highs=[10.5, 12.0, 13.0, 10.0, 9.0],
        lows=[9.5, 10.0, 11.0, 8.0, 9.0],
    )
    # windows of 3: [9.5, 13] -> (12 - 9.5) / 3.5; [8, 13] -> 1 / 5; [8, 13] -> 1 / 5
    np.testing.assert_allclose(
        computed("range_position(3)", columns, form), [np.nan, np.nan, 2.5 / 3.5, 0.2, 0.2]
    )
    np.testing.assert_allclose(
        computed("range(3)", columns, form), [np.nan, np.nan, 3.5 / 12, 5 / 9, 5 / 9]
    )
    flat = make_columns([1.5, 1.5, 1.5])
    assert computed("range_position(2)", flat, form).tolist()[1:] == [0.5, 0.5]


@pytest.mark.parametrize("form", BATCH_FORMS)
def test_flat_windows_give_zero_not_noise(form, make_columns):
    flat = make_columns([0.1] * 6, volumes=[0.0, 0.0, 0.0, 3.0, 3.0, np.nan])
    assert computed("bollinger_z(3)", flat, form).tolist()[2:] == [0.0] * 4
    assert computed("volatility(2)", flat, form).tolist()[2:] == [0.0] * 4
    # volumes 0,0,0 then 0,0,3 then 0,3,3 then 3,3,0 (a missing volume counts as 0)
    z = computed("volume_z(3)", flat, form)
    assert z[2] == 0.0
    np.testing.assert_allclose(z[3:], [math.sqrt(2), 1 / math.sqrt(2), -math.sqrt(2)])


@pytest.mark.parametrize("form", BATCH_FORMS)
@pytest.mark.parametrize(
    ("hh_mm", "asia", "europe", "us"),
    [
        ("00:00", 1, 0, 0),
        ("06:59", 1, 0, 0),
        ("07:00", 1, 1, 0),
        ("07:59", 1, 1, 0),
        ("08:00", 0, 1, 0),
        ("12:00", 0, 1, 1),
        ("15:59", 0, 1, 1),
        ("16:00", 0, 0, 1),
        ("20:59", 0, 0, 1),
        ("21:00", 0, 0, 0),
        ("22:59", 0, 0, 0),
        ("23:00", 1, 0, 0),
    ],
)
def test_session_flags_by_utc_hour(hh_mm, asia, europe, us, form, make_columns):
    ts = pd.Timestamp(f"2024-03-05 {hh_mm}", tz="UTC").value
    flags = computed("session", make_columns([1.0], ts_open=[ts]), form)
    assert flags.tolist() == [[asia, europe, us]]


@pytest.mark.parametrize("form", BATCH_FORMS)
def test_hour_and_weekday_encodings(form, make_columns):
    times = ["2024-01-01 00:00", "2024-01-01 06:00", "2024-01-03 18:30", "2024-01-07 12:00"]
    ts_open = [pd.Timestamp(t, tz="UTC").value for t in times]
    features = FeatureSet(["hour_of_day", "day_of_week"])
    table = batch_form(features, form)(make_columns([1.0] * 4, ts_open=ts_open))
    hours = np.array([0.0, 6.0, 18.5, 12.0])
    weekdays = np.array([0, 0, 2, 6])  # Monday, Monday, Wednesday, Sunday
    expected = np.column_stack(
        [
            np.sin(2 * np.pi * hours / 24),
            np.cos(2 * np.pi * hours / 24),
            np.sin(2 * np.pi * weekdays / 7),
            np.cos(2 * np.pi * weekdays / 7),
        ]
    )
    np.testing.assert_allclose(table, expected, rtol=0, atol=1e-12)


def _wilder(values: pd.Series, n: int) -> pd.Series:
    """Wilder's smoothing the pandas way: the SMA of the first n values, then an EWM with
    alpha 1/n seeded with it."""
    seeded = pd.concat([pd.Series([values.iloc[:n].mean()]), values.iloc[n:]])
    smoothed = seeded.ewm(alpha=1 / n, adjust=False).mean()
    return pd.concat([pd.Series([np.nan] * (n - 1)), smoothed], ignore_index=True)


def _pandas_reference(spec: str, bars: BarColumns) -> pd.Series:
    close, high, low = pd.Series(bars.close), pd.Series(bars.high), pd.Series(bars.low)
    family, args = parse_spec(spec)
    n = args[0]
    if family == "volatility":
        return np.log(close).diff().rolling(n).std(ddof=0)
    if family == "rsi":
        change = close.diff().iloc[1:].reset_index(drop=True)
        gain, loss = _wilder(change.clip(lower=0), n), _wilder(-change.clip(upper=0), n)
        rs = 100 - 100 / (1 + gain / loss)
        return pd.concat([pd.Series([np.nan]), rs], ignore_index=True)
    if family == "atr":
        prev = close.shift(1)
        true_range = pd.concat([high - low, (high - prev).abs(), (low - prev).abs()], axis=1)
        return _wilder(true_range.max(axis=1), n) / close
    if family == "macd":
        fast, slow, signal = args
        line = close.ewm(span=fast, adjust=False).mean() - close.ewm(span=slow, adjust=False).mean()
        histogram = (line - line.ewm(span=signal, adjust=False).mean()) / close
        return histogram.where(close.index >= slow + signal - 1)
    if family == "bollinger_z":
        return (close - close.rolling(n).mean()) / close.rolling(n).std(ddof=0)
    if family == "ma_distance":
        return close / close.rolling(n).mean() - 1
    raise AssertionError(spec)


@pytest.mark.parametrize("form", BATCH_FORMS)
@pytest.mark.parametrize(
    "spec",
    ["volatility(20)", "rsi(14)", "atr(14)", "macd(12,26,9)", "bollinger_z(20)", "ma_distance(50)"],
)
def test_matches_an_independent_pandas_formula(spec, form, bars):
    ours = batch_form(FeatureSet([spec]), form)(bars)[:, 0]
    reference = _pandas_reference(spec, bars).to_numpy()
    # where pandas divides by a flat window (0/0 or a rounding residue) our rule is the answer
    flat = pd.Series(bars.close).rolling(20).std(ddof=0).to_numpy() < 1e-12
    if spec.startswith("bollinger"):
        reference = np.where(flat, ours, reference)
    np.testing.assert_allclose(ours, reference, rtol=1e-9, atol=1e-9)


# --- bad specs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        "foo(3)",
        "RSI(14)",
        "rsi",
        "rsi()",
        "rsi(0)",
        "rsi(-3)",
        "rsi(1.5)",
        "rsi(x)",
        "rsi(14",
        "rsi(14,2)",
        "macd(26,12,9)",
        "macd(12,26)",
        "volatility(1)",
        "session(1)",
        "",
        "returns(1) returns(2)",
    ],
)
def test_bad_specs_are_refused_by_name(spec):
    with pytest.raises(ValueError, match=re.escape(repr(spec))) as refused:
        FeatureSet(["returns(1)", spec])
    assert "known families: returns(h)" in str(refused.value)
    assert all(name in str(refused.value) for name in FAMILIES)


def test_parse_spec():
    assert parse_spec("rsi(14)") == ("rsi", (14,))
    assert parse_spec(" macd( 12, 26 ,9 ) ") == ("macd", (12, 26, 9))
    assert parse_spec("session") == ("session", ())
    assert parse_spec("hour_of_day()") == ("hour_of_day", ())


def test_repeated_columns_are_refused():
    with pytest.raises(ValueError, match="rsi_14"):
        FeatureSet(["rsi(14)", "returns(1)", "rsi(14)"])
