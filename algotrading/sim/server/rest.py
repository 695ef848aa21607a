"""The v20 REST endpoints (``/v3/…``) over the service: thin handlers that read the request,
call the account (through :meth:`SimExchangeService.apply` when it changes something) and
answer in v20's shapes. Simulator choices: an unknown account id gets 403 ``"The provided
request was forbidden."``; ``GET …/orders`` defaults to ``state=PENDING``, ``count=50`` (at
most 500); ``sinceid`` returns everything after the id, with no page cap, and 416 for an id
beyond the last; 201 responses carry ``Location: <origin>/v3/accounts/{id}/orders/{orderID}``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import msgspec
from aiohttp import web

from algotrading.adapters.oanda.wire import format_time, instrument_json
from algotrading.data.instruments import conversion_rate
from algotrading.sim.accounting import quote_to_account_rate
from algotrading.sim.server import views
from algotrading.sim.server.accounts import SimAccount
from algotrading.sim.server.candles import CandleError, CandleQuery
from algotrading.sim.server.order_requests import Outcome
from algotrading.sim.server.request_bodies import BodyError, decode_body
from algotrading.sim.server.request_values import checked_time
from algotrading.sim.server.service import SimExchangeService
from algotrading.sim.server.streams import price_stream, transaction_stream
from algotrading.sim.server.transactions import as_unix, client_price, format_factor

SERVICE = web.AppKey("service", SimExchangeService)
MAX_ORDERS_COUNT = 500
_encode = msgspec.json.Encoder().encode


class V20Error(Exception):
    """An error answered with a v20 error body."""

    def __init__(self, status: int, message: str, code: str = "", **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = ({"errorCode": code} if code else {}) | extra
        self.body["errorMessage"] = message


def json_response(
    request: web.Request, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> web.Response:
    data = as_unix(body) if wants_unix(request) else body
    return web.Response(
        status=status, body=_encode(data), content_type="application/json", headers=headers
    )


def wants_unix(request: web.Request) -> bool:
    """``Accept-Datetime-Format: UNIX`` (the middleware has refused any other than RFC3339)."""
    return request.headers.get("Accept-Datetime-Format") == "UNIX"


def service_of(request: web.Request) -> SimExchangeService:
    return request.app[SERVICE]


def account_of(request: web.Request) -> SimAccount:
    account = service_of(request).accounts.get(request.match_info["account_id"])
    if account is None:
        raise V20Error(403, "The provided request was forbidden.")
    return account


def last_id(account: SimAccount) -> dict[str, str]:
    return {"lastTransactionID": account.last_transaction_id}


def bool_param(request: web.Request, name: str, default: bool) -> bool:
    value = request.query.get(name)
    if value is None:
        return default
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise V20Error(400, f"Invalid value specified for '{name}'")


def int_param(request: web.Request, name: str, default: int | None) -> int | None:
    """A non-negative integer of at most 18 ASCII digits (a count, an id, an hour)."""
    value = request.query.get(name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise V20Error(400, f"Invalid value specified for '{name}'")
    return int(value)


def time_param(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None:
        return None
    ns = checked_time(value)
    if ns is None:
        raise V20Error(400, f"Invalid value specified for '{name}'")
    return ns


def instruments_of(request: web.Request, required: bool) -> list[str]:
    known = service_of(request).instruments
    raw = request.query.get("instruments", "")
    names = [n for n in raw.split(",") if n]
    if (required and not names) or any(n not in known for n in names):
        raise V20Error(400, "Invalid value specified for 'instruments'")
    return names or list(known)


def instrument_of(request: web.Request) -> str:
    instrument = request.match_info["instrument"]
    if instrument not in service_of(request).instruments:
        raise V20Error(400, "Invalid value specified for 'instrument'")
    return instrument


async def read_body(request: web.Request) -> Any:
    """The JSON body (``{}`` when there is none); a 400 when it is not usable JSON, a 413 when
    it is larger than the application's ``client_max_size``."""
    if not request.can_read_body:
        return {}
    try:
        return decode_body(await request.read())
    except BodyError as exc:
        raise V20Error(400, str(exc)) from None


async def order_delay(request: web.Request) -> None:
    """Wait out the order-delay fault; a server shutting down stops waiting (the request is
    then served at once, so a stop never waits for an injected delay)."""
    service = service_of(request)
    delay = service.faults.order_delay_s(request.path)
    if delay > 0 and not service.closing.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(service.closing.wait(), delay)


def outcome_response(request: web.Request, outcome: Outcome, account: SimAccount) -> web.Response:
    headers = None
    if outcome.status == 201:
        order_id = outcome.body["orderCreateTransaction"]["id"]
        url = f"{request.url.origin()}/v3/accounts/{account.id}/orders/{order_id}"
        headers = {"Location": url}
    return json_response(request, outcome.status, outcome.body, headers)


# --- accounts and instruments ---------------------------------------------------------------


async def list_accounts(request: web.Request) -> web.Response:
    accounts = service_of(request).accounts.values()
    return json_response(
        request, 200, {"accounts": [views.account_properties(a) for a in accounts]}
    )


async def get_account(request: web.Request) -> web.Response:
    account = account_of(request)
    return json_response(request, 200, {"account": views.full_account(account)} | last_id(account))


async def account_summary(request: web.Request) -> web.Response:
    account = account_of(request)
    body = {"account": views.account_summary(account)} | last_id(account)
    return json_response(request, 200, body)


async def account_instruments(request: web.Request) -> web.Response:
    account = account_of(request)
    specs = service_of(request).instruments
    names = instruments_of(request, required=False)
    body = {"instruments": [instrument_json(specs[n]) for n in names]} | last_id(account)
    return json_response(request, 200, body)


# --- prices ---------------------------------------------------------------------------------


async def pricing(request: web.Request) -> web.Response:
    account = account_of(request)
    service = service_of(request)
    names = instruments_of(request, required=True)
    since = time_param(request, "since")
    conversions = bool_param(request, "includeHomeConversions", False)
    now = service.now_ns()
    prices = []
    for name in names:
        quote = service.market.latest.get(name)
        if quote is None or (since is not None and quote.ts_event <= since):
            continue
        spec = service.instruments[name]
        price = client_price(
            quote, spec.price_precision, tradeable=service.market.tradeable(name, now)
        )
        if not conversions:
            rate = quote_to_account_rate(spec, quote.mid, account.currency, account.exchange.mids)
            factor = format_factor(rate or 0.0)
            price["quoteHomeConversionFactors"] = {"positiveUnits": factor, "negativeUnits": factor}
        prices.append(price)
    body: dict[str, Any] = {"prices": prices}
    if conversions:
        mids = {s: q.mid for s, q in service.market.latest.items()}
        currencies = sorted({c for s in service.instruments.values() for c in (s.base, s.quote)})
        body["homeConversions"] = [
            {"currency": c, **dict.fromkeys(("accountGain", "accountLoss", "positionValue"), f)}
            for c in currencies
            if (f := format_factor(conversion_rate(c, account.currency, mids) or 0.0))
        ]
    body["time"] = format_time(now)
    return json_response(request, 200, body)


async def pricing_stream(request: web.Request) -> web.StreamResponse:
    account_of(request)
    names = instruments_of(request, required=True)
    snapshot = bool_param(request, "snapshot", True)
    service = service_of(request)
    return await price_stream(request, service, names, snapshot=snapshot, unix=wants_unix(request))


async def candles(request: web.Request) -> web.Response:
    if "account_id" in request.match_info:
        account_of(request)
    instrument = instrument_of(request)
    service = service_of(request)
    query = CandleQuery(
        granularity=request.query.get("granularity", "S5"),
        price=request.query.get("price", "M"),
        count=int_param(request, "count", None),
        from_ns=time_param(request, "from"),
        to_ns=time_param(request, "to"),
        include_first=bool_param(request, "includeFirst", True),
        daily_alignment=int_param(request, "dailyAlignment", 17) or 0,
        timezone=request.query.get("alignmentTimezone", "America/New_York"),
    )
    bool_param(request, "smooth", False)  # accepted, not applied
    try:
        found = service.market.history[instrument].candles(query, service.now_ns())
    except CandleError as exc:
        raise V20Error(400, str(exc)) from None
    body = {"instrument": instrument, "granularity": query.granularity, "candles": found}
    return json_response(request, 200, body)


# --- transactions ---------------------------------------------------------------------------


async def transactions_since(request: web.Request) -> web.Response:
    account = account_of(request)
    since = int_param(request, "id", None)
    if since is None or since < 0:
        raise V20Error(400, "Invalid value specified for 'id'")
    if since > account.log.last_id:
        raise V20Error(416, "The requested range is not satisfiable", **last_id(account))
    body = {"transactions": account.log.since(since)} | last_id(account)
    return json_response(request, 200, body)


async def get_transaction(request: web.Request) -> web.Response:
    account = account_of(request)
    raw = request.match_info["transaction_id"]
    index = int(raw) - 1 if raw.isdigit() else -1
    if not 0 <= index < len(account.log.all):
        raise V20Error(404, "The transaction ID specified does not exist", **last_id(account))
    body = {"transaction": account.log.all[index]} | last_id(account)
    return json_response(request, 200, body)


async def transactions_stream(request: web.Request) -> web.StreamResponse:
    account = account_of(request)
    service = service_of(request)
    return await transaction_stream(request, service, account, unix=wants_unix(request))


def add_routes(app: web.Application) -> None:
    account = "/v3/accounts/{account_id}"
    app.router.add_routes(
        [
            web.get("/v3/accounts", list_accounts),
            web.get(account, get_account),
            web.get(f"{account}/summary", account_summary),
            web.get(f"{account}/instruments", account_instruments),
            web.get(f"{account}/pricing", pricing),
            web.get(f"{account}/pricing/stream", pricing_stream),
            web.get("/v3/instruments/{instrument}/candles", candles),
            web.get(f"{account}/instruments/{{instrument}}/candles", candles),
            web.get(f"{account}/transactions/sinceid", transactions_since),
            web.get(f"{account}/transactions/stream", transactions_stream),
            web.get(f"{account}/transactions/{{transaction_id}}", get_transaction),
        ]
    )
