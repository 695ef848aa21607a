"""report.html: one self-contained page that shows what a backtest did, readable offline.

The plotly.js library is inlined once, with the first figure; every id is fixed and nothing
records when the page was made, so the same run writes the same bytes.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from algotrading.backtest.ledger import ClosedTrade
from algotrading.messages import Side
from algotrading.timestamps import iso_utc

NS_PER_SECOND = 10**9
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
TEMPLATE = "plotly_white"
PLOT_CONFIG = {"displaylogo": False, "responsive": True}
BEST_WORST = 5
ENTRY_MARKERS = ((Side.BUY, "triangle-up", "#16a34a"), (Side.SELL, "triangle-down", "#dc2626"))

# headline metrics in the order shown, each with how its value is printed
HEADLINE = (
    ("initial_equity", "Initial equity", "money"),
    ("final_equity", "Final equity", "money"),
    ("total_return", "Total return", "percent"),
    ("cagr", "CAGR", "percent"),
    ("annual_volatility", "Annual volatility", "percent"),
    ("sharpe", "Sharpe", "ratio"),
    ("sortino", "Sortino", "ratio"),
    ("calmar", "Calmar", "ratio"),
    ("max_drawdown", "Max drawdown (daily)", "percent"),
    ("max_drawdown_marks", "Max drawdown (every mark)", "percent"),
    ("max_drawdown_duration_days", "Longest drawdown (days)", "ratio"),
    ("n_trades", "Trades", "auto"),
    ("win_rate", "Win rate", "percent"),
    ("profit_factor", "Profit factor", "ratio"),
    ("expectancy", "Expectancy per trade", "money"),
    ("avg_win", "Average win", "money"),
    ("avg_loss", "Average loss", "money"),
    ("largest_win", "Largest win", "money"),
    ("largest_loss", "Largest loss", "money"),
    ("net_pnl_closed_trades", "Net P&L of closed trades", "money"),
    ("exposure", "Exposure", "percent"),
    ("turnover", "Turnover (per year)", "ratio"),
    ("n_days", "Days with data", "auto"),
    ("periods_per_year", "Periods per year", "auto"),
)

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       margin: 2rem auto; max-width: 1200px; color: #1f2933; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; border-bottom: 1px solid #d9e2ec;
     padding-bottom: .3rem; margin-top: 2.5rem; } h3 { font-size: 1rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #d9e2ec; padding: .3rem .6rem; text-align: right; }
th { background: #f0f4f8; } td.key, th.key { text-align: left; }
pre { margin: 0; font-size: .85rem; text-align: left; white-space: pre-wrap; }
"""


def write_report(
    path: Path,
    *,
    title: str,
    metrics: dict[str, Any],
    trades: Sequence[ClosedTrade],
    equity: Sequence[tuple[int, float]],
    prices: Sequence[tuple[int, float, float, float, float]],
    daily: Sequence[tuple[int, float]],
    setup: dict[str, Any],
) -> None:
    """Write the report. ``equity`` and ``prices`` (time, open, high, low, close) come already
    downsampled to a few thousand points; ``daily`` is the last equity of each UTC day."""
    plots = Plots()
    sections = [
        ("metrics", "Headline metrics", _metrics_tables(metrics)),
        ("equity", "Equity and drawdown", _equity_figures(plots, equity)),
        ("monthly", "Monthly returns", _monthly_table(daily)),
        ("trades", "Trade distribution", _trade_section(plots, trades)),
        ("prices", "Price and trades", _price_figure(plots, prices, trades)),
        ("setup", "Configuration and cost model", key_value_table(setup)),
    ]
    path.write_text(page(title, sections), encoding="utf-8")


def page(title: str, sections: Sequence[tuple[str, str, str]]) -> str:
    """A whole self-contained page of ``(anchor, heading, html)`` sections."""
    body = "\n".join(
        f'<section id="{anchor}">\n<h2>{html.escape(heading)}</h2>\n{content}\n</section>'
        for anchor, heading, content in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n{body}\n</body>\n</html>\n"
    )


class Plots:
    """Renders figures in page order; the first carries the plotly.js library inline."""

    def __init__(self) -> None:
        self.count = 0

    def render(self, fig: go.Figure, name: str, height: int = 380) -> str:
        fig.update_layout(template=TEMPLATE, height=height, margin={"l": 60, "r": 20, "t": 40})
        self.count += 1
        return str(
            fig.to_html(
                full_html=False,
                include_plotlyjs=self.count == 1,
                div_id=f"fig-{name}",
                config=PLOT_CONFIG,
                default_height=f"{height}px",
            )
        )


# --- headline metrics ---------------------------------------------------------------------


def _metrics_tables(metrics: dict[str, Any]) -> str:
    """The headline table, then one small table per nested group (costs, run, ...)."""
    known = {key for key, _, _ in HEADLINE}
    rows = [(label, _format(metrics[key], kind)) for key, label, kind in HEADLINE if key in metrics]
    groups = sorted(key for key, value in metrics.items() if isinstance(value, dict))
    rest = sorted(key for key in metrics if key not in known and key not in groups)
    rows += [(key, _format(metrics[key], "auto")) for key in rest]
    parts = [table(["Metric", "Value"], [[html.escape(label), value] for label, value in rows])]
    for group in groups:
        kind = "money" if group == "costs" else "auto"
        items = metrics[group]
        cells = [[html.escape(str(k)), _format(items[k], kind)] for k in sorted(items)]
        parts.append(f"<h3>{html.escape(group)}</h3>\n" + table(["Item", "Value"], cells))
    return "\n".join(parts)


def _format(value: Any, kind: str) -> str:
    """A metric value as escaped HTML."""
    if value is None:
        return "n/a"
    if isinstance(value, dict | list):
        return f"<pre>{html.escape(json.dumps(value, indent=2, sort_keys=True, default=str))}</pre>"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return html.escape(str(value))
    if kind == "percent":
        return f"{value * 100:.2f}%"
    if kind == "money":
        return f"{value:,.2f}"
    if kind == "ratio":
        return f"{value:,.3f}"
    return f"{value:,}" if isinstance(value, int) else f"{value:.12g}"


# --- equity and drawdown ------------------------------------------------------------------


def _equity_figures(plots: Plots, equity: Sequence[tuple[int, float]]) -> str:
    times = [_plot_time(ts) for ts, _ in equity]
    values = [value for _, value in equity]
    curve = go.Figure(go.Scatter(x=times, y=values, mode="lines", name="equity"))
    curve.update_layout(title="Equity", yaxis_title="account currency")
    under = go.Figure(
        go.Scatter(x=times, y=_underwater(values), mode="lines", fill="tozeroy", name="drawdown")
    )
    under.update_layout(title="Drawdown (under water)", yaxis_tickformat=".1%")
    return plots.render(curve, "equity") + "\n" + plots.render(under, "drawdown", height=260)


def _underwater(values: Sequence[float]) -> list[float]:
    """Fall from the running peak at each point, as a negative fraction."""
    peak, out = float("-inf"), []
    for value in values:
        peak = max(peak, value)
        out.append(value / peak - 1.0 if peak > 0 else 0.0)
    return out


# --- monthly returns ----------------------------------------------------------------------


def monthly_returns(daily: Sequence[tuple[int, float]]) -> dict[tuple[int, int], float]:
    """(year, month) -> return from the previous month's last equity (for the first month:
    the first day's), the same compounding as the daily returns."""
    closes: dict[tuple[int, int], float] = {}
    for day_ns, equity in daily:
        moment = datetime.fromtimestamp(day_ns // NS_PER_SECOND, UTC)
        closes[(moment.year, moment.month)] = equity
    out: dict[tuple[int, int], float] = {}
    prev = daily[0][1] if daily else 0.0
    for key, close in closes.items():
        out[key] = close / prev - 1.0 if prev else 0.0
        prev = close
    return out


def _monthly_table(daily: Sequence[tuple[int, float]]) -> str:
    months = monthly_returns(daily)
    if not months:
        return "<p>No equity marks.</p>"
    rows = []
    for year in sorted({year for year, _ in months}):
        cells = [_return_cell(months.get((year, m))) for m in range(1, 13)]
        total = 1.0
        for (y, _), r in months.items():
            if y == year:
                total *= 1.0 + r
        rows.append([f'<th class="key">{year}</th>', *cells, _return_cell(total - 1.0)])
    header = "".join(f"<th>{name}</th>" for name in ("Year", *MONTHS, "Year total"))
    body = "\n".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f'<table class="monthly">\n<tr>{header}</tr>\n{body}\n</table>'


def _return_cell(r: float | None) -> str:
    if r is None:
        return "<td></td>"
    alpha = 0.12 + 0.6 * min(abs(r) / 0.05, 1.0)
    rgb = "22,163,74" if r >= 0 else "220,38,38"
    return f'<td style="background: rgba({rgb},{alpha:.2f})">{r * 100:.2f}%</td>'


# --- trades -------------------------------------------------------------------------------


def _trade_section(plots: Plots, trades: Sequence[ClosedTrade]) -> str:
    pnls = [t.pnl for t in trades]
    histogram = go.Figure(go.Histogram(x=pnls, nbinsx=40, name="trades"))
    histogram.update_layout(title="P&L per trade", xaxis_title="account currency", bargap=0.05)
    parts = [plots.render(histogram, "trade-pnl", height=320)]
    if not trades:
        parts.append("<p>No closed trades.</p>")
        return "\n".join(parts)
    ranked = sorted(trades, key=lambda t: (-t.pnl, t.entry_time, t.exit_time, t.instrument))
    parts.append("<h3>Best trades</h3>\n" + _trades_table(ranked[:BEST_WORST]))
    parts.append("<h3>Worst trades</h3>\n" + _trades_table(ranked[::-1][:BEST_WORST]))
    return "\n".join(parts)


def _trades_table(trades: Sequence[ClosedTrade]) -> str:
    header = ["Instrument", "Side", "Quantity", "Entry time", "Exit time", "Entry", "Exit", "P&L"]
    rows = [
        [
            html.escape(t.instrument),
            _side_name(t.side),
            f"{t.quantity:.10g}",
            iso_utc(t.entry_time),
            iso_utc(t.exit_time),
            f"{t.entry_price:.10g}",
            f"{t.exit_price:.10g}",
            f"{t.pnl:,.2f}",
        ]
        for t in trades
    ]
    return table(header, rows)


def _side_name(side: Side) -> str:
    return "LONG" if side is Side.BUY else "SHORT"


# --- prices -------------------------------------------------------------------------------


def _price_figure(
    plots: Plots,
    prices: Sequence[tuple[int, float, float, float, float]],
    trades: Sequence[ClosedTrade],
) -> str:
    fig = go.Figure(
        go.Candlestick(
            x=[_plot_time(p[0]) for p in prices],
            open=[p[1] for p in prices],
            high=[p[2] for p in prices],
            low=[p[3] for p in prices],
            close=[p[4] for p in prices],
            name="price",
        )
    )
    for side, symbol, colour in ENTRY_MARKERS:
        chosen = [t for t in trades if t.side is side]
        fig.add_trace(
            _markers(
                f"{_side_name(side).lower()} entry",
                [(t.entry_time, t.entry_price) for t in chosen],
                [f"{_side_name(side)} {t.quantity:.10g} @ {t.entry_price:.10g}" for t in chosen],
                symbol,
                colour,
            )
        )
    fig.add_trace(
        _markers(
            "exit",
            [(t.exit_time, t.exit_price) for t in trades],
            [f"exit @ {t.exit_price:.10g}, P&L {t.pnl:,.2f}" for t in trades],
            "x",
            "#1f2933",
        )
    )
    fig.update_layout(title="Price, entries and exits", xaxis_rangeslider_visible=False)
    return plots.render(fig, "price", height=480)


def _markers(
    name: str, points: Sequence[tuple[int, float]], text: Sequence[str], symbol: str, colour: str
) -> go.Scatter:
    return go.Scatter(
        x=[_plot_time(ts) for ts, _ in points],
        y=[price for _, price in points],
        text=list(text),
        mode="markers",
        name=name,
        hoverinfo="x+text",
        marker={"symbol": symbol, "size": 10, "color": colour},
    )


# --- setup and shared pieces --------------------------------------------------------------


def key_value_table(setup: dict[str, Any]) -> str:
    if not setup:
        return "<p>No configuration recorded.</p>"
    rows = [[html.escape(str(key)), _format(setup[key], "auto")] for key in sorted(setup)]
    return table(["Setting", "Value"], rows)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table of plain-text headings over cells that are already escaped HTML."""
    head = _row("th", [html.escape(h) for h in header])
    body = "\n".join(_row("td", row) for row in rows)
    return f"<table>\n{head}\n{body}\n</table>"


def _row(tag: str, cells: Sequence[str]) -> str:
    first, *rest = cells
    return (
        f'<tr><{tag} class="key">{first}</{tag}>'
        + "".join(f"<{tag}>{c}</{tag}>" for c in rest)
        + "</tr>"
    )


def _plot_time(ts_ns: int) -> str:
    """A time as plotly reads it: ``2024-01-08 09:00:00``, UTC."""
    return iso_utc(ts_ns)[:-1].replace("T", " ")
