"""A quote feed from a data vendor's websocket stream, for any vendor whose messages are JSON.

The vendor's layout is configuration, not code: :class:`QuoteMapping` says where the symbol,
prices and time sit in a message, and :class:`QuoteParser` turns one frame into
:class:`~algotrading.messages.Quote` values plus the reasons for anything it rejected — pure,
synchronous, testable without a socket. :class:`WebsocketFeed` is the shell around it: connect,
subscribe, parse, and reconnect with exponential backoff and full jitter whenever the connection
fails, closes or goes silent — unless the vendor refuses the connection itself (HTTP 400,
401, 403 or 404 at the handshake: a wrong key or URL), which no retry mends: that raises
:class:`FeedRefused`, and the daemon stops saying why.
"""

from __future__ import annotations

import asyncio
import enum
import math
import random
import re
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple, Self
from urllib.parse import urlsplit

import msgspec

from algotrading.errors import AlgotradingError
from algotrading.log import get_logger
from algotrading.messages import Quote
from algotrading.timestamps import parse_utc

if TYPE_CHECKING:  # the configuration's schema is read by every command: websockets later
    from websockets.asyncio.client import ClientConnection

Seconds = Annotated[float, msgspec.Meta(gt=0)]
Path = tuple[str | int, ...]

# Quotes outside these years are a misconfigured time_format (seconds read as milliseconds...).
_EARLIEST_NS = 946_684_800 * 10**9  # 2000-01-01
_LATEST_NS = 4_102_444_800 * 10**9  # 2100-01-01
_EPOCH_LIMIT = 10**20  # beyond any epoch in any unit; keeps absurd numbers from costing time
_SAMPLE_CHARS = 200


class TimeFormat(enum.StrEnum):
    EPOCH_S = "epoch_s"
    EPOCH_MS = "epoch_ms"
    EPOCH_NS = "epoch_ns"
    ISO = "iso"


_EPOCH_SCALE = {TimeFormat.EPOCH_S: 10**9, TimeFormat.EPOCH_MS: 10**6, TimeFormat.EPOCH_NS: 1}


class _Schema(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class QuoteMapping(_Schema, frozen=True):
    """Where a quote's fields are in a vendor message, as dotted paths (``data.s``; a number
    indexes a list: ``levels.0.bid``). ``filter_path``/``filter_value`` pick the messages that
    are quotes; ``messages_path`` names the list of quotes in a batched message."""

    instrument: str
    bid: str
    ask: str
    time: str
    time_format: TimeFormat = TimeFormat.EPOCH_MS
    filter_path: str | None = None
    filter_value: str | int | float | bool | None = None
    messages_path: str | None = None

    def __post_init__(self) -> None:
        for path in (self.instrument, self.bid, self.ask, self.time):
            split_path(path)
        for optional in (self.filter_path, self.messages_path):
            if optional is not None:
                split_path(optional)
        if (self.filter_path is None) != (self.filter_value is None):
            raise ValueError("filter_path and filter_value go together")


class WebsocketFeedConfig(_Schema, frozen=True):
    """A vendor's websocket quote stream. ``symbols`` maps our instrument (``EUR_USD``) to the
    vendor's symbol (``EURUSD``); ``subscribe`` holds the JSON messages sent after every
    connect, in which ``"{instruments}"`` inside a string becomes the comma-joined vendor
    symbols and a value that is exactly ``"{instrument_list}"`` becomes their JSON list."""

    url: str
    symbols: dict[str, str]
    mapping: QuoteMapping
    subscribe: list[dict[str, Any]] = []
    ping_interval_seconds: Seconds = 20.0
    ping_timeout_seconds: Seconds = 20.0
    stale_after_seconds: Seconds = 30.0
    open_timeout_seconds: Seconds = 10.0
    close_timeout_seconds: Seconds = 5.0
    reconnect_initial_seconds: Seconds = 0.5
    reconnect_max_seconds: Seconds = 30.0
    seed: int = 0

    def __post_init__(self) -> None:
        from websockets.exceptions import InvalidURI
        from websockets.uri import parse_uri

        try:
            parse_uri(self.url)
        except InvalidURI as exc:
            raise ValueError(f"url: {exc}") from None
        if not self.symbols:
            raise ValueError("symbols: at least one instrument is needed")
        if len(set(self.symbols.values())) != len(self.symbols):
            raise ValueError("symbols: two instruments map to the same vendor symbol")
        if self.reconnect_max_seconds < self.reconnect_initial_seconds:
            raise ValueError("reconnect_max_seconds must be >= reconnect_initial_seconds")


# --- paths and values --------------------------------------------------------------------------


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""What :func:`resolve_path` returns when a path leads nowhere (``None`` is a JSON value)."""


def split_path(path: str) -> Path:
    """``"data.0.s"`` → ``("data", 0, "s")``; digits index lists (or name keys ``"0"``)."""
    segments = path.split(".")
    if not path or any(not s for s in segments):
        raise ValueError(f"bad path {path!r}: empty segment")
    return tuple(int(s) if s.isdigit() else s for s in segments)


def resolve_path(doc: Any, path: Path) -> Any:
    """The value at ``path`` in decoded JSON, or :data:`MISSING`."""
    for key in path:
        if isinstance(doc, dict):
            doc = doc.get(key if isinstance(key, str) else str(key), MISSING)
        elif isinstance(doc, list) and isinstance(key, int) and key < len(doc):
            doc = doc[key]
        else:
            return MISSING
        if doc is MISSING:
            return MISSING
    return doc


def _price(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


_ISO_FRACTION = re.compile(r"\.(\d+)")


def parse_time_ns(value: Any, fmt: TimeFormat) -> int | None:
    """Integer nanoseconds UTC from a vendor's time, exactly (no float rounding), or ``None``."""
    if fmt == TimeFormat.ISO:
        if not isinstance(value, str):
            return None
        fraction = _ISO_FRACTION.search(value)
        whole = _ISO_FRACTION.sub("", value, count=1) if fraction else value
        try:
            ts = parse_utc(whole)
        except (ValueError, OverflowError):
            return None
        return ts + int(fraction.group(1)[:9].ljust(9, "0")) if fraction else ts
    scale = _EPOCH_SCALE[fmt]
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value * scale if abs(value) < _EPOCH_LIMIT else None
    if not isinstance(value, float | str):
        return None
    try:
        number = Decimal(repr(value) if isinstance(value, float) else value.strip())
        if not number.is_finite() or number.copy_abs() >= _EPOCH_LIMIT:
            return None
        return int(number * scale)
    except ArithmeticError:  # InvalidOperation: not a number
        return None


def _same(value: Any, wanted: Any) -> bool:
    return value == wanted and isinstance(value, bool) == isinstance(wanted, bool)


# --- subscriptions -----------------------------------------------------------------------------


def fill_template(value: Any, vendor_symbols: Sequence[str]) -> Any:
    """A subscription message with ``"{instruments}"`` and ``"{instrument_list}"`` filled in."""
    if isinstance(value, str):
        if value == "{instrument_list}":
            return list(vendor_symbols)
        return value.replace("{instruments}", ",".join(vendor_symbols))
    if isinstance(value, dict):
        return {key: fill_template(item, vendor_symbols) for key, item in value.items()}
    if isinstance(value, list):
        return [fill_template(item, vendor_symbols) for item in value]
    return value


def subscription_messages(config: WebsocketFeedConfig) -> list[str]:
    """The JSON text frames to send after connecting, in the configured order."""
    vendor = list(config.symbols.values())
    return [msgspec.json.encode(fill_template(m, vendor)).decode() for m in config.subscribe]


# --- parsing -----------------------------------------------------------------------------------


class ParseResult(NamedTuple):
    quotes: list[Quote]
    rejections: list[str]  # one reason per rejected quote or frame, "code" or "code:detail"
    ignored: int  # messages the filter says are not quotes (acks, heartbeats, ...)


class QuoteParser:
    """Frames → quotes for one vendor layout; paths and the symbol map are prepared once."""

    def __init__(self, config: WebsocketFeedConfig) -> None:
        m = config.mapping
        self.mapping = m
        self._by_vendor = {vendor: ours for ours, vendor in config.symbols.items()}
        self._fields = [(split_path(text), text) for text in (m.instrument, m.bid, m.ask, m.time)]
        self._filter = split_path(m.filter_path) if m.filter_path is not None else None
        self._batch = split_path(m.messages_path) if m.messages_path is not None else None
        self._decoder = msgspec.json.Decoder()

    def parse(self, raw: str | bytes, ts_recv: int = 0) -> ParseResult:
        """A frame holding a JSON array is a batch of messages, each handled as if alone."""
        quotes: list[Quote] = []
        rejections: list[str] = []
        ignored = 0
        try:
            doc = self._decoder.decode(raw)
        except msgspec.DecodeError:
            return ParseResult(quotes, ["bad_json"], 0)
        for message in doc if isinstance(doc, list) else [doc]:
            if not isinstance(message, dict):
                rejections.append("not_an_object")
                continue
            if self._filter is not None and not _same(
                resolve_path(message, self._filter), self.mapping.filter_value
            ):
                ignored += 1
                continue
            items = [message] if self._batch is None else resolve_path(message, self._batch)
            if not isinstance(items, list):
                rejections.append(f"missing_field:{self.mapping.messages_path}")
                continue
            for item in items:
                outcome = self._quote(item, ts_recv)
                if isinstance(outcome, str):
                    rejections.append(outcome)
                else:
                    quotes.append(outcome)
        return ParseResult(quotes, rejections, ignored)

    def _quote(self, item: Any, ts_recv: int) -> Quote | str:
        if not isinstance(item, dict):
            return "not_an_object"
        m = self.mapping
        fields: list[Any] = []
        for path, text in self._fields:
            value = resolve_path(item, path)
            if value is MISSING:
                return f"missing_field:{text}"
            fields.append(value)
        symbol, bid_raw, ask_raw, time_raw = fields
        instrument = self._by_vendor.get(symbol) if isinstance(symbol, str) else None
        if instrument is None:
            return f"unknown_symbol:{symbol}"
        bid, ask = _price(bid_raw), _price(ask_raw)
        if bid is None or ask is None:
            return "non_numeric_price"
        if not (math.isfinite(bid) and math.isfinite(ask)):
            return "non_finite_price"
        if bid <= 0 or ask <= 0:
            return "non_positive_price"
        if bid > ask:
            return "crossed_quote"
        ts_event = parse_time_ns(time_raw, m.time_format)
        if ts_event is None:
            return f"bad_time:{m.time_format}"
        if not _EARLIEST_NS <= ts_event < _LATEST_NS:
            return f"implausible_time:{m.time_format}"
        return Quote(ts_event=ts_event, ts_recv=ts_recv, instrument=instrument, bid=bid, ask=ask)


def parse_message(raw: str | bytes, config: WebsocketFeedConfig, ts_recv: int = 0) -> ParseResult:
    """:meth:`QuoteParser.parse` for one frame (a feed keeps its parser instead)."""
    return QuoteParser(config).parse(raw, ts_recv)


def backoff_delay(attempt: int, initial: float, maximum: float, rng: random.Random) -> float:
    """Full jitter: uniform in ``[0, min(maximum, initial * 2**attempt)]``."""
    return rng.uniform(0.0, min(maximum, initial * 2.0 ** min(attempt, 62)))


def _safe_url(url: str) -> str:
    """The url without query or credentials: vendors put API keys there."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


# --- the shell ---------------------------------------------------------------------------------

# Handshake answers that say the request itself is wrong (key, account, path): not retried.
REFUSED_STATUS = frozenset({400, 401, 403, 404})


class FeedRefused(AlgotradingError):
    """The vendor refused the connection (a wrong key or URL): retrying cannot help."""


class WebsocketFeed:
    """Quotes from a vendor's websocket, forever: reconnects (and re-subscribes) on any
    connection error, close or silence, and skips — logs and counts — what it cannot parse."""

    def __init__(
        self, config: WebsocketFeedConfig, clock: Callable[[], int] = time.time_ns
    ) -> None:
        self.config = config
        self.clock = clock
        self.parser = QuoteParser(config)
        self.connects = 0
        self.reconnects = 0
        self.received = 0  # quotes parsed and handed on
        self.rejected = 0
        self.ignored = 0
        self._subscriptions = subscription_messages(config)
        self._rng = random.Random(config.seed)
        self._ws: ClientConnection | None = None
        self._closed = False
        self._stopping = asyncio.Event()
        self._running = False
        self.log = get_logger().bind(adapter="websocket_feed", url=_safe_url(config.url))

    @property
    def latency(self) -> float | None:
        """Round trip of the last keepalive ping in seconds (0.0 before the first pong), or
        ``None`` while disconnected."""
        return self._ws.latency if self._ws is not None else None

    async def quotes(self) -> AsyncGenerator[Quote, None]:
        """Endless: ends only after :meth:`close`. One consumer at a time."""
        if self._running:
            raise RuntimeError("WebsocketFeed.quotes() is already being iterated")
        self._running = True
        attempt = 0
        try:
            while not self._closed:
                delivered = 0
                async with aclosing(self._session()) as session:
                    async for quote in session:
                        delivered += 1
                        yield quote
                if self._closed:
                    break
                attempt = 0 if delivered else attempt
                delay = backoff_delay(
                    attempt,
                    self.config.reconnect_initial_seconds,
                    self.config.reconnect_max_seconds,
                    self._rng,
                )
                attempt += 1
                self.reconnects += 1
                self.log.info("reconnect_scheduled", delay_s=round(delay, 3), attempt=attempt)
                await self._pause(delay)
        finally:
            self._running = False

    async def _session(self) -> AsyncGenerator[Quote, None]:
        """One connection: connect, subscribe, and yield quotes until it fails or goes stale."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus, WebSocketException

        cfg = self.config
        try:
            async with connect(
                cfg.url,
                open_timeout=cfg.open_timeout_seconds,
                ping_interval=cfg.ping_interval_seconds,
                ping_timeout=cfg.ping_timeout_seconds,
                close_timeout=cfg.close_timeout_seconds,
            ) as ws:
                self._ws = ws
                self.connects += 1
                self.log.info("feed_connected", connects=self.connects)
                for message in self._subscriptions:
                    await ws.send(message)
                while not self._closed:
                    try:
                        async with asyncio.timeout(cfg.stale_after_seconds):
                            raw = await ws.recv()
                    except TimeoutError:
                        self.log.warning("feed_stale", silent_s=cfg.stale_after_seconds)
                        return
                    for quote in self._parse(raw):
                        yield quote
                        if self._closed:
                            return
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in REFUSED_STATUS:
                self.log.error("feed_refused", status=status)
                raise FeedRefused(
                    f"the vendor at {_safe_url(cfg.url)} refused the connection with HTTP "
                    f"{status}: check the key and the URL (feed.websocket)"
                ) from None
            if not self._closed:
                self.log.warning("feed_disconnected", error="InvalidStatus", status=status)
        except (OSError, TimeoutError, WebSocketException) as exc:
            if not self._closed:
                self.log.warning("feed_disconnected", error=type(exc).__name__, detail=str(exc))
        finally:
            self._ws = None

    def _parse(self, raw: str | bytes) -> list[Quote]:
        result = self.parser.parse(raw, self.clock())
        self.ignored += result.ignored
        self.received += len(result.quotes)
        if result.rejections:
            self.rejected += len(result.rejections)
            head = raw[: _SAMPLE_CHARS * 4]
            text = head if isinstance(head, str) else head.decode("utf-8", "replace")
            for reason in result.rejections:
                self.log.warning("quote_rejected", reason=reason, sample=text[:_SAMPLE_CHARS])
        return result.quotes

    async def _pause(self, delay: float) -> None:
        try:
            async with asyncio.timeout(delay):
                await self._stopping.wait()
        except TimeoutError:
            pass

    async def close(self) -> None:
        """Stop: the iterator of :meth:`quotes` ends at its next step; idempotent."""
        self._closed = True
        self._stopping.set()
        ws = self._ws
        if ws is not None:
            await ws.close()
            self.log.info("feed_closed", connects=self.connects, received=self.received)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
