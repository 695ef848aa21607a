"""Equity marks are folded and written a batch at a time; the batch forms must give exactly what
marking, sampling and formatting one mark at a time gives."""

from __future__ import annotations

import itertools
import math
import random
import struct
from array import array
from pathlib import Path

import numpy as np
import pytest

import algotrading.backtest.outputs as outputs
from algotrading.backtest.metrics import NS_PER_DAY, EquityTracker
from algotrading.backtest.outputs import BacktestRecorder, Thinned, equity_rows, float_texts
from algotrading.timestamps import iso_utc

MINUTE = 60 * 10**9
START = 1_704_067_200 * 10**9  # 2024-01-01T00:00:00Z


def tracker_state(t: EquityTracker) -> tuple[object, ...]:
    return tuple(getattr(t, name) for name in EquityTracker.__slots__)


def equity_path(rng: random.Random, n: int) -> list[float]:
    """Rises, falls, plateaus (equal marks are new peaks too), zero and negative equity."""
    value, out = 1000.0, []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.15:
            pass  # repeat: a plateau
        elif kind < 0.17:
            value = rng.choice([0.0, -5.0, 1e-9])
        else:
            value = value * (1 + rng.gauss(0, 0.01)) + rng.gauss(0, 1)
        out.append(value)
    return out


@pytest.mark.parametrize("seed", range(12))
def test_mark_many_is_marking_one_by_one(seed):
    rng = random.Random(seed)
    n = rng.randint(1, 600)
    ts = sorted(START + rng.randint(0, 9 * NS_PER_DAY) for _ in range(n))
    values = equity_path(rng, n)
    if seed % 3 == 0:
        values[rng.randrange(n)] = math.nan  # never a peak, never a drawdown
    exposed = [rng.random() < 0.5 for _ in range(n)]
    one = EquityTracker()
    for t, v, e in zip(ts, values, exposed, strict=True):
        one.mark(t, v, e)
    many = EquityTracker()
    cuts = sorted({0, n, *(rng.randint(0, n) for _ in range(rng.randint(0, 6)))})
    for a, b in itertools.pairwise(cuts):
        many.mark_many(
            np.array(ts[a:b], dtype=np.int64),
            np.array(values[a:b], dtype=np.float64),
            np.array(exposed[a:b], dtype=bool),
        )
    assert repr(tracker_state(many)) == repr(tracker_state(one))  # NaN-safe, bit for bit


@pytest.mark.parametrize(
    "values",
    [
        [0.0, -1.0, -2.0, 0.0, 0.5, -3.0, 0.5, 0.5, 2.0],  # a peak of zero: no drawdown from it
        [-5.0, -6.0, -4.0, -7.0],  # never above zero
        [1.0, math.nan, 0.5, math.nan, 2.0, 1.0],
    ],
)
def test_mark_many_on_edge_paths(values):
    ts = [START + i * 7 * 3_600 * 10**9 for i in range(len(values))]
    one = EquityTracker()
    for t, v in zip(ts, values, strict=True):
        one.mark(t, v, v > 0)
    for split in range(len(values) + 1):
        many = EquityTracker()
        for part in (slice(0, split), slice(split, None)):
            many.mark_many(
                np.array(ts[part], dtype=np.int64),
                np.array(values[part]),
                np.array([v > 0 for v in values[part]]),
            )
        assert repr(tracker_state(many)) == repr(tracker_state(one))


def test_mark_many_refuses_a_mark_back_in_time_after_folding_those_before():
    tracker = EquityTracker()
    tracker.mark(100, 1.0, False)
    with pytest.raises(ValueError, match="before the previous one"):
        tracker.mark_many(np.array([50], dtype=np.int64), np.array([1.0]), np.array([False]))
    with pytest.raises(ValueError, match="equity mark at 150 is before the previous one at 200"):
        tracker.mark_many(
            np.array([110, 200, 150], dtype=np.int64), np.array([2.0, 3.0, 4.0]), np.zeros(3, bool)
        )
    assert (tracker.last_ts, tracker.n_marks) == (200, 3)


def test_thinned_add_many_keeps_what_add_keeps():
    rng = random.Random(4)
    one, many = Thinned(7), Thinned(7)
    total = 0
    for _ in range(40):
        n = rng.randint(0, 50)
        for i in range(n):
            one.add(total + i)
        many.add_many(n, lambda i, base=total: base + i)
        total += n
        assert (many.items, many.stride) == (one.items, one.stride)
    assert one.stride > 1


def random_float(rng: random.Random) -> float:
    k = rng.random()
    if k < 0.1:
        return struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
    if k < 0.2:
        return rng.choice([0.0, -0.0, math.inf, -math.inf, math.nan, 1e-4, 9.999e-5, 1e16, 5e-324])
    if k < 0.25:
        return rng.randint(-(10**17), 10**17) + rng.choice([0.0, 0.25, 0.5, 0.75])  # ties
    return rng.random() * 10 ** rng.randint(-6, 17) * rng.choice([1, -1])


def test_float_texts_are_repr():
    rng = random.Random(9)
    values = [random_float(rng) for _ in range(20_000)]
    assert float_texts(values) == [repr(v) for v in values]


@pytest.mark.parametrize("seed", range(6))
def test_equity_rows_are_iso_time_comma_repr(seed):
    rng = random.Random(seed)
    n = rng.randint(1, 3000)
    step = rng.choice([MINUTE, 10**9, rng.randint(1, 10**13)])
    start = rng.randint(-(10**18), 5 * 10**18)
    ts = [start + step * i for i in range(n)]
    if seed % 2:
        ts = sorted(t + rng.choice([0, 0, rng.randint(1, 10**9 - 1)]) for t in ts)
    values = [random_float(rng) if seed % 3 == 0 else 1e5 + rng.gauss(0, 500) for _ in range(n)]
    expected = "".join(f"{iso_utc(t)},{v!r}\n" for t, v in zip(ts, values, strict=True))
    assert equity_rows(array("q", ts), array("d", values)) == expected
    assert equity_rows([], []) == ""


class OneByOne:
    """The recorder's marks as they were taken before batching: each mark folded, sampled
    and written at once."""

    def __init__(self, initial: float) -> None:
        self.initial = initial
        self.tracker = EquityTracker()
        self.sample = Thinned(2000)
        self.rows: list[str] = []

    def equity_marked(self, ts: int, equity: float, exposed: bool) -> None:
        if self.tracker.first_ts is None:
            self.tracker.mark(ts, self.initial, False)
        self.tracker.mark(ts, equity, exposed)
        self.sample.add((ts, equity))
        self.rows.append(f"{iso_utc(ts)},{equity!r}\n")


@pytest.mark.parametrize("with_files", [True, False])
def test_recorder_batches_give_what_one_by_one_gives(tmp_path: Path, monkeypatch, with_files):
    monkeypatch.setattr(outputs, "EQUITY_BATCH", 97)  # many batches, and a partial last one
    rng = random.Random(1)
    n = 5_000
    ts = [START + i * MINUTE + rng.choice([0, 0, 0, 123_456]) for i in range(n)]
    values = equity_path(rng, n)
    exposed = [rng.random() < 0.7 for _ in range(n)]
    recorder = BacktestRecorder(tmp_path if with_files else None, initial_equity=1000.0, sample=50)
    reference = OneByOne(1000.0)
    reference.sample = Thinned(50)
    for t, v, e in zip(ts, values, exposed, strict=True):
        recorder.equity_marked(t, v, e)
        reference.equity_marked(t, v, e)
    assert repr(tracker_state(recorder.tracker)) == repr(tracker_state(reference.tracker))
    assert recorder.equity_sample.items == reference.sample.items
    recorder.close()
    if with_files:
        written = (tmp_path / "equity.csv").read_text()
        assert written == "time,equity\n" + "".join(reference.rows)


def test_recorder_refuses_a_mark_back_in_time_at_once():
    recorder = BacktestRecorder(None, initial_equity=1.0)
    recorder.equity_marked(10, 1.0, False)
    with pytest.raises(ValueError, match="equity mark at 9 is before the previous one at 10"):
        recorder.equity_marked(9, 1.0, False)
    assert recorder.tracker.n_marks == 2  # the initial equity and the first mark
