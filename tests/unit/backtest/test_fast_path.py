"""A backtest under the driver's synchronous handlers writes exactly what it writes when every
message goes through its coroutine handler (the live runtime's form): same files, byte for
byte, same number of deliveries — on configurations that reach every hot path (bars and quotes;
exits, native and built brackets; costs, latency and financing; breakers and risk limits; an
execution algorithm; model predictions)."""

from __future__ import annotations

import asyncio
import functools
import itertools
from pathlib import Path

import pytest

import algotrading.backtest.runner as runner
from algotrading.config import load_config
from algotrading.data.instruments import BUILTIN_INSTRUMENTS
from algotrading.data.synthetic import synthetic_bars, synthetic_quotes
from algotrading.runtime.driver import Driver
from algotrading.strategies.registry import build_strategy
from algotrading.timestamps import iso_utc, parse_utc

MINUTE = 60 * 10**9
START = parse_utc("2024-01-08T00:00:00Z")
EURUSD = BUILTIN_INSTRUMENTS["EUR_USD"]

CONFIGS = {
    "exits_costs_financing": """
venue:
  costs: {spread_pips: 1.0, slippage_pips: 0.2, commission_per_unit: 0.00002, commission_min: 0.5}
  latency: {fixed_ms: 100.0, jitter_ms: 50.0, seed: 3}
  financing: {EUR_USD: {long: -0.025, short: 0.005}}
strategy:
  name: sma_cross
  params: {fast: 5, slow: 20}
  exits: {stop_loss: {pips: 10}, take_profit: {pips: 15}, time_stop_bars: 50}
""",
    "built_brackets_equity_sizing": """
venue:
  costs: {spread_pips: 0.5, commission_per_unit: 0.00001}
  native_brackets: false
strategy:
  name: ema_cross
  params: {fast: 8, slow: 21}
  sizing: {kind: fixed_fraction, fraction: 0.01}
  exits: {stop_loss: {atr: 2.0}, take_profit: {percent: 0.1}, trailing_stop: {pips: 12}}
""",
    "breakers_and_limits": """
strategy:
  name: ema_cross
  params: {fast: 3, slow: 7}
risk:
  max_orders_per_window: 2
  rate_window_seconds: 600
  max_gross_exposure: 15000
  breakers:
    daily_loss: {limit: 150.0, action: halt, reset: auto}
    max_drawdown: {limit: 0.004, action: reduce, reset: manual}
    consecutive_losses: {limit: 3, action: reduce, reset: auto}
    stale_data: {limit: 120.0, action: reduce, reset: auto}
""",
    "twap": """
strategy:
  name: sma_cross
  params: {fast: 10, slow: 40}
execution: {algo: twap, twap_window_seconds: 180, twap_slices: 3}
""",
    "predictions": """
strategy:
  name: ml_signal
  params: {long_above: 0.7, short_below: 0.3, exit_inside: true}
  exits: {stop_loss: {pips: 15}}
""",
    "quotes_breakers": """
venue:
  costs: {slippage_pips: 0.1, commission_per_unit: 0.00002}
  latency: {fixed_ms: 250.0, jitter_ms: 100.0, seed: 5}
  native_brackets: false
strategy:
  name: ema_cross
  params: {fast: 5, slow: 12}
  exits: {stop_loss: {pips: 5}, take_profit: {pips: 8}, trailing_stop: {pips: 6}}
risk:
  breakers:
    wide_spread: {limit: 1.1, action: reduce, reset: auto}
    consecutive_losses: {limit: 4, action: reduce, reset: auto}
    daily_loss: {limit: 40.0, action: halt, reset: auto}
""",
}


def inputs(name: str) -> list:
    if name.startswith("quotes"):
        return list(itertools.islice(synthetic_quotes("EUR_USD", START, 7, rate_hz=0.2), 12_000))
    return synthetic_bars("EUR_USD", START, START + 4 * 86_400 * 10**9, MINUTE, 5)


def backtest(tmp_path: Path, name: str, synchronous: bool, monkeypatch) -> dict[str, bytes]:
    conf = tmp_path / "conf"
    conf.mkdir(exist_ok=True)
    (conf / "system.yaml").write_text(CONFIGS[name])
    data = inputs(name)
    if name == "predictions":
        rows = [f"{iso_utc(b.ts_event)},{(i * 0.37) % 1.0!r}" for i, b in enumerate(data) if i % 3]
        (tmp_path / "p.csv").write_text("time,prediction\n" + "\n".join(rows) + "\n")
        (conf / "model.yaml").write_text(f"model:\n  kind: predictions\n  path: {tmp_path}/p.csv\n")
    config = load_config(conf)
    s = config.system.strategy
    out = tmp_path / ("fast" if synchronous else "reference")
    monkeypatch.setattr(runner, "Driver", functools.partial(Driver, synchronous=synchronous))
    monkeypatch.setattr(runner, "write_backtest_report", lambda result, path: None)
    result = asyncio.run(
        runner.run_backtest(
            iter(data),
            config=config,
            strategy=build_strategy(s.name, s.params, spec=s),
            instrument=EURUSD,
            bar_interval_ns=MINUTE,
            data_source="synthetic",
            out_dir=out,
        )
    )
    files = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    files["deliveries"] = str(result.events).encode()
    files["orders"] = str(result.session.ledger.n_orders).encode()
    return files


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_synchronous_handlers_change_no_output(tmp_path, monkeypatch, name):
    fast = backtest(tmp_path, name, True, monkeypatch)
    reference = backtest(tmp_path, name, False, monkeypatch)
    assert set(fast) == {"trades.csv", "orders.csv", "equity.csv", "metrics.json"} | {
        "deliveries",
        "orders",
    }
    for key in fast:
        assert fast[key] == reference[key], key
    assert int(fast["orders"]) > 5
