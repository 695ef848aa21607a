"""The daemon's read model: positions, working orders, fills, the account, the trading state
and the last bar's close of each instrument (the mark), kept from the messages the monitor
handles. The admin socket, the metrics endpoint, ``ctl`` and the run's summary read it; none of
them reads an actor's attributes from another task (NautilusTrader's Cache plays this part).

It is fed on the event loop, by the monitor's observer, in the order the monitor handled the
messages, and read on the same loop: every read is one consistent moment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from algotrading.messages import (
    AccountState,
    Bar,
    Fill,
    Message,
    Order,
    OrderAccepted,
    OrderCancelled,
    OrderRejected,
    Position,
    RiskState,
    TradingState,
)
from algotrading.sim.accounting import PositionState

QTY_EPS = 1e-9


@dataclass
class WorkingOrder:
    order: Order
    status: str = "SUBMITTED"
    filled: float = 0.0


@dataclass
class ReadModel:
    positions: dict[str, Position] = field(default_factory=dict)
    working: dict[str, WorkingOrder] = field(default_factory=dict)
    account: AccountState | None = None
    trading_state: TradingState = TradingState.ACTIVE
    trading_reason: str = ""
    orders: int = 0  # seen this session
    fills: int = 0
    marks: dict[str, float] = field(default_factory=dict)  # the last bar's close
    last_bar_ns: dict[str, int] = field(default_factory=dict)  # its end, in data time
    bars: int = 0

    @classmethod
    def starting(
        cls, positions: dict[str, PositionState], working: list[Order] | None = None
    ) -> ReadModel:
        """What the venue holds and works for us when the session starts."""
        model = cls()
        for instrument, held in positions.items():
            model.positions[instrument] = Position(
                ts_event=0, instrument=instrument, quantity=held.quantity, avg_price=held.avg_price
            )
        for order in working or ():
            model.working[order.client_order_id] = WorkingOrder(order, "ACCEPTED")
        return model

    def observe(self, msg: Message) -> None:
        match msg:
            case Bar():
                self.bars += 1
                self.marks[msg.instrument] = msg.close
                self.last_bar_ns[msg.instrument] = msg.ts_event
            case Position():
                self.positions[msg.instrument] = msg
            case Fill():
                self.fills += 1
                self._filled(msg)
            case Order():
                self.orders += 1
                self.working[msg.client_order_id] = WorkingOrder(msg)
            case OrderAccepted():
                found = self.working.get(msg.client_order_id)
                if found is not None and found.status == "SUBMITTED":
                    found.status = "ACCEPTED"
            case OrderRejected() | OrderCancelled():
                self.working.pop(msg.client_order_id, None)
            case AccountState():
                self.account = msg
            case RiskState():
                self.trading_state, self.trading_reason = msg.state, msg.reason
            case _:
                pass

    def _filled(self, fill: Fill) -> None:
        found = self.working.get(fill.client_order_id)
        if found is None:
            return
        found.filled += fill.quantity
        if found.filled >= found.order.quantity - QTY_EPS:
            del self.working[fill.client_order_id]
        else:
            found.status = "PARTIALLY_FILLED"

    def position(self, instrument: str) -> PositionState:
        held = self.positions.get(instrument)
        return PositionState(held.quantity, held.avg_price) if held else PositionState()

    def realized(self, instrument: str) -> float:
        held = self.positions.get(instrument)
        return held.realized_pnl if held else 0.0

    def quantities(self, instruments: list[str]) -> dict[str, float]:
        return {s: self.position(s).quantity for s in instruments}

    def open_orders(self) -> list[WorkingOrder]:
        return list(self.working.values())
