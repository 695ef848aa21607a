"""One v20 account around one :class:`SimExchange`: v20 ids, the transaction log, orders by id
and client id, FIFO trades, and the conversion of v20 requests into engine orders and of what
the engine does into v20 transactions. Pure logic: times come in as arguments, nothing here
awaits or does I/O; the server (``app``) calls it and stores what :meth:`take_changes` gives.

Simulator choices (the reference leaves them open; see ``docs/adapters/oanda-v20-subset.md``
§11): a market order without the margin for it gets a 400 ``INSUFFICIENT_MARGIN`` reject; a
client order id is never reused (unique over the account's whole history, so a retried request
is refused rather than doubled); a client id of a dependent order defaults to
``<entry's client id>.tp`` / ``.sl`` / ``.ts``; a stop-loss ``distance`` is measured from the
expected fill price at submission (the current ask or bid for a market order, the order's price
otherwise); ``positionFill`` REDUCE_ONLY is enforced (the engine's reduce-only orders), the other
values and ``triggerCondition`` are echoed but every order works as
``DEFAULT`` (reduce first, ask for buys and bid for sells).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import msgspec

from algotrading.messages import OrderRejected, Quote
from algotrading.sim.accounting import PositionState
from algotrading.sim.exchange import SimExchange
from algotrading.sim.server import closes
from algotrading.sim.server.dependent_orders import create_dependent, replace_dependent
from algotrading.sim.server.engine_events import apply_engine, write_cancel
from algotrading.sim.server.order_plans import Plan, plan_order
from algotrading.sim.server.order_records import PENDING, OrderRecord, order_from_create
from algotrading.sim.server.order_requests import (
    CREATE_TYPES,
    DEPENDENT_TYPES,
    Outcome,
    ParsedOrder,
    parse_order,
    reject_fields,
)
from algotrading.sim.server.request_values import Problem, one_of, rejected
from algotrading.sim.server.trades import TradeBook, TradeRecord
from algotrading.sim.server.transactions import Batch, Transaction, TransactionLog

ENGINE_REJECTS = {  # engine reject code -> v20 reject reason
    "insufficient_margin": "INSUFFICIENT_MARGIN",
    "no_conversion_rate": "INSTRUMENT_PRICE_UNKNOWN",
    "unknown_instrument": "INSTRUMENT_UNKNOWN",
    "duplicate_client_order_id": "CLIENT_ORDER_ID_ALREADY_EXISTS",
}


class Totals(msgspec.Struct, kw_only=True):
    """What the account has booked, for the summary and the positions."""

    pl: float = 0.0
    commission: float = 0.0
    financing: float = 0.0
    last_fill_ns: int = 0
    # per instrument: [long pl, short pl, long financing, short financing, commission]
    by_instrument: dict[str, list[float]] = msgspec.field(default_factory=dict)


@dataclass
class Changes:
    """What changed since the last call, for the store."""

    transactions: list[Transaction]
    orders: list[OrderRecord]
    trades: list[TradeRecord]


class SimAccount:
    def __init__(
        self,
        account_id: str,
        exchange: SimExchange,
        *,
        user_id: int,
        alias: str = "",
        created_ns: int = 0,
    ) -> None:
        self.id = account_id
        self.user_id = user_id
        self.alias = alias
        self.created_ns = created_ns
        self.exchange = exchange
        self.instruments = exchange.instruments
        self.currency = exchange.currency
        self.log = TransactionLog(account_id, user_id)
        self.orders: dict[str, OrderRecord] = {}
        self.pending: dict[str, None] = {}  # ids of PENDING orders, oldest first
        self.client_ids: dict[str, str] = {}  # client order id -> order id (never reused)
        self.engine_ids: dict[str, str] = {}  # engine client_order_id -> order id, while working
        self.book = TradeBook()
        self.quotes: dict[str, Quote] = {}
        self.positions: dict[str, PositionState] = {}  # the engine's, as fills move it
        self.totals = Totals()
        self._dirty_orders: dict[str, None] = {}
        self._dirty_trades: dict[str, None] = {}

    # --- lookups --------------------------------------------------------------------------

    @property
    def last_transaction_id(self) -> str:
        return str(self.log.last_id)

    def find_order(self, specifier: str) -> OrderRecord | None:
        """An order by id or ``@clientOrderID``."""
        if specifier.startswith("@"):
            order_id = self.client_ids.get(specifier[1:], "")
            return self.orders.get(order_id)
        return self.orders.get(specifier)

    def record_for_engine(self, engine_id: str) -> OrderRecord | None:
        order_id = self.engine_ids.get(engine_id)
        return self.orders.get(order_id) if order_id else None

    def client_id_taken(self, client_id: str) -> bool:
        return client_id in self.client_ids

    def mirror(self, instrument: str) -> PositionState:
        return self.positions.get(instrument, PositionState())

    # --- market ---------------------------------------------------------------------------

    def on_quote(self, quote: Quote) -> list[Transaction]:
        """A new price: the engine matches working orders on it; returns the transactions."""
        self.quotes[quote.instrument] = quote
        balance = self.exchange.balance
        messages = self.exchange.on_quote(quote)
        if not messages:
            return []
        batch = self.log.batch(quote.ts_event)
        apply_engine(self, messages, batch, balance)
        return batch.transactions

    def set_quote(self, quote: Quote) -> None:
        """The latest price, known without the engine seeing it again (after a restart)."""
        self.quotes[quote.instrument] = quote

    def _match_now(self, batch: Batch, instrument: str) -> None:
        """Let the engine match on the current price at the request's time, so a market order
        (or a marketable limit) fills within the request, as v20's do."""
        quote = self.quotes.get(instrument)
        if quote is None:
            return
        now_quote = msgspec.structs.replace(quote, ts_event=max(batch.ts_ns, quote.ts_event))
        balance = self.exchange.balance
        apply_engine(self, self.exchange.on_quote(now_quote), batch, balance)

    # --- order requests -------------------------------------------------------------------

    def create_order(
        self, body: Any, now_ns: int, *, request_id: str = "", forced_reject: str = ""
    ) -> Outcome:
        """``POST …/orders``. ``forced_reject`` is a fault injected by the server."""
        order = body.get("order") if isinstance(body, dict) else None
        if forced_reject:
            return self.refuse(self.log.batch(now_ns, request_id), order, rejected(forced_reject))
        if isinstance(order, dict) and one_of(order.get("type"), DEPENDENT_TYPES):
            return create_dependent(self, order, now_ns, request_id)
        batch = self.log.batch(now_ns, request_id)
        parsed = parse_order(order, self.instruments, now_ns, self.exchange.mids)
        if isinstance(parsed, Problem):
            return self.refuse(batch, order, parsed)
        reason = self._conflict(parsed)
        plan = reason or self._plan(parsed, now_ns)
        if isinstance(plan, str):
            return self.refuse(batch, order, rejected(plan))
        order_id = batch.next_id()
        reason = self.submit(plan, order_id, now_ns)
        if reason:
            return self.refuse(batch, order, rejected(reason))
        record = self.place(batch, plan)
        return Outcome(201, self.order_response(batch, record.id))

    def cancel_order(self, specifier: str, now_ns: int, *, request_id: str = "") -> Outcome:
        """``PUT …/orders/{specifier}/cancel``."""
        record = self.find_order(specifier)
        if record is None or record.state != PENDING:
            return self.no_such_order(cancel=True)
        batch = self.log.batch(now_ns, request_id)
        tx = write_cancel(self, record, batch, "CLIENT_REQUEST")
        body = {"orderCancelTransaction": tx}
        return Outcome(200, body | self._related(batch))

    def replace_order(
        self, specifier: str, body: Any, now_ns: int, *, request_id: str = ""
    ) -> Outcome:
        """``PUT …/orders/{specifier}``: cancel the pending order and create its replacement
        (same type) in one batch; the engine gets the new order, not a modification."""
        old = self.find_order(specifier)
        if old is None or old.state != PENDING:
            return self.no_such_order(cancel=True)
        order = body.get("order") if isinstance(body, dict) else None
        if old.type in DEPENDENT_TYPES:
            return replace_dependent(self, old, order, now_ns, request_id)
        batch = self.log.batch(now_ns, request_id)
        echo = {"intendedReplacesOrderID": old.id}
        parsed = parse_order(order, self.instruments, now_ns, self.exchange.mids)
        if isinstance(parsed, Problem):
            return self.refuse(batch, order, parsed, echo)
        if parsed.client_extensions is None and old.body.get("clientExtensions"):
            extensions = old.body["clientExtensions"]
            fields = parsed.fields | {"clientExtensions": extensions}
            parsed = replace(parsed, client_extensions=extensions, fields=fields)
        reason = "REPLACING_ORDER_INVALID" if parsed.type != old.type else ""
        reason = reason or self._conflict(parsed, replacing=old)
        plan = reason or self._plan(parsed, now_ns)
        if isinstance(plan, str):
            return self.refuse(batch, order, rejected(plan), echo)
        new_id = str(self.log.last_id + 2)
        reason = self.submit(plan, new_id, now_ns)
        if reason:
            return self.refuse(batch, order, rejected(reason), echo)
        cancel = write_cancel(self, old, batch, "CLIENT_REQUEST_REPLACED", replaced_by=new_id)
        plan.fields |= {"reason": "REPLACEMENT", "replacesOrderID": old.id}
        plan.fields["cancellingTransactionID"] = cancel["id"]
        plan.body_extra["replacesOrderID"] = old.id
        record = self.place(batch, plan)
        response = {"orderCancelTransaction": cancel} | self.order_response(batch, record.id)
        return Outcome(201, response)

    def place(self, batch: Batch, plan: Plan) -> OrderRecord:
        """Write the create transaction, then match it now or cancel it at once."""
        engine_id = "" if plan.cancel_reason else batch.next_id()
        record = self.write_create(
            batch,
            plan.create_type,
            plan.fields,
            plan.engine.instrument,
            plan.fill_reason,
            engine_id,
            closes_trade=plan.closes_trade,
            leg_extensions=plan.leg_extensions,
        )
        record.body.update(plan.body_extra)
        if plan.cancel_reason:
            write_cancel(self, record, batch, plan.cancel_reason)
        else:
            self._match_now(batch, plan.engine.instrument)
        return record

    def submit(self, plan: Plan, order_id: str, now_ns: int) -> str:
        """Hand the order to the engine; its reject reason in v20 terms, or ``""``."""
        if plan.cancel_reason:
            return ""
        order = msgspec.structs.replace(plan.engine, client_order_id=order_id, ts_event=now_ns)
        for msg in self.exchange.submit(order, now_ns):
            if isinstance(msg, OrderRejected):
                return ENGINE_REJECTS.get(msg.code, "INTERNAL_SERVER_ERROR")
        return ""

    def _conflict(self, parsed: ParsedOrder, replacing: OrderRecord | None = None) -> str:
        client_id = parsed.client_id
        if client_id and self.client_ids.get(client_id, "") not in ("", *_id(replacing)):
            return "CLIENT_ORDER_ID_ALREADY_EXISTS"
        if parsed.client_trade_id and self.book.client_id_in_use(parsed.client_trade_id):
            return "CLIENT_TRADE_ID_ALREADY_EXISTS"
        for leg in (parsed.take_profit, parsed.stop_loss, parsed.trailing_stop):
            if leg and leg.client_extensions and leg.client_extensions.get("id") in self.client_ids:
                return "CLIENT_ORDER_ID_ALREADY_EXISTS"
        return ""

    def _plan(self, parsed: ParsedOrder, now_ns: int) -> Plan | str:
        """The engine order for a checked request (or the reject reason)."""
        return plan_order(parsed, self.instruments[parsed.instrument], self, now_ns)

    def close_trade(
        self, specifier: str, body: Any, now_ns: int, *, request_id: str = ""
    ) -> Outcome:
        """``PUT …/trades/{specifier}/close``."""
        return closes.close_trade(self, specifier, body, now_ns, request_id)

    def close_position(
        self, instrument: str, body: Any, now_ns: int, *, request_id: str = ""
    ) -> Outcome:
        """``PUT …/positions/{instrument}/close``."""
        return closes.close_position(self, instrument, body, now_ns, request_id)

    # --- writing --------------------------------------------------------------------------

    def write_create(
        self,
        batch: Batch,
        tx_type: str,
        fields: dict[str, Any],
        instrument: str,
        fill_reason: str,
        engine_id: str = "",
        *,
        closes_trade: str = "",
        leg_extensions: dict[str, dict[str, str]] | None = None,
    ) -> OrderRecord:
        """The create transaction of an order and its record (PENDING)."""
        tx = batch.add(tx_type, fields)
        record = OrderRecord(
            body=order_from_create(tx),
            instrument=instrument,
            engine_id=engine_id,
            fill_reason=fill_reason,
            closes_trade=closes_trade,
            leg_extensions=leg_extensions or {},
        )
        self.orders[record.id] = record
        self.pending[record.id] = None
        if engine_id:
            self.engine_ids[engine_id] = record.id
        if record.client_id:
            self.client_ids[record.client_id] = record.id
        self._dirty_orders[record.id] = None
        return record

    def finish(self, record: OrderRecord) -> None:
        """Note a change of ``record``; once it is no longer pending it leaves the engine."""
        self._dirty_orders[record.id] = None
        if record.state != PENDING:
            self.pending.pop(record.id, None)
            self.engine_ids.pop(record.engine_id, None)
            record.engine_id = ""

    def touch_trade(self, trade: TradeRecord) -> None:
        self._dirty_trades[trade.id] = None

    def book_fill_totals(
        self, instrument: str, held_before: float, pl: float, commission: float, ts_ns: int
    ) -> None:
        totals = self.totals
        totals.pl += pl
        totals.commission += commission
        totals.last_fill_ns = ts_ns
        row = totals.by_instrument.setdefault(instrument, [0.0] * 5)
        row[0 if held_before > 0 else 1] += pl
        row[4] += commission

    def book_financing_totals(self, instrument: str, quantity: float, amount: float) -> None:
        self.totals.financing += amount
        row = self.totals.by_instrument.setdefault(instrument, [0.0] * 5)
        row[2 if quantity > 0 else 3] += amount

    # --- responses ------------------------------------------------------------------------

    def _related(self, batch: Batch) -> dict[str, Any]:
        return {"relatedTransactionIDs": batch.ids, "lastTransactionID": self.last_transaction_id}

    def order_response(self, batch: Batch, order_id: str) -> dict[str, Any]:
        """``orderCreateTransaction`` and what became of the order in this batch."""
        body: dict[str, Any] = {}
        for tx in batch.transactions:
            if tx["id"] == order_id:
                body["orderCreateTransaction"] = tx
            elif tx.get("orderID") == order_id and tx["type"] == "ORDER_FILL":
                body["orderFillTransaction"] = tx
            elif tx.get("orderID") == order_id and tx["type"] == "ORDER_CANCEL":
                body["orderCancelTransaction"] = tx
        return body | self._related(batch)

    def refuse(
        self, batch: Batch, order: Any, problem: Problem, echo: dict[str, Any] | None = None
    ) -> Outcome:
        """400: with a ``<TYPE>_ORDER_REJECT`` transaction when the problem has a reason."""
        if problem.reason is None:
            return Outcome(400, {"errorMessage": problem.message})
        kind = order.get("type", "MARKET") if isinstance(order, dict) else "MARKET"
        kind = kind if one_of(kind, CREATE_TYPES | DEPENDENT_TYPES) else "MARKET"
        tx_type = f"{(CREATE_TYPES | DEPENDENT_TYPES).get(kind, 'MARKET_ORDER')}_REJECT"
        fields = reject_fields(order) | (echo or {}) | {"rejectReason": problem.reason}
        tx = batch.add(tx_type, fields)
        body = {"orderRejectTransaction": tx} | self._related(batch)
        return Outcome(400, body | {"errorCode": problem.reason, "errorMessage": problem.message})

    def no_such_order(self, *, cancel: bool = False) -> Outcome:
        if cancel:
            code, message = "ORDER_DOESNT_EXIST", "The Order specified does not exist"
        else:
            code, message = "NO_SUCH_ORDER", "The order ID specified does not exist"
        body = {"errorCode": code, "errorMessage": message}
        return Outcome(404, body | {"lastTransactionID": self.last_transaction_id})

    # --- persistence ----------------------------------------------------------------------

    def take_changes(self) -> Changes:
        orders = [self.orders[i] for i in self._dirty_orders]
        trades = [self.book.trades[i] for i in self._dirty_trades]
        self._dirty_orders, self._dirty_trades = {}, {}
        return Changes(self.log.take_unsaved(), orders, trades)

    def restore(
        self,
        totals: Totals,
        transactions: list[Transaction],
        orders: list[OrderRecord],
        trades: list[TradeRecord],
    ) -> None:
        """State read back from the store (the engine is restored separately, first)."""
        self.totals = totals
        self.log.load(transactions)
        self.orders = {r.id: r for r in sorted(orders, key=lambda r: int(r.id))}
        self.pending = {i: None for i, r in self.orders.items() if r.state == PENDING}
        self.client_ids = {r.client_id: i for i, r in self.orders.items() if r.client_id}
        self.engine_ids = {r.engine_id: i for i, r in self.orders.items() if r.engine_id}
        self.book = TradeBook({t.id: t for t in trades})
        self.positions = {s: self.exchange.position(s) for s in self.instruments}


def _id(record: OrderRecord | None) -> tuple[str, ...]:
    return (record.id,) if record is not None else ()
