"""Trade and position closes: reduce-first FOK market orders that close their trade first (or
the position's trades, oldest first), with v20's create/fill/reject transaction shapes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from algotrading.adapters.oanda.wire import format_units, units_precision
from algotrading.data.instruments import InstrumentSpec
from algotrading.sim.accounting import EPS
from algotrading.sim.server.order_plans import Plan, market_plan
from algotrading.sim.server.order_requests import Outcome
from algotrading.sim.server.request_values import Problem, decimal_text, rejected, value_decimals

if TYPE_CHECKING:
    from algotrading.sim.server.accounts import SimAccount


def close_units(value: Any, open_units: float, spec: InstrumentSpec) -> float | Problem:
    """Units to close: ``"ALL"`` or a positive decimal within the instrument's precision."""
    if value == "ALL":
        return open_units
    text = decimal_text(value)
    if text is None or float(text) <= 0:
        return Problem("Invalid value specified for 'units'")
    if value_decimals(text) > units_precision(spec):
        return rejected("UNITS_PRECISION_EXCEEDED")
    return float(text)


def close_trade(
    account: SimAccount, specifier: str, body: Any, now_ns: int, request_id: str = ""
) -> Outcome:
    """``PUT …/trades/{specifier}/close`` (``units`` defaults to ``ALL``: simulator choice)."""
    trade = account.book.find(specifier)
    if trade is None or not trade.is_open:
        error = {
            "errorCode": "NO_SUCH_TRADE",
            "errorMessage": "The trade ID specified does not exist",
        }
        return Outcome(404, error | {"lastTransactionID": account.last_transaction_id})
    value = body.get("units", "ALL") if isinstance(body, dict) else "ALL"
    spec = account.instruments[trade.instrument]
    batch = account.log.batch(now_ns, request_id)
    units = close_units(value, abs(trade.current_units), spec)
    if isinstance(units, float) and units > abs(trade.current_units) + EPS:
        units = rejected("CLOSE_TRADE_UNITS_EXCEED_TRADE_SIZE")
    signed = -trade.sign * units if isinstance(units, float) else 0.0
    close: dict[str, Any] = {"tradeID": trade.id}
    if trade.client_extensions and "id" in trade.client_extensions:
        close["clientTradeID"] = trade.client_extensions["id"]
    close["units"] = str(value)
    fields = {
        "instrument": trade.instrument,
        "units": format_units(signed, units_precision(spec)),
        "timeInForce": "FOK",
        "positionFill": "REDUCE_ONLY",
        "reason": "TRADE_CLOSE",
        "tradeClose": close,
    }
    order = {"type": "MARKET", **fields}
    if isinstance(units, Problem):
        return account.refuse(batch, order, units, {"reason": "TRADE_CLOSE"})
    plan = market_plan(
        account, trade.instrument, signed, fields, "MARKET_ORDER_TRADE_CLOSE", now_ns, trade.id
    )
    reason = _submitted(account, plan, batch.next_id(), now_ns)
    if reason or isinstance(plan, str):
        return account.refuse(batch, order, rejected(reason), {"reason": "TRADE_CLOSE"})
    record = account.place(batch, plan)
    return Outcome(200, account.order_response(batch, record.id))


def close_position(
    account: SimAccount, instrument: str, body: Any, now_ns: int, request_id: str = ""
) -> Outcome:
    """``PUT …/positions/{instrument}/close``. A side not given is ``NONE``; asking to close a
    side that is flat gets a 400 with a reject transaction (both simulator choices)."""
    body = body if isinstance(body, dict) else {}
    wanted = {"long": body.get("longUnits", "NONE"), "short": body.get("shortUnits", "NONE")}
    last = {"lastTransactionID": account.last_transaction_id}
    if all(v == "NONE" for v in wanted.values()):
        problem = rejected("CLOSEOUT_POSITION_INCOMPLETE_SPECIFICATION")
        return Outcome(400, {"errorCode": problem.reason, "errorMessage": problem.message} | last)
    spec = account.instruments[instrument]
    held = account.book.units(instrument)
    checked: dict[str, float | Problem] = {}
    for side, sign in (("long", 1), ("short", -1)):
        if wanted[side] == "NONE":
            continue
        side_units = max(0.0, sign * held)
        units = close_units(wanted[side], side_units, spec)
        if isinstance(units, Problem) and units.reason is None:
            return Outcome(400, {"errorMessage": units.message} | last)
        if isinstance(units, float) and side_units < EPS:
            units = rejected("CLOSEOUT_POSITION_DOESNT_EXIST")
        elif isinstance(units, float) and units > side_units + EPS:
            units = rejected("CLOSEOUT_POSITION_UNITS_EXCEED_POSITION_SIZE")
        checked[side] = units
    batch = account.log.batch(now_ns, request_id)
    response: dict[str, Any] = {}
    problems: list[Problem] = []
    for side, units in checked.items():
        sign = 1 if side == "long" else -1
        signed = -sign * units if isinstance(units, float) else 0.0
        fields = {
            "instrument": instrument,
            "units": format_units(signed, units_precision(spec)),
            "timeInForce": "FOK",
            "positionFill": "REDUCE_ONLY",
            "reason": "POSITION_CLOSEOUT",
            f"{side}PositionCloseout": {"instrument": instrument, "units": str(wanted[side])},
        }
        plan: Plan | str = (
            units.reason or ""
            if isinstance(units, Problem)
            else market_plan(
                account, instrument, signed, fields, "MARKET_ORDER_POSITION_CLOSEOUT", now_ns
            )
        )
        reason = _submitted(account, plan, batch.next_id(), now_ns)
        if reason or isinstance(plan, str):
            problems.append(rejected(reason))
            reject = batch.add("MARKET_ORDER_REJECT", fields | {"rejectReason": reason})
            response[f"{side}OrderRejectTransaction"] = reject
            continue
        record = account.place(batch, plan)
        placed = account.order_response(batch, record.id)
        for key in ("Create", "Fill", "Cancel"):
            if f"order{key}Transaction" in placed:
                response[f"{side}Order{key}Transaction"] = placed[f"order{key}Transaction"]
    response |= {
        "relatedTransactionIDs": batch.ids,
        "lastTransactionID": account.last_transaction_id,
    }
    if problems and not any(key.endswith("CreateTransaction") for key in response):
        error = {"errorCode": problems[0].reason, "errorMessage": problems[0].message}
        return Outcome(400, response | error)
    return Outcome(200, response)


def _submitted(account: SimAccount, plan: Plan | str, order_id: str, now_ns: int) -> str:
    """The reject reason of a plan (its own, or the engine's on submission), or ``""``."""
    if isinstance(plan, str):
        return plan
    return account.submit(plan, order_id, now_ns)
