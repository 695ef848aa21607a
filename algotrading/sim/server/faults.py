"""Faults the server injects on demand (``/admin/faults``), to test how a client copes: drop or
stall the streams, delay order requests, reject orders, fail REST requests with a 5xx or 429,
cut responses off half-way. Switched at run time; each injection is logged (``fault_injected``)
and kept in a short history that ``GET /admin/faults`` shows.

``POST /admin/faults`` takes an object with any of::

    {"drop_streams": "pricing" | "transactions" | "all",          # close open streams now
     "stall_streams": {"stream": "pricing", "seconds": 12},        # send nothing, no heartbeats
     "order_delay_ms": 800,                                         # hold order requests (0: off)
     "reject_orders": {"count": 2, "reason": "INSUFFICIENT_MARGIN"},
     "http_errors": {"status": 503, "count": 3},                    # or "fraction": 0.25, "seed"
     "cut_responses": {"count": 1, "method": "POST"}}               # half a body, then abort

``http_errors`` and ``cut_responses`` apply to REST requests under ``/v3`` (not to streams);
``reject_orders`` to order creation (``POST …/orders``); ``order_delay_ms`` to every request
that creates, replaces, cancels or closes.

Every value is bounded, and a body out of bounds changes nothing (400): numbers finite and
non-negative, ``order_delay_ms`` at most 60,000, stall ``seconds`` at most 3600, ``fraction``
in [0, 1], counts and ``seed`` integers (counts at most 1,000,000), a reason of 1 to 64
capitals and underscores.
"""

from __future__ import annotations

import math
import random
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from algotrading.log import get_logger

STREAMS = ("pricing", "transactions")
HISTORY = 100
MAX_ORDER_DELAY_MS = 60_000.0
MAX_STALL_SECONDS = 3600.0
MAX_COUNT = 1_000_000
_REASON = re.compile(r"[A-Z_]{1,64}")


class FaultSpecError(ValueError):
    """A fault request that makes no sense (answered with a 400)."""


@dataclass
class Faults:
    order_delay_ms: float = 0.0
    reject_count: int = 0
    reject_reason: str = "INSUFFICIENT_MARGIN"
    http_status: int = 0
    http_count: int = 0
    http_fraction: float = 0.0
    cut_count: int = 0
    cut_method: str = ""  # only requests of this method ("POST": order submissions); "" = any
    stalled_until: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STREAMS, 0.0))
    drops: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STREAMS, 0))
    history: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=HISTORY))
    _rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.log = get_logger("sim_exchange")

    # --- switching ------------------------------------------------------------------------

    def configure(self, spec: Any) -> None:
        """Apply a ``POST /admin/faults`` body (all of it checked before any of it applies)."""
        if not isinstance(spec, dict) or not spec:
            raise FaultSpecError("expected a JSON object naming at least one fault")
        unknown = set(spec) - {
            "drop_streams",
            "stall_streams",
            "order_delay_ms",
            "reject_orders",
            "http_errors",
            "cut_responses",
        }
        if unknown:
            raise FaultSpecError(f"unknown faults: {', '.join(sorted(unknown))}")
        changes = [self._parse(name, value) for name, value in spec.items()]
        for apply in changes:
            apply()

    def _parse(self, name: str, value: Any) -> Any:
        if name == "drop_streams":
            streams = _streams(value)
            return lambda: self._drop(streams)
        if name == "stall_streams":
            details = _object(name, value)
            streams = _streams(details.get("stream", "pricing"))
            seconds = _number(name, details.get("seconds"), 0.0, MAX_STALL_SECONDS)
            return lambda: self._stall(streams, seconds)
        if name == "order_delay_ms":
            delay = _number(name, value, 0.0, MAX_ORDER_DELAY_MS)
            return lambda: self._set(order_delay_ms=delay)
        if name == "reject_orders":
            details = _object(name, value)
            count = _count(name, details.get("count", 1))
            reason = details.get("reason", "INSUFFICIENT_MARGIN")
            if not isinstance(reason, str) or not _REASON.fullmatch(reason):
                raise FaultSpecError("reject_orders.reason: expected a v20 reject reason")
            return lambda: self._set(reject_count=count, reject_reason=reason)
        if name == "http_errors":
            details = _object(name, value)
            status = details.get("status", 503)
            if not _integer(status) or (status != 429 and not 500 <= status <= 599):
                raise FaultSpecError("http_errors.status: expected 429 or 500-599")
            count = _count(name, details.get("count", 0))
            fraction = _number(name, details.get("fraction", 0.0), 0.0, 1.0)
            if not (count or fraction):
                raise FaultSpecError("http_errors: give a count, or a fraction in (0, 1]")
            seed = details.get("seed")
            if seed is not None and not (_integer(seed) and abs(seed) <= 2**63):
                raise FaultSpecError("http_errors.seed: expected an integer")
            seed = None if seed is None else int(seed)
            return lambda: self._http(int(status), count, fraction, seed)
        details = _object(name, value)
        count = _count(name, details.get("count", 1))
        method = details.get("method", "")
        method = method.upper() if isinstance(method, str) else None
        if method not in ("", "GET", "POST", "PUT"):
            raise FaultSpecError("cut_responses.method: expected GET, POST or PUT")
        return lambda: self._set(cut_count=count, cut_method=method)

    def _set(self, **values: Any) -> None:
        for key, value in values.items():
            setattr(self, key, value)
        self._note("configured", **values)

    def _drop(self, streams: tuple[str, ...]) -> None:
        for stream in streams:
            self.drops[stream] += 1
        self._note("drop_streams", streams=list(streams))

    def _stall(self, streams: tuple[str, ...], seconds: float) -> None:
        until = time.monotonic() + seconds
        for stream in streams:
            self.stalled_until[stream] = until
        self._note("stall_streams", streams=list(streams), seconds=seconds)

    def _http(self, status: int, count: int, fraction: float, seed: Any) -> None:
        self.http_status, self.http_count, self.http_fraction = status, count, fraction
        if seed is not None:
            self._rng.seed(seed)
        self._note("configured", http_status=status, http_count=count, http_fraction=fraction)

    def clear(self) -> None:
        self.order_delay_ms = 0.0
        self.reject_count = 0
        self.http_status = self.http_count = self.cut_count = 0
        self.http_fraction = 0.0
        self.stalled_until = dict.fromkeys(STREAMS, 0.0)
        self._note("cleared")

    def describe(self) -> dict[str, Any]:
        now = time.monotonic()
        return {
            "order_delay_ms": self.order_delay_ms,
            "reject_orders": {"count": self.reject_count, "reason": self.reject_reason},
            "http_errors": {
                "status": self.http_status,
                "count": self.http_count,
                "fraction": self.http_fraction,
            },
            "cut_responses": {"count": self.cut_count, "method": self.cut_method},
            "stalled_seconds": {s: max(0.0, u - now) for s, u in self.stalled_until.items()},
            "history": list(self.history),
        }

    def _note(self, event: str, **fields: Any) -> None:
        self.history.append({"event": event, "at": time.time(), **fields})
        self.log.warning("fault_" + event, **fields)

    # --- taking ---------------------------------------------------------------------------

    def take_http_error(self, path: str) -> int:
        """The status to fail this REST request with, or 0."""
        if not self.http_status:
            return 0
        if self.http_count > 0:
            self.http_count -= 1
        elif not (self.http_fraction and self._rng.random() < self.http_fraction):
            return 0
        status = self.http_status
        if not (self.http_count or self.http_fraction):
            self.http_status = 0
        self._note("injected", kind="http_error", status=status, path=path)
        return status

    def take_cut(self, path: str, method: str = "") -> bool:
        if self.cut_count <= 0 or (self.cut_method and method != self.cut_method):
            return False
        self.cut_count -= 1
        self._note("injected", kind="cut_response", path=path, method=method)
        return True

    def take_reject(self) -> str:
        if self.reject_count <= 0:
            return ""
        self.reject_count -= 1
        self._note("injected", kind="reject_order", reason=self.reject_reason)
        return self.reject_reason

    def order_delay_s(self, path: str) -> float:
        if self.order_delay_ms > 0:
            self._note("injected", kind="order_delay", ms=self.order_delay_ms, path=path)
        return self.order_delay_ms / 1000.0

    def stall_left(self, stream: str) -> float:
        return max(0.0, self.stalled_until[stream] - time.monotonic())


def _streams(value: Any) -> tuple[str, ...]:
    if value == "all":
        return STREAMS
    if value in STREAMS:
        return (value,)
    raise FaultSpecError("stream: expected pricing, transactions or all")


def _object(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FaultSpecError(f"{name}: expected an object")
    return value


def _number(name: str, value: Any, minimum: float, maximum: float) -> float:
    """A finite number in ``[minimum, maximum]`` (NaN, infinities, text and booleans refused)."""
    number = float(value) if _real(value) and abs(value) < 1e300 else math.nan
    if not (math.isfinite(number) and minimum <= number <= maximum):
        shown = repr(value)[:40]
        raise FaultSpecError(
            f"{name}: expected a number from {minimum:g} to {maximum:g}, got {shown}"
        )
    return number


def _count(name: str, value: Any) -> int:
    if not (_integer(value) and 0 <= value <= MAX_COUNT):
        shown = repr(value)[:40]
        raise FaultSpecError(
            f"{name}.count: expected an integer from 0 to {MAX_COUNT}, got {shown}"
        )
    return int(value)


def _real(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float)


def _integer(value: Any) -> bool:
    """An int, or a float with no fraction (JSON ``3.0``)."""
    if isinstance(value, float):
        return math.isfinite(value) and value.is_integer()
    return _real(value)
