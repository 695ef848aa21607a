"""Performance metrics of a backtest, from a streaming record of its equity marks.

A long backtest marks equity millions of times, so the marks are folded as they come into
what the metrics need: the last equity of each UTC day, the peak and deepest drawdown over
every mark, the longest time under water, and the share of marks spent with a position.
Ratios follow empyrical's definitions on the daily returns (risk-free rate 0), so they can be
checked against it; anything undefined is ``None``, never NaN or infinity, so the JSON stays
valid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np
from numpy.typing import NDArray

NS_PER_DAY = 86_400 * 10**9
SIGNIFICANT_DIGITS = 12


class EquityTracker:
    """Folds equity marks, in time order, into state that grows by day, not by mark."""

    __slots__ = (
        "_closes",
        "_day",
        "_days",
        "_exposed",
        "_longest_underwater_ns",
        "_marks",
        "_max_drawdown",
        "_peak",
        "_peak_ts",
        "_underwater",
        "first_ts",
        "last_ts",
    )

    def __init__(self) -> None:
        self._days: list[int] = []  # UTC day numbers (ts // NS_PER_DAY) that have marks
        self._closes: list[float] = []  # last equity of each of those days
        self._day: int | None = None
        self._marks = 0
        self._exposed = 0
        self._peak = -math.inf
        self._peak_ts = 0
        self._max_drawdown = 0.0
        self._underwater = False
        self._longest_underwater_ns = 0
        self.first_ts: int | None = None
        self.last_ts: int | None = None

    def mark(self, ts_ns: int, equity: float, exposed: bool) -> None:
        """Record the equity at ``ts_ns``; ``exposed`` says whether a position was open."""
        last_ts = self.last_ts
        if last_ts is None:
            self.first_ts = ts_ns
        elif ts_ns < last_ts:
            raise ValueError(f"equity mark at {ts_ns} is before the previous one at {last_ts}")
        self.last_ts = ts_ns
        self._marks += 1
        if exposed:
            self._exposed += 1
        day = ts_ns // NS_PER_DAY
        if day == self._day:
            self._closes[-1] = equity
        else:
            self._day = day
            self._days.append(day)
            self._closes.append(equity)
        if equity >= self._peak:
            if self._underwater:
                self._longest_underwater_ns = max(
                    self._longest_underwater_ns, ts_ns - self._peak_ts
                )
                self._underwater = False
            self._peak, self._peak_ts = equity, ts_ns
        else:
            self._underwater = True
            if self._peak > 0:
                self._max_drawdown = min(self._max_drawdown, equity / self._peak - 1.0)

    def mark_many(
        self,
        ts_ns: NDArray[np.int64],
        equity: NDArray[np.float64],
        exposed: NDArray[np.bool_],
    ) -> None:
        """:meth:`mark` of many marks at once (a backtest folds its marks in batches): the
        same state, bit for bit, as marking them one by one."""
        n = len(ts_ns)
        if n == 0:
            return
        if self.last_ts is not None and int(ts_ns[0]) < self.last_ts:
            raise ValueError(
                f"equity mark at {int(ts_ns[0])} is before the previous one at {self.last_ts}"
            )
        back = np.flatnonzero(ts_ns[1:] < ts_ns[:-1])
        if len(back):
            i = int(back[0])
            self.mark_many(ts_ns[: i + 1], equity[: i + 1], exposed[: i + 1])
            self.mark(int(ts_ns[i + 1]), float(equity[i + 1]), bool(exposed[i + 1]))  # raises
        if self.last_ts is None:
            self.first_ts = int(ts_ns[0])
        self.last_ts = int(ts_ns[-1])
        self._marks += n
        self._exposed += int(np.count_nonzero(exposed))
        # the last equity of each day: the last mark of each run of equal day numbers
        days = ts_ns // NS_PER_DAY
        ends = np.append(np.flatnonzero(days[1:] != days[:-1]), n - 1)
        run_days = days[ends].tolist()
        run_closes = equity[ends].tolist()
        if run_days[0] == self._day:
            self._closes[-1] = run_closes[0]
            run_days, run_closes = run_days[1:], run_closes[1:]
        self._days.extend(run_days)
        self._closes.extend(run_closes)
        self._day = int(days[-1])
        # the running peak each mark is compared with (NaN never becomes a peak, as in mark)
        before = np.empty(n)
        before[0] = self._peak
        if n > 1:
            before[1:] = np.fmax(np.fmax.accumulate(equity[:-1]), self._peak)
        peak = equity >= before
        below = ~peak & (before > 0)
        if below.any():
            drawdowns = equity[below] / before[below] - 1.0
            drawdowns = drawdowns[~np.isnan(drawdowns)]
            if len(drawdowns):
                deepest = float(drawdowns.min())
                if deepest < self._max_drawdown:
                    self._max_drawdown = deepest
        at = np.flatnonzero(peak)
        if len(at):
            # a new peak ends a time under water if the mark before it was below its peak
            was_under = np.empty(len(at), dtype=bool)
            was_under[0] = self._underwater if at[0] == 0 else True
            was_under[1:] = at[1:] != at[:-1] + 1
            since = np.empty(len(at), dtype=np.int64)
            since[0] = self._peak_ts
            since[1:] = ts_ns[at[:-1]]
            if was_under.any():
                longest = int((ts_ns[at] - since)[was_under].max())
                self._longest_underwater_ns = max(self._longest_underwater_ns, longest)
            self._peak = float(equity[at[-1]])
            self._peak_ts = int(ts_ns[at[-1]])
        self._underwater = not bool(peak[-1])

    @property
    def daily(self) -> list[tuple[int, float]]:
        """(start of the UTC day in ns, last equity of that day) for each day with marks."""
        return [
            (day * NS_PER_DAY, close) for day, close in zip(self._days, self._closes, strict=True)
        ]

    @property
    def n_marks(self) -> int:
        return self._marks

    @property
    def final_equity(self) -> float | None:
        return self._closes[-1] if self._closes else None

    @property
    def exposure(self) -> float | None:
        """Share of marks taken with a position open."""
        return self._exposed / self._marks if self._marks else None

    @property
    def max_drawdown_marks(self) -> float:
        """Deepest fall from a running peak over every mark, as a negative fraction."""
        return self._max_drawdown

    @property
    def max_drawdown_duration_ns(self) -> int:
        """Longest time from a peak to the first mark that regains it, or to the last mark."""
        ongoing = 0
        if self._underwater and self.last_ts is not None:
            ongoing = self.last_ts - self._peak_ts
        return max(self._longest_underwater_ns, ongoing)


def daily_returns(daily: Sequence[tuple[int, float]]) -> list[float]:
    """Simple returns between consecutive days that have marks; days without marks (weekends)
    are skipped and the first day has no return. Equal to pandas'
    ``resample('1D').last().dropna().pct_change().dropna()`` on the marks. A return from zero
    equity is NaN, which leaves the ratios that depend on it undefined."""
    closes = [equity for _, equity in daily]
    return [close / prev - 1.0 if prev else math.nan for prev, close in pairwise(closes)]


def compute_metrics(
    tracker: EquityTracker,
    trade_pnls: Sequence[float],
    *,
    initial: float,
    costs_paid: dict[str, float],
    traded_notional: float,
    periods_per_year: int = 252,
) -> dict[str, Any]:
    """The backtest's metrics as a JSON-ready dict; ``costs_paid`` holds the cost components
    (commission, spread, ...) in account currency, and their total is added."""
    daily = tracker.daily
    initial = float(initial)
    last = tracker.final_equity
    final = initial if last is None else float(last)
    metrics: dict[str, Any] = {
        "initial_equity": initial,
        "final_equity": final,
        "total_return": final / initial - 1.0 if initial else None,
    }
    metrics.update(return_ratios(daily_returns(daily), periods_per_year))
    metrics["max_drawdown_marks"] = tracker.max_drawdown_marks
    metrics["max_drawdown_duration_days"] = tracker.max_drawdown_duration_ns / NS_PER_DAY
    metrics.update(trade_statistics(trade_pnls))
    metrics["exposure"] = tracker.exposure
    metrics["turnover"] = _annual_turnover(traded_notional, daily, periods_per_year)
    costs = {name: costs_paid[name] for name in sorted(costs_paid)}
    costs["total"] = sum(costs_paid.values())
    metrics["costs"] = {name: _clean(value) for name, value in costs.items()}
    metrics["periods_per_year"] = periods_per_year
    metrics["n_days"] = len(daily)
    return {
        name: _clean(value) if isinstance(value, float) else value
        for name, value in metrics.items()
    }


def return_ratios(returns: Sequence[float], periods_per_year: int) -> dict[str, float | None]:
    """cagr, annual_volatility, sharpe, sortino, max_drawdown and calmar, as empyrical
    computes them on ``returns`` with ``annualization=periods_per_year``."""
    out: dict[str, float | None] = dict.fromkeys(
        ("cagr", "annual_volatility", "sharpe", "sortino", "max_drawdown", "calmar")
    )
    r = np.asarray(returns, dtype=np.float64)
    n = len(r)
    if n == 0:
        return out
    growth = float(np.prod(r + 1.0))
    if growth >= 0:  # a negative product has no real root
        out["cagr"] = growth ** (1.0 / (n / periods_per_year)) - 1.0
    wealth = np.empty(n + 1)
    wealth[0] = 100.0  # empyrical anchors the running peak at the start
    wealth[1:] = np.cumprod(r + 1.0) * 100.0
    peaks = np.fmax.accumulate(wealth)
    max_drawdown = float(np.min(((wealth - peaks) / peaks)[1:]))
    out["max_drawdown"] = max_drawdown
    cagr = out["cagr"]
    if max_drawdown < 0 and cagr is not None:
        out["calmar"] = cagr / abs(max_drawdown)
    if n < 2:
        return out
    mean = float(np.mean(r))
    # identical returns have zero spread; their float mean can leave a residue of 1e-18
    std = 0.0 if r.max() == r.min() else float(np.std(r, ddof=1))
    out["annual_volatility"] = std * math.sqrt(periods_per_year)
    if std > 0:
        out["sharpe"] = mean / std * math.sqrt(periods_per_year)
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2))) * math.sqrt(periods_per_year)
    if downside > 0:
        out["sortino"] = mean * periods_per_year / downside
    return out


def trade_statistics(trade_pnls: Sequence[float]) -> dict[str, Any]:
    """Counts and averages of closed trades' P&L; a trade with zero P&L is neither win nor
    loss."""
    pnls = list(trade_pnls)
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p < 0]
    gross_loss = -sum(losses)
    return {
        "n_trades": len(pnls),
        "win_rate": len(wins) / len(pnls) if pnls else None,
        "profit_factor": sum(wins) / gross_loss if gross_loss > 0 else None,
        "expectancy": sum(pnls) / len(pnls) if pnls else None,
        "avg_win": sum(wins) / len(wins) if wins else None,
        "avg_loss": sum(losses) / len(losses) if losses else None,
        "largest_win": max(wins) if wins else None,
        "largest_loss": min(losses) if losses else None,
        "net_pnl_closed_trades": float(sum(pnls)),
    }


def _annual_turnover(
    traded_notional: float, daily: Sequence[tuple[int, float]], periods_per_year: int
) -> float | None:
    """Traded notional over average daily equity, per year of ``periods_per_year`` days."""
    if not daily:
        return None
    average_equity = sum(equity for _, equity in daily) / len(daily)
    if average_equity <= 0:
        return None
    return traded_notional / average_equity * periods_per_year / len(daily)


def _clean(x: float | None) -> float | None:
    """``x`` to 12 significant digits, so the JSON is byte-stable; NaN and infinity to None."""
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.{SIGNIFICANT_DIGITS}g}")
