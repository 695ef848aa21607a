"""The execution actor: between the strategy and risk when an execution algorithm is configured.
It works large parents as child intents (:mod:`algotrading.execution.algos`), each of which
risk checks like any other; bars and clock ticks move TWAP schedules along."""

from __future__ import annotations

from collections.abc import Sequence

from algotrading.data.instruments import InstrumentSpec
from algotrading.execution.algos import ExecutionConfig, ExecutionEngine
from algotrading.messages import (
    Bar,
    Fill,
    Order,
    OrderCancelled,
    OrderDenied,
    OrderIntent,
    OrderModified,
    OrderRejected,
    Timer,
)
from algotrading.runtime.actor import Actor
from algotrading.runtime.driver import sync_handler


class ExecutionActor(Actor):
    emits = (OrderIntent,)

    def __init__(
        self,
        name: str = "execution",
        *,
        config: ExecutionConfig,
        instruments: dict[str, InstrumentSpec],
    ) -> None:
        super().__init__(name)
        self.engine = ExecutionEngine(config, instruments)

    @sync_handler
    def on_order_intent(self, msg: OrderIntent) -> Sequence[OrderIntent]:
        children = self.engine.submit(msg, msg.ts_event)
        if not children:
            self.log.info("algo_queued", instrument=msg.instrument, quantity=msg.quantity)
        elif children[0] is not msg:
            self.log.info(
                "algo_started",
                exec_id=children[0].exec_id,
                instrument=msg.instrument,
                quantity=msg.quantity,
            )
        return children

    @sync_handler
    def on_bar(self, msg: Bar) -> Sequence[OrderIntent]:
        return self.engine.on_time(msg.ts_event)

    @sync_handler
    def on_timer(self, msg: Timer) -> Sequence[OrderIntent]:
        return self.engine.on_time(msg.ts_event)

    @sync_handler
    def on_order(self, msg: Order) -> Sequence[OrderIntent]:
        if msg.exec_id:
            self.engine.on_order(msg.exec_id, msg.client_order_id, msg.quantity)
        return ()

    @sync_handler
    def on_fill(self, msg: Fill) -> Sequence[OrderIntent]:
        return self.engine.on_fill(msg.client_order_id, msg.quantity, msg.ts_event)

    @sync_handler
    def on_order_denied(self, msg: OrderDenied) -> Sequence[OrderIntent]:
        if msg.intent.exec_id:
            self.log.warning("algo_ended", exec_id=msg.intent.exec_id, reason=msg.code)
            return self.engine.on_denied(msg.intent, msg.code, msg.ts_event)
        return ()

    @sync_handler
    def on_order_rejected(self, msg: OrderRejected) -> Sequence[OrderIntent]:
        return self.engine.on_child_ended(msg.client_order_id, msg.code, msg.ts_event)

    @sync_handler
    def on_order_cancelled(self, msg: OrderCancelled) -> Sequence[OrderIntent]:
        return self.engine.on_child_ended(msg.client_order_id, "cancelled", msg.ts_event)

    @sync_handler
    def on_order_modified(self, msg: OrderModified) -> Sequence[OrderIntent]:
        self.engine.on_modified(msg.order.client_order_id, msg.order.quantity)
        return ()
