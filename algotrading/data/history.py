"""The embedded default history: a year of seeded synthetic hourly bars, so that a backtest
runs with no data file, no account and no network."""

from __future__ import annotations

from algotrading.data.instruments import AssetClass, InstrumentSpec
from algotrading.messages import Bar
from algotrading.timestamps import parse_utc

HOUR_NS = 3600 * 10**9
DEFAULT_START = "2024-01-01T00:00:00Z"
DEFAULT_END = "2025-01-01T00:00:00Z"

# Plausible levels, so that synthetic P&L and margin are of a realistic size.
_START_PRICES = {
    "EUR_USD": 1.10,
    "GBP_USD": 1.27,
    "AUD_USD": 0.66,
    "NZD_USD": 0.61,
    "USD_JPY": 145.0,
    "USD_CHF": 0.88,
    "USD_CAD": 1.35,
    "EUR_GBP": 0.86,
    "EUR_JPY": 160.0,
    "GBP_JPY": 185.0,
    "SPX500_USD": 4800.0,
    "NAS100_USD": 16800.0,
    "US30_USD": 37700.0,
    "DE30_EUR": 16700.0,
    "UK100_GBP": 7700.0,
}


def default_history(spec: InstrumentSpec, seed: int) -> tuple[list[Bar], int]:
    from algotrading.data.synthetic import synthetic_bars

    vol = 0.08 if spec.asset_class is AssetClass.FX else 0.16
    bars = synthetic_bars(
        spec.symbol,
        parse_utc(DEFAULT_START),
        parse_utc(DEFAULT_END),
        HOUR_NS,
        seed,
        annual_vol=vol,
        start_price=_START_PRICES.get(spec.symbol, 1.0),
        price_precision=spec.price_precision,
    )
    return bars, HOUR_NS
