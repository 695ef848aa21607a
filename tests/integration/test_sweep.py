"""``algotrading sweep`` end to end: the same bytes from every executor (real worker processes,
a real local Ray instance when ``ray`` is installed), and walk-forward choices made without
future data."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from algotrading.adapters.csv_bars import write_bars_csv
from algotrading.backtest.sweep import parse_grid, plan_sweep, rank_results, run_grid
from algotrading.backtest.sweep_cli import add_sweep_parser, run_sweep_command
from algotrading.backtest.sweep_jobs import job_runner
from algotrading.data.synthetic import synthetic_bars
from algotrading.errors import ConfigError
from algotrading.timestamps import parse_utc

HOUR_NS = 3600 * 10**9
GRID = ["--grid", "fast=3,5,8,12", "--grid", "slow=10:30:10"]


def sweep(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="algotrading")
    add_sweep_parser(parser.add_subparsers(dest="command"))
    return run_sweep_command(parser.parse_args(["sweep", *argv]))


def outputs(out: Path, *names: str) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in names}


write_bars = write_bars_csv


@pytest.fixture(scope="module")
def serial_outputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    data = tmp_path_factory.mktemp("data")
    csv = write_bars(
        data / "EURUSD_H1.csv",
        synthetic_bars(
            "EUR_USD",
            parse_utc("2024-03-04T00:00:00Z"),
            parse_utc("2024-05-04T00:00:00Z"),
            HOUR_NS,
            11,
        ),
    )
    out = data / "serial"
    assert sweep(*GRID, "--data", str(csv), "--out", str(out), "--serial") == 0
    return csv, outputs(out, "results.csv", "sweep.json")


def test_serial_sweep_writes_a_ranked_table(serial_outputs, capsys):
    _, files = serial_outputs
    lines = files["results.csv"].decode().splitlines()
    assert lines[0].startswith("rank,fast,slow,sharpe,")
    assert len(lines) == 1 + 11  # 12 combinations, fast=12 slow=10 refused
    summary = json.loads(files["sweep.json"])
    assert (summary["n_trials"], summary["n_invalid"]) == (11, 1)
    assert summary["instrument"] == "EUR_USD"
    assert 0.0 <= summary["deflated_sharpe"]["deflated_sharpe"] <= 1.0


def test_process_pool_writes_the_same_bytes(serial_outputs, tmp_path: Path):
    csv, expected = serial_outputs
    assert sweep(*GRID, "--data", str(csv), "--out", str(tmp_path), "--workers", "2") == 0
    assert outputs(tmp_path, "results.csv", "sweep.json") == expected


def test_a_history_store_sweeps_like_the_csv_it_was_made_from(serial_outputs, tmp_path: Path):
    """Regression: the README's ``sweep --data store/`` failed ("cannot read the file: Is a
    directory"); a store's bar series is read whole, and ranks exactly as its CSV does."""
    from algotrading.data.convert import convert_csv

    csv, expected = serial_outputs
    store = tmp_path / "store"
    convert_csv(csv, store)
    out = tmp_path / "out"
    assert sweep(*GRID, "--data", str(store), "--out", str(out), "--serial") == 0
    assert (out / "results.csv").read_bytes() == expected["results.csv"]
    assert json.loads((out / "sweep.json").read_text())["instrument"] == "EUR_USD"


def test_a_store_of_several_series_asks_which(serial_outputs, tmp_path: Path):
    from algotrading.data.convert import convert_csv
    from algotrading.errors import DataError

    csv, _ = serial_outputs
    store = tmp_path / "store"
    convert_csv(csv, store)
    convert_csv(csv, store, instrument="GBP_USD")
    with pytest.raises(DataError, match="choose one series with --instrument") as asked:
        sweep(*GRID, "--data", str(store), "--out", str(tmp_path / "o"), "--serial")
    assert "GBP_USD" in str(asked.value)
    argv = [*GRID, "--data", str(store), "--instrument", "GBP_USD", "--serial"]
    assert sweep(*argv, "--out", str(tmp_path / "g")) == 0


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_writes_the_same_bytes(serial_outputs, local_ray, tmp_path: Path):
    csv, expected = serial_outputs
    assert sweep(*GRID, "--data", str(csv), "--out", str(tmp_path), "--ray", "local") == 0
    assert local_ray.is_initialized()  # a cluster it did not start is left running
    assert outputs(tmp_path, "results.csv", "sweep.json") == expected


def _folds(out: Path) -> tuple[dict, list[dict]]:
    report = json.loads((out / "sweep.json").read_text())
    return report, report["walk_forward"]["folds"]


@pytest.mark.parametrize("mode", ["anchored", "rolling"])
def test_walk_forward_chooses_in_sample_only(serial_outputs, tmp_path: Path, mode: str):
    csv, _ = serial_outputs
    argv = [*GRID, "--data", str(csv), "--walk-forward", "3", "--wf-mode", mode]
    assert sweep(*argv, "--out", str(tmp_path), "--workers", "2") == 0
    report, folds = _folds(tmp_path)
    assert [f["fold"] for f in folds] == [1, 2, 3]
    windows = [
        {
            k: (parse_utc(f[k]["start"]), parse_utc(f[k]["end"]))
            for k in ("in_sample", "out_of_sample")
        }
        for f in folds
    ]
    for i, w in enumerate(windows):
        (is_start, is_end), (oos_start, oos_end) = w["in_sample"], w["out_of_sample"]
        assert is_start < is_end <= oos_start < oos_end  # out of sample comes after, apart
        if i:
            previous = windows[i - 1]["out_of_sample"]
            assert previous[1] == oos_start  # consecutive, not overlapping
            assert is_start == (windows[0]["in_sample"][0] if mode == "anchored" else previous[0])
    # each choice is what a grid on the in-sample window alone ranks first
    plan = plan_sweep(
        "sma_cross", parse_grid(GRID[1::2]), base=report["base_params"], data=str(csv)
    )
    with job_runner("serial") as run:
        for fold, w in zip(folds, windows, strict=True):
            best = rank_results(run_grid(plan, run, *w["in_sample"]), "sharpe")[0]
            assert fold["params"] == {k: best["params"][k] for k in ("fast", "slow")}
    lines = (tmp_path / "walk_forward.csv").read_text().splitlines()
    assert lines[0].startswith("fold,is_start,is_end,oos_start,oos_end,fast,slow,sharpe,")
    assert len(lines) == 4
    summary = report["walk_forward"]["summary"]
    assert summary["n_folds"] == 3
    assert summary["oos_n_trades"] == sum(f["metrics"]["n_trades"] for f in folds)


def test_walk_forward_choices_ignore_later_data(serial_outputs, tmp_path: Path):
    """Replace every bar after the first fold's in-sample window: its choice cannot change."""
    csv, _ = serial_outputs
    argv = [*GRID, "--walk-forward", "3", "--serial"]
    assert sweep(*argv, "--data", str(csv), "--out", str(tmp_path / "a")) == 0
    _, folds = _folds(tmp_path / "a")
    cut = parse_utc(folds[0]["in_sample"]["end"])
    start, end = parse_utc("2024-03-04T00:00:00Z"), parse_utc("2024-05-04T00:00:00Z")
    bars = synthetic_bars("EUR_USD", start, end, HOUR_NS, 11)
    other = synthetic_bars("EUR_USD", cut, end, HOUR_NS, 99, annual_vol=0.3)
    changed = write_bars(tmp_path / "EURUSD_H1.csv", [b for b in bars if b.ts_open < cut] + other)
    assert sweep(*argv, "--data", str(changed), "--out", str(tmp_path / "b")) == 0
    _, changed_folds = _folds(tmp_path / "b")
    assert changed_folds[0]["params"] == folds[0]["params"]
    assert changed_folds[0]["out_of_sample"] == folds[0]["out_of_sample"]
    assert changed_folds[0]["metrics"] != folds[0]["metrics"]  # the future did change


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--grid", "fast=x:y"], "--grid"),
        (["--grid", "fast=1:5:0"], "--grid"),
        (["--grid", "fsat=3,4"], "--grid"),
        (["--grid", "fast=3", "--trials", "0"], "--trials"),
        (["--grid", "fast=3", "--workers", "0"], "--workers"),
        (["--grid", "fast=3", "--strategy", "nope"], "--strategy"),
        (["--grid", "fast=3", "--instrument", "XAU_XYZ"], "--instrument"),
        (["--grid", "fast=3", "--walk-forward", "0"], "--walk-forward"),
    ],
)
def test_bad_input_is_a_config_error_before_any_run(argv, flag, tmp_path: Path, capsys):
    """Refused before any run, naming the flag: by the parser (a value out of range: exit 2,
    one line) or by the sweep's own checks (a ConfigError the CLI prints)."""
    with pytest.raises((ConfigError, SystemExit)) as refused:
        sweep(*argv, "--out", str(tmp_path / "out"))
    if isinstance(refused.value, ConfigError):
        assert refused.value.file == flag
    else:
        assert refused.value.code == 2
        assert f"argument {flag}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
