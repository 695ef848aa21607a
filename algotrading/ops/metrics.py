"""The Prometheus endpoint: what the daemon is doing, in numbers a dashboard can plot and an
alert rule can watch — actor throughput, queue depths, restarts, orders, fills, P&L, exposure,
model inference time, tick-to-order latency, the trading state.

Two kinds of source. What the monitor hears (orders, fills, accounts, positions, refusals)
is counted as it happens by :meth:`DaemonMetrics.observe`, the daemon's observer; what the
runtime knows (messages handled, inbox depths, restarts, who is busy, the trading state) is
read when Prometheus scrapes, by a collector, so it costs nothing between scrapes. Everything
lives in the service's own ``CollectorRegistry``, never the process-global one, so two
daemons in one process (tests) never mix their numbers.

Served by aiohttp on loopback: ``/metrics`` (text format) and ``/healthz``.
"""

from __future__ import annotations

import ipaddress
import platform
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

import msgspec

from algotrading import __version__
from algotrading.log import get_logger
from algotrading.messages import (
    AccountState,
    Alert,
    Fill,
    Message,
    Order,
    OrderAccepted,
    OrderCancelled,
    OrderDenied,
    OrderRejected,
    Position,
    RequestRejected,
    TradingState,
)
from algotrading.sim.accounting import EPS

if TYPE_CHECKING:
    from aiohttp import web
    from prometheus_client import Counter, Gauge
    from prometheus_client.core import Metric
    from prometheus_client.registry import Collector

    from algotrading.daemon.services import DaemonContext

# prometheus-client and aiohttp.web are imported where they are used: the configuration
# imports MetricsConfig, and a command that serves no metrics should not load them.

NS = "algotrading"
# What generate_latest writes: the classic text format, which every Prometheus (2.x and 3.x)
# parses. Not the library's CONTENT_TYPE_LATEST, whose version moved to 1.0.0 in 0.22.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# tick-to-order, seconds: from 50 us (an in-process paper venue) to seconds (a stalled loop)
LATENCY_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0,
)  # fmt: skip


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: what it resolves to can change, so it is not loopback
        return False


class MetricsConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``system.yaml`` key ``metrics``. Off by default; on, it listens on loopback only,
    unless ``allow_remote`` says that another address is meant (the numbers show positions
    and equity: put a proxy with authentication in front of it)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 9464  # 0: any free port (logged)
    allow_remote: bool = False
    # /healthz answers 503 while an actor has been busy with one message this long
    stuck_seconds: float = 10.0

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port: expected 0..65535, got {self.port}")
        if not self.host:
            raise ValueError("host: expected an address to listen on, e.g. 127.0.0.1")
        if not self.allow_remote and not is_loopback(self.host):
            raise ValueError(
                f"host: {self.host!r} is not a loopback address; set allow_remote: true to "
                "serve the metrics beyond this machine"
            )
        if not self.stuck_seconds > 0:
            raise ValueError("stuck_seconds: expected a number of seconds > 0")


class _RuntimeCollector:
    """What the runtime knows, read at scrape time (a prometheus-client collector)."""

    def __init__(self, ctx: DaemonContext, stuck_seconds: float) -> None:
        self.ctx = ctx
        self.stuck_seconds = stuck_seconds

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        runtime = self.ctx.runtime
        handled = CounterMetricFamily(
            f"{NS}_actor_messages_handled", "Messages each actor has handled.", labels=["actor"]
        )
        depth = GaugeMetricFamily(
            f"{NS}_actor_queue_depth", "Messages waiting in each actor's inbox.", labels=["actor"]
        )
        restarts = CounterMetricFamily(
            f"{NS}_actor_restarts", "Restarts of each actor by its supervisor.", labels=["actor"]
        )
        busy = GaugeMetricFamily(
            f"{NS}_actor_busy_seconds",
            "How long each actor has been handling its current message (0: idle).",
            labels=["actor"],
        )
        escalated = GaugeMetricFamily(
            f"{NS}_actor_escalated",
            "1 for an actor given up on after its restarts.",
            labels=["actor"],
        )
        now = time.monotonic()
        depths = runtime.queue_depths()
        for name in runtime.supervisor.actors:
            handled.add_metric([name], runtime.handled.get(name, 0))
            depth.add_metric([name], depths.get(name, 0))
            restarts.add_metric([name], runtime.supervisor.restarts(name))
            since = runtime.busy_since.get(name)
            busy.add_metric([name], now - since if since is not None else 0.0)
            escalated.add_metric([name], 1.0 if name in runtime.escalated else 0.0)
        yield from (handled, depth, restarts, busy, escalated)
        state = GaugeMetricFamily(
            f"{NS}_trading_state", "The trading state: 1 for the current one.", labels=["state"]
        )
        current = self.ctx.book.trading_state
        for s in TradingState:
            state.add_metric([s.value], 1.0 if s is current else 0.0)
        yield state
        uptime = self.ctx.uptime_s()
        yield GaugeMetricFamily(f"{NS}_uptime_seconds", "Seconds since it started.", value=uptime)
        yield GaugeMetricFamily(
            f"{NS}_start_time_seconds",
            "When the daemon started, seconds since the epoch.",
            value=self.ctx.started_wall_ns / 1e9,
        )
        yield GaugeMetricFamily(
            f"{NS}_stopping", "1 once a stop has been requested.", value=float(runtime.stopping)
        )
        unhealthy = runtime.stuck(self.stuck_seconds)
        yield GaugeMetricFamily(
            f"{NS}_healthy", "1 while no actor is stuck or given up on.", value=float(not unhealthy)
        )
        yield from self._model()

    def _model(self) -> Iterator[Metric]:
        """Inference time of the live model over its recent predictions (the model keeps the
        last 10,000 timings), and the predictions over the model actor's budget."""
        import numpy as np
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        model = self.ctx.runtime.supervisor.actors.get("model")
        live = getattr(model, "live", None)
        timings = getattr(live, "timings", None)
        if model is None or live is None or not timings:
            return
        model_id = str(getattr(live, "model_id", ""))
        seconds = np.asarray(timings, dtype=np.float64) / 1e9
        recent = GaugeMetricFamily(
            f"{NS}_model_inference_recent_seconds",
            "Inference time per prediction over the recent ones, by quantile (1 = the slowest).",
            labels=["model_id", "quantile"],
        )
        for q in (0.5, 0.9, 0.99, 1.0):
            recent.add_metric([model_id, f"{q:g}"], float(np.quantile(seconds, q)))
        yield recent
        count = GaugeMetricFamily(
            f"{NS}_model_inference_recent_count",
            "Predictions the recent inference times are taken over.",
            labels=["model_id"],
        )
        count.add_metric([model_id], float(len(seconds)))
        yield count
        over = CounterMetricFamily(
            f"{NS}_model_over_budget",
            "Predictions that took longer than the model actor's budget (since it started).",
            labels=["model_id"],
        )
        over.add_metric([model_id], float(getattr(model, "over_budget", 0)))
        yield over


class DaemonMetrics:
    """The registry of one daemon: counters fed by :meth:`observe` (the monitor's observer:
    it returns at once and holds only the orders still open), gauges read at scrape time."""

    def __init__(self, ctx: DaemonContext, *, stuck_seconds: float = 10.0) -> None:
        from prometheus_client import (
            CollectorRegistry,
            Counter,
            Gauge,
            Histogram,
            Info,
            ProcessCollector,
        )

        self.ctx = ctx
        self.registry = r = CollectorRegistry()

        def counter(name: str, doc: str, *labels: str) -> Counter:
            return Counter(f"{NS}_{name}", doc, labels, registry=r)

        def gauge(name: str, doc: str, *labels: str) -> Gauge:
            return Gauge(f"{NS}_{name}", doc, labels, registry=r)

        self.observed = counter("messages_observed", "Messages the monitor handled.", "kind")
        self.orders = counter(
            "orders",
            "Orders that reached each status: submitted (sent, or attached as a bracket leg), "
            "accepted, filled (in full), rejected, cancelled.",
            "status",
        )
        self.rejections = counter("order_rejections", "Orders the venue rejected.", "code")
        self.denials = counter("order_denials", "Order intents risk refused.", "code")
        self.request_rejections = counter(
            "request_rejections", "Cancels or modifies the venue refused.", "request", "code"
        )
        self.fills = counter("fills", "Fills (executions).", "instrument")
        self.filled_units = counter("filled_units", "Units traded.", "instrument", "side")
        self.alerts = counter("alerts", "Alerts raised.", "level")
        self.equity = gauge("equity", "Account equity.", "currency")
        self.balance = gauge("balance", "Account balance.", "currency")
        self.margin_used = gauge("margin_used", "Margin in use.", "currency")
        self.commission = gauge("commission_paid", "Commission paid so far.", "currency")
        self.position = gauge(
            "position_quantity", "Net position in signed units: the exposure.", "instrument"
        )
        self.realized = gauge(
            "position_realized_pnl", "P&L realised so far, in the quote currency.", "instrument"
        )
        self.unrealized = gauge(
            "position_unrealized_pnl", "Open P&L, in the quote currency.", "instrument"
        )
        self.tick_to_order = Histogram(
            f"{NS}_tick_to_order_seconds",
            "From the arrival of the market data that decided an order to the order being "
            "made (wall seconds).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        Info(f"{NS}_build", "The running build.", registry=r).info(
            {"version": __version__, "python": platform.python_version()}
        )
        Info(f"{NS}_session", "The running session.", registry=r).info(
            {"session_id": ctx.session_id, "mode": ctx.mode}
        )
        r.register(cast("Collector", _RuntimeCollector(ctx, stuck_seconds)))
        ProcessCollector(registry=r)  # process_*: memory, CPU, open files of the daemon
        self._open: dict[str, tuple[float, float]] = {}  # client id -> (quantity, filled)

    def observe(self, msg: Message) -> None:
        """Count ``msg``; the daemon calls this with every message the monitor handled."""
        self.observed.labels(type(msg).__name__).inc()
        if isinstance(msg, Order):
            self._on_order(msg)
        elif isinstance(msg, Fill):
            self._on_fill(msg)
        elif isinstance(msg, AccountState):
            self.equity.labels(msg.currency).set(msg.equity)
            self.balance.labels(msg.currency).set(msg.balance)
            self.margin_used.labels(msg.currency).set(msg.margin_used)
            self.commission.labels(msg.currency).set(msg.commission_paid)
        elif isinstance(msg, Position):
            self.position.labels(msg.instrument).set(msg.quantity)
            self.realized.labels(msg.instrument).set(msg.realized_pnl)
            self.unrealized.labels(msg.instrument).set(msg.unrealized_pnl)
        elif isinstance(msg, OrderAccepted):
            self.orders.labels("accepted").inc()
        elif isinstance(msg, OrderRejected):
            self.rejections.labels(msg.code).inc()
            self._finished(msg.client_order_id, "rejected")
        elif isinstance(msg, OrderCancelled):
            self._finished(msg.client_order_id, "cancelled")
        elif isinstance(msg, OrderDenied):
            self.denials.labels(msg.code).inc()
        elif isinstance(msg, RequestRejected):
            self.request_rejections.labels(msg.request, msg.code).inc()
        elif isinstance(msg, Alert):
            self.alerts.labels(msg.level.value).inc()

    def observe_tick_to_order(self, seconds: float) -> None:
        """One tick-to-order latency, for a caller that measures it elsewhere (a venue
        adapter at the moment the request leaves)."""
        if seconds >= 0:
            self.tick_to_order.observe(seconds)

    def _on_order(self, order: Order) -> None:
        self.orders.labels("submitted").inc()
        self._open[order.client_order_id] = (order.quantity, 0.0)
        # made now, for data received at ts_recv; bracket legs and an execution algorithm's
        # children (which keep their parent's ts_recv for minutes) are not tick-to-order
        if order.ts_recv and not order.parent_id and not order.exec_id:
            speed = float(getattr(self.ctx.runtime.clock, "speed", 1.0))  # a replay clock
            self.observe_tick_to_order((order.ts_event - order.ts_recv) / speed / 1e9)

    def _on_fill(self, fill: Fill) -> None:
        self.fills.labels(fill.instrument).inc()
        self.filled_units.labels(fill.instrument, fill.side.value).inc(fill.quantity)
        open_order = self._open.get(fill.client_order_id)
        if open_order is None:
            return
        quantity, filled = open_order[0], open_order[1] + fill.quantity
        if filled >= quantity - EPS:
            self._finished(fill.client_order_id, "filled")
        else:
            self._open[fill.client_order_id] = (quantity, filled)

    def _finished(self, client_order_id: str, status: str) -> None:
        """An order seen open reached a final status (counted once, whatever comes later)."""
        if self._open.pop(client_order_id, None) is not None:
            self.orders.labels(status).inc()

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)

    def health(self, stuck_seconds: float) -> tuple[bool, dict[str, Any]]:
        runtime = self.ctx.runtime
        stuck = runtime.stuck(stuck_seconds)
        body = {
            "status": "ok" if not stuck and not runtime.stopping else "unhealthy",
            "stuck": stuck,
            "stopping": runtime.stopping,
            "trading_state": str(self.ctx.book.trading_state),
            "uptime_s": round(self.ctx.uptime_s(), 3),
            "session_id": self.ctx.session_id,
        }
        return body["status"] == "ok", body


class MetricsService:
    """``/metrics`` and ``/healthz`` over HTTP (a daemon service)."""

    name = "metrics"

    def __init__(self, config: MetricsConfig | None = None) -> None:
        self.config = config or MetricsConfig(enabled=True)
        self.log = get_logger("metrics")
        self.metrics: DaemonMetrics | None = None
        self.port = 0  # the port listened on, once started
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        host = self.config.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    async def start(self, ctx: DaemonContext) -> None:
        from aiohttp import web

        self.metrics = DaemonMetrics(ctx, stuck_seconds=self.config.stuck_seconds)
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.config.host, self.config.port)
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        ctx.observe(self.metrics.observe)
        self.log.info("metrics_listening", url=self.url + "/metrics")

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        from aiohttp import web

        assert self.metrics is not None
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    async def _healthz(self, request: web.Request) -> web.Response:
        from aiohttp import web

        assert self.metrics is not None
        healthy, body = self.metrics.health(self.config.stuck_seconds)
        return web.json_response(body, status=200 if healthy else 503)
