"""TWAP and iceberg as pure logic: children sum to the parent, TWAP keeps to its window,
iceberg shows one child at a time, a denial ends the parent."""

from __future__ import annotations

import pytest

from algotrading.data.instruments import BUILTIN_INSTRUMENTS
from algotrading.execution.algos import ExecutionConfig, ExecutionEngine, split_evenly
from algotrading.messages import OrderIntent, OrderType, Side

EURUSD = BUILTIN_INSTRUMENTS["EUR_USD"]
SPX = BUILTIN_INSTRUMENTS["SPX500_USD"]
S = 10**9


def intent(quantity: float, instrument: str = "EUR_USD", **kw) -> OrderIntent:
    return OrderIntent(
        ts_event=0, strategy_id="s", instrument=instrument, side=Side.BUY, quantity=quantity, **kw
    )


def engine(**kw) -> ExecutionEngine:
    return ExecutionEngine(ExecutionConfig(**kw), dict(BUILTIN_INSTRUMENTS))


@pytest.mark.parametrize(
    ("quantity", "parts", "spec", "expected"),
    [
        (100_000, 5, EURUSD, [20_000] * 5),
        (100_003, 5, EURUSD, [20_001, 20_001, 20_001, 20_000, 20_000]),
        (3, 5, EURUSD, [1, 1, 1]),  # never a child below the minimum
        (1.0, 3, SPX, [0.4, 0.3, 0.3]),
    ],
)
def test_split_evenly_sums_exactly(quantity, parts, spec, expected):
    got = split_evenly(quantity, parts, spec)
    assert got == expected
    assert sum(got) == pytest.approx(quantity, abs=1e-12)


def test_twap_releases_children_on_schedule_within_the_window():
    e = engine(algo="twap", twap_window_seconds=300, twap_slices=5)
    t0 = 1_000 * S
    released = [(t0, c) for c in e.submit(intent(50_000), t0)]
    for t in range(t0 + 10 * S, t0 + 400 * S, 10 * S):
        released += [(t, c) for c in e.on_time(t)]
    times = [t for t, _ in released]
    assert times == [t0, t0 + 60 * S, t0 + 120 * S, t0 + 180 * S, t0 + 240 * S]
    assert all(t0 <= t < t0 + 300 * S for t in times)
    assert sum(c.quantity for _, c in released) == 50_000
    assert len({c.exec_id for _, c in released}) == 1
    assert released[2][1].reason.endswith("[twap 3/5]")


def test_iceberg_shows_one_child_at_a_time():
    e = engine(algo="iceberg", iceberg_max_child=40_000)
    first = e.submit(intent(100_000), 0)
    assert [c.quantity for c in first] == [33_334]
    assert e.on_time(5 * S) == []  # nothing more until it fills
    e.on_order(first[0].exec_id, "c1", first[0].quantity)
    assert e.on_fill("c1", 20_000, 6 * S) == []  # partly filled: still showing
    second = e.on_fill("c1", 13_334, 7 * S)
    assert [c.quantity for c in second] == [33_333]
    e.on_order(second[0].exec_id, "c2", 33_333)
    third = e.on_fill("c2", 33_333, 8 * S)
    e.on_order(third[0].exec_id, "c3", 33_333)
    assert e.on_fill("c3", 33_333, 9 * S) == []
    assert e.parents == {}  # done and forgotten


def test_a_denied_child_ends_its_parent():
    e = engine(algo="twap", twap_window_seconds=100, twap_slices=4)
    first = e.submit(intent(40_000), 0)
    e.on_order(first[0].exec_id, "c1", 10_000)
    second = e.on_time(25 * S)
    e.on_denied(second[0], "halted", 25 * S)
    assert e.on_time(200 * S) == []  # nothing more is sent
    e.on_fill("c1", 10_000, 30 * S)
    assert e.parents == {}


def test_small_limit_and_unconfigured_orders_pass_through_unchanged():
    small = intent(500)
    assert engine(algo="twap", min_quantity=1_000).submit(small, 0) == [small]
    limit = intent(100_000, order_type=OrderType.LIMIT, limit_price=1.0)
    assert engine(algo="iceberg").submit(limit, 0) == [limit]
    big = intent(1_000_000)
    assert engine().submit(big, 0) == [big]


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="unknown execution algo"):
        ExecutionConfig(algo="vwap")
    with pytest.raises(ValueError, match="twap_slices"):
        ExecutionConfig(twap_slices=0)


def test_a_reversal_works_its_close_then_its_open():
    e = engine(algo="twap", twap_window_seconds=100, twap_slices=2)
    close = intent(20_000, reduce_only=True)
    opening = intent(20_000)
    first = e.submit(close, 0)
    assert e.submit(opening, 0) == []  # waits for the close to finish
    e.on_order(first[0].exec_id, "c1", 10_000)
    assert e.on_fill("c1", 10_000, 10 * S) == []
    second = e.on_time(50 * S)
    e.on_order(second[0].exec_id, "c2", 10_000)
    started = e.on_fill("c2", 10_000, 60 * S)  # the close is done: the open starts now
    assert [(c.quantity, c.reduce_only, c.ts_event) for c in started] == [(10_000, False, 60 * S)]


def test_a_close_that_finds_the_position_gone_lets_the_open_go_on():
    e = engine(algo="iceberg", iceberg_max_child=10_000)
    first = e.submit(intent(20_000, reduce_only=True), 0)
    e.submit(intent(20_000), 0)
    e.on_order(first[0].exec_id, "c1", 10_000)
    e.on_modified("c1", 4_000)  # a stop closed most of it first
    nxt = e.on_fill("c1", 4_000, S)
    e.on_order(nxt[0].exec_id, "c2", 10_000)
    started = e.on_child_ended("c2", "cancelled", 2 * S)  # nothing left to reduce
    assert [c.quantity for c in started] == [10_000]
    assert not started[0].reduce_only


def test_a_denied_close_drops_the_open_queued_behind_it():
    e = engine(algo="twap", twap_window_seconds=100, twap_slices=2)
    first = e.submit(intent(20_000, reduce_only=True), 0)
    e.submit(intent(20_000), 0)
    assert e.on_denied(first[0], "halted", S) == []
    assert e.parents == {}
    assert e.queued == {}
