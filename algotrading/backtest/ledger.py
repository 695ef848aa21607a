"""What a session did — orders, fills, equity marks, refusals, alerts — kept in memory for the
backtest outputs and the monitor's summaries. It lives outside the actors, so a restarted
monitor keeps the record."""

from __future__ import annotations

from dataclasses import dataclass, field

from algotrading.messages import (
    AccountState,
    Alert,
    Fill,
    Order,
    OrderDenied,
    OrderRejected,
)


@dataclass
class Ledger:
    orders: list[Order] = field(default_factory=list)
    order_status: dict[str, str] = field(default_factory=dict)
    order_fill_time: dict[str, int] = field(default_factory=dict)
    order_fill_price: dict[str, float] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)
    equity: list[tuple[int, float]] = field(default_factory=list)
    denials: list[OrderDenied] = field(default_factory=list)
    rejections: list[OrderRejected] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    last_account: AccountState | None = None

    def record_order(self, order: Order) -> None:
        self.orders.append(order)
        self.order_status[order.client_order_id] = "SUBMITTED"

    def record_fill(self, fill: Fill) -> None:
        self.fills.append(fill)
        self.order_status[fill.client_order_id] = "FILLED"
        self.order_fill_time[fill.client_order_id] = fill.ts_event
        self.order_fill_price[fill.client_order_id] = fill.price

    def record_account(self, account: AccountState) -> None:
        self.last_account = account
        if self.equity and self.equity[-1][0] == account.ts_event:
            self.equity[-1] = (account.ts_event, account.equity)
        else:
            self.equity.append((account.ts_event, account.equity))
