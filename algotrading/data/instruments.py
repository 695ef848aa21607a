"""Instrument specifications: what a price and a quantity mean for each tradable symbol.

Symbols follow OANDA's spelling (``EUR_USD``, ``SPX500_USD``); :func:`normalize_symbol` accepts
the usual alternatives (``EURUSD``, ``EUR/USD``). Prices sent to a venue are rounded to
``price_precision``; quantities to ``quantity_step`` within ``[min_quantity, max_quantity]``.
"""

from __future__ import annotations

import enum
import math
from typing import Annotated

import msgspec

from algotrading.bounded import MAX_AMOUNT, Fraction

_Positive = Annotated[float, msgspec.Meta(gt=0, le=MAX_AMOUNT)]


class AssetClass(enum.StrEnum):
    FX = "fx"
    INDEX_CFD = "index_cfd"


class InstrumentSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    symbol: str
    asset_class: AssetClass
    base: str
    quote: str
    pip_size: Annotated[float, msgspec.Meta(gt=0, le=1e6)]
    price_precision: Annotated[int, msgspec.Meta(ge=0, le=10)]
    quantity_step: _Positive = 1.0
    min_quantity: _Positive = 1.0
    max_quantity: _Positive = 100_000_000.0
    margin_rate: Fraction = 0.0333  # (0, 1]
    calendar: str = "fx"

    def __post_init__(self) -> None:
        if self.min_quantity > self.max_quantity:
            raise ValueError("min_quantity must be <= max_quantity")

    def round_price(self, price: float) -> float:
        return round(price, self.price_precision)

    def round_quantity(self, quantity: float) -> float:
        """Round towards zero to the lot step (never trade more than asked)."""
        steps = math.floor(abs(quantity) / self.quantity_step + 1e-9)
        return math.copysign(steps * self.quantity_step, quantity) if steps else 0.0

    def pips(self, price_distance: float) -> float:
        return price_distance / self.pip_size


def _fx(pair: str, margin_rate: float = 0.0333) -> InstrumentSpec:
    base, quote = pair.split("_")
    jpy = quote == "JPY"
    return InstrumentSpec(
        symbol=pair,
        asset_class=AssetClass.FX,
        base=base,
        quote=quote,
        pip_size=0.01 if jpy else 0.0001,
        price_precision=3 if jpy else 5,
        margin_rate=margin_rate,
    )


def _index(symbol: str, currency: str, precision: int = 1, calendar: str = "") -> InstrumentSpec:
    return InstrumentSpec(
        symbol=symbol,
        asset_class=AssetClass.INDEX_CFD,
        base=symbol.split("_")[0],
        quote=currency,
        pip_size=1.0,
        price_precision=precision,
        quantity_step=0.1,
        min_quantity=0.1,
        max_quantity=10_000.0,
        margin_rate=0.05,
        calendar=calendar or symbol.split("_")[0].lower(),
    )


BUILTIN_INSTRUMENTS: dict[str, InstrumentSpec] = {
    spec.symbol: spec
    for spec in (
        _fx("EUR_USD"),
        _fx("GBP_USD"),
        _fx("AUD_USD"),
        _fx("NZD_USD"),
        _fx("USD_JPY"),
        _fx("USD_CHF"),
        _fx("USD_CAD"),
        _fx("EUR_GBP"),
        _fx("EUR_JPY"),
        _fx("GBP_JPY"),
        _index("SPX500_USD", "USD", calendar="us_equity"),
        _index("NAS100_USD", "USD", calendar="us_equity"),
        _index("US30_USD", "USD", calendar="us_equity"),
        _index("DE30_EUR", "EUR", calendar="xetra"),
        _index("UK100_GBP", "GBP", calendar="lse"),
    )
}

_INDEX_ALIASES = {
    "SPX500": "SPX500_USD",
    "SPX": "SPX500_USD",
    "NAS100": "NAS100_USD",
    "US30": "US30_USD",
    "DE30": "DE30_EUR",
    "DAX": "DE30_EUR",
    "UK100": "UK100_GBP",
}


def normalize_symbol(text: str) -> str:
    """``EURUSD``, ``eur/usd``, ``EUR-USD`` and ``EUR_USD`` all mean ``EUR_USD``."""
    raw = text.strip().upper().replace("/", "_").replace("-", "_")
    if raw in _INDEX_ALIASES:
        return _INDEX_ALIASES[raw]
    if "_" not in raw and len(raw) == 6 and raw.isalpha():
        return f"{raw[:3]}_{raw[3:]}"
    return raw


def conversion_rate(
    amount_currency: str, account_currency: str, mids: dict[str, float]
) -> float | None:
    """Rate that turns an amount in ``amount_currency`` into ``account_currency``, from the
    latest mid prices by symbol; ``None`` when no known pair links the two."""
    if amount_currency == account_currency:
        return 1.0
    direct = mids.get(f"{amount_currency}_{account_currency}")
    if direct:
        return direct
    inverse = mids.get(f"{account_currency}_{amount_currency}")
    if inverse:
        return 1.0 / inverse
    return None
