"""The v20 endpoints that trade: orders (create, list, get by id or ``@clientID``, cancel,
replace), trades (list, get, close) and positions (list, get, close). Each changing request
waits out the order-delay fault first and goes through :meth:`SimExchangeService.apply`, so its
transactions are stored before the response leaves."""

from __future__ import annotations

from aiohttp import web

from algotrading.sim.server import views
from algotrading.sim.server.order_records import STATES, select_orders
from algotrading.sim.server.rest import (
    V20Error,
    account_of,
    instrument_of,
    int_param,
    json_response,
    last_id,
    order_delay,
    outcome_response,
    read_body,
    service_of,
)
from algotrading.sim.server.service import REQUEST_ID

MAX_ORDERS_COUNT = 500


# --- orders ---------------------------------------------------------------------------------


async def create_order(request: web.Request) -> web.Response:
    account = account_of(request)
    service = service_of(request)
    body = await read_body(request)
    await order_delay(request)
    reject = service.faults.take_reject()
    outcome = service.apply(
        lambda: account.create_order(
            body, service.now_ns(), request_id=REQUEST_ID.get(), forced_reject=reject
        )
    )
    return outcome_response(request, outcome, account)


async def list_orders(request: web.Request) -> web.Response:
    account = account_of(request)
    state = request.query.get("state", "PENDING")
    if state not in STATES:
        raise V20Error(400, "Invalid value specified for 'state'")
    count = int_param(request, "count", 50) or 0
    if count > MAX_ORDERS_COUNT:
        raise V20Error(400, "Maximum value for 'count' exceeded")
    raw_ids = request.query.get("ids")
    chosen = select_orders(
        list(account.orders.values()),
        state=state,
        instrument=request.query.get("instrument", ""),
        ids=set(raw_ids.split(",")) if raw_ids else None,
        before_id=int_param(request, "beforeID", 0) or 0,
        count=count,
    )
    orders = [views.order_json(account, r) for r in chosen]
    return json_response(request, 200, {"orders": orders} | last_id(account))


async def pending_orders(request: web.Request) -> web.Response:
    account = account_of(request)
    pending = [account.orders[i] for i in reversed(account.pending)]
    orders = [views.order_json(account, r) for r in pending]
    return json_response(request, 200, {"orders": orders} | last_id(account))


async def get_order(request: web.Request) -> web.Response:
    account = account_of(request)
    record = account.find_order(request.match_info["specifier"])
    if record is None:
        missing = account.no_such_order()
        return json_response(request, missing.status, missing.body)
    body = {"order": views.order_json(account, record)} | last_id(account)
    return json_response(request, 200, body)


async def cancel_order(request: web.Request) -> web.Response:
    account = account_of(request)
    service = service_of(request)
    specifier = request.match_info["specifier"]
    await order_delay(request)
    outcome = service.apply(
        lambda: account.cancel_order(specifier, service.now_ns(), request_id=REQUEST_ID.get())
    )
    return outcome_response(request, outcome, account)


async def replace_order(request: web.Request) -> web.Response:
    account = account_of(request)
    service = service_of(request)
    specifier = request.match_info["specifier"]
    body = await read_body(request)
    await order_delay(request)
    outcome = service.apply(
        lambda: account.replace_order(
            specifier, body, service.now_ns(), request_id=REQUEST_ID.get()
        )
    )
    return outcome_response(request, outcome, account)


# --- trades and positions -------------------------------------------------------------------


async def list_trades(request: web.Request) -> web.Response:
    account = account_of(request)
    state = request.query.get("state", "OPEN")
    instrument = request.query.get("instrument", "")
    count = int_param(request, "count", 50) or 0
    trades = sorted(account.book.trades.values(), key=lambda t: int(t.id), reverse=True)
    chosen = [
        t
        for t in trades
        if (state == "ALL" or (state == "OPEN") == t.is_open)
        and (not instrument or t.instrument == instrument)
    ][:count]
    body = {"trades": [views.trade_json(account, t) for t in chosen]} | last_id(account)
    return json_response(request, 200, body)


async def open_trades(request: web.Request) -> web.Response:
    account = account_of(request)
    trades = [views.trade_json(account, t) for t in account.book.open_trades()]
    return json_response(request, 200, {"trades": trades} | last_id(account))


async def get_trade(request: web.Request) -> web.Response:
    account = account_of(request)
    trade = account.book.find(request.match_info["specifier"])
    if trade is None:
        raise V20Error(
            404, "The trade ID specified does not exist", "NO_SUCH_TRADE", **last_id(account)
        )
    body = {"trade": views.trade_json(account, trade)} | last_id(account)
    return json_response(request, 200, body)


async def close_trade(request: web.Request) -> web.Response:
    account = account_of(request)
    service = service_of(request)
    specifier = request.match_info["specifier"]
    body = await read_body(request)
    await order_delay(request)
    outcome = service.apply(
        lambda: account.close_trade(specifier, body, service.now_ns(), request_id=REQUEST_ID.get())
    )
    return json_response(request, outcome.status, outcome.body)


async def list_positions(request: web.Request) -> web.Response:
    account = account_of(request)
    traded = [s for s in account.instruments if s in account.totals.by_instrument]
    positions = [views.position_json(account, s) for s in traded]
    return json_response(request, 200, {"positions": positions} | last_id(account))


async def open_positions(request: web.Request) -> web.Response:
    account = account_of(request)
    body = {"positions": views.open_positions(account)} | last_id(account)
    return json_response(request, 200, body)


async def get_position(request: web.Request) -> web.Response:
    account = account_of(request)
    instrument = instrument_of(request)
    body = {"position": views.position_json(account, instrument)} | last_id(account)
    return json_response(request, 200, body)


async def close_position(request: web.Request) -> web.Response:
    account = account_of(request)
    service = service_of(request)
    instrument = instrument_of(request)
    body = await read_body(request)
    await order_delay(request)
    outcome = service.apply(
        lambda: account.close_position(
            instrument, body, service.now_ns(), request_id=REQUEST_ID.get()
        )
    )
    return json_response(request, outcome.status, outcome.body)


def add_routes(app: web.Application) -> None:
    account = "/v3/accounts/{account_id}"
    app.router.add_routes(
        [
            web.post(f"{account}/orders", create_order),
            web.get(f"{account}/orders", list_orders),
            web.get(f"{account}/pendingOrders", pending_orders),
            web.get(f"{account}/orders/{{specifier}}", get_order),
            web.put(f"{account}/orders/{{specifier}}", replace_order),
            web.put(f"{account}/orders/{{specifier}}/cancel", cancel_order),
            web.get(f"{account}/trades", list_trades),
            web.get(f"{account}/openTrades", open_trades),
            web.get(f"{account}/trades/{{specifier}}", get_trade),
            web.put(f"{account}/trades/{{specifier}}/close", close_trade),
            web.get(f"{account}/positions", list_positions),
            web.get(f"{account}/openPositions", open_positions),
            web.get(f"{account}/positions/{{instrument}}", get_position),
            web.put(f"{account}/positions/{{instrument}}/close", close_position),
        ]
    )
