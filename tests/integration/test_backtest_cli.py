"""``algotrading backtest`` end to end, against an independent reading of the sma_cross rules."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import pytest

from tests.integration.conftest import write_dukascopy_csv


def reference_trades(path: Path, fast: int, slow: int, qty: int) -> list[dict[str, str]]:
    """The rules read straightforwardly, in exact decimal arithmetic: cross at bar t's close,
    fill at bar t+1's open with bar t+1's time, reverse through flat."""
    with path.open() as f:
        rows = list(csv.DictReader(f))
    times = [
        datetime.strptime(r["Gmt time"], "%d.%m.%Y %H:%M:%S.%f").replace(tzinfo=UTC) for r in rows
    ]
    closes = [Fraction(r["Close"]) for r in rows]
    opens = [r["Open"] for r in rows]

    def sma(i: int, n: int) -> Fraction | None:
        return sum(closes[i - n + 1 : i + 1]) / n if i >= n - 1 else None

    trades, position, entry = [], 0, None
    for t in range(1, len(rows) - 1):
        a, b = sma(t - 1, fast), sma(t - 1, slow)
        c, d = sma(t, fast), sma(t, slow)
        if None in (a, b, c, d):
            continue
        prev, cur = a - b, c - d
        target = qty if prev <= 0 < cur else -qty if prev >= 0 > cur else position
        if target == position:
            continue
        fill_time = times[t + 1].strftime("%Y-%m-%dT%H:%M:%SZ")
        fill_price = opens[t + 1]
        if position != 0:
            pnl = (Fraction(fill_price) - Fraction(entry[1])) * position
            trades.append(
                {
                    "side": "LONG" if position > 0 else "SHORT",
                    "entry_time": entry[0],
                    "exit_time": fill_time,
                    "entry_price": entry[1],
                    "exit_price": fill_price,
                    "pnl": f"{float(pnl):.2f}",
                }
            )
        position, entry = target, (fill_time, fill_price)
    return trades


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_trades_match_a_straightforward_reading_of_the_rules(cli, hourly_csv, tmp_path):
    out = tmp_path / "out"
    result = cli(
        "backtest",
        "--data",
        str(hourly_csv),
        "--strategy",
        "sma_cross",
        "--param",
        "fast=5",
        "--param",
        "slow=20",
        "--param",
        "quantity=10000",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    trades = read_csv(out / "trades.csv")
    expected = reference_trades(hourly_csv, 5, 20, 10_000)
    assert len(trades) == len(expected) > 10
    for got, want in zip(trades, expected, strict=True):
        assert got["instrument"] == "EUR_USD"
        assert got["quantity"] == "10000"
        for key in ("side", "entry_time", "exit_time", "pnl"):
            assert got[key] == want[key], (key, got, want)
        assert float(got["entry_price"]) == float(want["entry_price"])
        assert float(got["exit_price"]) == float(want["exit_price"])
    assert "costs: none" in result.stdout
    assert "bar t+1's open" in result.stdout


def test_outputs_are_byte_identical_across_runs(cli, hourly_csv, tmp_path):
    args = ["backtest", "--data", str(hourly_csv), "--param", "fast=4", "--param", "slow=12"]
    first = cli(*args, "--out", str(tmp_path / "a"))
    second = cli(*args, "--out", str(tmp_path / "b"))
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    for name in ("trades.csv", "orders.csv", "equity.csv", "metrics.json", "report.html"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_a_history_shorter_than_a_day_prints_na_for_the_daily_ratios(cli, tmp_path):
    """Regression: the summary line formatted max drawdown as a number and crashed when the
    run had no daily return to compute it from."""
    data = write_dukascopy_csv(
        tmp_path / "EURUSD_H1.csv", "2024-03-05T00:00:00Z", "2024-03-05T20:00:00Z", seed=3
    )
    result = cli(
        "backtest", "--data", str(data), "--param", "fast=2", "--param", "slow=4",
        "--out", str(tmp_path / "o"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "max drawdown: n/a" in result.stdout
    assert "sharpe: n/a" in result.stdout
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["max_drawdown"] is None


def test_synthetic_default_writes_every_file(cli, tmp_path):
    result = cli("backtest", "--strategy", "sma_cross", "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["run"]["data"].startswith("synthetic")
    assert metrics["run"]["costs"] == {
        "commission_bps": 0.0,
        "commission_min": 0.0,
        "commission_per_unit": 0.0,
        "slippage_pips": 0.0,
        "spread_pips": 0.0,
    }
    assert metrics["run"]["venue"]["latency"] == {"fixed_ms": 0.0, "jitter_ms": 0.0, "seed": 0}
    assert metrics["run"]["venue"]["financing"]["rates"] == {}
    assert metrics["n_trades"] > 50
    equity = read_csv(tmp_path / "o" / "equity.csv")
    assert len(equity) == metrics["run"]["bars"]
    orders = read_csv(tmp_path / "o" / "orders.csv")
    assert {o["status"] for o in orders} <= {"FILLED", "ACCEPTED"}


def test_costs_from_config_are_printed_and_applied(cli, hourly_csv, tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "system.yaml").write_text(
        "venue:\n  costs:\n    spread_pips: 1.0\n    commission_per_unit: 0.00003\n"
    )
    result = cli(
        "backtest",
        "--data",
        str(hourly_csv),
        "--config",
        str(conf),
        "--param",
        "fast=5",
        "--param",
        "slow=20",
        "--out",
        str(tmp_path / "o"),
    )
    assert result.returncode == 0, result.stderr
    assert "spread_pips=1" in result.stdout
    assert "commission_per_unit=3e-05" in result.stdout
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    costs = metrics["costs"]
    trades = read_csv(tmp_path / "o" / "trades.csv")
    units = 2 * sum(float(t["quantity"]) for t in trades)  # each closed trade: entry + exit
    assert costs["commission"] >= units * 0.00003 - 1e-6
    assert costs["spread"] >= units * 0.00005 - 1e-6  # half a pip a side
    assert costs["total"] == pytest.approx(sum(v for k, v in costs.items() if k != "total"))


def test_bad_input_gets_one_clear_line_and_exit_2(cli, hourly_csv, tmp_path):
    bad_param = cli(
        "backtest", "--data", str(hourly_csv), "--param", "fast=x", "--out", str(tmp_path / "o")
    )
    assert bad_param.returncode == 2
    assert "params.fast" in bad_param.stderr
    assert "Traceback" not in bad_param.stderr
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "system.yaml").write_text("account:\n  initial_cash: lots\n")
    bad_conf = cli("backtest", "--config", str(conf), "--out", str(tmp_path / "o"))
    assert bad_conf.returncode == 2
    assert f"{conf / 'system.yaml'}:2: account.initial_cash: expected `float`" in bad_conf.stderr
    missing = cli("backtest", "--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o"))
    assert missing.returncode == 2
    assert "nope.csv" in missing.stderr


def test_metrics_agree_with_empyrical_on_equity_csv(cli, tmp_path):
    empyrical = pytest.importorskip("empyrical")
    pd = pytest.importorskip("pandas")
    out = tmp_path / "o"
    result = cli("backtest", "--param", "fast=8", "--param", "slow=30", "--out", str(out))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    equity = pd.read_csv(out / "equity.csv", parse_dates=["time"], index_col="time")["equity"]
    returns = equity.resample("1D").last().dropna().pct_change().dropna()
    expected = {
        "sharpe": empyrical.sharpe_ratio(returns),
        "sortino": empyrical.sortino_ratio(returns),
        "annual_volatility": empyrical.annual_volatility(returns),
        "cagr": empyrical.annual_return(returns),
        "max_drawdown": empyrical.max_drawdown(returns),
        "calmar": empyrical.calmar_ratio(returns),
    }
    for name, value in expected.items():
        assert metrics[name] == pytest.approx(value, rel=1e-9, abs=1e-9), name
    html = (out / "report.html").read_text()
    assert '<script src="http' not in html
    assert html.count("Equity") >= 1


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("2024-01-02 00:00:00,1.1,1.2,1.0,1.15", "time"),  # goes back in time
        ("2024-01-02 02:00:00,1.1,1.2,1.0,1.15", "time"),  # duplicate timestamp
        ("2024-01-02 04:00:00,nan,1.2,1.0,1.15", "open"),
        ("2024-01-02 04:00:00,1.1,1.0,1.2,1.15", "high"),  # high < low
    ],
)
def test_bad_rows_are_reported_with_file_and_row_and_never_used(cli, tmp_path, row, problem):
    lines = ["time,open,high,low,close"] + [
        f"2024-01-02 {h:02d}:00:00,1.1,1.2,1.0,1.15" for h in range(4)
    ]
    lines.insert(4, row)  # file line 5
    path = tmp_path / "EURUSD_H1.csv"
    path.write_text("\n".join(lines) + "\n")
    result = cli("backtest", "--data", str(path), "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert str(path) in result.stderr
    assert "5" in result.stderr.split(str(path), 1)[1][:20], result.stderr
    assert problem in result.stderr.lower()
    assert not (tmp_path / "o" / "trades.csv").exists()


def test_what_selects_nothing_or_would_be_ignored_is_refused_with_the_datas_range(
    cli, hourly_csv, tmp_path
):
    import numpy as np

    from algotrading.data.parquet_store import write_quotes
    from algotrading.timestamps import parse_utc

    out = str(tmp_path / "o")
    for args, words in (
        (("--start", "2018-01-01T00:00:00Z", "--end", "2017-06-01T00:00:00Z"), "not before"),
        (("--start", "2018-01-01T00:00:00Z", "--end", "2018-06-01T00:00:00Z"), "selects no bars"),
        (("--interval", "60"), "--interval 60 cannot be built"),
    ):
        done = cli("backtest", "--data", str(hourly_csv), *args, "--out", out)
        assert done.returncode == 2, done.stderr
        assert words in done.stderr
        assert "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    store = tmp_path / "store"
    ts = parse_utc("2024-01-02T00:00:00Z") + np.arange(600, dtype=np.int64) * 10**9
    write_quotes(store, "EUR_USD", ts, np.full(600, 1.1), np.full(600, 1.1001))
    lacking = cli("backtest", "--data", str(store), "--instrument", "GBP_USD", "--out", out)
    assert lacking.returncode == 2
    assert "no GBP_USD in the store; it holds: quotes EUR_USD" in lacking.stderr
    early = cli("backtest", "--data", str(store), "--end", "2024-01-01T00:00:00Z", "--out", out)
    assert early.returncode == 2
    assert "they run from 2024-01-02T00:00:00" in early.stderr
    quotes = cli("backtest", "--data", str(store), "--interval", "60", "--out", out)
    assert quotes.returncode == 0, quotes.stderr
    assert "600 quotes from" in quotes.stdout
