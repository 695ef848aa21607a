from algotrading.data.bars import BarAggregator
from algotrading.messages import Bar

S = 10**9
M = 60 * S


def test_quotes_become_aligned_time_bars():
    agg = BarAggregator("EUR_USD", M)
    assert agg.on_price(10 * S, 1.0) is None
    assert agg.on_price(30 * S, 1.3) is None
    assert agg.on_price(50 * S, 0.9) is None
    assert agg.on_price(59 * S, 1.1) is None
    bar = agg.on_price(61 * S, 1.2)
    assert (bar.ts_open, bar.ts_event, bar.open, bar.high, bar.low, bar.close) == (
        0,
        M,
        1.0,
        1.3,
        0.9,
        1.1,
    )


def test_timer_closes_a_bar_without_new_prices_and_late_data_is_dropped():
    agg = BarAggregator("EUR_USD", M)
    agg.on_price(5 * S, 1.0)
    assert agg.on_time(59 * S) is None
    bar = agg.on_time(60 * S)
    assert bar is not None
    assert bar.close == 1.0
    assert agg.on_price(59 * S, 5.0) is None  # late quote for the closed bar
    assert agg.on_time(200 * S) is None  # no open bar: nothing to close


def test_no_bar_spans_a_gap():
    agg = BarAggregator("EUR_USD", M)
    agg.on_price(10 * S, 1.0)
    bar = agg.on_price(3 * 86400 * S + 5 * S, 2.0)  # three days later
    assert bar.ts_open == 0
    assert bar.ts_event == M
    assert bar.close == 1.0


def small(i: int, o: float, h: float, lo: float, c: float) -> Bar:
    return Bar(
        ts_event=(i + 1) * M,
        instrument="X",
        interval_ns=M,
        ts_open=i * M,
        open=o,
        high=h,
        low=lo,
        close=c,
        volume=1.0,
    )


def test_minute_bars_fold_into_five_minute_bars_and_emit_on_the_last():
    agg = BarAggregator("X", 5 * M)
    out = [agg.on_bar(small(i, 1 + i, 2 + i, 0.5 + i, 1.5 + i)) for i in range(10)]
    done = [b for b in out if b is not None]
    assert [b.ts_open for b in done] == [0, 5 * M]
    first = done[0]
    assert (first.open, first.high, first.low, first.close, first.volume) == (1, 6, 0.5, 5.5, 5.0)
    assert out[4] is first  # emitted with the bar that completes it, not one later


def test_bars_at_or_above_the_interval_pass_through():
    agg = BarAggregator("X", M)
    b = Bar(
        ts_event=3600 * S,
        instrument="X",
        interval_ns=3600 * S,
        ts_open=0,
        open=1,
        high=1,
        low=1,
        close=1,
    )
    assert agg.on_bar(b) is b
