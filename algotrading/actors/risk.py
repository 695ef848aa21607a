"""The risk actor: every intent passes here. It keeps the projected position of each
instrument (filled plus approved and still working) and approves or denies each intent with a
reason that reaches the strategy and the monitor. The trading state lives in a
:class:`TradingSwitch` owned by the session, so a restarted risk actor is still halted."""

from __future__ import annotations

from algotrading.messages import (
    AccountState,
    ApprovedOrder,
    Bar,
    Command,
    Fill,
    Order,
    OrderCancelled,
    OrderDenied,
    OrderIntent,
    OrderRejected,
    Position,
    RiskState,
    TradingState,
)
from algotrading.risk.checks import RiskLimits, TradingSwitch, check_order
from algotrading.runtime.actor import Actor

_STATES = {
    "halt": TradingState.HALTED,
    "reduce": TradingState.REDUCING,
    "resume": TradingState.ACTIVE,
}


class RiskActor(Actor):
    emits = (ApprovedOrder, OrderDenied, RiskState)

    def __init__(
        self,
        name: str = "risk",
        *,
        limits: RiskLimits,
        switch: TradingSwitch,
        positions: dict[str, float] | None = None,
    ) -> None:
        super().__init__(name)
        self.limits = limits
        self.switch = switch
        self.positions: dict[str, float] = dict(positions or {})
        self.working: dict[str, tuple[str, float]] = {}  # client id -> (instrument, signed rest)
        self.pending_approvals: dict[str, float] = {}  # approved, not yet an Order
        self.equity = 0.0

    def projected(self, instrument: str) -> float:
        working = sum(q for i, q in self.working.values() if i == instrument)
        return (
            self.positions.get(instrument, 0.0)
            + working
            + self.pending_approvals.get(instrument, 0.0)
        )

    async def on_order_intent(self, msg: OrderIntent) -> None:
        now = self.clock.now_ns()
        refusal = check_order(msg, self.projected(msg.instrument), self.limits, self.switch.state)
        if refusal is not None:
            self.log.warning(
                "order_denied",
                code=refusal.code,
                reason=refusal.reason,
                instrument=msg.instrument,
                side=msg.side,
                quantity=msg.quantity,
            )
            await self.send(msg.denied(now, refusal.code, refusal.reason))
            return
        signed = msg.side.sign * msg.quantity
        self.pending_approvals[msg.instrument] = (
            self.pending_approvals.get(msg.instrument, 0.0) + signed
        )
        await self.send(msg.approved(now))

    async def on_order(self, msg: Order) -> None:
        signed = msg.side.sign * msg.quantity
        pending = self.pending_approvals.get(msg.instrument, 0.0) - signed
        self.pending_approvals[msg.instrument] = 0.0 if abs(pending) < 1e-9 else pending
        self.working[msg.client_order_id] = (msg.instrument, signed)

    async def on_fill(self, msg: Fill) -> None:
        entry = self.working.get(msg.client_order_id)
        if entry is None:
            return
        rest = entry[1] - msg.side.sign * msg.quantity
        if abs(rest) < 1e-9:
            del self.working[msg.client_order_id]
        else:
            self.working[msg.client_order_id] = (entry[0], rest)

    async def on_order_rejected(self, msg: OrderRejected) -> None:
        self.working.pop(msg.client_order_id, None)

    async def on_order_cancelled(self, msg: OrderCancelled) -> None:
        self.working.pop(msg.client_order_id, None)

    async def on_position(self, msg: Position) -> None:
        self.positions[msg.instrument] = msg.quantity

    async def on_account_state(self, msg: AccountState) -> None:
        self.equity = msg.equity

    async def on_bar(self, msg: Bar) -> None:
        """Market data for price-based checks (collars, stale data) — see the risk issue."""

    async def on_command(self, msg: Command) -> None:
        state = _STATES.get(msg.name)
        if state is None:
            self.log.warning("command_ignored", command=msg.name)
            return
        reason = msg.args.get("reason", f"operator command {msg.name}")
        self.switch.set(state, reason)
        self.log.warning("trading_state_changed", state=state, reason=reason)
        await self.send(RiskState(ts_event=self.clock.now_ns(), state=state, reason=reason))
