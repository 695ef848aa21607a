"""The aiohttp application of the sim-exchange server: the v20 endpoints (``rest``, ``streams``)
and the admin endpoints (``/admin/faults``) on one port, behind one middleware that does what
every v20 response needs — the bearer token (401 ``"Insufficient authorization to perform
request."``), a ``RequestID`` header, JSON error bodies ``{"errorCode"?, "errorMessage"}`` with
``Content-Type: application/json`` (404 and 405 included), ``Accept-Datetime-Format`` — and
injects the REST faults (5xx/429, cut responses). A request gets a 5xx only from an injected
fault or a bug: the middleware's last resort logs the bug (``request_failed``, with its
traceback) and answers v20's 500.

Lifecycle: the service starts when the application does (``cleanup_ctx``) and stops when it is
cleaned up; on shutdown the streams are told to end first, so they finish cleanly.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from algotrading.sim.server import rest, rest_trading
from algotrading.sim.server.faults import FaultSpecError
from algotrading.sim.server.request_bodies import MAX_BODY_BYTES, BodyError, decode_body
from algotrading.sim.server.rest import SERVICE, V20Error, json_response
from algotrading.sim.server.service import REQUEST_ID, SimExchangeService
from algotrading.sim.server.settings import ServerSettings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
UNAUTHORIZED = "Insufficient authorization to perform request."
HTTP_FAULT_MESSAGES = {429: "Rate limit exceeded (injected fault)"}


def create_app(settings: ServerSettings) -> web.Application:
    """The server for ``settings``; run it with ``web.AppRunner`` (or ``TestServer``)."""
    service = SimExchangeService(settings)
    app = web.Application(middlewares=[v20_middleware], client_max_size=MAX_BODY_BYTES)
    app[SERVICE] = service
    rest.add_routes(app)
    rest_trading.add_routes(app)
    app.router.add_routes(
        [
            web.get("/admin/faults", get_faults),
            web.post("/admin/faults", post_faults),
            web.delete("/admin/faults", delete_faults),
        ]
    )

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await service.start()
        yield
        await service.stop()

    async def on_shutdown(app: web.Application) -> None:
        service.closing.set()  # streams end within one window

    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(on_shutdown)
    return app


def service_of(app: web.Application) -> SimExchangeService:
    return app[SERVICE]


@web.middleware
async def v20_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    service = request.app[SERVICE]
    request_id = service.next_request_id()
    REQUEST_ID.set(request_id)
    path = request.path
    rest_call = path.startswith("/v3") and not path.endswith("/stream")
    cut = False
    try:
        _check(request, service)
        status = service.faults.take_http_error(path) if rest_call else 0
        if status:
            message = HTTP_FAULT_MESSAGES.get(status, "Internal server error (injected fault)")
            raise V20Error(status, message)
        response = await handler(request)
        cut = rest_call and service.faults.take_cut(path, request.method)
    except V20Error as error:
        response = json_response(request, error.status, error.body)
    except web.HTTPException as exc:
        response = json_response(request, exc.status, {"errorMessage": exc.reason})
    except Exception:  # a bug: logged with its traceback, answered as v20 would
        service.log.exception("request_failed", path=path, method=request.method)
        failure = {"errorMessage": "An unexpected internal server error has occurred"}
        response = json_response(request, 500, failure)
    if not response.prepared:
        response.headers["RequestID"] = request_id
    if cut and isinstance(response, web.Response):
        return await _cut(request, response)
    return response


def _check(request: web.Request, service: SimExchangeService) -> None:
    """Token and datetime format, before anything else."""
    if request.path.startswith(("/v3", "/admin")):
        expected = f"Bearer {service.settings.token}"
        if request.headers.get("Authorization") != expected:
            raise V20Error(401, UNAUTHORIZED)
    fmt = request.headers.get("Accept-Datetime-Format", "RFC3339")
    if fmt not in ("RFC3339", "UNIX"):
        raise V20Error(400, "Invalid value specified for 'Accept-Datetime-Format'")


async def _cut(request: web.Request, response: web.Response) -> web.StreamResponse:
    """Send the headers and half the body, then drop the connection."""
    body = bytes(response.body or b"")  # type: ignore[arg-type]
    cut = web.StreamResponse(status=response.status, headers=response.headers)
    cut.content_length = len(body)
    await cut.prepare(request)
    await cut.write(body[: len(body) // 2])
    await asyncio.sleep(0.01)  # let the half body leave before the connection goes
    if request.transport is not None:
        request.transport.abort()
    raise asyncio.CancelledError  # nothing more is written on this connection


# --- admin ----------------------------------------------------------------------------------


async def get_faults(request: web.Request) -> web.Response:
    return json_response(request, 200, request.app[SERVICE].faults.describe())


async def post_faults(request: web.Request) -> web.Response:
    faults = request.app[SERVICE].faults
    try:
        faults.configure(decode_body(await request.read()))
    except (BodyError, FaultSpecError) as exc:
        raise V20Error(400, str(exc)) from None
    return json_response(request, 200, faults.describe())


async def delete_faults(request: web.Request) -> web.Response:
    faults = request.app[SERVICE].faults
    faults.clear()
    return json_response(request, 200, faults.describe())
