"""ml_signal through the whole graph on a scripted prediction stream (``model.kind:
predictions``): orders are decided exactly where the predictions cross the thresholds, at the
close of the bar predicted on, and filled at the next bar's open; exits and sizing compose."""

from __future__ import annotations

import asyncio
import csv

import pytest

from algotrading.backtest.runner import run_backtest
from algotrading.config import load_config
from algotrading.daemon.wiring import model_actor
from algotrading.data.history import default_history
from algotrading.data.instruments import BUILTIN_INSTRUMENTS
from algotrading.errors import ConfigError, DataError
from algotrading.strategies.registry import build_strategy
from algotrading.timestamps import iso_utc, parse_utc

EURUSD = BUILTIN_INSTRUMENTS["EUR_USD"]


def write_config(conf, predictions, extra=""):
    conf.mkdir(exist_ok=True)
    (conf / "model.yaml").write_text(f"model:\n  kind: predictions\n  path: {predictions}\n")
    (conf / "system.yaml").write_text(
        "strategy:\n  name: ml_signal\n  params: {long_above: 0.6, short_below: 0.4}\n" + extra
    )
    return load_config(conf)


def backtest(config, bars, interval, out):
    s = config.system.strategy
    strategy = build_strategy(s.name, s.params, spec=s)
    return asyncio.run(
        run_backtest(
            bars,
            config=config,
            strategy=strategy,
            instrument=EURUSD,
            bar_interval_ns=interval,
            data_source="synthetic",
            out_dir=out,
        )
    )


def orders(out):
    with (out / "orders.csv").open() as f:
        return list(csv.DictReader(f))


def test_orders_follow_the_scripted_predictions(tmp_path):
    bars, interval = default_history(EURUSD, 4)
    bars = bars[:300]
    script = {40: 0.7, 41: 0.65, 60: 0.5, 90: 0.2, 120: 0.9, 150: 0.45}
    path = tmp_path / "predictions.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", "prediction", "label", "fold"])
        for i, value in script.items():
            w.writerow([iso_utc(bars[i].ts_event), value, 1, 0])
    config = write_config(tmp_path / "conf", path)
    out = tmp_path / "out"
    backtest(config, bars, interval, out)
    got = [(parse_utc(o["time"]), o["side"], float(o["quantity"])) for o in orders(out)]
    t = {i: bars[i].ts_event for i in script}
    assert got == [
        (t[40], "BUY", 10_000.0),  # long at 0.7; 0.65 and 0.5 change nothing
        (t[90], "SELL", 10_000.0),  # reversal at 0.2: close ...
        (t[90], "SELL", 10_000.0),  # ... and go short
        (t[120], "BUY", 10_000.0),
        (t[120], "BUY", 10_000.0),
    ]
    fills = [o for o in orders(out) if o["fill_time"]]
    assert parse_utc(fills[0]["fill_time"]) == bars[41].ts_open  # the next bar's open


@pytest.mark.parametrize("first", [0.8, 0.2])
def test_exit_inside_and_a_stop_loss_compose_with_ml_signal(tmp_path, first):
    """On this path the price rises about 50 pips between bars 10 and 30: a long entry is
    closed by the prediction falling back inside the band (its stop-loss cancelled with the
    position); a short one is stopped out 30 pips above its entry, and the later prediction
    finds nothing to close."""
    bars, interval = default_history(EURUSD, 4)
    bars = bars[:300]
    path = tmp_path / "p.csv"
    path.write_text(
        "time,prediction\n"
        + f"{iso_utc(bars[10].ts_event)},{first}\n"
        + f"{iso_utc(bars[30].ts_event)},0.5\n"
    )
    extra = (
        "  params: {long_above: 0.6, short_below: 0.4, exit_inside: true}\n"
        "  exits: {stop_loss: {pips: 30}}\n"
    )
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "model.yaml").write_text(f"model:\n  kind: predictions\n  path: {path}\n")
    (conf / "system.yaml").write_text("strategy:\n  name: ml_signal\n" + extra)
    out = tmp_path / "out"
    backtest(load_config(conf), bars, interval, out)
    rows = [(r["client_order_id"], r["side"], r["type"], r["status"]) for r in orders(out)]
    entry = orders(out)[0]
    assert parse_utc(entry["time"]) == bars[10].ts_event
    if first > 0.5:
        assert rows == [
            ("bt-000001", "BUY", "MARKET", "FILLED"),
            ("bt-000002", "SELL", "MARKET", "FILLED"),
            ("bt-000001.sl", "SELL", "STOP", "CANCELLED"),
        ]
        assert parse_utc(orders(out)[1]["time"]) == bars[30].ts_event
    else:
        assert rows == [
            ("bt-000001", "SELL", "MARKET", "FILLED"),
            ("bt-000001.sl", "BUY", "STOP", "FILLED"),
        ]
        stop = orders(out)[1]
        assert float(stop["fill_price"]) == pytest.approx(float(entry["fill_price"]) + 0.0030)
        assert parse_utc(stop["fill_time"]) < bars[30].ts_event


def test_a_bad_predictions_file_is_named(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("time,prediction\n2024-01-01T00:00:00Z,abc\n")
    config = write_config(tmp_path / "conf", path)
    with pytest.raises(DataError, match=r"p\.csv, row 2"):
        model_actor(config)
    conf = tmp_path / "c2"
    conf.mkdir()
    (conf / "model.yaml").write_text("model:\n  kind: predictions\n")
    with pytest.raises(ConfigError, match=r"model\.path"):
        load_config(conf)
