"""Position sizing against hand calculation, for an FX pair quoted in the account currency, a
JPY pair, and an index CFD."""

from __future__ import annotations

import pytest

from algotrading.data.instruments import BUILTIN_INSTRUMENTS
from algotrading.risk.sizing import (
    CappedKelly,
    FixedFraction,
    FixedUnits,
    VolatilityTarget,
    kelly_fraction,
    pip_value,
    round_to_lot,
)

EURUSD = BUILTIN_INSTRUMENTS["EUR_USD"]
USDJPY = BUILTIN_INSTRUMENTS["USD_JPY"]
SPX = BUILTIN_INSTRUMENTS["SPX500_USD"]


def test_fixed_fraction_eur_usd():
    # 1 % of 100 000 USD = 1 000 USD at risk; 50 pips = 0.0050 USD per unit -> 200 000 units
    units = FixedFraction(0.01).size(EURUSD, equity=100_000, stop_distance=0.0050, quote_rate=1)
    assert units == 200_000
    assert pip_value(EURUSD, units, 1.0) * 50 == pytest.approx(1_000)


def test_fixed_fraction_usd_jpy_converts_the_pip_value():
    # at 150.00, 50 pips = 0.50 JPY per unit = 0.50 / 150 USD -> 1 000 / 0.0033333 = 300 000
    rate = 1 / 150.0
    units = FixedFraction(0.01).size(USDJPY, equity=100_000, stop_distance=0.50, quote_rate=rate)
    assert units == 300_000
    assert pip_value(USDJPY, units, rate) == pytest.approx(20.0)  # 0.01 * 300 000 / 150


def test_fixed_fraction_index_cfd_rounds_down_to_its_lot_step():
    # 0.5 % of 50 000 = 250 USD; 35 points of stop -> 7.142857 -> 7.1 contracts (step 0.1)
    units = FixedFraction(0.005).size(SPX, equity=50_000, stop_distance=35.0, quote_rate=1.0)
    assert units == pytest.approx(7.1)
    assert units * 35.0 <= 250.0


def test_sizes_respect_min_and_max():
    assert round_to_lot(EURUSD, 0.4) == 0.0  # below the minimum: no trade
    assert round_to_lot(EURUSD, -1234.9) == -1234
    assert round_to_lot(SPX, 50_000) == SPX.max_quantity
    assert FixedUnits(10_000.7).size(EURUSD) == 10_000
    with pytest.raises(ValueError, match="finite"):
        round_to_lot(EURUSD, float("nan"))


def test_degenerate_inputs_give_no_trade():
    ff = FixedFraction(0.01)
    assert ff.size(EURUSD, equity=100_000, stop_distance=0.0, quote_rate=1.0) == 0.0
    assert ff.size(EURUSD, equity=-5.0, stop_distance=0.001, quote_rate=1.0) == 0.0
    with pytest.raises(ValueError, match="fraction"):
        FixedFraction(1.5)


def test_volatility_target_is_fixed_fraction_at_an_atr_stop():
    vt = VolatilityTarget(0.01, atr_multiple=2.0)
    units = vt.size(EURUSD, equity=100_000, atr=0.0025, quote_rate=1.0)
    assert units == 200_000  # 2 ATR = 0.0050


def test_kelly_and_its_cap():
    assert kelly_fraction(0.55, 1.0) == pytest.approx(0.10)
    assert kelly_fraction(0.40, 1.0) == 0.0  # no edge: no bet
    sizer = CappedKelly(multiplier=0.5, cap=0.02)
    # half-Kelly 0.05 capped at 2 % -> 2 000 USD at risk over 0.0050 -> 400 000 units
    units = sizer.size(
        EURUSD, equity=100_000, stop_distance=0.0050, quote_rate=1.0, win_rate=0.55, payoff=1.0
    )
    assert units == 400_000
    small = sizer.size(
        EURUSD, equity=100_000, stop_distance=0.0050, quote_rate=1.0, win_rate=0.51, payoff=1.0
    )
    assert small == 200_000  # half of Kelly 0.02 = 1 %
