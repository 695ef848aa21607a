import json
import math
from pathlib import Path

import pytest

from algotrading.backtest.runner import run_backtest
from algotrading.backtest.sweep import (
    grid_summary,
    param_sets,
    parse_grid,
    plan_sweep,
    rank_results,
    run_grid,
    valid_param_sets,
    write_json,
    write_results_csv,
)
from algotrading.backtest.sweep_jobs import (
    SweepJob,
    job_runner,
    load_config_cached,
    load_history,
    run_job,
)
from algotrading.data.synthetic import synthetic_bars
from algotrading.errors import ConfigError
from algotrading.runtime.loop import run as run_loop
from algotrading.strategies.registry import build_strategy
from algotrading.timestamps import parse_utc

HOUR_NS = 3600 * 10**9
MARCH = parse_utc("2024-03-01T00:00:00Z")
MAY = parse_utc("2024-05-01T00:00:00Z")
MONDAY = parse_utc("2024-03-04T00:00:00Z")


# --- parse_grid ----------------------------------------------------------------------------------


def test_grid_values_are_typed_and_ranges_include_stop():
    grid = parse_grid(["fast=5,10", "slow=20:40:10", "quantity=1000.5,2e3", "mode=a, b"])
    assert grid == {
        "fast": [5, 10],
        "slow": [20, 30, 40],
        "quantity": [1000.5, 2000.0],
        "mode": ["a", "b"],
    }
    assert list(grid) == ["fast", "slow", "quantity", "mode"]  # the order given
    assert parse_grid(["slow=3:5"]) == {"slow": [3, 4, 5]}
    assert parse_grid(["slow=7:7"]) == {"slow": [7]}


@pytest.mark.parametrize(
    ("items", "key", "problem"),
    [
        (["fast"], "fast", "expected KEY=V1,V2"),
        (["=5"], "=5", "expected KEY=V1,V2"),
        (["fast="], "fast", "no values"),
        (["fast=1,,2"], "fast", "empty value"),
        (["fast=1,2,1"], "fast", "repeated"),
        (["fast=1", "fast=2"], "fast", "given twice"),
        (["slow=a:b"], "slow", "expected integers"),
        (["slow=1:2:3:4"], "slow", "expected integers"),
        (["slow=1.5:3"], "slow", "expected integers"),
        (["slow=1:9:0"], "slow", "STEP must be > 0"),
        (["slow=9:1"], "slow", "is empty"),
        ([], "", "nothing to sweep"),
    ],
)
def test_bad_grids_name_the_key_and_the_problem(items, key, problem):
    with pytest.raises(ConfigError) as err:
        parse_grid(items)
    assert err.value.file == "--grid"
    assert err.value.key == key
    assert problem in err.value.problem


# --- param_sets ----------------------------------------------------------------------------------


def test_full_product_in_itertools_order():
    sets = param_sets({"fast": [1, 2], "slow": [10, 20, 30]}, None, seed=0)
    assert sets == [
        {"fast": 1, "slow": 10},
        {"fast": 1, "slow": 20},
        {"fast": 1, "slow": 30},
        {"fast": 2, "slow": 10},
        {"fast": 2, "slow": 20},
        {"fast": 2, "slow": 30},
    ]


def test_sampled_sets_are_seeded_distinct_and_in_product_order():
    grid = {"a": list(range(10)), "b": list(range(10)), "c": list(range(10))}
    full = param_sets(grid, None, 0)
    sample = param_sets(grid, 25, seed=7)
    assert len(sample) == 25
    assert sample == param_sets(grid, 25, seed=7)
    assert sample != param_sets(grid, 25, seed=8)
    positions = [full.index(s) for s in sample]
    assert positions == sorted(set(positions))  # without replacement, in product order
    assert param_sets(grid, 1000, seed=7) == full  # trials >= product: all of them
    assert param_sets(grid, 1000, seed=7) == param_sets(grid, 5000, seed=1)


def test_trials_below_one_and_huge_grids_are_refused():
    with pytest.raises(ConfigError, match="--trials"):
        param_sets({"a": [1, 2]}, 0, 0)
    huge = {k: list(range(100)) for k in "abc"}  # a million combinations
    with pytest.raises(ConfigError, match="--trials N"):
        param_sets(huge, None, 0)
    assert len(param_sets(huge, 50, seed=1)) == 50


def test_invalid_combinations_are_skipped_and_counted():
    sets = param_sets({"fast": [5, 10, 20], "slow": [10, 20]}, None, 0)
    valid, n_invalid = valid_param_sets("sma_cross", sets, {})
    assert valid == [{"fast": 5, "slow": 10}, {"fast": 5, "slow": 20}, {"fast": 10, "slow": 20}]
    assert n_invalid == 3


def test_a_grid_with_no_valid_combination_is_an_error():
    with pytest.raises(ConfigError, match="no combination is valid"):
        valid_param_sets("sma_cross", [{"fast": 30, "slow": 10}], {})
    with pytest.raises(ConfigError, match="unknown parameter"):
        valid_param_sets("sma_cross", [{"fsat": 3}], {})


def test_plan_checks_strategy_and_rank_metric():
    with pytest.raises(ConfigError, match="unknown strategy"):
        plan_sweep("no_such", {"fast": [1]})
    with pytest.raises(ConfigError, match="--rank"):
        plan_sweep("sma_cross", {"fast": [1]}, rank="n_trades")
    sweep = plan_sweep("sma_cross", {"fast": [5, 50]}, base={"slow": 30}, trials=None, seed=3)
    assert sweep.sets == [{"fast": 5}]
    assert (sweep.n_combinations, sweep.n_invalid) == (2, 1)
    assert sweep.job(0, 1, 2).params == {"slow": 30, "fast": 5}


# --- ranking and outputs -------------------------------------------------------------------------


def _result(index, sharpe, **params):
    return {"index": index, "params": params, "metrics": {"sharpe": sharpe}}


def test_rank_is_descending_with_none_last_and_ties_by_index():
    results = [_result(0, None), _result(1, 0.5), _result(2, 1.5), _result(3, 0.5), _result(4, -1)]
    assert [r["index"] for r in rank_results(results, "sharpe")] == [2, 1, 3, 4, 0]


# --- jobs ----------------------------------------------------------------------------------------


def test_run_job_is_the_backtest_of_its_window():
    config = load_config_cached(None)
    job = SweepJob(0, "sma_cross", {"fast": 5, "slow": 20}, None, None, None, MARCH, MAY)
    out = run_job(job)
    history = load_history(None, None, config)
    direct = run_loop(
        run_backtest(
            history.bars(MARCH, MAY),
            config=config,
            strategy=build_strategy("sma_cross", {"fast": 5, "slow": 20}),
            instrument=config.instrument("EUR_USD"),
            bar_interval_ns=history.interval_ns,
            data_source=history.source,
        ),
        use_uvloop=False,
    )
    assert out["index"] == 0
    assert out["params"] == {"fast": 5, "slow": 20}
    assert out["bars"] == direct.bars == 1033
    assert out["metrics"]["sharpe"] == direct.metrics["sharpe"]
    assert out["metrics"]["n_trades"] == direct.metrics["n_trades"]
    assert len(out["daily_returns"]) == direct.metrics["n_days"] - 1
    assert all(math.isfinite(r) for r in out["daily_returns"])


def test_history_windows_are_half_open_on_open_times(tmp_path: Path):
    config = load_config_cached(None)
    path = tmp_path / "EURUSD_H1.csv"
    bars = synthetic_bars("EUR_USD", MONDAY, MONDAY + 48 * HOUR_NS, HOUR_NS, 5)
    rows = [f"{b.ts_open // 10**9},{b.open},{b.high},{b.low},{b.close},{b.volume}" for b in bars]
    path.write_text("time,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    history = load_history(str(path), None, config)
    assert load_history(str(path), None, config) is history  # loaded once per process
    assert (history.symbol, history.interval_ns) == ("EUR_USD", HOUR_NS)
    assert (history.start_ns, history.end_ns) == (MONDAY, MONDAY + 48 * HOUR_NS)
    window = list(history.bars(MONDAY + 2 * HOUR_NS, MONDAY + 5 * HOUR_NS))
    assert [b.ts_open for b in window] == [MONDAY + h * HOUR_NS for h in (2, 3, 4)]
    assert [b.close for b in window] == [b.close for b in bars[2:5]]
    assert len(list(history.bars())) == 48
    synthetic = load_history(None, None, config)
    assert [b.ts_open for b in synthetic.bars(MONDAY, MONDAY + HOUR_NS)] == [MONDAY]


def test_unknown_instrument_is_refused():
    with pytest.raises(ConfigError, match="unknown instrument"):
        load_history(None, "XAU_XYZ", load_config_cached(None))


def test_unknown_executor_is_a_bug():
    with pytest.raises(ValueError, match="executor"), job_runner("threads"):
        pass


def test_sweep_outputs_are_ranked_and_deterministic(tmp_path: Path):
    sweep = plan_sweep("sma_cross", {"fast": [3, 5, 8], "slow": [8, 20]})
    assert sweep.n_invalid == 1
    history = load_history(None, None, load_config_cached(None))
    with job_runner("serial") as run:
        results = run_grid(sweep, run, MARCH, MAY)
    assert [r["index"] for r in results] == list(range(5))
    ranked = rank_results(results, "sharpe")
    sharpes = [r["metrics"]["sharpe"] for r in ranked]
    assert sharpes == sorted(sharpes, reverse=True)
    summary = grid_summary(sweep, history, ranked, (MARCH, MAY))
    for name in ("a", "b"):
        write_results_csv(tmp_path / f"{name}.csv", sweep, ranked)
        write_json(tmp_path / f"{name}.json", summary)
    text = (tmp_path / "a.csv").read_text()
    assert text == (tmp_path / "b.csv").read_text()
    assert (tmp_path / "a.json").read_text() == (tmp_path / "b.json").read_text()
    lines = text.splitlines()
    assert lines[0].startswith("rank,fast,slow,sharpe,")
    assert len(lines) == 6
    assert lines[1].startswith(f"1,{ranked[0]['params']['fast']},{ranked[0]['params']['slow']},")
    saved = json.loads((tmp_path / "a.json").read_text())
    assert saved["best"]["params"] == {k: ranked[0]["params"][k] for k in ("fast", "slow")}
    assert saved["window"] == {"start": "2024-03-01T00:00:00Z", "end": "2024-05-01T00:00:00Z"}
    assert (saved["n_trials"], saved["n_combinations"], saved["n_invalid"]) == (5, 6, 1)
    deflated = saved["deflated_sharpe"]
    assert deflated["n_trials"] == 5
    assert 0.0 <= deflated["deflated_sharpe"] <= 1.0
    assert deflated["sharpe"] == pytest.approx(
        ranked[0]["metrics"]["sharpe"] / math.sqrt(252), rel=1e-9
    )
