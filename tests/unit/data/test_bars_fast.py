"""A price into the bar in progress takes a short way through the aggregator; it must build the
same bars as the general way."""

from __future__ import annotations

import random

from algotrading.data.bars import BarAggregator

S = 10**9


class General(BarAggregator):
    def on_price(self, ts, price, volume=0.0):  # type: ignore[no-untyped-def]
        return self._add(ts - ts % self.interval_ns, ts, price, price, price, price, volume)


def test_the_short_way_builds_the_same_bars():
    rng = random.Random(11)
    fast, general = BarAggregator("EUR_USD", 60 * S), General("EUR_USD", 60 * S)
    ts, price, bars = 0, 1.1, 0
    for _ in range(50_000):
        ts += rng.choice([rng.randint(0, 3 * S), rng.randint(0, 300 * S), -rng.randint(0, 90 * S)])
        price = (
            rng.choice([price, price + rng.gauss(0, 1e-4), float("nan")]) if price == price else 1.1
        )
        volume = rng.choice([0.0, 1.0, 2.5])
        a, b = fast.on_price(ts, price, volume), general.on_price(ts, price, volume)
        assert repr(a) == repr(b)
        assert repr(vars(fast)) == repr(vars(general))
        if ts % 7 == 0:
            assert repr(fast.on_time(ts)) == repr(general.on_time(ts))
        bars += a is not None
    assert bars > 1_000
