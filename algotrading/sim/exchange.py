"""The simulated exchange: a venue in plain Python, used in-process for backtests and paper
trading. It accepts market orders, fills them on the next price it sees, keeps the account
(balance, positions, equity marked to market, margin) and returns what happened as messages.

Fill rule: an order fills on the first market data the venue receives *after* the order
arrived — for bars, at that bar's open, stamped with the bar's open time (so an order decided
on bar t's close fills at bar t+1's open); for quotes, buys at the ask and sells at the bid.
No costs unless configured (:class:`CostModel`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from algotrading.data.instruments import InstrumentSpec
from algotrading.messages import (
    AccountState,
    Bar,
    Fill,
    Message,
    Order,
    OrderAccepted,
    OrderCancelled,
    OrderRejected,
    OrderType,
    Quote,
    Side,
)
from algotrading.sim.accounting import PositionState, apply_fill, quote_to_account_rate


@dataclass(frozen=True)
class CostModel:
    """Transaction costs. Spread applies to bar fills (half each side: a bar carries one price);
    quote fills already pay the quoted spread. Slippage moves every fill against the order."""

    spread_pips: float = 0.0
    slippage_pips: float = 0.0
    commission_per_unit: float = 0.0
    commission_bps: float = 0.0

    def describe(self) -> dict[str, float]:
        return asdict(self)

    def commission(self, quantity: float, notional_account: float) -> float:
        return quantity * self.commission_per_unit + notional_account * self.commission_bps / 1e4


@dataclass
class _Book:
    position: PositionState = field(default_factory=PositionState)
    last_price: float = 0.0


class SimExchange:
    def __init__(
        self,
        instruments: dict[str, InstrumentSpec],
        *,
        account_currency: str = "USD",
        initial_cash: float = 100_000.0,
        costs: CostModel | None = None,
    ) -> None:
        self.instruments = instruments
        self.currency = account_currency
        self.costs = costs or CostModel()
        self.balance = initial_cash
        self.commission_paid = 0.0
        self.books: dict[str, _Book] = {symbol: _Book() for symbol in instruments}
        self.mids: dict[str, float] = {}
        self._working: dict[str, list[tuple[Order, str]]] = {s: [] for s in instruments}
        self._known_ids: set[str] = set()
        self._next_order = 1
        self._next_fill = 1

    # --- orders --------------------------------------------------------------------------------

    def submit(self, order: Order, now_ns: int) -> list[Message]:
        reject = self._validate(order)
        if reject is not None:
            code, reason = reject
            return [
                OrderRejected(
                    ts_event=now_ns, client_order_id=order.client_order_id, code=code, reason=reason
                )
            ]
        self._known_ids.add(order.client_order_id)
        venue_id = f"S{self._next_order}"
        self._next_order += 1
        self._working[order.instrument].append((order, venue_id))
        return [
            OrderAccepted(
                ts_event=now_ns, client_order_id=order.client_order_id, venue_order_id=venue_id
            )
        ]

    def cancel(self, client_order_id: str, now_ns: int) -> list[Message]:
        for working in self._working.values():
            for entry in working:
                if entry[0].client_order_id == client_order_id:
                    working.remove(entry)
                    return [
                        OrderCancelled(
                            ts_event=now_ns,
                            client_order_id=client_order_id,
                            venue_order_id=entry[1],
                            reason="cancelled",
                        )
                    ]
        return [
            OrderRejected(
                ts_event=now_ns,
                client_order_id=client_order_id,
                code="order_not_found",
                reason="no working order with this id",
            )
        ]

    def _validate(self, order: Order) -> tuple[str, str] | None:
        spec = self.instruments.get(order.instrument)
        if spec is None:
            return "unknown_instrument", f"{order.instrument} is not traded at this venue"
        if order.client_order_id in self._known_ids:
            return "duplicate_client_order_id", f"{order.client_order_id} was already received"
        if order.order_type is not OrderType.MARKET:
            return "unsupported_order_type", f"{order.order_type} orders are not supported yet"
        if not spec.min_quantity - 1e-9 <= order.quantity <= spec.max_quantity + 1e-9:
            return "invalid_quantity", (
                f"quantity {order.quantity:g} outside [{spec.min_quantity:g}, "
                f"{spec.max_quantity:g}]"
            )
        price = self.books[order.instrument].last_price
        if price and self._rate(spec, price) is None:
            return "no_conversion_rate", f"no price converts {spec.quote} to {self.currency}"
        if price and self._margin_after(order, price) > self.equity():
            return "insufficient_margin", "the order would use more margin than the equity"
        return None

    def _margin_after(self, order: Order, price: float) -> float:
        spec = self.instruments[order.instrument]
        book = self.books[order.instrument]
        new_qty = book.position.quantity + order.side.sign * order.quantity
        before = self._margin(spec, book.position.quantity, price)
        return self.margin_used() - before + self._margin(spec, new_qty, price)

    # --- market data ---------------------------------------------------------------------------

    def on_bar(self, bar: Bar) -> list[Message]:
        """Fill working orders at the bar's open, then mark to the bar's close."""
        out: list[Message] = []
        spec = self.instruments.get(bar.instrument)
        if spec is None:
            return out
        half_spread = self.costs.spread_pips * spec.pip_size / 2.0
        for order, venue_id in self._take_working(bar.instrument):
            price = bar.open + order.side.sign * half_spread
            out.append(self._fill(order, venue_id, price, bar.ts_open, spec))
        self._mark(bar.instrument, bar.close)
        out.append(self.account_state(bar.ts_event))
        return out

    def on_quote(self, quote: Quote) -> list[Message]:
        """Fill working orders against the quote: buys at the ask, sells at the bid."""
        out: list[Message] = []
        spec = self.instruments.get(quote.instrument)
        if spec is None:
            return out
        self._mark(quote.instrument, quote.mid)
        for order, venue_id in self._take_working(quote.instrument):
            price = quote.ask if order.side is Side.BUY else quote.bid
            out.append(self._fill(order, venue_id, price, quote.ts_event, spec))
        if out:
            out.append(self.account_state(quote.ts_event))
        return out

    def _take_working(self, instrument: str) -> list[tuple[Order, str]]:
        working = self._working[instrument]
        self._working[instrument] = []
        return working

    def _mark(self, instrument: str, price: float) -> None:
        self.books[instrument].last_price = price
        self.mids[instrument] = price

    def _fill(
        self, order: Order, venue_id: str, price: float, ts: int, spec: InstrumentSpec
    ) -> Fill:
        slippage = self.costs.slippage_pips * spec.pip_size
        price = spec.round_price(price + order.side.sign * slippage)
        book = self.books[order.instrument]
        book.position, realized_quote = apply_fill(book.position, order.side, order.quantity, price)
        rate = self._rate(spec, price) or 0.0
        commission = self.costs.commission(order.quantity, order.quantity * price * rate)
        self.balance += realized_quote * rate - commission
        self.commission_paid += commission
        fill_id = f"F{self._next_fill}"
        self._next_fill += 1
        return Fill(
            ts_event=ts,
            fill_id=fill_id,
            client_order_id=order.client_order_id,
            venue_order_id=venue_id,
            strategy_id=order.strategy_id,
            instrument=order.instrument,
            side=order.side,
            quantity=order.quantity,
            price=price,
            commission=commission,
            currency=self.currency,
        )

    # --- account -------------------------------------------------------------------------------

    def _rate(self, spec: InstrumentSpec, price: float) -> float | None:
        return quote_to_account_rate(spec, price, self.currency, self.mids)

    def _margin(self, spec: InstrumentSpec, quantity: float, price: float) -> float:
        return abs(quantity) * price * spec.margin_rate * (self._rate(spec, price) or 0.0)

    def unrealized(self) -> float:
        total = 0.0
        for symbol, book in self.books.items():
            if not book.position.is_flat:
                spec = self.instruments[symbol]
                rate = self._rate(spec, book.last_price) or 0.0
                total += book.position.unrealized(book.last_price) * rate
        return total

    def equity(self) -> float:
        return self.balance + self.unrealized()

    def margin_used(self) -> float:
        return sum(
            self._margin(self.instruments[s], b.position.quantity, b.last_price)
            for s, b in self.books.items()
            if not b.position.is_flat
        )

    def account_state(self, ts: int) -> AccountState:
        return AccountState(
            ts_event=ts,
            currency=self.currency,
            balance=self.balance,
            equity=self.equity(),
            margin_used=self.margin_used(),
            commission_paid=self.commission_paid,
        )

    def position(self, instrument: str) -> PositionState:
        return self.books[instrument].position
