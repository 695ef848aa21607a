"""What a session did — orders, fills, closed trades, equity marks, refusals, alerts.

The monitor feeds it; it lives outside the actors, so a restarted monitor keeps the record.
What happens to the record is up to a :class:`LedgerSink`: a backtest streams it to its
output files as it goes, so memory stays flat however long the history. With ``retain=True``
(tests, short paper sessions) the ledger also keeps everything in lists.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from algotrading.messages import AccountState, Alert, Fill, Order, OrderDenied, OrderRejected, Side
from algotrading.sim.accounting import EPS

FINAL = frozenset(("FILLED", "REJECTED", "CANCELLED"))


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    instrument: str
    side: Side  # side of the entry: BUY = long
    quantity: float
    entry_time: int
    exit_time: int
    entry_price: float
    exit_price: float
    pnl: float  # account currency, net of the commissions of its entry and exit


@dataclass(slots=True)
class OrderRecord:
    order: Order
    status: str = "SUBMITTED"
    filled: float = 0.0
    fill_time: int | None = None
    fill_price: float | None = None  # volume-weighted over its fills
    reported: bool = False  # handed to the sink


class LedgerSink(Protocol):
    def order_finished(self, record: OrderRecord) -> None: ...

    def trade_closed(self, trade: ClosedTrade) -> None: ...

    def equity_marked(self, ts: int, equity: float, exposed: bool) -> None: ...


class TradeBuilder:
    """Round trips from fills, one fill at a time: a trade opens when a position leaves flat
    and closes (in whole or in part) when fills reduce it; its entry price is the average of
    its entries. P&L is converted at the exit fill's rate, as the venue books it, net of the
    commissions of the entry share and the exit."""

    def __init__(self) -> None:
        self._open: dict[str, dict[str, Any]] = {}

    def add(self, fill: Fill) -> list[ClosedTrade]:
        signed = fill.side.sign * fill.quantity
        remaining, commission = fill.quantity, fill.commission
        state = self._open.get(fill.instrument)
        trades: list[ClosedTrade] = []
        if state and (state["qty"] > 0) != (signed > 0):
            closing = min(abs(state["qty"]), fill.quantity)
            rate = fill.quote_rate
            direction = 1.0 if state["qty"] > 0 else -1.0
            share = closing / abs(state["qty"])
            entry_commission = state["commission"] * share
            exit_commission = commission * closing / fill.quantity
            pnl = (fill.price - state["avg"]) * closing * direction * rate
            trades.append(
                ClosedTrade(
                    instrument=fill.instrument,
                    side=Side.BUY if direction > 0 else Side.SELL,
                    quantity=closing,
                    entry_time=state["time"],
                    exit_time=fill.ts_event,
                    entry_price=state["avg"],
                    exit_price=fill.price,
                    pnl=pnl - entry_commission - exit_commission,
                )
            )
            state["qty"] -= direction * closing
            state["commission"] -= entry_commission
            remaining -= closing
            commission -= exit_commission
            if abs(state["qty"]) < EPS:
                del self._open[fill.instrument]
                state = None
        if remaining > EPS:
            if state is None:
                self._open[fill.instrument] = {
                    "qty": fill.side.sign * remaining,
                    "avg": fill.price,
                    "time": fill.ts_event,
                    "commission": commission,
                }
            else:
                total = abs(state["qty"]) + remaining
                state["avg"] = (state["avg"] * abs(state["qty"]) + fill.price * remaining) / total
                state["qty"] += fill.side.sign * remaining
                state["commission"] += commission
        return trades


def closed_trades(fills: Sequence[Fill]) -> list[ClosedTrade]:
    builder = TradeBuilder()
    return [trade for fill in fills for trade in builder.add(fill)]


@dataclass
class Ledger:
    sink: LedgerSink | None = None
    retain: bool = True
    orders: list[Order] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    trades: list[ClosedTrade] = field(default_factory=list)
    equity: list[tuple[int, float]] = field(default_factory=list)
    records: dict[str, OrderRecord] = field(default_factory=dict)
    denials: deque[OrderDenied] = field(default_factory=lambda: deque(maxlen=1000))
    denial_counts: Counter[str] = field(default_factory=Counter)
    rejections: deque[OrderRejected] = field(default_factory=lambda: deque(maxlen=1000))
    alerts: deque[Alert] = field(default_factory=lambda: deque(maxlen=1000))
    last_account: AccountState | None = None
    n_orders: int = 0
    n_fills: int = 0
    _builder: TradeBuilder = field(default_factory=TradeBuilder)

    def record_order(self, order: Order) -> None:
        self.n_orders += 1
        if self.retain:
            self.orders.append(order)
        self.records[order.client_order_id] = OrderRecord(order)

    def record_denial(self, denial: OrderDenied) -> None:
        self.denials.append(denial)
        self.denial_counts[denial.code] += 1

    def record_status(self, client_order_id: str, status: str) -> None:
        record = self.records.get(client_order_id)
        if record is None or record.status in FINAL:
            return
        record.status = status
        if status in FINAL:
            self._finish(record)

    def record_fill(self, fill: Fill) -> None:
        self.n_fills += 1
        if self.retain:
            self.fills.append(fill)
        for trade in self._builder.add(fill):
            if self.retain:
                self.trades.append(trade)
            if self.sink is not None:
                self.sink.trade_closed(trade)
        record = self.records.get(fill.client_order_id)
        if record is None:
            return
        total = record.filled + fill.quantity
        record.fill_price = (
            (record.fill_price or 0.0) * record.filled + fill.price * fill.quantity
        ) / total
        record.filled = total
        record.fill_time = fill.ts_event
        if total >= record.order.quantity - EPS:
            record.status = "FILLED"
            self._finish(record)
        else:
            record.status = "PARTIALLY_FILLED"

    def record_account(self, account: AccountState) -> None:
        self.last_account = account
        if self.retain:
            if self.equity and self.equity[-1][0] == account.ts_event:
                self.equity[-1] = (account.ts_event, account.equity)
            else:
                self.equity.append((account.ts_event, account.equity))
        if self.sink is not None:
            self.sink.equity_marked(account.ts_event, account.equity, account.margin_used > 0)

    def close(self) -> None:
        """Hand the orders still open at the end to the sink, in submission order."""
        for record in list(self.records.values()):
            self._finish(record)

    def _finish(self, record: OrderRecord) -> None:
        if record.reported:
            return
        record.reported = True
        if self.sink is not None:
            self.sink.order_finished(record)
        if not self.retain:
            self.records.pop(record.order.client_order_id, None)
