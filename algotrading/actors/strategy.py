"""The strategy actor: runs the composed strategy of each instrument on bars and predictions, and
turns a change of target position into order intents — the entry order carrying its bracket.

It trusts its own intended position (what it asked for), so its decisions do not depend on when
fills arrive; a bracket leg's fill (the venue closed the position) updates it, and a refusal or
rejection resets it to the position the order manager last reported."""

from __future__ import annotations

import pickle
from collections.abc import Sequence

from algotrading.data.instruments import InstrumentSpec
from algotrading.messages import (
    AccountState,
    Bar,
    Command,
    Fill,
    OrderDenied,
    OrderIntent,
    OrderRejected,
    Position,
    Prediction,
    RequestRejected,
)
from algotrading.runtime.actor import Actor
from algotrading.runtime.driver import sync_handler
from algotrading.sim.accounting import quote_to_account_rate
from algotrading.strategies.base import orders_to_target
from algotrading.strategies.compose import Decision, InstrumentStrategy
from algotrading.strategies.registry import StrategyFactory

BRACKET_LEGS = (".sl", ".tp", ".ts")


class StrategyActor(Actor):
    emits = (OrderIntent,)

    def __init__(
        self,
        name: str = "strategy",
        *,
        factory: StrategyFactory,
        instruments: dict[str, InstrumentSpec],
        account_currency: str = "USD",
        initial_equity: float = 0.0,
        conversion_rates: dict[str, float] | None = None,
    ) -> None:
        super().__init__(name)
        self.strategy_id = factory.name
        self.factory = factory
        self.instruments = instruments
        self.account_currency = account_currency
        self._equity = initial_equity
        self.mids: dict[str, float] = dict(conversion_rates or {})
        self.strategies: dict[str, InstrumentStrategy] = {}
        self.actual: dict[str, float] = {}
        self.last_prediction: dict[str, Prediction] = {}

    # -- what sizing reads (the compose.Account protocol) --

    def equity(self) -> float:
        return self._equity

    def quote_rate(self, spec: InstrumentSpec, price: float) -> float | None:
        return quote_to_account_rate(spec, price, self.account_currency, self.mids)

    # -- snapshots (algotrading.state.recording) --

    def snapshot_state(self) -> bytes:
        state = (self.strategies, self.actual, self.mids, self._equity, self.last_prediction)
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)

    def restore_state(self, state: bytes) -> None:
        loaded = pickle.loads(state)
        self.strategies, self.actual, self.mids, self._equity, self.last_prediction = loaded

    async def on_command(self, msg: Command) -> None:
        """``recover``, after a restart, once the strategy is warm: ``args`` are the positions
        the venue holds. With ``catch_up``, trade once from them to what the strategy holds
        (what a daemon that never stopped would hold); otherwise take them as held."""
        if msg.name != "recover":
            return
        catch_up = msg.args.get("catch_up") == "true"
        for instrument, text in msg.args.items():
            if instrument == "catch_up":
                continue
            actual = float(text)
            self.actual[instrument] = actual
            strategy = self._strategy(instrument)
            if strategy is None:
                continue
            wanted = strategy.position
            if not catch_up or abs(wanted - actual) < 1e-9:
                strategy.reset(actual)
                continue
            self.log.warning("recovery_catch_up", instrument=instrument, held=actual, target=wanted)
            for side, quantity, reduce_only in orders_to_target(actual, wanted):
                await self.send(
                    OrderIntent(
                        ts_event=msg.ts_event,
                        ts_recv=msg.ts_recv,
                        strategy_id=self.strategy_id,
                        instrument=instrument,
                        side=side,
                        quantity=quantity,
                        reason=f"recovery: target {wanted:g}",
                        reduce_only=reduce_only,
                    )
                )

    # -- handlers --

    def _strategy(self, instrument: str) -> InstrumentStrategy | None:
        strategy = self.strategies.get(instrument)
        if strategy is None:
            spec = self.instruments.get(instrument)
            if spec is None:
                return None
            strategy = self.strategies[instrument] = self.factory.make(spec)
        return strategy

    @sync_handler
    def on_bar(self, msg: Bar) -> Sequence[OrderIntent]:
        strategy = self.strategies.get(msg.instrument) or self._strategy(msg.instrument)
        if strategy is None:
            return ()
        self.mids[msg.instrument] = msg.close
        before = strategy.position
        decision = strategy.on_bar(msg, self)
        if decision is None and not strategy.skipped:
            return ()  # the common case, kept cheap
        return self._act(msg, before, decision, strategy)

    @sync_handler
    def on_prediction(self, msg: Prediction) -> Sequence[OrderIntent]:
        self.last_prediction[msg.instrument] = msg
        strategy = self.strategies.get(msg.instrument) or self._strategy(msg.instrument)
        if strategy is None:
            return ()
        before = strategy.position
        decision = strategy.on_prediction(msg, self)
        if decision is None and not strategy.skipped:
            return ()  # the common case, kept cheap
        return self._act(msg, before, decision, strategy)

    def _act(
        self,
        cause: Bar | Prediction,
        current: float,
        decision: Decision | None,
        strategy: InstrumentStrategy,
    ) -> list[OrderIntent]:
        """The orders of ``decision``, stamped with when its ``cause`` was known (the
        tick-to-order latency is measured from there)."""
        instrument, ts = cause.instrument, cause.ts_event
        if decision is None:
            if strategy.skipped:
                self.log.info("entry_skipped", instrument=instrument, reason=strategy.skipped)
                strategy.skipped = ""
            return []
        orders = orders_to_target(current, decision.target)
        self.log.info(
            "signal",
            instrument=instrument,
            close=strategy.last_close,
            current=current,
            target=decision.target,
            reason=decision.reason,
        )
        levels = decision.levels
        intents = []
        for i, (side, quantity, reduce_only) in enumerate(orders):
            opening = levels is not None and i == len(orders) - 1
            intents.append(
                OrderIntent(
                    ts_event=ts,
                    ts_recv=cause.ts_recv,
                    strategy_id=self.strategy_id,
                    instrument=instrument,
                    side=side,
                    quantity=quantity,
                    stop_loss=levels.stop_loss if opening and levels else None,
                    take_profit=levels.take_profit if opening and levels else None,
                    trailing_stop=levels.trailing_distance if opening and levels else None,
                    reason=f"{decision.reason}: target {decision.target:g}",
                    reduce_only=reduce_only,
                )
            )
        return intents

    @sync_handler
    def on_account_state(self, msg: AccountState) -> Sequence[OrderIntent]:
        self._equity = msg.equity
        return ()

    @sync_handler
    def on_position(self, msg: Position) -> Sequence[OrderIntent]:
        self.actual[msg.instrument] = msg.quantity
        return ()

    @sync_handler
    def on_fill(self, msg: Fill) -> Sequence[OrderIntent]:
        """A fill of an order the strategy did not decide — a bracket leg at the venue, or the
        kill switch flattening — changes the position it holds; its own orders are already
        counted in its intended position."""
        if msg.strategy_id != self.strategy_id or msg.client_order_id.endswith(BRACKET_LEGS):
            strategy = self.strategies.get(msg.instrument)
            if strategy is not None:
                strategy.on_exit_fill(msg.side.sign * msg.quantity)
        return ()

    @sync_handler
    def on_order_denied(self, msg: OrderDenied) -> Sequence[OrderIntent]:
        self._reset(msg.intent.instrument)
        return ()

    @sync_handler
    def on_order_rejected(self, msg: OrderRejected) -> Sequence[OrderIntent]:
        for instrument in self.strategies:
            self._reset(instrument)
        return ()

    @sync_handler
    def on_request_rejected(self, msg: RequestRejected) -> Sequence[OrderIntent]:
        """A cancel or modify the venue refused: the order stands; positions tell the rest."""
        return ()

    def _reset(self, instrument: str) -> None:
        strategy = self.strategies.get(instrument)
        if strategy is not None:
            strategy.reset(self.actual.get(instrument, 0.0))
