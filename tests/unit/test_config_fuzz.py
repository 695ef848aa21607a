"""Generated: every numeric key of every configuration schema, found by walking the schemas
(a new key is covered without touching this file), set to NaN, infinities, -1, 0, 1e300, a
string and a list. Each is refused with a ConfigError naming the key, or accepted where the
schema's bounds allow it; nothing else escapes the loader."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
import yaml

from algotrading.config import (
    _BOUNDS_ELSEWHERE,
    MarketConfig,
    ModelConfig,
    SystemConfig,
    load_config,
)
from algotrading.errors import ConfigError
from algotrading.sim.server.settings import ServerFile, load_server_file

# A valid value for each optional section, list item and mapping entry, so that the keys
# inside it are reached; a new container without one here fails test_every_container_is_fuzzed
SAMPLES: dict[str, Any] = {
    "feed.websocket": {
        "url": "wss://example.invalid/quotes",
        "symbols": {"EUR_USD": "EURUSD"},
        "mapping": {"instrument": "s", "bid": "b", "ask": "a", "time": "t"},
    },
    "venue.financing": {"EUR_USD": {"long": -0.02, "short": 0.01}},
    "venue.conversion_rates": {"GBP_USD": 1.27},
    "strategy.exits.stop_loss": {"pips": 20.0},
    "strategy.exits.take_profit": {"pips": 40.0},
    "strategy.exits.trailing_stop": {"pips": 10.0},
    "specs": [
        {
            "symbol": "XAU_USD",
            "asset_class": "fx",
            "base": "XAU",
            "quote": "USD",
            "pip_size": 0.01,
            "price_precision": 2,
        }
    ],
    "training.ensemble.weights": [0.5, 0.5],
    "accounts": [{"alias": "primary", "balance": 1000.0}],
}
# containers whose items are not numbers (or are free-form, checked elsewhere)
NOT_NUMERIC = {
    "strategy.params",
    "feed.websocket.symbols",
    "feed.websocket.subscribe",
    "feed.websocket.mapping.filter_value",
    "alerts.telegram.chat_id",
    "alerts.telegram.commands.allowed_chat_ids",
    "feed.websocket.mapping.filter_path",
    "feed.websocket.mapping.messages_path",
    "instruments",
    "features",
    "training.ensemble.members",
}
# where 0 is documented as "off" or "none" (config/*.yaml comments, docs)
ZERO_ALLOWED_SUFFIXES = ("seed",)
ZERO_ALLOWED = {
    "supervisor.max_restarts", "venue.costs.spread_pips", "venue.costs.slippage_pips",
    "venue.costs.commission_per_unit", "venue.costs.commission_bps",
    "venue.costs.commission_min", "venue.latency.fixed_ms", "venue.latency.jitter_ms",
    "venue.financing.EUR_USD.long", "venue.financing.EUR_USD.short",
    "venue.margin_closeout_level", "strategy.sizing.win_rate", "strategy.exits.time_stop_bars",
    "execution.min_quantity", "state.snapshot_every_seconds", "state.reconcile_every_seconds",
    "state.retention.keep_days", "alerts.dedup_seconds", "alerts.max_retries",
    "retrain.every_seconds", "training.walk_forward.train_bars",
    "training.walk_forward.embargo_bars", "training.lightgbm.min_child_samples",
    "training.lightgbm.lambda_l2", "training.lightgbm.early_stopping_rounds",
    "training.lstm.dropout", "training.lstm.patience", "training.gru.dropout",
    "training.gru.patience", "training.ensemble.weights[0]", "accounts[0].balance",
    "history_hours", "metrics.port", "specs[0].price_precision",
    *(f"strategy.exits.{e}.{d}" for e in ("stop_loss", "take_profit", "trailing_stop")
      for d in ("pips", "percent", "atr")),  # 0: not this one of the three
    *(f"risk.breakers.{b}.limit" for b in SystemConfig.__struct_fields__ and (
        "daily_loss", "max_drawdown", "consecutive_losses", "stale_data", "wide_spread",
        "rejections",
    )),
    *(f"risk.{k}" for k in (
        "max_order_notional", "max_gross_exposure", "max_net_exposure",
        "max_currency_exposure", "max_open_orders", "max_orders_per_window", "price_collar",
        "max_order_quantity", "max_position_quantity",
    )),
}  # fmt: skip
NEGATIVE_ALLOWED = {"venue.financing.EUR_USD.long", "venue.financing.EUR_USD.short"}

FILES: dict[str, type[msgspec.Struct]] = {
    "system.yaml": SystemConfig,
    "market.yaml": MarketConfig,
    "model.yaml": ModelConfig,
    "sim_exchange.yaml": ServerFile,
}


def _numbers(t: mi.Type, path: str, out: list[tuple[str, mi.Type]], seen: set[str]) -> None:
    """(key path, number type) for every numeric key under ``t``; ``seen`` gets containers."""
    if isinstance(t, (mi.IntType, mi.FloatType)):
        out.append((path, t))
    elif isinstance(t, mi.StructType):
        for f in t.fields:
            _numbers(f.type, f"{path}.{f.name}".lstrip("."), out, seen)
    elif isinstance(t, mi.UnionType):
        inner = [a for a in t.types if not isinstance(a, mi.NoneType)]
        if path in NOT_NUMERIC:
            return
        seen.add(path)
        if len(inner) == 1 and path in SAMPLES:
            _numbers(inner[0], path, out, seen)
    elif isinstance(t, (mi.ListType, mi.DictType)) and path not in NOT_NUMERIC:
        seen.add(path)
        if path in SAMPLES:
            sample = SAMPLES[path]
            item = t.item_type if isinstance(t, mi.ListType) else t.value_type
            where = f"{path}[0]" if isinstance(t, mi.ListType) else f"{path}.{next(iter(sample))}"
            _numbers(item, where, out, seen)


def _keys() -> tuple[list[tuple[str, str, mi.Type]], set[str]]:
    keys, seen = [], set()
    for name, schema in FILES.items():
        found: list[tuple[str, mi.Type]] = []
        _numbers(mi.type_info(schema), "", found, seen)
        bounds = _BOUNDS_ELSEWHERE.get(name, {})  # sections whose schemas live elsewhere
        keys += [(name, p, mi.type_info(bounds[p]) if p in bounds else t) for p, t in found]
    return keys, seen


KEYS, CONTAINERS = _keys()
VALUES = [math.nan, math.inf, -math.inf, -1, 0, 1e300, "12", [1]]


def _in_bounds(value: Any, t: mi.Type) -> bool:
    if isinstance(t, mi.Metadata):
        t = t.type
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(t, mi.IntType) and not isinstance(value, int):
        return False
    if not math.isfinite(value):
        return False
    lo_ok = (t.ge is None or value >= t.ge) and (t.gt is None or value > t.gt)
    return lo_ok and (t.le is None or value <= t.le) and (t.lt is None or value < t.lt)


def _document(path: str, value: Any) -> dict[str, Any]:
    """A file's content setting ``path`` to ``value``, inside the samples its parents need."""
    doc: dict[str, Any] = {}
    node: Any = doc
    parts = path.replace("[0]", ".[0]").split(".")
    prefix = ""
    for i, part in enumerate(parts[:-1]):
        prefix = f"{prefix}.{part}".lstrip(".") if part != "[0]" else f"{prefix}[0]"
        nxt = parts[i + 1]
        if prefix in SAMPLES:
            sample = yaml.safe_load(yaml.safe_dump(SAMPLES[prefix]))
            last_is_item = nxt == "[0]" and i + 1 == len(parts) - 1
            child = sample[0] if nxt == "[0]" and not last_is_item else sample
            node[part] = sample
            node = child
            if nxt == "[0]" and not last_is_item:
                continue
        elif part == "[0]":
            continue
        else:
            node = node.setdefault(part, {})
    last = parts[-1]
    if last == "[0]":
        node[0] = value
    else:
        node[last] = value
    return doc


def _load(tmp_path: Path, name: str, doc: dict[str, Any]) -> None:
    (tmp_path / name).write_text(yaml.safe_dump(doc))
    if name == "sim_exchange.yaml":
        load_server_file(tmp_path)
    else:
        load_config(tmp_path)


def _refusal(tmp_path: Path, name: str, path: str, value: Any) -> ConfigError | None:
    try:
        _load(tmp_path, name, _document(path, value))
    except ConfigError as err:
        return err
    return None


def test_every_container_is_fuzzed() -> None:
    assert set(SAMPLES) >= CONTAINERS, f"add a sample for {sorted(CONTAINERS - set(SAMPLES))}"
    assert len(KEYS) > 100


@pytest.mark.parametrize(("name", "path", "kind"), KEYS, ids=[f"{n}:{p}" for n, p, _ in KEYS])
def test_numeric_key_is_refused_or_accepted_by_its_bounds(
    tmp_path: Path, name: str, path: str, kind: mi.Type
) -> None:
    accepted = []
    for value in VALUES:
        refusal = _refusal(tmp_path, name, path, value)
        if refusal is None:
            assert _in_bounds(value, kind), f"{path}={value!r} accepted"
            accepted.append(value)
            continue
        assert refusal.key, str(refusal)
        assert refusal.key == path or path.startswith(refusal.key + "."), str(refusal)
        assert str(tmp_path / name) in str(refusal), str(refusal)
        assert refusal.line is not None, str(refusal)
        if _in_bounds(value, kind):  # then refused by a rule across keys (min <= max, ...)
            assert "must" in refusal.problem or "exactly one" in refusal.problem, str(refusal)
    assert 1e300 not in accepted, f"{path}: an absurd 1e300 is accepted"
    if -1 in accepted:
        assert path in NEGATIVE_ALLOWED, f"{path}: -1 is accepted"
    if 0 in accepted:
        zero_ok = path in ZERO_ALLOWED or path.rsplit(".", 1)[-1] in ZERO_ALLOWED_SUFFIXES
        assert zero_ok, f"{path}: 0 is accepted; document what it means or refuse it"
