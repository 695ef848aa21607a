"""What the matching engine did, written as v20 transactions: fills (``ORDER_FILL`` with the
trades they open, reduce and close), cancels (``ORDER_CANCEL`` with a v20 reason), the orders a
fill attaches (``TAKE_PROFIT_ORDER`` / ``STOP_LOSS_ORDER`` / ``TRAILING_STOP_LOSS_ORDER``,
reason ``ON_FILL``), overnight financing (``DAILY_FINANCING``) and a margin closeout.

The engine nets a position and attaches a bracket to the filled quantity; v20 attaches it to
the trade the fill opened. So after each fill the account keeps the two in step: the dependent
orders of trades it closed are cancelled (``LINKED_TRADE_CLOSED``), those of trades it reduced
are resized to what is left, and a bracket whose fill opened no trade is withdrawn unseen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from algotrading.adapters.oanda.wire import format_money, format_price, format_units
from algotrading.adapters.oanda.wire import units_precision as units_decimals
from algotrading.data.instruments import InstrumentSpec
from algotrading.messages import Fill, Financing, Message, ModifyOrder, Order, OrderCancelled
from algotrading.sim.accounting import EPS, apply_fill
from algotrading.sim.server.order_records import CANCELLED, FILLED, PENDING, OrderRecord
from algotrading.sim.server.trades import FillEffect, Reduction, TradeRecord
from algotrading.sim.server.transactions import Batch, client_price, format_factor

if TYPE_CHECKING:
    from algotrading.sim.server.accounts import SimAccount

LEG_KINDS = {  # engine leg suffix -> (v20 order type, trade attribute)
    "tp": ("TAKE_PROFIT", "take_profit_id"),
    "sl": ("STOP_LOSS", "stop_loss_id"),
    "ts": ("TRAILING_STOP_LOSS", "trailing_stop_id"),
}
_ZERO = format_money(0.0)


def cancel_reason(engine_reason: str) -> str:
    """The v20 ``OrderCancelReason`` of an engine cancel."""
    if engine_reason.startswith("expired"):
        return "TIME_IN_FORCE_EXPIRED"
    if engine_reason.startswith("not filled at once"):
        return "TIME_IN_FORCE_EXPIRED"  # simulator's choice for an unfilled IOC/FOK
    if engine_reason.startswith(("OCO", "linked")):
        return "LINKED_TRADE_CLOSED"
    if engine_reason.startswith("insufficient_margin"):
        return "INSUFFICIENT_MARGIN"
    if engine_reason == "cancelled":
        return "CLIENT_REQUEST"
    return "INTERNAL_SERVER_ERROR"


def apply_engine(
    account: SimAccount, messages: list[Message], batch: Batch, balance: float
) -> None:
    """Write ``messages`` (one engine call's output) into ``batch``. ``balance`` is the
    engine's balance before the call; each transaction's ``accountBalance`` follows from it."""
    events = _Events(account, batch, balance)
    legs: list[Order] = []
    financing: list[Financing] = []
    for msg in messages:
        if isinstance(msg, Order):
            legs.append(msg)
            continue
        if not isinstance(msg, Fill | OrderCancelled | Financing):
            continue  # OrderAccepted of a leg, OrderModified, AccountState, Alert
        if legs:
            events.attach(legs)
            legs = []
        if isinstance(msg, Financing):
            financing.append(msg)
            continue
        if financing:
            events.financing(financing)
            financing = []
        if isinstance(msg, Fill):
            events.fill(msg)
        else:
            events.cancelled(msg)
    if legs:
        events.attach(legs)
    if financing:
        events.financing(financing)


def write_cancel(
    account: SimAccount,
    record: OrderRecord,
    batch: Batch,
    reason: str,
    replaced_by: str = "",
    *,
    in_engine: bool = True,
) -> dict[str, Any]:
    """``ORDER_CANCEL`` of a pending order, taken out of the engine first when ``in_engine``
    (it still works there)."""
    if in_engine and record.engine_id:
        account.exchange.cancel(record.engine_id, batch.ts_ns)
    fields: dict[str, Any] = {"orderID": record.id}
    if record.client_id:
        fields["clientOrderID"] = record.client_id
    fields["reason"] = reason
    if replaced_by:
        fields["replacedByOrderID"] = replaced_by
    tx = batch.add("ORDER_CANCEL", fields)
    record.body.update(state=CANCELLED, cancellingTransactionID=tx["id"], cancelledTime=tx["time"])
    if replaced_by:
        record.body["replacedByOrderID"] = replaced_by
    account.finish(record)
    trade = account.book.trades.get(record.trade_id) if record.trade_id else None
    if trade is not None:
        for _, attribute in LEG_KINDS.values():
            if getattr(trade, attribute) == record.id:
                setattr(trade, attribute, "")
        account.touch_trade(trade)
    return tx


class _Events:
    def __init__(self, account: SimAccount, batch: Batch, balance: float) -> None:
        self.account = account
        self.batch = batch
        self.balance = balance

    # --- fills ----------------------------------------------------------------------------

    def fill(self, fill: Fill) -> None:
        account = self.account
        record = account.record_for_engine(fill.client_order_id)
        if record is None:
            record = self._closeout_order(fill)
        spec = account.instruments[fill.instrument]
        units = fill.side.sign * fill.quantity
        before = account.mirror(fill.instrument)
        after, realized_quote = apply_fill(before, fill.side, fill.quantity, fill.price)
        account.positions[fill.instrument] = after
        pl = realized_quote * fill.quote_rate
        self.balance += pl - fill.commission
        account.book_fill_totals(
            fill.instrument, before.quantity, pl, fill.commission, fill.ts_event
        )
        fill_id = self.batch.next_id()
        effect = account.book.fill(
            fill.instrument,
            units,
            fill.price,
            fill_id=fill_id,
            ts_ns=fill.ts_event,
            rate=fill.quote_rate,
            first=record.closes_trade or record.trade_id,
            margin_rate=spec.margin_rate,
            client_extensions=record.body.get("tradeClientExtensions"),
        )
        quote = account.quotes.get(fill.instrument)
        # half the spread per unit, in the account currency
        half_spread = (quote.ask - quote.bid) / 2.0 * fill.quote_rate if quote is not None else 0.0
        precision = spec.price_precision
        fields: dict[str, Any] = {"orderID": record.id}
        if record.client_id:
            fields["clientOrderID"] = record.client_id
        fields |= {
            "instrument": fill.instrument,
            "units": format_units(units, units_decimals(spec)),
            "gainQuoteHomeConversionFactor": format_factor(fill.quote_rate),
            "lossQuoteHomeConversionFactor": format_factor(fill.quote_rate),
            "price": format_price(fill.price, precision),
            "fullVWAP": format_price(fill.price, precision),
        }
        if quote is not None:
            fields["fullPrice"] = client_price(quote, precision)
        fields |= {
            "reason": record.fill_reason or f"{record.type}_ORDER",
            "pl": format_money(pl),
            "financing": _ZERO,
            "commission": format_money(fill.commission),
            "guaranteedExecutionFee": _ZERO,
            "accountBalance": format_money(self.balance),
        }
        self._trade_fields(fields, effect, fill.price, spec, half_spread)
        fields["halfSpreadCost"] = format_money(half_spread * fill.quantity)
        tx = self.batch.add("ORDER_FILL", fields)
        record.body.update(state=FILLED, fillingTransactionID=tx["id"], filledTime=tx["time"])
        if effect.opened is not None:
            record.body["tradeOpenedID"] = effect.opened.id
        if effect.reduced is not None:
            record.body["tradeReducedID"] = effect.reduced.trade.id
        if effect.closed:
            record.body["tradeClosedIDs"] = [r.trade.id for r in effect.closed]
        account.finish(record)
        self._follow_trades(effect, record)

    @staticmethod
    def _trade_fields(
        fields: dict[str, Any],
        effect: FillEffect,
        price: float,
        spec: InstrumentSpec,
        half_spread: float,
    ) -> None:
        """``tradeOpened``, ``tradesClosed`` and ``tradeReduced`` of a fill at ``price``."""
        precision, units_precision = spec.price_precision, units_decimals(spec)

        def reduce(r: Reduction) -> dict[str, Any]:
            out: dict[str, Any] = {"tradeID": r.trade.id}
            if r.trade.client_extensions and "id" in r.trade.client_extensions:
                out["clientTradeID"] = r.trade.client_extensions["id"]
            out |= {
                "units": format_units(r.units, units_precision),
                "price": format_price(price, precision),
                "realizedPL": format_money(r.realized_pl),
                "financing": _ZERO,
                "guaranteedExecutionFee": _ZERO,
                "halfSpreadCost": format_money(half_spread * abs(r.units)),
            }
            return out

        if effect.opened is not None:
            trade = effect.opened
            opened: dict[str, Any] = {
                "tradeID": trade.id,
                "units": format_units(trade.initial_units, units_precision),
                "price": format_price(trade.price, precision),
                "guaranteedExecutionFee": _ZERO,
                "halfSpreadCost": format_money(half_spread * abs(trade.initial_units)),
                "initialMarginRequired": format_money(trade.initial_margin),
            }
            if trade.client_extensions:
                opened["clientExtensions"] = trade.client_extensions
            fields["tradeOpened"] = opened
        if effect.closed:
            fields["tradesClosed"] = [reduce(r) for r in effect.closed]
        if effect.reduced is not None:
            fields["tradeReduced"] = reduce(effect.reduced)

    def _follow_trades(self, effect: FillEffect, filled: OrderRecord) -> None:
        """Keep the engine's brackets on the trades: cancel those of closed trades, resize
        those of reduced ones."""
        account = self.account
        for reduction in effect.reductions:
            trade = reduction.trade
            account.touch_trade(trade)
            for order_id in trade.dependent_ids():
                record = account.orders.get(order_id)
                if record is None or record.state != PENDING or record is filled:
                    continue
                if reduction.closed:
                    self._linked_cancel(record)
                else:
                    account.exchange.modify(
                        ModifyOrder(
                            ts_event=self.batch.ts_ns,
                            client_order_id=record.engine_id,
                            quantity=abs(trade.current_units),
                        ),
                        self.batch.ts_ns,
                    )
        if effect.opened is not None:
            account.touch_trade(effect.opened)

    def _linked_cancel(self, record: OrderRecord) -> None:
        """Cancel a closed trade's dependent order, unless the engine already did or filled it
        (then its own message, later in this output, is written instead)."""
        messages = self.account.exchange.cancel(record.engine_id, self.batch.ts_ns)
        if any(isinstance(m, OrderCancelled) for m in messages):
            write_cancel(self.account, record, self.batch, "LINKED_TRADE_CLOSED", in_engine=False)

    def _closeout_order(self, fill: Fill) -> OrderRecord:
        """The MARKET_ORDER of a margin closeout, which the engine makes itself."""
        spec = self.account.instruments[fill.instrument]
        units = fill.side.sign * fill.quantity
        fields = {
            "instrument": fill.instrument,
            "units": format_units(units, units_decimals(spec)),
            "timeInForce": "FOK",
            "positionFill": "REDUCE_ONLY",
            "reason": "MARGIN_CLOSEOUT",
            "marginCloseout": {"reason": "MARGIN_CHECK_VIOLATION"},
        }
        return self.account.write_create(
            self.batch, "MARKET_ORDER", fields, fill.instrument, "MARKET_ORDER_MARGIN_CLOSEOUT"
        )

    # --- cancels and brackets -------------------------------------------------------------

    def cancelled(self, msg: OrderCancelled) -> None:
        record = self.account.record_for_engine(msg.client_order_id)
        if record is None or record.state != PENDING:
            return  # a bracket leg that never became a v20 order
        write_cancel(self.account, record, self.batch, cancel_reason(msg.reason))

    def attach(self, legs: list[Order]) -> None:
        """The bracket the engine attached to a filled order, as v20 dependent orders of the
        trade the fill opened — take-profit, stop-loss, trailing stop, in v20's order."""
        account = self.account
        order = {"tp": 0, "sl": 1, "ts": 2}
        for leg in sorted(legs, key=lambda o: order.get(o.client_order_id.rsplit(".", 1)[-1], 3)):
            parent = account.orders.get(leg.parent_id)  # an entry's engine id is its order id
            trade_id = str(parent.body.get("tradeOpenedID", "")) if parent else ""
            trade = account.book.trades.get(trade_id)
            if parent is None or trade is None or not trade.is_open:
                account.exchange.cancel(leg.client_order_id, self.batch.ts_ns)
                continue
            self._dependent(leg, parent, trade)

    def _dependent(self, leg: Order, parent: OrderRecord, trade: TradeRecord) -> None:
        account = self.account
        suffix = leg.client_order_id.rsplit(".", 1)[-1]
        kind, attribute = LEG_KINDS[suffix]
        precision = account.instruments[trade.instrument].price_precision
        extensions = parent.leg_extensions.get(suffix)
        if extensions is None and parent.client_id:
            candidate = f"{parent.client_id}.{suffix}"
            extensions = None if account.client_id_taken(candidate) else {"id": candidate}
        fields: dict[str, Any] = {"tradeID": trade.id}
        if trade.client_extensions and "id" in trade.client_extensions:
            fields["clientTradeID"] = trade.client_extensions["id"]
        if kind == "TRAILING_STOP_LOSS":
            fields["distance"] = format_price(leg.trailing_distance or 0.0, precision)
        else:
            price = leg.limit_price if kind == "TAKE_PROFIT" else leg.stop_price
            fields["price"] = format_price(price or 0.0, precision)
        fields |= {"timeInForce": "GTC", "triggerCondition": "DEFAULT", "reason": "ON_FILL"}
        if extensions:
            fields["clientExtensions"] = extensions
        fields["orderFillTransactionID"] = parent.body.get("fillingTransactionID", "")
        record = account.write_create(
            self.batch,
            f"{kind}_ORDER",
            fields,
            trade.instrument,
            f"{kind}_ORDER",
            leg.client_order_id,
        )
        setattr(trade, attribute, record.id)
        account.touch_trade(trade)
        if abs(leg.quantity - abs(trade.current_units)) > EPS:
            account.exchange.modify(
                ModifyOrder(
                    ts_event=self.batch.ts_ns,
                    client_order_id=leg.client_order_id,
                    quantity=abs(trade.current_units),
                ),
                self.batch.ts_ns,
            )

    # --- financing ------------------------------------------------------------------------

    def financing(self, messages: list[Financing]) -> None:
        """One ``DAILY_FINANCING`` per rollover, over every financed position."""
        account = self.account
        by_time: dict[int, list[Financing]] = {}
        for msg in messages:  # several rollovers at once after a gap in the prices
            by_time.setdefault(msg.ts_event, []).append(msg)
        for group in by_time.values():
            positions = []
            total = 0.0
            for msg in group:
                total += msg.amount
                shares = account.book.share_financing(msg.instrument, msg.amount)
                for trade_id, _ in shares:
                    account.touch_trade(account.book.trades[trade_id])
                account.book_financing_totals(msg.instrument, msg.quantity, msg.amount)
                positions.append(
                    {
                        "instrument": msg.instrument,
                        "financing": format_money(msg.amount),
                        "openTradeFinancings": [
                            {"tradeID": t, "financing": format_money(a)} for t, a in shares
                        ],
                    }
                )
            self.balance += total
            batch = self.batch
            fields = {
                "financing": format_money(total),
                "accountBalance": format_money(self.balance),
                "accountFinancingMode": "DAILY",
                "positionFinancings": positions,
            }
            batch.add("DAILY_FINANCING", fields)
