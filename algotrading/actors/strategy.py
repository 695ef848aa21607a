"""The strategy actor: runs one rule per instrument on each bar and turns a change of target
position into order intents. It trusts its own intended position (what it asked for) so its
decisions do not depend on when fills arrive; a refusal or rejection resets the intent to the
position the order manager last reported."""

from __future__ import annotations

from collections.abc import Callable

from algotrading.data.instruments import InstrumentSpec
from algotrading.messages import (
    Bar,
    Fill,
    OrderDenied,
    OrderIntent,
    OrderRejected,
    Position,
    Prediction,
    RequestRejected,
)
from algotrading.runtime.actor import Actor
from algotrading.strategies.base import Rule, orders_to_target


class StrategyActor(Actor):
    emits = (OrderIntent,)

    def __init__(
        self,
        name: str = "strategy",
        *,
        strategy_id: str,
        make_rule: Callable[[], Rule],
        instruments: dict[str, InstrumentSpec],
    ) -> None:
        super().__init__(name)
        self.strategy_id = strategy_id
        self.make_rule = make_rule
        self.instruments = instruments
        self.rules: dict[str, Rule] = {}
        self.intended: dict[str, float] = {}
        self.actual: dict[str, float] = {}
        self.last_prediction: dict[str, Prediction] = {}

    async def on_bar(self, msg: Bar) -> None:
        if msg.instrument not in self.instruments:
            return
        rule = self.rules.get(msg.instrument)
        if rule is None:
            rule = self.rules[msg.instrument] = self.make_rule()
        target = rule.on_bar(msg)
        if target is None:
            return
        spec = self.instruments[msg.instrument]
        target = spec.round_quantity(target)
        current = self.intended.get(msg.instrument, 0.0)
        orders = orders_to_target(current, target)
        if not orders:
            return
        self.log.info(
            "signal", instrument=msg.instrument, close=msg.close, current=current, target=target
        )
        self.intended[msg.instrument] = target
        for side, quantity in orders:
            await self.send(
                OrderIntent(
                    ts_event=msg.ts_event,
                    strategy_id=self.strategy_id,
                    instrument=msg.instrument,
                    side=side,
                    quantity=quantity,
                    reason=f"target {target:g}",
                )
            )

    async def on_prediction(self, msg: Prediction) -> None:
        self.last_prediction[msg.instrument] = msg

    async def on_position(self, msg: Position) -> None:
        self.actual[msg.instrument] = msg.quantity

    async def on_fill(self, msg: Fill) -> None:
        """Fills are reflected through the position the order manager reports."""

    async def on_order_denied(self, msg: OrderDenied) -> None:
        self._reset(msg.intent.instrument)

    async def on_order_rejected(self, msg: OrderRejected) -> None:
        for instrument in self.intended:
            self._reset(instrument)

    async def on_request_rejected(self, msg: RequestRejected) -> None:
        """A cancel or modify the venue refused: the order stands; positions tell the rest."""

    def _reset(self, instrument: str) -> None:
        self.intended[instrument] = self.actual.get(instrument, 0.0)
