"""What ``GET`` shows of an account, in v20 shapes: ``AccountSummary``, ``Position``,
``Trade`` / ``TradeSummary`` and ``Order`` objects. Money comes from the engine (balance,
unrealized P/L and margin on the net position at its mark, the mid), trade-level figures from
the FIFO trades (see :mod:`algotrading.sim.server.trades`)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from algotrading.adapters.oanda.wire import (
    format_money,
    format_price,
    format_time,
    format_units,
    units_precision,
)
from algotrading.sim.accounting import EPS, quote_to_account_rate
from algotrading.sim.server.order_records import OrderRecord
from algotrading.sim.server.trades import TradeRecord

if TYPE_CHECKING:
    from algotrading.sim.server.accounts import SimAccount

_ZERO = format_money(0.0)


def _mark(account: SimAccount, instrument: str) -> tuple[float, float]:
    """The engine's mark (the mid) of ``instrument`` and its quote-to-account rate."""
    price = account.exchange.books[instrument].last_price
    if not price:
        return 0.0, 0.0
    spec = account.instruments[instrument]
    rate = quote_to_account_rate(spec, price, account.currency, account.exchange.mids) or 0.0
    return price, rate


def account_properties(account: SimAccount) -> dict[str, Any]:
    return {"id": account.id, "tags": []}


def account_summary(account: SimAccount) -> dict[str, Any]:
    ex = account.exchange
    unrealized = ex.unrealized()
    used = ex.margin_used()
    nav = ex.balance + unrealized
    value = 0.0
    for symbol in account.instruments:
        qty = ex.position(symbol).quantity
        if abs(qty) > EPS:
            price, rate = _mark(account, symbol)
            value += abs(qty) * price * rate
    available = max(0.0, nav - used)
    closeout = used * ex.closeout_level / nav if nav > 0 else (1.0 if used else 0.0)
    margin_rate = min((s.margin_rate for s in account.instruments.values()), default=0.05)
    summary: dict[str, Any] = {"id": account.id}
    if account.alias:
        summary["alias"] = account.alias
    summary |= {
        "currency": account.currency,
        "balance": format_money(ex.balance),
        "createdByUserID": account.user_id,
        "createdTime": format_time(account.created_ns),
        "guaranteedStopLossOrderMode": "DISABLED",
        "pl": format_money(account.totals.pl),
        "resettablePL": format_money(account.totals.pl),
        "financing": format_money(account.totals.financing),
        "commission": format_money(account.totals.commission),
        "guaranteedExecutionFees": _ZERO,
        "marginRate": f"{margin_rate:g}",
        "openTradeCount": len(account.book.open_trades()),
        "openPositionCount": sum(1 for ids in account.book.open.values() if ids),
        "pendingOrderCount": len(account.pending),
        "hedgingEnabled": False,
        "unrealizedPL": format_money(unrealized),
        "NAV": format_money(nav),
        "marginUsed": format_money(used),
        "marginAvailable": format_money(available),
        "positionValue": format_money(value),
        "marginCloseoutUnrealizedPL": format_money(unrealized),
        "marginCloseoutNAV": format_money(nav),
        "marginCloseoutMarginUsed": format_money(used),
        "marginCloseoutPercent": f"{closeout:.5f}",
        "marginCloseoutPositionValue": format_money(value),
        "withdrawalLimit": format_money(available),
        "marginCallMarginUsed": format_money(used),
        "marginCallPercent": f"{(used / nav if nav > 0 else 0.0):.5f}",
        "lastTransactionID": account.last_transaction_id,
    }
    if account.totals.last_fill_ns:
        summary["lastOrderFillTimestamp"] = format_time(account.totals.last_fill_ns)
    return summary


def order_json(account: SimAccount, record: OrderRecord) -> dict[str, Any]:
    """The v20 Order; a pending trailing stop shows where it would trigger now."""
    body = copy.deepcopy(record.body)
    if record.type == "TRAILING_STOP_LOSS" and record.engine_id:
        level = _trailing_level(account, record)
        if level is not None:
            precision = account.instruments[record.instrument].price_precision
            body["trailingStopValue"] = format_price(level, precision)
    return body


def _trailing_level(account: SimAccount, record: OrderRecord) -> float | None:
    for working in account.exchange.books[record.instrument].working:
        if working.order.client_order_id != record.engine_id:
            continue
        sign = working.order.side.sign
        distance = working.order.trailing_distance or 0.0
        if working.best is not None:
            return (working.best + distance) * sign
        quote = account.quotes.get(record.instrument)
        if quote is None:
            return None
        return (quote.ask + distance) if sign > 0 else (quote.bid - distance)
    return None


def trade_json(account: SimAccount, trade: TradeRecord, *, summary: bool = False) -> dict[str, Any]:
    """A v20 ``Trade`` (with its dependent Orders) or ``TradeSummary`` (their ids)."""
    spec = account.instruments[trade.instrument]
    precision, units_decimals = spec.price_precision, units_precision(spec)
    price, rate = _mark(account, trade.instrument)
    unrealized = (price - trade.price) * trade.current_units * rate if trade.is_open else 0.0
    margin = abs(trade.current_units) * price * spec.margin_rate * rate
    out: dict[str, Any] = {
        "id": trade.id,
        "instrument": trade.instrument,
        "price": format_price(trade.price, precision),
        "openTime": format_time(trade.open_ns),
        "state": "OPEN" if trade.is_open else "CLOSED",
        "initialUnits": format_units(trade.initial_units, units_decimals),
        "initialMarginRequired": format_money(trade.initial_margin),
        "currentUnits": format_units(trade.current_units, units_decimals),
        "realizedPL": format_money(trade.realized_pl),
        "unrealizedPL": format_money(unrealized),
        "marginUsed": format_money(margin),
        "financing": format_money(trade.financing),
    }
    if trade.closed_units:
        average = trade.closed_value / trade.closed_units
        out["averageClosePrice"] = format_price(average, precision)
        out["closingTransactionIDs"] = list(trade.closing_ids)
    if not trade.is_open:
        out["closeTime"] = format_time(trade.close_ns)
    if trade.client_extensions:
        out["clientExtensions"] = dict(trade.client_extensions)
    for key, order_id in (
        ("takeProfitOrder", trade.take_profit_id),
        ("stopLossOrder", trade.stop_loss_id),
        ("trailingStopLossOrder", trade.trailing_stop_id),
    ):
        record = account.orders.get(order_id) if order_id else None
        if record is None:
            continue
        if summary:
            out[f"{key}ID"] = record.id
        else:
            out[key] = order_json(account, record)
    return out


def position_json(account: SimAccount, instrument: str) -> dict[str, Any]:
    """A v20 ``Position``: the engine's net position, on its long or short side."""
    spec = account.instruments[instrument]
    position = account.exchange.position(instrument)
    price, rate = _mark(account, instrument)
    qty = position.quantity
    unrealized = (price - position.avg_price) * qty * rate if abs(qty) > EPS else 0.0
    margin = abs(qty) * price * spec.margin_rate * rate
    row = account.totals.by_instrument.get(instrument, [0.0] * 5)
    trade_ids = [t.id for t in account.book.open_trades(instrument)]

    def side(sign: int, pl: float, financing: float) -> dict[str, Any]:
        held = sign * qty > EPS
        out: dict[str, Any] = {"units": format_units(qty if held else 0.0, units_precision(spec))}
        if held:
            out["averagePrice"] = format_price(position.avg_price, spec.price_precision)
            out["tradeIDs"] = trade_ids
        out |= {
            "pl": format_money(pl),
            "unrealizedPL": format_money(unrealized if held else 0.0),
            "resettablePL": format_money(pl),
            "financing": format_money(financing),
            "guaranteedExecutionFees": _ZERO,
        }
        return out

    return {
        "instrument": instrument,
        "pl": format_money(row[0] + row[1]),
        "unrealizedPL": format_money(unrealized),
        "marginUsed": format_money(margin),
        "resettablePL": format_money(row[0] + row[1]),
        "financing": format_money(row[2] + row[3]),
        "commission": format_money(row[4]),
        "guaranteedExecutionFees": _ZERO,
        "long": side(1, row[0], row[2]),
        "short": side(-1, row[1], row[3]),
    }


def open_positions(account: SimAccount) -> list[dict[str, Any]]:
    return [
        position_json(account, s)
        for s in account.instruments
        if abs(account.exchange.position(s).quantity) > EPS
    ]


def full_account(account: SimAccount) -> dict[str, Any]:
    """``GET /v3/accounts/{id}``: the summary with trades, positions and pending orders."""
    traded = [s for s in account.instruments if s in account.totals.by_instrument]
    return account_summary(account) | {
        "trades": [trade_json(account, t, summary=True) for t in account.book.open_trades()],
        "positions": [position_json(account, s) for s in traded],
        "orders": [order_json(account, account.orders[i]) for i in account.pending],
    }
