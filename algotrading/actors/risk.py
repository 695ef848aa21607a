"""The risk actor: every intent passes here. It keeps the projected position of each
instrument (filled plus approved and still working) and approves or denies each intent with a
reason that reaches the strategy and the monitor. The trading state lives in a
:class:`TradingSwitch` owned by the session, so a restarted risk actor is still halted."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from algotrading.data.instruments import AssetClass, InstrumentSpec
from algotrading.messages import (
    AccountState,
    Alert,
    AlertLevel,
    ApprovedOrder,
    Bar,
    BreakerFigures,
    Command,
    Fill,
    Message,
    Order,
    OrderCancelled,
    OrderDenied,
    OrderIntent,
    OrderRejected,
    Position,
    Quote,
    RiskState,
    Timer,
    TradingState,
)
from algotrading.risk.breaker_set import BreakerSet
from algotrading.risk.checks import Market, RiskLimits, TradingSwitch, check_order, limits_with
from algotrading.runtime.actor import Actor
from algotrading.runtime.driver import sync_handler
from algotrading.sim.accounting import quote_to_account_rate

_STATES = {
    "halt": TradingState.HALTED,
    "kill": TradingState.HALTED,
    "reduce": TradingState.REDUCING,
    "resume": TradingState.ACTIVE,
}


class RiskActor(Actor):
    emits = (ApprovedOrder, OrderDenied, RiskState, Alert, BreakerFigures)

    def __init__(
        self,
        name: str = "risk",
        *,
        limits: RiskLimits,
        switch: TradingSwitch,
        positions: dict[str, float] | None = None,
        breakers: BreakerSet | None = None,
        instruments: dict[str, InstrumentSpec] | None = None,
        account_currency: str = "USD",
        figures_every_ns: int = 0,
    ) -> None:
        """``figures_every_ns``: how often (in the time of the equity marks) the breakers'
        running figures are sent to be journaled; 0, never (a backtest has no restart)."""
        super().__init__(name)
        self.switch = switch
        self.limits = switch.limits or limits  # an operator's limits outlive a restart
        self.positions: dict[str, float] = dict(positions or {})
        self.working: dict[str, tuple[str, float]] = {}  # client id -> (instrument, signed rest)
        self.pending_approvals: dict[str, float] = {}  # approved, not yet an Order
        self.equity = 0.0
        self.breakers = breakers or BreakerSet()
        self.instruments = dict(instruments or {})
        self.pip_sizes = {s: spec.pip_size for s, spec in self.instruments.items()}
        self.currency = account_currency
        self.mids: dict[str, float] = {}
        self._approved_at: deque[int] = deque()
        self.figures_every_ns = figures_every_ns
        self._figures_at: int | None = None

    def projected(self, instrument: str) -> float:
        working = sum(q for i, q in self.working.values() if i == instrument)
        return (
            self.positions.get(instrument, 0.0)
            + working
            + self.pending_approvals.get(instrument, 0.0)
        )

    @sync_handler
    def on_order_intent(self, msg: OrderIntent) -> Sequence[Message]:
        now = self.clock.now_ns()
        refusal = check_order(
            msg, self.projected(msg.instrument), self.limits, self.switch.state, self._market(msg)
        )
        if refusal is not None:
            self.log.warning(
                "order_denied",
                code=refusal.code,
                reason=refusal.reason,
                instrument=msg.instrument,
                side=msg.side,
                quantity=msg.quantity,
            )
            return (msg.denied(now, refusal.code, refusal.reason),)
        signed = msg.side.sign * msg.quantity
        self.pending_approvals[msg.instrument] = (
            self.pending_approvals.get(msg.instrument, 0.0) + signed
        )
        self._approved_at.append(now)
        return (msg.approved(now),)

    def _market(self, intent: OrderIntent) -> Market:
        now = self.clock.now_ns()
        window = int(self.limits.rate_window_seconds * 1e9)
        while self._approved_at and now - self._approved_at[0] >= window:
            self._approved_at.popleft()
        values: dict[str, float] = {}
        currencies: dict[str, tuple[str, str]] = {}
        for symbol, spec in self.instruments.items():
            if spec.asset_class is AssetClass.FX:
                currencies[symbol] = (spec.base, spec.quote)
            price = self.mids.get(symbol)
            if price is None or symbol == intent.instrument:
                continue
            rate = quote_to_account_rate(spec, price, self.currency, self.mids) or 0.0
            values[symbol] = self.projected(symbol) * price * rate
        price = self.mids.get(intent.instrument)
        own = self.instruments.get(intent.instrument)
        rate = 1.0
        if own is not None and price:
            rate = quote_to_account_rate(own, price, self.currency, self.mids) or 0.0
        return Market(
            price=price,
            quote_rate=rate,
            values=values,
            currencies=currencies,
            open_orders=len(self.working),
            recent_orders=len(self._approved_at),
        )

    async def on_order_denied(self, msg: OrderDenied) -> None:
        """The order manager refused what was approved (the kill switch came between)."""
        intent = msg.intent
        pending = (
            self.pending_approvals.get(intent.instrument, 0.0) - intent.side.sign * intent.quantity
        )
        self.pending_approvals[intent.instrument] = 0.0 if abs(pending) < 1e-9 else pending

    @sync_handler
    def on_order(self, msg: Order) -> Sequence[Message]:
        signed = msg.side.sign * msg.quantity
        pending = self.pending_approvals.get(msg.instrument, 0.0) - signed
        self.pending_approvals[msg.instrument] = 0.0 if abs(pending) < 1e-9 else pending
        self.working[msg.client_order_id] = (msg.instrument, signed)
        return ()

    @sync_handler
    def on_fill(self, msg: Fill) -> Sequence[Message]:
        entry = self.working.get(msg.client_order_id)
        if entry is None:
            return ()
        rest = entry[1] - msg.side.sign * msg.quantity
        if abs(rest) < 1e-9:
            del self.working[msg.client_order_id]
        else:
            self.working[msg.client_order_id] = (entry[0], rest)
        return ()

    @sync_handler
    def on_order_rejected(self, msg: OrderRejected) -> Sequence[Message]:
        self.working.pop(msg.client_order_id, None)
        if self.breakers.rejections is None:
            return ()
        self.breakers.rejections.on_rejection(self.clock.now_ns(), msg.code)
        return self._breaker_messages()

    @sync_handler
    def on_order_cancelled(self, msg: OrderCancelled) -> Sequence[Message]:
        self.working.pop(msg.client_order_id, None)
        return ()

    @sync_handler
    def on_position(self, msg: Position) -> Sequence[Message]:
        self.positions[msg.instrument] = msg.quantity
        losses = self.breakers.consecutive_losses
        if losses is not None and losses.on_position(
            msg.ts_event, msg.instrument, msg.realized_pnl
        ):
            return self._breaker_messages()
        return ()

    @sync_handler
    def on_account_state(self, msg: AccountState) -> Sequence[Message]:
        self.equity = msg.equity
        seen = self.breakers.on_equity(msg.ts_event, msg.equity)
        if self.figures_every_ns:
            return self._with_figures(msg.ts_event, self._breaker_messages() if seen else [])
        return self._breaker_messages() if seen else ()

    def _with_figures(self, ts: int, out: list[Message]) -> list[Message]:
        """``out`` and, when it is time, the breakers' running figures to journal."""
        at = self._figures_at
        if at is None or ts - at >= self.figures_every_ns:
            figures = self.breakers.figures()
            if figures:
                self._figures_at = ts
                out.append(BreakerFigures(ts_event=ts, figures=figures))
        return out

    @sync_handler
    def on_bar(self, msg: Bar) -> Sequence[Message]:
        self.mids[msg.instrument] = msg.close
        if self.breakers.stale_data is not None:
            self.breakers.stale_data.on_price(msg.instrument, msg.ts_event)
            return self._breaker_messages()
        return ()

    @sync_handler
    def on_quote(self, msg: Quote) -> Sequence[Message]:
        self.mids[msg.instrument] = (msg.bid + msg.ask) * 0.5
        if self.breakers.on_quote(msg, self.pip_sizes.get(msg.instrument, 1.0)):
            return self._breaker_messages()
        return ()

    @sync_handler
    def on_timer(self, msg: Timer) -> Sequence[Message]:
        if self.breakers.stale_data is not None:
            self.breakers.check_stale(msg.ts_event)
            return self._breaker_messages()
        return ()

    async def _breakers_changed(self) -> None:
        for msg in self._breaker_messages():
            await self.send(msg)

    def _breaker_messages(self) -> list[Message]:
        """Bring the switch up to date with the breakers; an alert for every trip and reset,
        each followed by the trading state it leaves."""
        now = self.clock.now_ns()
        out: list[Message] = []
        for name, trip, was in self.breakers.changes(self.switch):
            if trip is not None:
                self.switch.breakers[name] = (trip.action, trip.reason)
                text, level = f"{name} tripped: {trip.reason}", AlertLevel.CRITICAL
            else:
                self.switch.breakers.pop(name, None)
                text, level = f"{name} reset (was: {was})", AlertLevel.WARNING
            self.log.warning("breaker", breaker=name, tripped=trip is not None, text=text)
            out.append(Alert(ts_event=now, level=level, code=f"breaker_{name}", text=text))
            out.append(RiskState(ts_event=now, state=self.switch.state, reason=self.switch.reason))
        return out

    async def on_command(self, msg: Command) -> None:
        if msg.name == "set_limit":
            self._set_limits(msg)
            return
        if msg.name == "reset":
            names = self.breakers.operator_reset(msg.args.get("breaker", ""))
            self.log.warning("breakers_reset", breakers=names)
            await self._breakers_changed()
            return
        state = _STATES.get(msg.name)
        if state is None:
            self.log.warning("command_ignored", command=msg.name)
            return
        reason = msg.args.get("reason", f"operator command {msg.name}")
        self.switch.set(state, reason)
        self.log.warning("trading_state_changed", state=self.switch.state, reason=reason)
        await self.send(
            RiskState(ts_event=self.clock.now_ns(), state=self.switch.state, reason=reason)
        )

    def _set_limits(self, msg: Command) -> None:
        """``set_limit``: ``args`` maps limit names to values; all are swapped in at once, or
        none (the admin socket checked them before; a journal replayed later may not have)."""
        try:
            limits = limits_with(self.limits, msg.args)
        except ValueError as exc:
            self.log.error("set_limit_refused", error=str(exc), request_id=msg.request_id)
            return
        self.limits = self.switch.limits = limits
        self.log.warning("risk_limits_changed", limits=dict(msg.args), request_id=msg.request_id)
