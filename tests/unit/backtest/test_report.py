import re

import pytest

from algotrading.backtest.ledger import ClosedTrade
from algotrading.backtest.report import monthly_returns, write_report
from algotrading.messages import Side
from algotrading.timestamps import parse_utc

DAY = 86_400 * 10**9


def day(text: str) -> int:
    return parse_utc(text)


DAILY = [
    (day("2024-01-02"), 100.0),
    (day("2024-01-31"), 110.0),  # January +10%
    (day("2024-02-15"), 100.0),
    (day("2024-02-29"), 99.0),  # February -10%
    (day("2024-04-30"), 118.8),  # March empty; April +20% on February's close
    (day("2025-01-31"), 59.4),  # January 2025 -50%
]

TRADES = [
    ClosedTrade("EUR_USD", Side.BUY, 1000.0, day("2024-01-02"), day("2024-01-05"), 1.1, 1.2, 98.5),
    ClosedTrade(
        "EUR_USD", Side.SELL, 500.0, day("2024-01-08"), day("2024-01-09"), 1.2, 1.3, -51.25
    ),
    ClosedTrade("EUR_USD", Side.BUY, 2000.0, day("2024-02-01"), day("2024-02-03"), 1.0, 1.01, 17.0),
]

PRICES = [(day("2024-01-02") + i * DAY, 1.1, 1.15, 1.05, 1.12) for i in range(10)]

METRICS = {
    "initial_equity": 100.0,
    "final_equity": 59.4,
    "total_return": -0.406,
    "sharpe": 1.23456,
    "sortino": None,
    "n_trades": 3,
    "costs": {"commission": 1.5, "spread": 0.25, "total": 1.75},
}

SETUP = {
    "strategy": "sma_cross <fast>",
    "params": {"fast": 10, "slow": 30},
    "costs": {"spread_pips": 0.2, "commission_per_million": 35.0},
}


def write(path, **overrides):
    args = {
        "title": "Backtest & <report>",
        "metrics": METRICS,
        "trades": TRADES,
        "equity": DAILY,
        "prices": PRICES,
        "daily": DAILY,
        "setup": SETUP,
    }
    args.update(overrides)
    write_report(path, **args)
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    return write(tmp_path_factory.mktemp("report") / "report.html")


def test_every_section_is_present(page):
    for heading in (
        "Headline metrics",
        "Equity and drawdown",
        "Monthly returns",
        "Trade distribution",
        "Best trades",
        "Worst trades",
        "Price and trades",
        "Configuration and cost model",
    ):
        assert f">{heading}</h" in page, heading
    for div in ("fig-equity", "fig-drawdown", "fig-trade-pnl", "fig-price"):
        assert f'id="{div}"' in page


def test_plotly_is_inlined_once_and_nothing_needs_the_network(page):
    assert page.count("* plotly.js v") == 1
    assert page.count("Plotly.newPlot(") == 4
    assert not re.search(r"<script[^>]*\bsrc\s*=", page)
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?(https?:)?//", page)
    assert "@import" not in page
    assert "fonts.googleapis" not in page


def test_text_is_escaped(page):
    assert "<title>Backtest &amp; &lt;report&gt;</title>" in page
    assert "sma_cross &lt;fast&gt;" in page
    assert "<report>" not in page
    assert "<th>P&amp;L</th>" in page


def test_same_inputs_give_identical_bytes(tmp_path, page):
    first = write(tmp_path / "a.html")
    second = write(tmp_path / "b.html")
    assert first == second == page


def test_monthly_returns_by_hand():
    months = monthly_returns(DAILY)
    assert list(months) == [(2024, 1), (2024, 2), (2024, 4), (2025, 1)]
    assert [months[k] for k in months] == pytest.approx([0.1, -0.1, 0.2, -0.5])


def test_monthly_table_cells_and_yearly_totals(page):
    table = page[page.index('<table class="monthly">') :]
    table = table[: table.index("</table>")]
    rows = table.split("</tr>")
    y2024 = next(r for r in rows if ">2024</th>" in r)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", y2024)
    # Jan..Dec, then the year: (1.1 * 0.9 * 1.2) - 1 = 18.8%
    assert cells == ["10.00%", "-10.00%", "", "20.00%"] + [""] * 8 + ["18.80%"]
    y2025 = next(r for r in rows if ">2025</th>" in r)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", y2025)
    assert cells == ["-50.00%"] + [""] * 11 + ["-50.00%"]


def test_best_and_worst_trades_and_headline_numbers(page):
    best = page[page.index("Best trades") : page.index("Worst trades")]
    worst = page[page.index("Worst trades") : page.index('id="prices"')]
    assert best.index("98.50") < best.index("17.00") < best.index("-51.25")
    assert worst.index("-51.25") < worst.index("17.00") < worst.index("98.50")
    assert "<td>SHORT</td>" in worst
    assert "2024-01-08T00:00:00Z" in worst
    headline = page[page.index('id="metrics"') : page.index('id="equity"')]
    assert "<td>-40.60%</td>" in headline  # total return
    assert "<td>1.235</td>" in headline  # sharpe
    assert "<td>n/a</td>" in headline  # sortino undefined
    assert "<td>1.75</td>" in headline  # total costs


def test_entry_and_exit_markers(page):
    figure = page[page.index('id="fig-price"') :]
    assert '"symbol":"triangle-up"' in figure
    assert '"symbol":"triangle-down"' in figure
    assert '"symbol":"x"' in figure
    assert '"type":"candlestick"' in figure


def test_empty_run_still_writes_a_valid_page(tmp_path):
    text = write(
        tmp_path / "empty.html", metrics={}, trades=[], equity=[], prices=[], daily=[], setup={}
    )
    assert text.count("* plotly.js v") == 1
    assert "No closed trades." in text
    assert "No equity marks." in text
