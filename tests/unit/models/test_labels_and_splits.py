"""Labels read the future only through ``end``, and walk-forward folds never train on a label
that reads the bars they are tested on."""

from __future__ import annotations

import numpy as np
import pytest

from algotrading.models.labels import forward_return, rolling_vol, sign_label, triple_barrier
from algotrading.models.splits import walk_forward


def test_forward_return_and_sign():
    close = np.array([1.0, 2.0, 1.0, 1.0, 4.0])
    r, end = forward_return(close, 2)
    assert r[:3] == pytest.approx([0.0, np.log(0.5), np.log(4.0)])
    assert np.isnan(r[3:]).all()
    assert end.tolist() == [2, 3, 4, 5, 6]
    assert sign_label(r)[:3].tolist() == [0.0, 0.0, 1.0]
    assert np.isnan(sign_label(r)[3:]).all()


def test_triple_barrier_first_touch_and_vertical_barrier():
    close = np.array([100.0, 101.0, 103.0, 99.0, 100.0, 100.5, 100.2])
    vol = np.full(len(close), 0.02)  # barriers at +-2 % (up=down=1)
    label, end = triple_barrier(close, 3, 1.0, 1.0, vol)
    assert label[0] == 1.0  # 103 / 100 = +2.96 % at bar 2: the upper barrier first
    assert end[0] == 2
    assert label[2] == 0.0  # 99 / 103 = -3.9 %: the lower barrier at bar 3
    assert end[2] == 3
    assert label[3] == 1.0  # no barrier within 3 bars; 100.2 > 99 at the vertical barrier
    assert end[3] == 6
    assert np.isnan(label[4:]).all()


def test_rolling_vol_is_known_at_the_close():
    close = np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.01, 200)))
    vol = rolling_vol(close, 20)
    assert np.isnan(vol[:20]).all()
    returns = np.diff(np.log(close))
    assert vol[50] == pytest.approx(np.std(returns[30:50]))
    changed = close.copy()
    changed[51:] *= 1.5  # the future changes; the past estimate does not
    assert rolling_vol(changed, 20)[:51] == pytest.approx(vol[:51], nan_ok=True)


@pytest.mark.parametrize("scheme", ["expanding", "rolling"])
def test_no_training_label_overlaps_its_test_block(scheme):
    n, horizon, embargo = 2_000, 12, 5
    _, end = forward_return(np.ones(n), horizon)
    folds = walk_forward(
        end[: n - horizon],
        first=30,
        test_size=300,
        min_train=600,
        scheme=scheme,
        train_size=500,
        embargo=embargo,
    )
    assert len(folds) == 5  # 630 + 4 * 300 = 1830; the last block is shorter
    assert len(folds[-1].test) == n - horizon - 1830
    tested = np.concatenate([f.test for f in folds])
    assert tested.tolist() == list(range(630, n - horizon))  # every row tested once, in order
    for fold in folds:
        for rows in (fold.fit, fold.valid):
            assert rows.min() >= 30
            assert (end[rows] < fold.test_start - embargo).all()
        assert (end[fold.fit] < fold.valid[0]).all()
        assert fold.fit.max() < fold.valid.min()
        if scheme == "rolling":
            assert fold.fit.min() >= fold.test_start - 500


def test_splits_refuse_what_cannot_work():
    end = np.arange(100) + 1
    with pytest.raises(ValueError, match="not enough rows"):
        walk_forward(end, first=0, test_size=20, min_train=100)
    with pytest.raises(ValueError, match="rolling"):
        walk_forward(end, first=0, test_size=20, min_train=50, scheme="rolling")


def test_cutting_the_history_leaves_earlier_folds_unchanged():
    _, end = forward_return(np.ones(3_000), 4)
    full = walk_forward(end[:2_996], first=10, test_size=250, min_train=500, embargo=2)
    cut = walk_forward(end[:2_000], first=10, test_size=250, min_train=500, embargo=2)
    for a, b in zip(cut[:-1], full, strict=False):
        assert np.array_equal(a.fit, b.fit)
        assert np.array_equal(a.valid, b.valid)
        assert np.array_equal(a.test, b.test)
