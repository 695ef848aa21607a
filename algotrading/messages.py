"""The vocabulary of the system: every message that crosses an actor boundary.

Messages are frozen, tagged ``msgspec.Struct`` values. Times are integer nanoseconds since the
epoch, UTC: ``ts_event`` is when the thing happened (at the venue, in the data), ``ts_recv`` when
this process learnt of it. They encode to msgpack for the journal and to JSON for the admin
socket and logs, and decode back to the same value with :func:`decode_msgpack` /
:func:`decode_json`.
"""

from __future__ import annotations

import enum
from typing import Any

import msgspec


class Side(enum.StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(enum.StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP = "STOP"
    STOP_LIMIT = "STOP_LIMIT"  # a stop that, once triggered, works as a limit at limit_price
    TRAILING_STOP = "TRAILING_STOP"  # a stop trailing the best price by trailing_distance


class TimeInForce(enum.StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTD = "GTD"


class TradingState(enum.StrEnum):
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


class AlertLevel(enum.StrEnum):
    INFO = "INFO"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"


class Message(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    """Base of every message. ``ts_recv`` defaults to ``ts_event`` semantics when zero."""

    ts_event: int
    ts_recv: int = 0


# --- market data -------------------------------------------------------------------------------


class Quote(Message, frozen=True, kw_only=True):
    instrument: str
    bid: float
    ask: float
    bid_size: float = 0.0
    ask_size: float = 0.0

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2.0


class Trade(Message, frozen=True, kw_only=True):
    instrument: str
    price: float
    size: float
    aggressor: Side | None = None
    trade_id: str = ""


class Bar(Message, frozen=True, kw_only=True):
    """An OHLCV bar. ``ts_open`` is its open time (the time vendors print for a bar);
    ``ts_event`` is its close, ``ts_open + interval_ns``, the moment it became known."""

    instrument: str
    interval_ns: int
    ts_open: int
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0


class Timer(Message, frozen=True, kw_only=True):
    """A clock tick, so that time-driven work (closing a bar) happens without new data."""

    name: str = "tick"


class Heartbeat(Message, frozen=True, kw_only=True):
    source: str


# --- signals -----------------------------------------------------------------------------------


class Features(Message, frozen=True, kw_only=True):
    instrument: str
    names: tuple[str, ...]
    values: tuple[float, ...]


class Prediction(Message, frozen=True, kw_only=True):
    instrument: str
    model_id: str
    value: float
    horizon: int = 1


# --- orders ------------------------------------------------------------------------------------


class OrderIntent(Message, frozen=True, kw_only=True):
    """What a strategy wants; the risk actor approves or denies it."""

    strategy_id: str
    instrument: str
    side: Side
    quantity: float
    order_type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    stop_price: float | None = None
    trailing_distance: float | None = None  # price distance, for TRAILING_STOP
    time_in_force: TimeInForce = TimeInForce.GTC
    expire_ns: int = 0  # for GTD: the order is cancelled at the first price at or after this
    # A bracket: when this order fills, the venue attaches a stop-loss, a take-profit and/or a
    # trailing stop (its price distance) for the filled quantity, one cancelling the others
    # (ids ``<id>.sl``, ``<id>.tp``, ``<id>.ts``); they only ever reduce the position.
    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None
    reason: str = ""
    exec_id: str = ""  # the execution-algorithm parent this child order belongs to
    # Only ever reduces the position: cut to what is held when it trades, cancelled if flat.
    reduce_only: bool = False

    def approved(self, ts: int) -> ApprovedOrder:
        return ApprovedOrder(ts_event=ts, intent=self)

    def denied(self, ts: int, code: str, reason: str) -> OrderDenied:
        return OrderDenied(ts_event=ts, intent=self, code=code, reason=reason)


class ApprovedOrder(Message, frozen=True, kw_only=True):
    intent: OrderIntent


class OrderDenied(Message, frozen=True, kw_only=True):
    """Pre-trade risk refused an intent; ``code`` is machine-readable, ``reason`` is for people."""

    intent: OrderIntent
    code: str
    reason: str


class Order(Message, frozen=True, kw_only=True):
    """An order as sent to a venue. ``client_order_id`` is deterministic and is the
    idempotency key: the same id is never submitted twice. ``parent_id`` names the bracket
    entry a stop-loss or take-profit belongs to."""

    client_order_id: str
    parent_id: str = ""
    strategy_id: str
    instrument: str
    side: Side
    quantity: float
    order_type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    stop_price: float | None = None
    trailing_distance: float | None = None  # price distance, for TRAILING_STOP
    time_in_force: TimeInForce = TimeInForce.GTC
    expire_ns: int = 0  # for GTD: the order is cancelled at the first price at or after this
    # A bracket: when this order fills, the venue attaches a stop-loss, a take-profit and/or a
    # trailing stop (its price distance) for the filled quantity, one cancelling the others
    # (ids ``<id>.sl``, ``<id>.tp``, ``<id>.ts``); they only ever reduce the position.
    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None
    exec_id: str = ""  # the execution-algorithm parent this child order belongs to
    # Only ever reduces the position: cut to what is held when it trades, cancelled if flat.
    reduce_only: bool = False


class SubmitOrder(Message, frozen=True, kw_only=True):
    order: Order


class CancelOrder(Message, frozen=True, kw_only=True):
    client_order_id: str


class ModifyOrder(Message, frozen=True, kw_only=True):
    """Change a working order; fields left ``None`` keep their value."""

    client_order_id: str
    quantity: float | None = None
    limit_price: float | None = None
    stop_price: float | None = None
    trailing_distance: float | None = None


class OrderSubmitted(Message, frozen=True, kw_only=True):
    client_order_id: str


class OrderAccepted(Message, frozen=True, kw_only=True):
    client_order_id: str
    venue_order_id: str


class OrderRejected(Message, frozen=True, kw_only=True):
    client_order_id: str
    code: str
    reason: str


class OrderCancelled(Message, frozen=True, kw_only=True):
    """The order will not trade (any more): cancelled on request, expired (GTD), not filled at
    once (IOC/FOK), the other side of a bracket filled (OCO), or no margin at fill time."""

    client_order_id: str
    venue_order_id: str = ""
    reason: str = ""


class OrderModified(Message, frozen=True, kw_only=True):
    """A working order changed; the fields carry its new terms."""

    order: Order
    venue_order_id: str = ""


class RequestRejected(Message, frozen=True, kw_only=True):
    """A cancel or modify request the venue refused; the order itself is unaffected."""

    client_order_id: str
    request: str  # "cancel" | "modify"
    code: str
    reason: str


class Financing(Message, frozen=True, kw_only=True):
    """Overnight financing booked on an open position at the daily rollover (``amount`` in the
    account currency, negative = paid; ``days`` is 3 on the rollover that spans the weekend)."""

    instrument: str
    quantity: float
    amount: float
    days: int
    currency: str = "USD"


class Fill(Message, frozen=True, kw_only=True):
    """One execution. An order is filled when the fills' quantities sum to its quantity."""

    fill_id: str
    client_order_id: str
    venue_order_id: str
    strategy_id: str
    instrument: str
    side: Side
    quantity: float
    price: float
    commission: float = 0.0
    currency: str = "USD"
    # account currency per unit of the instrument's quote currency at the fill (1.0 for
    # EUR_USD in a USD account, 1/price for USD_JPY): what P&L closed by this fill converts at
    quote_rate: float = 1.0
    parent_id: str = ""  # the entry whose leg (stop-loss, take-profit) this fill is of
    financing: float = 0.0  # financing the venue booked with this fill (account currency)


class Position(Message, frozen=True, kw_only=True):
    """The net position in one instrument: signed quantity, average entry price, and the P&L
    realised on it so far (cumulative), in the instrument's quote currency."""

    instrument: str
    quantity: float
    avg_price: float
    realized_pnl: float = 0.0
    unrealized_pnl: float = 0.0


class AccountState(Message, frozen=True, kw_only=True):
    currency: str
    balance: float
    equity: float
    margin_used: float = 0.0
    commission_paid: float = 0.0
    financing: float = 0.0  # cumulative, account currency (negative = paid)

    @property
    def free_margin(self) -> float:
        return self.equity - self.margin_used


# --- operations --------------------------------------------------------------------------------


class RiskState(Message, frozen=True, kw_only=True):
    state: TradingState
    reason: str = ""


class BreakerFigures(Message, frozen=True, kw_only=True):
    """The running figures of the circuit breakers (a day's starting equity, the equity peak,
    a losing streak; see :class:`algotrading.risk.breakers.Breaker`), journaled from time to
    time so that a restart restores them, with the journal's later equity marks and positions
    replayed on top."""

    figures: dict[str, dict[str, Any]]


class Alert(Message, frozen=True, kw_only=True):
    level: AlertLevel
    code: str
    text: str
    source: str = ""


class Command(Message, frozen=True, kw_only=True):
    """An operator command (admin socket, supervisor escalation)."""

    name: str
    args: dict[str, str] = msgspec.field(default_factory=dict)
    request_id: str = ""


class VenueEvent(Message, frozen=True, kw_only=True):
    """An event as a venue reported it (an OANDA transaction, a heartbeat): journaled as it came,
    turned into order events by the venue's adapter."""

    venue: str
    payload: dict[str, Any]


class VenueCursor(Message, frozen=True, kw_only=True):
    """The venue's reports are applied to the books up to ``transaction_id`` (the venue's own
    sequence). Journaled by the order manager *after* what it covers, so a committed cursor
    never runs ahead of the fills it stands for: after a crash, everything later is fetched
    again and applied once."""

    venue: str
    account: str
    transaction_id: str


class VenuePositions(Message, frozen=True, kw_only=True):
    """The venue's positions and working orders as of its transaction ``cursor``, for the
    order manager to compare with its books once everything up to ``cursor`` is applied
    (reconciliation). ``positions``: instrument -> [signed quantity, average price];
    ``working``: the client ids of the orders working at the venue."""

    cursor: str
    positions: dict[str, tuple[float, float]]
    working: tuple[str, ...] = ()
    reason: str = "periodic"


class ActorFailed(Message, frozen=True, kw_only=True):
    actor: str
    error: str
    restarts: int
    action: str  # "restart" or "escalate"


class Recorded(Message, frozen=True, kw_only=True):
    """One step of a recorded actor (:mod:`algotrading.state.recording`): a message it
    handled (``step`` "in"), one it sent ("out"), an input it was warmed up with after a
    restart ("warm"), or the snapshot it was restored from ("restore", ``body`` is the
    snapshot). ``body`` is the msgpack of the message."""

    actor: str
    step: str
    body: bytes


AnyMessage = (
    Quote
    | Trade
    | Bar
    | Timer
    | Heartbeat
    | Features
    | Prediction
    | OrderIntent
    | ApprovedOrder
    | OrderDenied
    | Order
    | SubmitOrder
    | CancelOrder
    | ModifyOrder
    | OrderSubmitted
    | OrderAccepted
    | OrderRejected
    | OrderCancelled
    | OrderModified
    | RequestRejected
    | Financing
    | Fill
    | Position
    | AccountState
    | RiskState
    | BreakerFigures
    | Alert
    | Command
    | ActorFailed
    | VenueEvent
    | VenueCursor
    | VenuePositions
    | Recorded
)

MARKET_DATA = (Quote, Trade, Bar)

_msgpack_encoder = msgspec.msgpack.Encoder()
_msgpack_decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder(AnyMessage)
_json_encoder = msgspec.json.Encoder()
_json_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(AnyMessage)


def encode_msgpack(msg: Message) -> bytes:
    return _msgpack_encoder.encode(msg)


def decode_msgpack(data: bytes) -> Message:
    result: Message = _msgpack_decoder.decode(data)
    return result


def encode_json(msg: Message) -> bytes:
    return _json_encoder.encode(msg)


def decode_json(data: bytes | str) -> Message:
    result: Message = _json_decoder.decode(data)
    return result


def type_name(msg_type: type[Message]) -> str:
    """The tag a message type carries on the wire (its class name)."""
    info = msgspec.inspect.type_info(msg_type)
    assert isinstance(info, msgspec.inspect.StructType)
    return str(info.tag)
