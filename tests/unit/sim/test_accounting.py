import pytest

from algotrading.data.instruments import BUILTIN_INSTRUMENTS
from algotrading.messages import Side
from algotrading.sim.accounting import PositionState, apply_fill, quote_to_account_rate


def test_opening_and_adding_averages_the_entry():
    pos, realized = apply_fill(PositionState(), Side.BUY, 10_000, 1.1000)
    pos, realized2 = apply_fill(pos, Side.BUY, 10_000, 1.1010)
    assert pos.quantity == 20_000
    assert pos.avg_price == pytest.approx(1.1005)
    assert realized == realized2 == 0.0


def test_reducing_realises_on_the_closed_part_only():
    pos = PositionState(20_000, 1.1000)
    pos, realized = apply_fill(pos, Side.SELL, 5_000, 1.1020)
    assert pos == PositionState(15_000, 1.1000)
    assert realized == pytest.approx(10.0)


def test_short_profits_when_price_falls():
    pos, _ = apply_fill(PositionState(), Side.SELL, 10_000, 1.1000)
    pos, realized = apply_fill(pos, Side.BUY, 10_000, 1.0950)
    assert pos.is_flat
    assert realized == pytest.approx(50.0)


def test_crossing_zero_closes_and_reopens_at_the_fill_price():
    pos, realized = apply_fill(PositionState(10_000, 1.1000), Side.SELL, 25_000, 1.0990)
    assert realized == pytest.approx(-10.0)
    assert pos == PositionState(-15_000, 1.0990)


def test_conversion_rates():
    usd_jpy = BUILTIN_INSTRUMENTS["USD_JPY"]
    eur_gbp = BUILTIN_INSTRUMENTS["EUR_GBP"]
    assert quote_to_account_rate(BUILTIN_INSTRUMENTS["EUR_USD"], 1.1, "USD", {}) == 1.0
    assert quote_to_account_rate(usd_jpy, 150.0, "USD", {}) == pytest.approx(1 / 150)
    assert quote_to_account_rate(eur_gbp, 0.86, "USD", {}) is None
    assert quote_to_account_rate(eur_gbp, 0.86, "USD", {"GBP_USD": 1.25}) == 1.25
