"""The backtest's files: trades.csv, orders.csv, equity.csv and metrics.json.

Everything here is a pure function of the ledger, so the same run writes the same bytes:
no wall-clock times, no dictionaries in insertion-random order, floats printed by ``repr``.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from algotrading.backtest.ledger import Ledger
from algotrading.data.instruments import InstrumentSpec
from algotrading.messages import Fill, Side
from algotrading.sim.accounting import EPS, quote_to_account_rate
from algotrading.timestamps import iso_utc

NS_PER_DAY = 86_400 * 10**9


@dataclass(frozen=True)
class ClosedTrade:
    instrument: str
    side: Side  # side of the entry: BUY = long
    quantity: float
    entry_time: int
    exit_time: int
    entry_price: float
    exit_price: float
    pnl: float  # account currency, net of the commissions of its entry and exit


def closed_trades(
    fills: Sequence[Fill], instruments: dict[str, InstrumentSpec], account_currency: str
) -> list[ClosedTrade]:
    """Round trips from fills: a trade opens when a position leaves flat and closes (in whole
    or in part) when fills reduce it; its entry price is the average of its entries. P&L is
    converted at the exit fill, as the venue books it."""
    open_: dict[str, dict[str, Any]] = {}
    trades: list[ClosedTrade] = []
    for fill in fills:
        spec = instruments[fill.instrument]
        signed = fill.side.sign * fill.quantity
        remaining, commission = fill.quantity, fill.commission
        state = open_.get(fill.instrument)
        if state and (state["qty"] > 0) != (signed > 0):
            closing = min(abs(state["qty"]), fill.quantity)
            rate = quote_to_account_rate(spec, fill.price, account_currency, {})
            if rate is None:  # the venue refuses such orders; reaching here is a bug
                raise ValueError(f"no rate converts {spec.quote} to {account_currency}")
            direction = 1.0 if state["qty"] > 0 else -1.0
            share = closing / abs(state["qty"])
            entry_commission = state["commission"] * share
            exit_commission = commission * closing / fill.quantity
            pnl = (fill.price - state["avg"]) * closing * direction * rate
            trades.append(
                ClosedTrade(
                    instrument=fill.instrument,
                    side=Side.BUY if direction > 0 else Side.SELL,
                    quantity=closing,
                    entry_time=state["time"],
                    exit_time=fill.ts_event,
                    entry_price=state["avg"],
                    exit_price=fill.price,
                    pnl=pnl - entry_commission - exit_commission,
                )
            )
            state["qty"] -= direction * closing
            state["commission"] -= entry_commission
            remaining -= closing
            commission -= exit_commission
            if abs(state["qty"]) < EPS:
                del open_[fill.instrument]
                state = None
        if remaining > EPS:
            if state is None:
                open_[fill.instrument] = {
                    "qty": fill.side.sign * remaining,
                    "avg": fill.price,
                    "time": fill.ts_event,
                    "commission": commission,
                }
            else:
                total = abs(state["qty"]) + remaining
                state["avg"] = (state["avg"] * abs(state["qty"]) + fill.price * remaining) / total
                state["qty"] += fill.side.sign * remaining
                state["commission"] += commission
    return trades


def write_trades(path: Path, trades: Sequence[ClosedTrade]) -> None:
    with path.open("w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(
            [
                "instrument",
                "side",
                "quantity",
                "entry_time",
                "exit_time",
                "entry_price",
                "exit_price",
                "pnl",
            ]
        )
        for t in trades:
            out.writerow(
                [
                    t.instrument,
                    "LONG" if t.side is Side.BUY else "SHORT",
                    _num(t.quantity),
                    iso_utc(t.entry_time),
                    iso_utc(t.exit_time),
                    _num(t.entry_price),
                    _num(t.exit_price),
                    f"{t.pnl:.2f}",
                ]
            )


def write_orders(path: Path, ledger: Ledger) -> None:
    with path.open("w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(
            [
                "client_order_id",
                "time",
                "instrument",
                "side",
                "quantity",
                "type",
                "status",
                "fill_time",
                "fill_price",
            ]
        )
        for o in ledger.orders:
            cid = o.client_order_id
            fill_time = ledger.order_fill_time.get(cid)
            fill_price = ledger.order_fill_price.get(cid)
            out.writerow(
                [
                    cid,
                    iso_utc(o.ts_event),
                    o.instrument,
                    o.side.value,
                    _num(o.quantity),
                    o.order_type.value,
                    ledger.order_status.get(cid, ""),
                    iso_utc(fill_time) if fill_time is not None else "",
                    _num(fill_price) if fill_price is not None else "",
                ]
            )


def write_equity(path: Path, equity: Sequence[tuple[int, float]]) -> None:
    with path.open("w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["time", "equity"])
        for ts, value in equity:
            out.writerow([iso_utc(ts), f"{value:.2f}"])


def _num(x: float) -> str:
    return repr(int(x)) if float(x).is_integer() else repr(x)


def compute_metrics(
    equity: Sequence[tuple[int, float]],
    trades: Sequence[ClosedTrade],
    initial: float,
    commission_paid: float,
    periods_per_year: int = 252,
) -> dict[str, Any]:
    """First metrics: returns, drawdown, Sharpe of daily returns (empyrical's definition:
    mean / std(ddof=1) * sqrt(periods_per_year)), and trade statistics."""
    final = equity[-1][1] if equity else initial
    values = [initial] + [v for _, v in equity]
    peak, max_dd = values[0], 0.0
    for v in values:
        peak = max(peak, v)
        max_dd = min(max_dd, v / peak - 1.0)
    daily = _daily_returns(equity, initial)
    sharpe = None
    if len(daily) > 1:
        mean = sum(daily) / len(daily)
        std = math.sqrt(sum((r - mean) ** 2 for r in daily) / (len(daily) - 1))
        sharpe = mean / std * math.sqrt(periods_per_year) if std > 0 else None
    wins = [t.pnl for t in trades if t.pnl > 0]
    losses = [t.pnl for t in trades if t.pnl <= 0]
    gross_loss = -sum(losses)
    return {
        "initial_equity": round(initial, 2),
        "final_equity": round(final, 2),
        "total_return": _round(final / initial - 1.0),
        "max_drawdown": _round(max_dd),
        "sharpe": _round(sharpe),
        "n_trades": len(trades),
        "win_rate": _round(len(wins) / len(trades)) if trades else None,
        "profit_factor": _round(sum(wins) / gross_loss) if gross_loss > 0 else None,
        "net_pnl_closed_trades": round(sum(t.pnl for t in trades), 2),
        "commission_paid": round(commission_paid, 2),
        "periods_per_year": periods_per_year,
    }


def _daily_returns(equity: Sequence[tuple[int, float]], initial: float) -> list[float]:
    """Returns between the last marks of consecutive UTC days with data."""
    closes: list[float] = []
    last_day = None
    for ts, value in equity:
        day = ts // NS_PER_DAY
        if day != last_day:
            closes.append(value)
            last_day = day
        else:
            closes[-1] = value
    prev, out = initial, []
    for value in closes:
        out.append(value / prev - 1.0)
        prev = value
    return out


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 10)


def write_metrics(path: Path, metrics: dict[str, Any]) -> None:
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
