"""The simulated exchange: one matching engine in plain Python, used in-process by backtests and
paper trading (and, in its own process, behind the sim-exchange server).

It accepts market, limit, stop, stop-limit and trailing-stop orders with GTC, GTD, IOC and FOK,
brackets (a stop-loss and a take-profit attached to an entry when it fills, one cancelling the
other), modify and cancel; it fills them from bars or from bid/ask quotes (the rules are in
:mod:`algotrading.sim.matching`) and keeps the account: balance, positions, equity marked to
market, margin used and free, costs paid, overnight financing, and a margin closeout.

Rules that need a choice, chosen conservatively and documented in ``docs/backtesting.md``:

* An order is matched only against prices stamped at or after its arrival (submission time
  plus the latency model); with bars, a bar is eligible when it opens at or after the arrival,
  so an order decided on bar t's close fills at bar t+1's open at the earliest.
* When one bar reaches both a bracket's stop-loss and its take-profit, the stop-loss fills.
  After an entry fills inside a bar, its stop-loss is checked on the rest of that bar but its
  take-profit only from the next bar.
* Liquidity is unlimited at the touch: orders fill whole, so FOK behaves as IOC.
* A fill that would take margin used above equity is refused (``insufficient_margin``): at
  submission for any order that adds exposure, and again at fill time for resting orders.
* Margin closeout: when equity falls to ``closeout_level`` x margin used (0.5, as OANDA does),
  every position is closed at the current price and a critical alert is raised.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

import msgspec

from algotrading.data.calendars import fx_next_rollover
from algotrading.data.instruments import AssetClass, InstrumentSpec
from algotrading.execution.bracket import bracket_legs
from algotrading.messages import (
    AccountState,
    Alert,
    AlertLevel,
    Bar,
    Fill,
    Financing,
    Message,
    ModifyOrder,
    Order,
    OrderAccepted,
    OrderCancelled,
    OrderModified,
    OrderRejected,
    OrderType,
    Quote,
    RequestRejected,
    Side,
    TimeInForce,
)
from algotrading.sim.accounting import EPS, PositionState, apply_fill, quote_to_account_rate
from algotrading.sim.costs import CostModel, FinancingModel, LatencyModel
from algotrading.sim.matching import Working, check_terms, is_taker, match_bar, match_quote

__all__ = ["CostModel", "FinancingModel", "LatencyModel", "SimExchange"]

KNOWN_IDS = 100_000


class _Book:
    __slots__ = ("last_price", "margin_rate", "position", "spec", "unit_rate", "working")

    def __init__(self, spec: InstrumentSpec, account_currency: str) -> None:
        self.spec = spec
        self.margin_rate = spec.margin_rate
        self.position = PositionState()
        self.last_price = 0.0
        self.working: list[Working] = []
        self.unit_rate = spec.quote == account_currency  # P&L already in account currency


class SimExchange:
    def __init__(
        self,
        instruments: dict[str, InstrumentSpec],
        *,
        account_currency: str = "USD",
        initial_cash: float = 100_000.0,
        costs: CostModel | None = None,
        latency: LatencyModel | None = None,
        financing: FinancingModel | None = None,
        closeout_level: float = 0.5,
        conversion_rates: dict[str, float] | None = None,
        id_prefix: str = "",
    ) -> None:
        self.instruments = instruments
        # starts every venue order and fill id: a paper session's own, so that the venues of
        # sessions on one state never number alike (a backtest's ids are S1…, F1…)
        self.id_prefix = id_prefix
        self.currency = account_currency
        self.costs = costs or CostModel()
        self.latency = latency or LatencyModel()
        self.financing = financing or FinancingModel()
        self.closeout_level = closeout_level
        self.balance = initial_cash
        self.books: dict[str, _Book] = {
            symbol: _Book(spec, account_currency) for symbol, spec in instruments.items()
        }
        self._book_list = list(self.books.values())
        # Latest mid of every instrument, seeded with fixed rates for currencies not traded.
        self.mids: dict[str, float] = dict(conversion_rates or {})
        self.paid: dict[str, float] = {
            "commission": 0.0,
            "spread": 0.0,
            "slippage": 0.0,
            "financing": 0.0,
        }
        self.traded_notional = 0.0
        # ids seen, for refusing a duplicate: the most recent KNOWN_IDS of them (bounded, so a
        # long run does not grow with every order; uniqueness beyond that is the order
        # manager's write-ahead store's job)
        self._known_ids: set[str] = set()
        self._known_order: deque[str] = deque()
        self._next_order = 1
        self._next_fill = 1
        self._next_rollover = 0
        self._rollover_days = 1
        self._has_fx = any(s.asset_class is AssetClass.FX for s in instruments.values())

    @property
    def commission_paid(self) -> float:
        return self.paid["commission"]

    # --- state as plain data (a restarted sim-exchange server resumes from it) ------------

    def engine_state(self) -> dict[str, Any]:
        """Balance, positions, working orders (brackets and trailing state included), known
        ids and counters as plain data: :meth:`restore_engine` takes it back."""
        return {
            "balance": self.balance,
            "mids": dict(self.mids),
            "paid": dict(self.paid),
            "traded_notional": self.traded_notional,
            "known_ids": list(self._known_order),
            "next_order": self._next_order,
            "next_fill": self._next_fill,
            "next_rollover": self._next_rollover,
            "rollover_days": self._rollover_days,
            "books": {
                symbol: {
                    "position": [book.position.quantity, book.position.avg_price],
                    "last_price": book.last_price,
                    "working": [_working_state(w) for w in book.working],
                }
                for symbol, book in self.books.items()
            },
        }

    def restore_engine(self, state: dict[str, Any]) -> None:
        """Put ``state`` (from :meth:`engine_state`) into this freshly built engine; an
        instrument no longer configured is left out."""
        self.balance = float(state["balance"])
        self.mids.update(state["mids"])
        self.paid.update(state["paid"])
        self.traded_notional = float(state["traded_notional"])
        self._known_order = deque(state["known_ids"])
        self._known_ids = set(self._known_order)
        self._next_order = int(state["next_order"])
        self._next_fill = int(state["next_fill"])
        self._next_rollover = int(state["next_rollover"])
        self._rollover_days = int(state["rollover_days"])
        for symbol, saved in state["books"].items():
            book = self.books.get(symbol)
            if book is None:
                continue
            quantity, avg_price = saved["position"]
            book.position = PositionState(float(quantity), float(avg_price))
            book.last_price = float(saved["last_price"])
            book.working = [
                Working(
                    order=msgspec.convert(w["order"], Order),
                    venue_id=w["venue_id"],
                    arrival_ns=int(w["arrival_ns"]),
                    oco=tuple(w["oco"]),
                    triggered=bool(w["triggered"]),
                    best=w["best"],
                )
                for w in saved["working"]
            ]

    def describe(self) -> dict[str, object]:
        """The venue's set-up, as printed with backtest results."""
        return {
            **self.costs.describe(),
            "latency": self.latency.describe(),
            "financing": self.financing.describe(),
            "margin_closeout_level": self.closeout_level,
        }

    # --- requests -------------------------------------------------------------------------

    def submit(self, order: Order, now_ns: int) -> list[Message]:
        problem = self._validate(order)
        if problem is not None:
            code, reason = problem
            return [_rejected(order.client_order_id, now_ns, code, reason)]
        self._remember(order.client_order_id)
        working = self._rest(order, now_ns + self.latency.delay_ns())
        return [_accepted(working, now_ns)]

    def cancel(self, client_order_id: str, now_ns: int) -> list[Message]:
        found = self._find(client_order_id)
        if found is None:
            return [
                RequestRejected(
                    ts_event=now_ns,
                    client_order_id=client_order_id,
                    request="cancel",
                    code="order_not_found",
                    reason="no working order with this id (filled, cancelled or never accepted)",
                )
            ]
        self.books[found.order.instrument].working.remove(found)
        return [_cancelled(found, now_ns, "cancelled")]

    def modify(self, request: ModifyOrder, now_ns: int) -> list[Message]:
        found = self._find(request.client_order_id)
        changes = {
            name: value
            for name in ("quantity", "limit_price", "stop_price", "trailing_distance")
            if (value := getattr(request, name)) is not None
        }
        new = msgspec.structs.replace(found.order, **changes) if found else None
        problem = "order_not_found" if new is None else None
        reason = "no working order with this id"
        if new is not None:
            spec = self.instruments[new.instrument]
            terms = check_terms(new) or self._quantity_problem(new, spec)
            if terms is not None:
                problem, reason = "invalid_terms", terms
        if problem is not None or found is None or new is None:
            return [
                RequestRejected(
                    ts_event=now_ns,
                    client_order_id=request.client_order_id,
                    request="modify",
                    code=problem or "invalid_terms",
                    reason=reason,
                )
            ]
        found.order = new
        if "trailing_distance" in changes:
            found.best = None
        return [OrderModified(ts_event=now_ns, order=new, venue_order_id=found.venue_id)]

    def _remember(self, client_order_id: str) -> None:
        self._known_ids.add(client_order_id)
        self._known_order.append(client_order_id)
        if len(self._known_order) > KNOWN_IDS:
            self._known_ids.discard(self._known_order.popleft())

    def _rest(self, order: Order, arrival_ns: int, oco: tuple[str, ...] = ()) -> Working:
        working = Working(order, f"{self.id_prefix}S{self._next_order}", arrival_ns, oco)
        self._next_order += 1
        self.books[order.instrument].working.append(working)
        return working

    def _find(self, client_order_id: str) -> Working | None:
        for book in self.books.values():
            for working in book.working:
                if working.order.client_order_id == client_order_id:
                    return working
        return None

    def _validate(self, order: Order) -> tuple[str, str] | None:
        spec = self.instruments.get(order.instrument)
        if spec is None:
            return "unknown_instrument", f"{order.instrument} is not traded at this venue"
        if order.client_order_id in self._known_ids:
            return "duplicate_client_order_id", f"{order.client_order_id} was already received"
        terms = check_terms(order) or self._quantity_problem(order, spec)
        if terms is not None:
            return "invalid_terms", terms
        price = self.books[order.instrument].last_price
        if price and self._rate(spec, price) is None:
            return "no_conversion_rate", f"no price converts {spec.quote} to {self.currency}"
        if price and self._margin_after(order.instrument, order.side, order.quantity, price) > (
            self.equity()
        ):
            return "insufficient_margin", "the order would use more margin than the equity"
        return None

    @staticmethod
    def _quantity_problem(order: Order, spec: InstrumentSpec) -> str | None:
        if spec.min_quantity - 1e-9 <= order.quantity <= spec.max_quantity + 1e-9:
            return None
        return f"quantity {order.quantity:g} outside [{spec.min_quantity:g}, {spec.max_quantity:g}]"

    def _margin_after(self, instrument: str, side: Side, quantity: float, price: float) -> float:
        """Margin used if this trade happened now; a trade that reduces exposure never adds."""
        spec = self.instruments[instrument]
        book = self.books[instrument]
        old = book.position.quantity
        new = old + side.sign * quantity
        if abs(new) <= abs(old) + EPS and (new == 0 or (new > 0) == (old > 0)):
            return 0.0
        return self.margin_used() - self._margin(spec, old, price) + self._margin(spec, new, price)

    # --- market data ----------------------------------------------------------------------

    def on_bar(self, bar: Bar) -> list[Message]:
        """Book any rollover before the bar, match working orders on it, mark to its close."""
        out: list[Message] = []
        instrument = bar.instrument
        spec = self.instruments.get(instrument)
        if spec is None:
            return out
        if self._has_fx and bar.ts_open >= self._next_rollover:
            self._rollovers(bar.ts_open, out)
        book = self.books[instrument]
        if not book.last_price:
            book.last_price = bar.open
        if book.working:
            half = self.costs.spread_pips * spec.pip_size / 2.0
            self._match_bar(bar, spec, book, half, out)
        book.last_price = self.mids[instrument] = bar.close
        unrealized, used = self._totals()
        if used and self.balance + unrealized <= used * self.closeout_level:
            self._closeout(bar.ts_event, out)
            unrealized, used = self._totals()
        paid = self.paid
        out.append(  # _account, inlined: once per bar
            AccountState(
                ts_event=bar.ts_event,
                currency=self.currency,
                balance=self.balance,
                equity=self.balance + unrealized,
                margin_used=used,
                commission_paid=paid["commission"],
                financing=-paid["financing"],
            )
        )
        return out

    def _match_bar(
        self, bar: Bar, spec: InstrumentSpec, book: _Book, half: float, out: list[Message]
    ) -> None:
        pending = [w for w in book.working if w.arrival_ns <= bar.ts_open]
        while pending:
            working = pending.pop(0)
            if working not in book.working:
                continue  # cancelled by its bracket partner earlier in this bar
            if self._expired(working, bar.ts_open, out):
                continue
            side = working.order.side.sign * half
            hit = match_bar(working, bar.open + side, bar.high + side, bar.low + side)
            if hit is None:
                if working.immediate:
                    book.working.remove(working)
                    out.append(_cancelled(working, bar.ts_open, "not filled at once (IOC/FOK)"))
                continue
            price, taker = hit
            children = self._execute(working, price, taker, half, bar.ts_open, spec, out)
            # A new bracket's stop-loss watches the rest of this bar; its take-profit waits.
            pending[:0] = [c for c in children if c.order.order_type is not OrderType.LIMIT]
            for child in children:
                if child.order.order_type is OrderType.LIMIT:
                    child.arrival_ns = max(child.arrival_ns, bar.ts_event)

    def on_quote(self, quote: Quote) -> list[Message]:
        """Book any rollover, mark to the mid, then match working orders: buys at the ask,
        sells at the bid."""
        out: list[Message] = []
        instrument = quote.instrument
        spec = self.instruments.get(instrument)
        if spec is None:
            return out
        ts = quote.ts_event
        if self._has_fx and ts >= self._next_rollover:
            self._rollovers(ts, out)
        book = self.books[instrument]
        book.last_price = self.mids[instrument] = (quote.bid + quote.ask) / 2.0  # _mark
        if book.working:
            for working in [w for w in book.working if w.arrival_ns <= ts]:
                if working not in book.working or self._expired(working, ts, out):
                    continue
                price = match_quote(working, quote.bid, quote.ask)
                if price is None:
                    if working.immediate:
                        book.working.remove(working)
                        out.append(_cancelled(working, ts, "not filled at once (IOC/FOK)"))
                    continue
                spread_cost = (quote.ask - quote.bid) / 2.0
                self._execute(working, price, is_taker(working.order), spread_cost, ts, spec, out)
        unrealized, used = self._totals()
        if used and self.balance + unrealized <= used * self.closeout_level:
            self._closeout(ts, out)
        if out:
            out.append(self.account_state(ts))
        return out

    def _expired(self, working: Working, ts: int, out: list[Message]) -> bool:
        order = working.order
        if order.time_in_force != TimeInForce.GTD or ts < order.expire_ns:
            return False
        self.books[order.instrument].working.remove(working)
        out.append(_cancelled(working, ts, "expired (GTD)"))
        return True

    # --- executions -----------------------------------------------------------------------

    def _execute(
        self,
        working: Working,
        price: float,
        taker: bool,
        half_spread: float,
        ts: int,
        spec: InstrumentSpec,
        out: list[Message],
    ) -> list[Working]:
        """Fill ``working`` at ``price`` (plus slippage for takers); attach bracket legs and
        cancel a filled leg's partner. Returns the bracket legs it created."""
        reducing = working.order.parent_id or working.order.reduce_only
        if reducing and not self._reduce_only(working, ts, out):
            return []
        order = working.order
        book = self.books[order.instrument]
        book.working.remove(working)
        slip = self.costs.slippage_pips * spec.pip_size if taker else 0.0
        price = spec.round_price(price + order.side.sign * slip)
        if self._margin_after(order.instrument, order.side, order.quantity, price) > self.equity():
            out.append(_cancelled(working, ts, "insufficient_margin at fill time"))
            return []
        rate = self._rate(spec, price)
        if rate is None:
            out.append(_cancelled(working, ts, f"no price converts {spec.quote}"))
            return []
        out.append(self._book_fill(order, working.venue_id, price, ts, spec, rate, half_spread))
        self.paid["slippage"] += slip * order.quantity * rate
        for partner_id in working.oco:
            partner = self._find(partner_id)
            if partner is not None:
                self.books[partner.order.instrument].working.remove(partner)
                out.append(_cancelled(partner, ts, f"OCO: {order.client_order_id} filled"))
        if book.working:
            self._cancel_orphan_legs(order.instrument, ts, out)
        return self._attach_bracket(working, ts, out)

    def _book_fill(
        self,
        order: Order,
        venue_id: str,
        price: float,
        ts: int,
        spec: InstrumentSpec,
        rate: float,
        half_spread: float,
    ) -> Fill:
        book = self.books[order.instrument]
        book.position, realized_quote = apply_fill(book.position, order.side, order.quantity, price)
        notional = order.quantity * price * rate
        commission = self.costs.commission(order.quantity, notional)
        self.balance += realized_quote * rate - commission
        self.paid["commission"] += commission
        self.paid["spread"] += half_spread * order.quantity * rate
        self.traded_notional += notional
        fill_id = f"{self.id_prefix}F{self._next_fill}"
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
            quote_rate=rate,
            parent_id=order.parent_id,
        )

    def _attach_bracket(self, entry: Working, ts: int, out: list[Message]) -> list[Working]:
        order = entry.order
        legs = bracket_legs(
            order,
            quantity=order.quantity,
            ts=ts,
            base=order.client_order_id,
            stop_loss=order.stop_loss,
            take_profit=order.take_profit,
            trailing_stop=order.trailing_stop,
        )
        created = []
        for leg in legs:
            partners = tuple(o.client_order_id for o in legs if o is not leg)
            self._remember(leg.client_order_id)
            working = self._rest(leg, ts, oco=partners)
            out.append(leg)
            out.append(_accepted(working, ts))
            created.append(working)
        return created

    def _reduce_only(self, working: Working, ts: int, out: list[Message]) -> bool:
        """A bracket leg or a reduce-only order only closes what is left of the position: cut
        to its size (announced as a modification), or cancelled when nothing is left to close.
        Returns whether the order may still fill."""
        order = working.order
        held = self.books[order.instrument].position.quantity
        closable = abs(held) if held * order.side.sign < 0 else 0.0
        if closable < EPS:
            self.books[order.instrument].working.remove(working)
            out.append(_cancelled(working, ts, "nothing left to reduce: the position is closed"))
            return False
        if order.quantity > closable + EPS:
            working.order = msgspec.structs.replace(order, quantity=closable)
            out.append(
                OrderModified(ts_event=ts, order=working.order, venue_order_id=working.venue_id)
            )
        return True

    def _cancel_orphan_legs(self, instrument: str, ts: int, out: list[Message]) -> None:
        """After a fill that left the position flat or turned it round, bracket legs that would
        now add to it instead of closing it are cancelled (their position is gone)."""
        book = self.books[instrument]
        held = book.position.quantity
        for working in [w for w in book.working if w.order.parent_id]:
            if abs(held) < EPS or held * working.order.side.sign > 0:
                book.working.remove(working)
                out.append(_cancelled(working, ts, "linked position closed"))

    # --- account --------------------------------------------------------------------------

    def _rollovers(self, ts: int, out: list[Message]) -> None:
        """Book financing for every rollover passed by ``ts`` (several after a data gap)."""
        while self._next_rollover and ts >= self._next_rollover:
            at, days = self._next_rollover, self._rollover_days
            for symbol, book in self.books.items():
                spec = self.instruments[symbol]
                qty = book.position.quantity
                if spec.asset_class is not AssetClass.FX or abs(qty) < EPS:
                    continue
                rate = self._rate(spec, book.last_price) or 0.0
                notional = abs(qty) * book.last_price * rate
                amount = self.financing.amount(symbol, qty, notional, days)
                if amount:
                    self.balance += amount
                    self.paid["financing"] -= amount
                    out.append(
                        Financing(
                            ts_event=at,
                            instrument=symbol,
                            quantity=qty,
                            amount=amount,
                            days=days,
                            currency=self.currency,
                        )
                    )
            self._next_rollover, self._rollover_days = fx_next_rollover(at)
        if not self._next_rollover:
            self._next_rollover, self._rollover_days = fx_next_rollover(ts)

    def _closeout(self, ts: int, out: list[Message]) -> None:
        """Close every position at its current mark: equity fell to the closeout level."""
        used = self.margin_used()
        equity = self.equity()
        for symbol, book in sorted(self.books.items()):
            qty = book.position.quantity
            if abs(qty) < EPS:
                continue
            side = Side.SELL if qty > 0 else Side.BUY
            spec = self.instruments[symbol]
            price = book.last_price
            order = Order(
                ts_event=ts,
                client_order_id=f"{self.id_prefix}closeout-{self._next_fill}",
                strategy_id="margin_closeout",
                instrument=symbol,
                side=side,
                quantity=abs(qty),
            )
            rate = self._rate(spec, price) or 0.0
            out.append(self._book_fill(order, "closeout", price, ts, spec, rate, 0.0))
            self._cancel_orphan_legs(symbol, ts, out)
        out.append(
            Alert(
                ts_event=ts,
                level=AlertLevel.CRITICAL,
                code="margin_closeout",
                text=f"equity {equity:.2f} fell to {self.closeout_level:.0%} of margin used "
                f"{used:.2f}: all positions closed",
                source="venue",
            )
        )

    def _rate(self, spec: InstrumentSpec, price: float) -> float | None:
        if spec.quote == self.currency:
            return 1.0
        return quote_to_account_rate(spec, price, self.currency, self.mids)

    def _totals(self) -> tuple[float, float]:
        """Unrealised P&L and margin used, in the account currency, in one pass. (Marks take
        it on every bar and quote: a rate of 1 is not multiplied by, which changes no bit.)"""
        unrealized = used = 0.0
        for book in self._book_list:
            position = book.position
            qty = position.quantity
            if -EPS < qty < EPS:
                continue
            price = book.last_price
            if book.unit_rate:
                unrealized += (price - position.avg_price) * qty
                used += (qty if qty > 0.0 else -qty) * price * book.margin_rate
                continue
            rate = self._rate(book.spec, price) or 0.0
            unrealized += (price - position.avg_price) * qty * rate
            used += abs(qty) * price * book.margin_rate * rate
        return unrealized, used

    def _margin(self, spec: InstrumentSpec, quantity: float, price: float) -> float:
        return abs(quantity) * price * spec.margin_rate * (self._rate(spec, price) or 0.0)

    def unrealized(self) -> float:
        return self._totals()[0]

    def equity(self) -> float:
        return self.balance + self._totals()[0]

    def margin_used(self) -> float:
        return self._totals()[1]

    def account_state(self, ts: int) -> AccountState:
        unrealized, used = self._totals()
        return self._account(ts, self.balance + unrealized, used)

    def _account(self, ts: int, equity: float, used: float) -> AccountState:
        return AccountState(
            ts_event=ts,
            currency=self.currency,
            balance=self.balance,
            equity=equity,
            margin_used=used,
            commission_paid=self.paid["commission"],
            financing=-self.paid["financing"],
        )

    def position(self, instrument: str) -> PositionState:
        return self.books[instrument].position

    def working_orders(self) -> Iterable[Order]:
        for book in self.books.values():
            for working in book.working:
                yield working.order


def _accepted(working: Working, ts: int) -> OrderAccepted:
    return OrderAccepted(
        ts_event=ts, client_order_id=working.order.client_order_id, venue_order_id=working.venue_id
    )


def _rejected(client_order_id: str, ts: int, code: str, reason: str) -> OrderRejected:
    return OrderRejected(ts_event=ts, client_order_id=client_order_id, code=code, reason=reason)


def _cancelled(working: Working, ts: int, reason: str) -> OrderCancelled:
    return OrderCancelled(
        ts_event=ts,
        client_order_id=working.order.client_order_id,
        venue_order_id=working.venue_id,
        reason=reason,
    )


def _working_state(w: Working) -> dict[str, Any]:
    return {
        "order": msgspec.to_builtins(w.order),
        "venue_id": w.venue_id,
        "arrival_ns": w.arrival_ns,
        "oco": list(w.oco),
        "triggered": w.triggered,
        "best": w.best,
    }
