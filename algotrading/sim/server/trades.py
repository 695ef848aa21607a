"""v20 trades over a netting engine: the engine keeps one position per instrument; v20 clients
see trades — each fill that opens units opens a trade, and fills the other way close or reduce
open trades oldest first (FIFO), except a fill of a trade's own take-profit, stop-loss or
trailing stop, or of a trade close, which closes that trade first.

Trade-level P/L is per trade (``(close - open) x units``); the engine books P/L on the
position's average price. The two agree whenever a position is closed whole; a partial close of
a position made of several trades at different prices splits the same total differently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from algotrading.sim.accounting import EPS


class TradeRecord(msgspec.Struct, kw_only=True):
    id: str
    instrument: str
    price: float
    open_ns: int
    initial_units: float
    current_units: float
    initial_margin: float = 0.0
    realized_pl: float = 0.0
    financing: float = 0.0
    closed_units: float = 0.0  # magnitude closed so far, for averageClosePrice
    closed_value: float = 0.0  # sum of close price x units closed
    close_ns: int = 0
    closing_ids: list[str] = msgspec.field(default_factory=list)
    client_extensions: dict[str, str] | None = None
    take_profit_id: str = ""
    stop_loss_id: str = ""
    trailing_stop_id: str = ""

    @property
    def is_open(self) -> bool:
        return abs(self.current_units) > EPS

    @property
    def sign(self) -> int:
        return 1 if self.initial_units > 0 else -1

    def dependent_ids(self) -> list[str]:
        return [i for i in (self.take_profit_id, self.stop_loss_id, self.trailing_stop_id) if i]


@dataclass(frozen=True)
class Reduction:
    """Part or all of a trade closed by a fill: ``units`` signed opposite to the trade."""

    trade: TradeRecord
    units: float
    realized_pl: float
    closed: bool


@dataclass
class FillEffect:
    opened: TradeRecord | None = None
    reductions: list[Reduction] = field(default_factory=list)

    @property
    def closed(self) -> list[Reduction]:
        return [r for r in self.reductions if r.closed]

    @property
    def reduced(self) -> Reduction | None:
        return next((r for r in self.reductions if not r.closed), None)


class TradeBook:
    """Every trade of an account (open and closed), and the open ones per instrument in the
    order they were opened."""

    def __init__(self, trades: dict[str, TradeRecord] | None = None) -> None:
        self.trades: dict[str, TradeRecord] = dict(trades or {})
        self.open: dict[str, list[str]] = {}
        for trade in sorted(self.trades.values(), key=lambda t: int(t.id)):
            if trade.is_open:
                self.open.setdefault(trade.instrument, []).append(trade.id)

    def open_trades(self, instrument: str | None = None) -> list[TradeRecord]:
        if instrument is not None:
            return [self.trades[i] for i in self.open.get(instrument, [])]
        ids = sorted((i for ids in self.open.values() for i in ids), key=int, reverse=True)
        return [self.trades[i] for i in ids]

    def units(self, instrument: str) -> float:
        return sum(t.current_units for t in self.open_trades(instrument))

    def fill(
        self,
        instrument: str,
        units: float,
        price: float,
        *,
        fill_id: str,
        ts_ns: int,
        rate: float,
        first: str = "",
        margin_rate: float = 0.0,
        client_extensions: dict[str, str] | None = None,
    ) -> FillEffect:
        """Apply a fill of ``units`` (signed) at ``price``: close trade ``first`` (if given and
        on the other side), then the oldest opposite trades, and open a trade with id
        ``fill_id`` for what is left. ``rate`` turns quote-currency P/L into the account's."""
        effect = FillEffect()
        queue = self.open.setdefault(instrument, [])
        order = [first] if first in queue else []
        order += [i for i in queue if i != first]
        remaining = units
        for trade_id in order:
            trade = self.trades[trade_id]
            if abs(remaining) < EPS or trade.current_units * remaining > 0:
                break
            closing = (
                -trade.current_units if abs(remaining) >= abs(trade.current_units) else (remaining)
            )
            effect.reductions.append(self._reduce(trade, closing, price, fill_id, ts_ns, rate))
            remaining -= closing
        self.open[instrument] = [i for i in queue if self.trades[i].is_open]
        if abs(remaining) > EPS:
            trade = TradeRecord(
                id=fill_id,
                instrument=instrument,
                price=price,
                open_ns=ts_ns,
                initial_units=remaining,
                current_units=remaining,
                initial_margin=abs(remaining) * price * margin_rate * rate,
                client_extensions=client_extensions,
            )
            self.trades[fill_id] = trade
            self.open[instrument].append(fill_id)
            effect.opened = trade
        return effect

    @staticmethod
    def _reduce(
        trade: TradeRecord, units: float, price: float, fill_id: str, ts_ns: int, rate: float
    ) -> Reduction:
        realized = (price - trade.price) * -units * rate
        trade.current_units += units
        if abs(trade.current_units) < EPS:
            trade.current_units = 0.0
            trade.close_ns = ts_ns
        trade.realized_pl += realized
        trade.closed_units += abs(units)
        trade.closed_value += abs(units) * price
        trade.closing_ids.append(fill_id)
        return Reduction(trade, units, realized, not trade.is_open)

    def by_client_id(self, client_id: str) -> TradeRecord | None:
        for trade in self.trades.values():
            if trade.client_extensions and trade.client_extensions.get("id") == client_id:
                return trade
        return None

    def find(self, specifier: str) -> TradeRecord | None:
        """A trade by id or ``@clientTradeID``."""
        if specifier.startswith("@"):
            return self.by_client_id(specifier[1:])
        return self.trades.get(specifier)

    def client_id_in_use(self, client_id: str) -> bool:
        """A client trade id is taken while a trade carrying it is open."""
        return any(
            t.client_extensions and t.client_extensions.get("id") == client_id
            for t in self.open_trades()
        )

    def share_financing(self, instrument: str, amount: float) -> list[tuple[str, float]]:
        """Split an instrument's financing over its open trades by size."""
        trades = self.open_trades(instrument)
        total = sum(abs(t.current_units) for t in trades)
        shares = []
        for trade in trades:
            part = amount * abs(trade.current_units) / total if total else 0.0
            trade.financing += part
            shares.append((trade.id, part))
        return shares
