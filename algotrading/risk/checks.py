"""Pre-trade risk checks: pure functions from an intent and what is known to a refusal or
``None``. The risk actor is a thin shell around them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

import msgspec

from algotrading.bounded import MAX_AMOUNT, MAX_COUNT, MAX_SECONDS
from algotrading.messages import OrderIntent, TradingState

# Any float a limit may hold: finite (NaN would turn every comparison off, inf refuse nothing)
Limit = Annotated[float, msgspec.Meta(ge=0, le=MAX_AMOUNT)]  # 0 turns it off
Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]  # 0 turns it off
Seconds = Annotated[float, msgspec.Meta(gt=0, le=MAX_SECONDS)]


class RiskLimits(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Pre-trade limits: the one definition of them, the ``risk`` section of ``system.yaml``
    (:class:`algotrading.config.RiskConfig` adds the breakers to it) and what ``set-limit`` and
    ``reload-config`` are checked against. Quantities in units, money in the account currency;
    0 turns a limit off. Limits are exclusive, like the breakers': an order that would reach one
    is refused, just under it passes."""

    max_order_quantity: Limit = 10_000_000.0
    max_position_quantity: Limit = 10_000_000.0
    max_order_notional: Limit = 0.0
    max_gross_exposure: Limit = 0.0  # sum of |position value| over instruments
    max_net_exposure: Limit = 0.0  # |sum of signed position values|
    max_currency_exposure: Limit = 0.0  # |net exposure| to any one currency (FX)
    max_open_orders: Count = 0
    max_orders_per_window: Count = 0
    rate_window_seconds: Seconds = 1.0
    price_collar: Limit = 0.0  # a limit/stop price must be less than this fraction away


LIMIT_NAMES: tuple[str, ...] = RiskLimits.__struct_fields__
_FIELDS = {f.name: f for f in msgspec.structs.fields(RiskLimits)}


def _expected(name: str) -> str:
    """What a limit takes, from its schema's constraints."""
    meta = _FIELDS[name].type.__metadata__[0]
    return f"a number > {meta.gt:g}" if meta.gt is not None else "a number >= 0 (0 turns it off)"


def limits_with(limits: RiskLimits, values: Mapping[str, str]) -> RiskLimits:
    """``limits`` with some of them set from text (an operator's ``set_limit``, a reloaded
    configuration), checked by the schema of :class:`RiskLimits`, as the configuration is.
    All or nothing: the first unknown name or bad value raises ValueError naming it, and
    nothing changes."""
    if not values:
        raise ValueError("no limit named")
    changes: dict[str, Any] = {}
    for name, text in values.items():
        if name not in LIMIT_NAMES:
            raise ValueError(f"unknown risk limit {name!r}; one of {', '.join(LIMIT_NAMES)}")
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{name}: expected a number, got {text!r}") from None
        if _FIELDS[name].type.__origin__ is int:
            if not value.is_integer():
                raise ValueError(f"{name}: expected an integer, got {text!r}")
            changes[name] = int(value)
        else:
            changes[name] = value
        try:
            msgspec.convert({name: changes[name]}, RiskLimits, strict=True)
        except msgspec.ValidationError:
            raise ValueError(f"{name}: expected {_expected(name)}, got {text!r}") from None
    return msgspec.structs.replace(limits, **changes)


@dataclass(frozen=True)
class Market:
    """What the risk actor knows beyond the intent's own instrument, for the checks that need
    prices: values are in the account currency, positions projected (filled + working +
    approved)."""

    price: float | None = None  # last mid of the intent's instrument
    quote_rate: float = 1.0  # its quote currency -> account currency
    values: dict[str, float] = field(default_factory=dict)  # signed value by instrument
    currencies: dict[str, tuple[str, str]] = field(default_factory=dict)  # FX: (base, quote)
    open_orders: int = 0
    recent_orders: int = 0  # approved within the rate window


# Prices and money are floats: a value equal to a limit in decimal may fall short of it in the
# last bit (1.089 / 1.1 - 1 is -0.01000000000000001); that still counts as equal.
_TOLERANCE = 1e-12


def _reaches(value: float, limit: float) -> bool:
    """Limits are exclusive, as breakers are: a value that reaches its limit (to within
    rounding, 1e-12 relative) is refused; just under it passes."""
    return value >= limit * (1 - _TOLERANCE)


_SEVERITY = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


@dataclass
class TradingSwitch:
    """The trading state and why it is so: ACTIVE, REDUCING (only orders that reduce a
    position) or HALTED — the most restrictive of the operator's state and every tripped
    circuit breaker's. Held outside any actor so that it survives their restarts."""

    operator_state: TradingState = TradingState.ACTIVE
    operator_reason: str = ""
    breakers: dict[str, tuple[TradingState, str]] = field(default_factory=dict)
    # limits an operator set while running (set_limit, reload-config): kept here, like the
    # state, so a restarted risk actor keeps them instead of the configured ones
    limits: RiskLimits | None = None

    def set(self, state: TradingState, reason: str) -> None:
        """The operator's (or the supervisor's) decision."""
        self.operator_state = state
        self.operator_reason = reason

    @property
    def state(self) -> TradingState:
        if not self.breakers:  # nothing tripped: the operator's (checked on every intent)
            return self.operator_state
        return max(
            (self.operator_state, *(s for s, _ in self.breakers.values())),
            key=lambda state: _SEVERITY[state],
        )

    @property
    def reason(self) -> str:
        state = self.state
        if state is TradingState.ACTIVE:
            return ""
        reasons = [r for s, r in self.breakers.values() if s is state]
        if self.operator_state is state:
            reasons.insert(0, self.operator_reason)
        return "; ".join(reasons)


@dataclass(frozen=True)
class Refusal:
    code: str
    reason: str


def reduces_exposure(intent: OrderIntent, position: float) -> bool:
    signed = intent.side.sign * intent.quantity
    return position != 0 and (signed > 0) != (position > 0) and abs(signed) <= abs(position) + 1e-9


def check_order(
    intent: OrderIntent,
    position: float,
    limits: RiskLimits,
    state: TradingState,
    market: Market | None = None,
) -> Refusal | None:
    """``position`` is the signed quantity the instrument will hold once earlier approved
    orders have filled, so a burst of intents cannot slip past the position limit."""
    if state is TradingState.HALTED:
        return Refusal("halted", "trading is halted; no new orders")
    if state is TradingState.REDUCING and not reduces_exposure(intent, position):
        return Refusal(
            "reducing_only",
            "trading state is REDUCING; only orders that reduce the position are allowed",
        )
    if intent.quantity <= 0:
        return Refusal("invalid_quantity", f"quantity must be > 0, got {intent.quantity:g}")
    if limits.max_order_quantity and _reaches(intent.quantity, limits.max_order_quantity):
        return Refusal(
            "max_order_quantity",
            f"quantity {intent.quantity:g} reaches the limit of {limits.max_order_quantity:g}",
        )
    after = position + intent.side.sign * intent.quantity
    if (
        limits.max_position_quantity
        and _reaches(abs(after), limits.max_position_quantity)
        and abs(after) > abs(position)
    ):
        return Refusal(
            "max_position_quantity",
            f"position would be {after:g}, at or beyond the limit of "
            f"{limits.max_position_quantity:g}",
        )
    if market is None:
        return None
    return _flow_checks(intent, limits, market) or _money_checks(
        intent, position, after, limits, market
    )


def _flow_checks(intent: OrderIntent, limits: RiskLimits, market: Market) -> Refusal | None:
    if limits.max_open_orders and market.open_orders >= limits.max_open_orders:
        return Refusal(
            "max_open_orders",
            f"{market.open_orders} orders are open; the limit is {limits.max_open_orders}",
        )
    if limits.max_orders_per_window and market.recent_orders >= limits.max_orders_per_window:
        return Refusal(
            "order_rate",
            f"{market.recent_orders} orders in the last {limits.rate_window_seconds:g}s; the "
            f"limit is {limits.max_orders_per_window}",
        )
    price = intent.limit_price or intent.stop_price
    if limits.price_collar and price is not None and market.price:
        away = abs(price / market.price - 1.0)
        if _reaches(away, limits.price_collar):
            return Refusal(
                "price_collar",
                f"price {price:g} is {away:.2%} from the market {market.price:g}; the collar "
                f"is {limits.price_collar:.2%}",
            )
    return None


def _money_checks(
    intent: OrderIntent, position: float, after: float, limits: RiskLimits, market: Market
) -> Refusal | None:
    if market.price is None:
        return None
    unit_value = market.price * market.quote_rate
    notional = intent.quantity * unit_value
    if limits.max_order_notional and _reaches(notional, limits.max_order_notional):
        return Refusal(
            "max_order_notional",
            f"notional {notional:.2f} reaches the limit of {limits.max_order_notional:.2f}",
        )
    if abs(after) <= abs(position) and (after == 0 or (after > 0) == (position > 0)):
        return None  # reduces exposure: the exposure limits never block it
    values = dict(market.values)
    values[intent.instrument] = after * unit_value
    gross = sum(abs(v) for v in values.values())
    if limits.max_gross_exposure and _reaches(gross, limits.max_gross_exposure):
        return Refusal(
            "max_gross_exposure",
            f"gross exposure would be {gross:.2f}, at or beyond {limits.max_gross_exposure:.2f}",
        )
    net = abs(sum(values.values()))
    if limits.max_net_exposure and _reaches(net, limits.max_net_exposure):
        return Refusal(
            "max_net_exposure",
            f"net exposure would be {net:.2f}, at or beyond {limits.max_net_exposure:.2f}",
        )
    if limits.max_currency_exposure:
        by_currency: dict[str, float] = {}
        for instrument, value in values.items():
            pair = market.currencies.get(instrument)
            if pair is None:
                continue
            by_currency[pair[0]] = by_currency.get(pair[0], 0.0) + value
            by_currency[pair[1]] = by_currency.get(pair[1], 0.0) - value
        for currency, value in sorted(by_currency.items()):
            if _reaches(abs(value), limits.max_currency_exposure):
                return Refusal(
                    "max_currency_exposure",
                    f"{currency} exposure would be {value:.2f}, at or beyond "
                    f"{limits.max_currency_exposure:.2f}",
                )
    return None
