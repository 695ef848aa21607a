"""When and at what price a working order trades, against one bar or one quote.

Pure functions of the order's state and the prices. Sells are matched as buys on negated
prices (a sell limit at 1.10 is a buy limit at -1.10 on a mirrored market), so every rule is
written once, for buys:

Bars (``o``, ``h``, ``l`` are the bar's prices plus half the configured spread for a buy):

* market: the open.
* limit ``L``: the open if it is at or below ``L`` (a gap fills at the better price), else
  ``L`` if the low reaches it.
* stop ``S``: the open if it is at or above ``S`` (a gap fills at the worse price), else ``S``
  if the high reaches it.
* stop-limit ``S``/``L``: triggers as a stop; triggered at the open it works as a limit for the
  rest of the bar; triggered inside the bar it fills at ``S`` only if ``S`` is within the limit,
  otherwise it waits for the next bar (the path after the trigger is unknown).
* trailing stop ``d``: a stop at the best price seen so far plus ``d``; the bar is checked
  against the stop as it stood at the bar's open, then the best price moves to the bar's low
  (a trail never tightens on prices inside the bar that triggers it).
* IOC/FOK orders only see the open: filled there or cancelled.

Quotes (``p`` is the ask for a buy): market at ``p``; limit if ``p <= L``; stop once
``p >= S``, at ``p``; stop-limit triggers at ``S`` and then fills while ``p <= L``; trailing
stop once ``p >= best + d``.

Which of a bracket's stop-loss and take-profit fires when one bar reaches both is decided by
the exchange (the stop-loss, conservatively), not here.
"""

from __future__ import annotations

from dataclasses import dataclass

from algotrading.messages import Order, OrderType, Side, TimeInForce


@dataclass(slots=True)
class Working:
    """An accepted order resting at the venue, with its matching state."""

    order: Order
    venue_id: str
    arrival_ns: int  # matched only against prices stamped at or after this
    oco: tuple[str, ...] = ()  # the other legs of a bracket: cancelled when this one fills
    triggered: bool = False  # a stop-limit whose stop has been reached
    best: float | None = None  # trailing stop: best price seen, in buy space

    @property
    def immediate(self) -> bool:
        return self.order.time_in_force in (TimeInForce.IOC, TimeInForce.FOK)


def _buy_space(value: float | None, sign: int) -> float:
    assert value is not None  # validated at submission
    return value * sign


def match_bar(w: Working, open_: float, high: float, low: float) -> tuple[float, bool] | None:
    """``(price, taker)`` if ``w`` trades on this bar (prices already include the spread for
    its side), else ``None``. ``taker`` fills pay slippage; limit fills do not."""
    order = w.order
    sign = order.side.sign
    o = open_ * sign
    h, lo = (high * sign, low * sign) if sign > 0 else (low * sign, high * sign)
    kind = order.order_type
    if kind is OrderType.MARKET:
        return open_, True
    if kind is OrderType.LIMIT:
        limit = _buy_space(order.limit_price, sign)
        if o <= limit:
            return o * sign, False
        if not w.immediate and lo <= limit:
            return limit * sign, False
        return None
    if kind is OrderType.STOP:
        stop = _buy_space(order.stop_price, sign)
        if o >= stop:
            return o * sign, True
        if not w.immediate and h >= stop:
            return stop * sign, True
        return None
    if kind is OrderType.STOP_LIMIT:
        stop = _buy_space(order.stop_price, sign)
        limit = _buy_space(order.limit_price, sign)
        if not w.triggered:
            if o >= stop:
                w.triggered = True
            elif h >= stop and not w.immediate:
                w.triggered = True
                return (stop * sign, False) if stop <= limit else None
            else:
                return None
        if o <= limit:
            return o * sign, False
        if not w.immediate and lo <= limit:
            return limit * sign, False
        return None
    # trailing stop
    distance = order.trailing_distance or 0.0
    if w.best is None:
        w.best = o
    level = w.best + distance
    if o >= level:
        return o * sign, True
    if not w.immediate and h >= level:
        return level * sign, True
    w.best = min(w.best, lo)
    return None


def match_quote(w: Working, bid: float, ask: float) -> float | None:
    """The price ``w`` trades at on this quote (buys at the ask, sells at the bid), or
    ``None``."""
    order = w.order
    sign = order.side.sign
    p = ask if order.side is Side.BUY else -bid
    kind = order.order_type
    if kind is OrderType.MARKET:
        return p * sign
    if kind is OrderType.LIMIT:
        return p * sign if p <= _buy_space(order.limit_price, sign) else None
    if kind is OrderType.STOP:
        return p * sign if p >= _buy_space(order.stop_price, sign) else None
    if kind is OrderType.STOP_LIMIT:
        if not w.triggered:
            if p < _buy_space(order.stop_price, sign):
                return None
            w.triggered = True
        return p * sign if p <= _buy_space(order.limit_price, sign) else None
    distance = order.trailing_distance or 0.0
    if w.best is None:
        w.best = p
    if p >= w.best + distance:
        return p * sign
    w.best = min(w.best, p)
    return None


def is_taker(order: Order) -> bool:
    """Orders that take liquidity at whatever the market gives (and so may slip)."""
    return order.order_type in (OrderType.MARKET, OrderType.STOP, OrderType.TRAILING_STOP)


def check_terms(order: Order) -> str | None:
    """Why ``order``'s terms are incomplete or contradictory, or ``None`` if they are fine."""
    kind = order.order_type
    needs_limit = kind in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    needs_stop = kind in (OrderType.STOP, OrderType.STOP_LIMIT)
    if needs_limit and not (order.limit_price and order.limit_price > 0):
        return f"{kind} orders need a positive limit_price"
    if needs_stop and not (order.stop_price and order.stop_price > 0):
        return f"{kind} orders need a positive stop_price"
    if kind is OrderType.TRAILING_STOP and not (
        order.trailing_distance and order.trailing_distance > 0
    ):
        return "TRAILING_STOP orders need a positive trailing_distance"
    if order.time_in_force == TimeInForce.GTD and order.expire_ns <= 0:
        return "GTD orders need expire_ns"
    for name in ("stop_loss", "take_profit", "trailing_stop"):
        value = getattr(order, name)
        if value is not None and value <= 0:
            return f"{name} must be positive"
    return None
