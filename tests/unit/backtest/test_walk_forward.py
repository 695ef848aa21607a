import pytest

from algotrading.backtest.walk_forward import walk_forward_folds, walk_forward_summary
from algotrading.errors import ConfigError
from algotrading.timestamps import parse_utc

HOUR_NS = 3600 * 10**9
DAY_NS = 24 * HOUR_NS
START = parse_utc("2024-03-04T00:00:00Z")
END = parse_utc("2024-05-04T00:00:00Z")  # 61 days


def test_anchored_folds_grow_from_the_start_and_tile_the_rest():
    folds = walk_forward_folds(START, END, HOUR_NS, 3)
    assert [f.number for f in folds] == [1, 2, 3]
    assert all(f.is_start == START for f in folds)
    assert all(f.is_end == f.oos_start for f in folds)
    assert all(f.oos_start % DAY_NS == 0 for f in folds)  # cut at UTC midnights
    assert [f.oos_end for f in folds[:-1]] == [f.oos_start for f in folds[1:]]
    assert folds[-1].oos_end == END
    # 61 days in 4 near-equal parts: 15.25 days each, cut back to midnight
    assert [(f.oos_start - START) // DAY_NS for f in folds] == [15, 30, 45]


def test_rolling_folds_keep_one_part_in_sample():
    anchored = walk_forward_folds(START, END, HOUR_NS, 3, "anchored")
    rolling = walk_forward_folds(START, END, HOUR_NS, 3, "rolling")
    assert [(f.oos_start, f.oos_end) for f in rolling] == [
        (f.oos_start, f.oos_end) for f in anchored
    ]
    assert [f.is_start for f in rolling] == [START, rolling[0].oos_start, rolling[1].oos_start]
    assert all(f.is_end == f.oos_start for f in rolling)


def test_short_data_is_cut_on_the_bar_grid():
    start = START + 30 * 60 * 10**9  # bars at half past the hour
    folds = walk_forward_folds(start, start + 30 * HOUR_NS, HOUR_NS, 2)
    cuts = [f.oos_start for f in folds]
    assert all((c - start) % HOUR_NS == 0 for c in cuts)
    assert cuts == [start + 10 * HOUR_NS, start + 20 * HOUR_NS]


@pytest.mark.parametrize(
    ("folds", "mode", "flag"),
    [
        (0, "anchored", "--walk-forward"),
        (2, "expanding", "--wf-mode"),
        (40, "anchored", "--walk-forward"),
    ],
)
def test_bad_walk_forward_settings(folds, mode, flag):
    with pytest.raises(ConfigError) as err:
        walk_forward_folds(START, START + 3 * DAY_NS, HOUR_NS, folds, mode)
    assert err.value.file == flag


def test_summary_averages_sharpe_and_compounds_returns():
    rows = [
        {"metrics": {"sharpe": 1.0, "total_return": 0.1, "n_trades": 4}},
        {"metrics": {"sharpe": None, "total_return": -0.05, "n_trades": 0}},
        {"metrics": {"sharpe": -0.5, "total_return": 0.02, "n_trades": 3}},
    ]
    summary = walk_forward_summary(rows)
    assert summary["n_folds"] == 3
    assert summary["mean_oos_sharpe"] == 0.25
    assert summary["oos_total_return"] == pytest.approx(1.1 * 0.95 * 1.02 - 1.0)
    assert summary["oos_n_trades"] == 7
