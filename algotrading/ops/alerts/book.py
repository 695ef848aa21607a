"""What the alert service has heard of the session — positions, the account, fills — kept from
the monitor's messages, so that summaries and commands need not reach into the actors."""

from __future__ import annotations

from dataclasses import dataclass, field

from algotrading.messages import AccountState, Fill, Message, Order, Position


@dataclass
class SessionBook:
    positions: dict[str, Position] = field(default_factory=dict)
    account: AccountState | None = None
    orders: int = 0
    fills: int = 0
    day_fills: int = 0  # since the last daily summary
    day_start_equity: float | None = None  # at the last daily summary (or the first seen)

    def on_message(self, msg: Message) -> None:
        if isinstance(msg, Fill):
            self.fills += 1
            self.day_fills += 1
        elif isinstance(msg, Position):
            self.positions[msg.instrument] = msg
        elif isinstance(msg, AccountState):
            self.account = msg
            if self.day_start_equity is None:
                self.day_start_equity = msg.equity
        elif isinstance(msg, Order):
            self.orders += 1

    def open_positions(self) -> list[Position]:
        return [p for _, p in sorted(self.positions.items()) if p.quantity != 0]

    def day_pnl(self) -> float | None:
        if self.account is None or self.day_start_equity is None:
            return None
        return self.account.equity - self.day_start_equity

    def close_day(self) -> None:
        """Start a new day: P&L and fills count from here."""
        self.day_start_equity = self.account.equity if self.account is not None else None
        self.day_fills = 0
