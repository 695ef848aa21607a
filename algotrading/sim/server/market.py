"""The market the server makes: one price source per instrument — the seeded synthetic quote
generator (the default) or a CSV file of bars, replayed as quotes at each bar's open, its high
and low (in the order the bar's direction suggests) and its close, a quarter of the bar apart,
with a spread around them — and the state every request and stream reads: the latest quote of
each instrument, a count of quotes (so a stream can tell a new one), and the candle history.
Sources are plain iterators in data time; pacing is the server's job."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

from algotrading.data.calendars import is_open
from algotrading.data.columns import BarColumns
from algotrading.data.instruments import AssetClass, InstrumentSpec
from algotrading.data.synthetic import synthetic_quotes
from algotrading.messages import Bar, Quote
from algotrading.sim.server.candles import CandleHistory

# first synthetic mid of each built-in instrument (any other starts at 1.10)
START_PRICES = {
    "EUR_USD": 1.10,
    "GBP_USD": 1.27,
    "AUD_USD": 0.66,
    "NZD_USD": 0.61,
    "USD_JPY": 145.0,
    "USD_CHF": 0.88,
    "USD_CAD": 1.35,
    "EUR_GBP": 0.86,
    "EUR_JPY": 158.0,
    "GBP_JPY": 184.0,
    "SPX500_USD": 4700.0,
    "NAS100_USD": 16500.0,
    "US30_USD": 37500.0,
    "DE30_EUR": 16700.0,
    "UK100_GBP": 7700.0,
}
BAR_SPREAD_PIPS = 1.0  # spread put around bar prices replayed as quotes


@dataclass
class Source:
    """The quotes of one instrument, oldest first, with the first one known in advance."""

    instrument: str
    quotes: Iterator[Quote]
    first_ns: int | None  # None: the source is empty

    @classmethod
    def of(cls, instrument: str, quotes: Iterable[Quote]) -> Source:
        it = iter(quotes)
        first = next(it, None)
        if first is None:
            return cls(instrument, iter(()), None)
        return cls(instrument, chain([first], it), first.ts_event)


def synthetic_source(spec: InstrumentSpec, start_ns: int, seed: int, rate_hz: float) -> Source:
    index = spec.asset_class is AssetClass.INDEX_CFD
    quotes = synthetic_quotes(
        spec.symbol,
        start_ns,
        seed,
        rate_hz=rate_hz,
        annual_vol=0.15 if index else 0.08,
        start_price=START_PRICES.get(spec.symbol, 1.10),
        spread_pips=1.0 if index else 0.8,
        pip_size=spec.pip_size,
        price_precision=spec.price_precision,
    )
    return Source.of(spec.symbol, quotes)


def bar_quotes(bars: Iterable[Bar], spec: InstrumentSpec, spread_pips: float) -> Iterator[Quote]:
    """Four quotes per bar: open, then low and high (high first on a falling bar), then close,
    at its open and a quarter, half and three quarters of the bar later."""
    half = spread_pips * spec.pip_size / 2.0
    tick = 10.0**-spec.price_precision
    p = spec.price_precision
    for bar in bars:
        step = bar.interval_ns // 4
        rising = bar.close >= bar.open
        path = (
            (bar.open, bar.low, bar.high, bar.close)
            if rising
            else (
                bar.open,
                bar.high,
                bar.low,
                bar.close,
            )
        )
        for k, mid in enumerate(path):
            ts = bar.ts_open + k * step
            bid = round(mid - half, p)
            ask = max(round(mid + half, p), round(bid + tick, p))
            yield Quote(ts_event=ts, ts_recv=ts, instrument=spec.symbol, bid=bid, ask=ask)


def bar_file(path: Path) -> BarColumns:
    """A CSV file of bars, read and checked (:class:`~algotrading.errors.DataError` if bad)."""
    from algotrading.adapters.csv_bars import read_bars

    return read_bars(path)


def bar_source(
    columns: BarColumns, spec: InstrumentSpec, spread_pips: float = BAR_SPREAD_PIPS
) -> Source:
    return Source.of(spec.symbol, bar_quotes(columns.bars(), spec, spread_pips))


class Market:
    """Latest prices, quote counts and candle history of every instrument."""

    def __init__(self, instruments: dict[str, InstrumentSpec]) -> None:
        self.instruments = instruments
        self.latest: dict[str, Quote] = {}
        self.seq: dict[str, int] = dict.fromkeys(instruments, 0)
        self.history = {s: CandleHistory(spec.price_precision) for s, spec in instruments.items()}
        # data time of the last quote the accounts have seen, per instrument (to resume from)
        self.position: dict[str, int] = {}

    def record(self, quote: Quote) -> None:
        self.latest[quote.instrument] = quote
        self.seq[quote.instrument] += 1
        self.history[quote.instrument].add(quote)

    def tradeable(self, instrument: str, now_ns: int) -> bool:
        return is_open(self.instruments[instrument].calendar, now_ns)
