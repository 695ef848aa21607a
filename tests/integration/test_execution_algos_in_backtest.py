"""TWAP and iceberg through the whole graph: every child is a risk-checked order of its own
(a parent above max_order_quantity trades as children below it), TWAP children sum to their
parent and are decided inside its window, and a halt ends a parent half-way."""

from __future__ import annotations

import asyncio
import csv
from collections import Counter, defaultdict

from algotrading.backtest.runner import run_backtest
from algotrading.config import load_config
from algotrading.data.history import default_history
from algotrading.data.instruments import BUILTIN_INSTRUMENTS
from algotrading.strategies.registry import build_strategy
from algotrading.timestamps import parse_utc

EURUSD = BUILTIN_INSTRUMENTS["EUR_USD"]
HOUR = 3600 * 10**9


def run(tmp_path, system_yaml: str, n_bars: int = 600):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "system.yaml").write_text(system_yaml)
    config = load_config(conf)
    s = config.system.strategy
    bars, interval = default_history(EURUSD, 3)
    out = tmp_path / "out"
    result = asyncio.run(
        run_backtest(
            bars[:n_bars],
            config=config,
            strategy=build_strategy(s.name, s.params, spec=s),
            instrument=EURUSD,
            bar_interval_ns=interval,
            data_source="synthetic",
            out_dir=out,
        )
    )
    with (out / "orders.csv").open() as f:
        return result, list(csv.DictReader(f)), bars


def test_twap_children_sum_to_the_parent_and_keep_to_the_window(tmp_path):
    result, orders, _bars = run(
        tmp_path,
        "strategy:\n  params: {fast: 5, slow: 20}\n  sizing: {units: 100000}\n"
        "execution: {algo: twap, twap_window_seconds: 14400, twap_slices: 4}\n"
        "risk: {max_order_quantity: 30000}\n",
    )
    assert orders
    assert all(float(o["quantity"]) <= 30_000 for o in orders)
    assert result.metrics["orders_denied"] == {}
    parents: dict[str, list[dict]] = defaultdict(list)
    for o in orders:
        parents[o["parent"]].append(o)
    assert len(parents) >= 8
    assert "" not in parents
    for exec_id, children in parents.items():
        times = [parse_utc(c["time"]) for c in children]
        assert all(times[0] <= t < times[0] + 4 * HOUR for t in times), exec_id
        assert len(children) == 4
        total = sum(float(c["quantity"]) for c in children)
        assert total == 100_000, exec_id  # an entry, or either half of a reversal
        assert all(c["status"] == "FILLED" for c in children)


def test_iceberg_children_respect_the_maximum_and_fill_in_turn(tmp_path):
    _, orders, _ = run(
        tmp_path,
        "strategy:\n  params: {fast: 5, slow: 20}\n  sizing: {units: 100000}\n"
        "execution: {algo: iceberg, iceberg_max_child: 40000}\n",
    )
    assert orders
    assert {float(o["quantity"]) for o in orders} <= {33_334.0, 33_333.0}
    fills = [parse_utc(o["fill_time"]) for o in orders]
    assert fills == sorted(fills)
    first = orders[:3]
    assert len({o["fill_time"] for o in first}) == 3  # one bar each: shown one at a time


def test_a_halt_ends_a_parent_half_way(tmp_path):
    result, orders, _ = run(
        tmp_path,
        "strategy:\n  params: {fast: 5, slow: 20}\n  sizing: {units: 100000}\n"
        "execution: {algo: twap, twap_window_seconds: 36000, twap_slices: 10}\n"
        "risk:\n  max_orders_per_window: 3\n  rate_window_seconds: 86400\n",
        n_bars=200,
    )
    denials = list(result.session.ledger.denials)
    assert denials
    assert all(d.code == "order_rate" for d in denials)
    assert [o["parent"] for o in orders[:3]] == ["twap-1"] * 3  # three children, then the limit
    assert denials[0].intent.exec_id == "twap-1"
    per_parent = Counter(d.intent.exec_id for d in denials)
    assert set(per_parent.values()) == {1}  # each parent ended at its first denied child
