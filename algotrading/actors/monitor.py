"""The monitor: sees everything that matters to an operator — orders, fills, positions, equity,
refusals, alerts, actor failures — logs it, and keeps the session's ledger and counters."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from algotrading.backtest.ledger import Ledger
from algotrading.messages import (
    AccountState,
    ActorFailed,
    Alert,
    AlertLevel,
    Bar,
    BreakerFigures,
    Fill,
    Financing,
    Message,
    Order,
    OrderAccepted,
    OrderCancelled,
    OrderDenied,
    OrderModified,
    OrderRejected,
    Position,
    Prediction,
    RequestRejected,
    RiskState,
)
from algotrading.runtime.actor import Actor
from algotrading.runtime.driver import sync_handler
from algotrading.state.journal import Journal


class MonitorActor(Actor):
    """Its handlers send nothing: each returns ``()`` (see :func:`sync_handler`)."""

    def __init__(
        self,
        name: str = "monitor",
        *,
        ledger: Ledger,
        journal: Journal | None = None,
        summary_every_ns: int = 0,
        observer: Callable[[Message], None] | None = None,
    ) -> None:
        super().__init__(name)
        self.observer = observer
        self.ledger = ledger
        self.journal = journal
        self.summary_every_ns = summary_every_ns
        self._last_summary_ns = 0
        self.counts: Counter[str] = Counter()

    async def handle(self, msg: Message) -> None:
        await super().handle(msg)
        if self.observer is not None:  # the daemon's services: alerts, metrics
            self.observer(msg)

    @sync_handler
    def on_bar(self, msg: Bar) -> Sequence[Message]:
        """Heard only in the daemon, for its read model's marks (the observer)."""
        return ()

    @sync_handler
    def on_order(self, msg: Order) -> Sequence[Message]:
        self.counts["orders"] += 1
        self.ledger.record_order(msg)
        return ()

    @sync_handler
    def on_financing(self, msg: Financing) -> Sequence[Message]:
        self.counts["financing"] += 1
        self.log.info(
            "financing",
            instrument=msg.instrument,
            quantity=msg.quantity,
            amount=round(msg.amount, 2),
            days=msg.days,
        )
        if self.journal is not None:
            self.journal.append(msg)
        return ()

    @sync_handler
    def on_order_modified(self, msg: OrderModified) -> Sequence[Message]:
        self.counts["modified"] += 1
        return ()

    @sync_handler
    def on_request_rejected(self, msg: RequestRejected) -> Sequence[Message]:
        self.counts[f"request_rejected:{msg.code}"] += 1
        return ()

    @sync_handler
    def on_order_accepted(self, msg: OrderAccepted) -> Sequence[Message]:
        self.ledger.record_status(msg.client_order_id, "ACCEPTED")
        return ()

    @sync_handler
    def on_fill(self, msg: Fill) -> Sequence[Message]:
        self.counts["fills"] += 1
        self.ledger.record_fill(msg)
        self.log.info(
            "filled",
            client_order_id=msg.client_order_id,
            instrument=msg.instrument,
            side=msg.side,
            quantity=msg.quantity,
            price=msg.price,
            commission=msg.commission,
        )
        return ()

    @sync_handler
    def on_position(self, msg: Position) -> Sequence[Message]:
        self.log.info(
            "position",
            instrument=msg.instrument,
            quantity=msg.quantity,
            avg_price=msg.avg_price,
            realized_pnl=round(msg.realized_pnl, 2),
        )
        return ()

    @sync_handler
    def on_account_state(self, msg: AccountState) -> Sequence[Message]:
        self.ledger.record_account(msg)
        if self.journal is not None:
            self.journal.append(msg)
        if self.summary_every_ns and msg.ts_event - self._last_summary_ns >= self.summary_every_ns:
            self._last_summary_ns = msg.ts_event
            self.log.info(
                "account",
                equity=round(msg.equity, 2),
                balance=round(msg.balance, 2),
                margin_used=round(msg.margin_used, 2),
            )
        return ()

    @sync_handler
    def on_order_denied(self, msg: OrderDenied) -> Sequence[Message]:
        self.counts[f"denied:{msg.code}"] += 1
        self.ledger.record_denial(msg)
        return ()

    @sync_handler
    def on_order_rejected(self, msg: OrderRejected) -> Sequence[Message]:
        self.counts[f"rejected:{msg.code}"] += 1
        self.ledger.rejections.append(msg)
        self.ledger.record_status(msg.client_order_id, "REJECTED")
        return ()

    @sync_handler
    def on_order_cancelled(self, msg: OrderCancelled) -> Sequence[Message]:
        self.ledger.record_status(msg.client_order_id, "CANCELLED")
        return ()

    @sync_handler
    def on_prediction(self, msg: Prediction) -> Sequence[Message]:
        """Predictions are recorded, so a session shows what its model said bar by bar."""
        self.counts["predictions"] += 1
        if self.journal is not None:
            self.journal.append(msg)
        return ()

    @sync_handler
    def on_breaker_figures(self, msg: BreakerFigures) -> Sequence[Message]:
        """Journaled only: a restart takes the breakers' figures back from here."""
        if self.journal is not None:
            self.journal.append(msg)
        return ()

    @sync_handler
    def on_risk_state(self, msg: RiskState) -> Sequence[Message]:
        self.log.warning("risk_state", state=msg.state, reason=msg.reason)
        if self.journal is not None:
            self.journal.append(msg)
        return ()

    @sync_handler
    def on_alert(self, msg: Alert) -> Sequence[Message]:
        self.ledger.alerts.append(msg)
        if self.journal is not None:
            self.journal.append(msg)
        self.log.warning("alert", level=msg.level, code=msg.code, text=msg.text)
        return ()

    @sync_handler
    def on_actor_failed(self, msg: ActorFailed) -> Sequence[Message]:
        self.counts[f"failed:{msg.actor}"] += 1
        level = AlertLevel.CRITICAL if msg.action == "escalate" else AlertLevel.WARNING
        self.ledger.alerts.append(
            Alert(
                ts_event=msg.ts_event,
                level=level,
                code=f"actor_{msg.action}",
                text=msg.error,
                source=msg.actor,
            )
        )
        return ()
