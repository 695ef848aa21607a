"""Built-in strategies by name, with their parameters validated at the edge."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from algotrading.errors import ConfigError
from algotrading.strategies.base import Rule
from algotrading.strategies.breakout import Donchian, DonchianParams
from algotrading.strategies.ema_cross import EmaCross, EmaCrossParams
from algotrading.strategies.mean_reversion import Bollinger, BollingerParams
from algotrading.strategies.sma_cross import SmaCross, SmaCrossParams


@dataclass(frozen=True)
class StrategyFactory:
    name: str
    params: msgspec.Struct
    make_rule: Callable[[], Rule]


_BUILTINS: dict[str, tuple[type[msgspec.Struct], Callable[[Any], Rule]]] = {
    "sma_cross": (SmaCrossParams, SmaCross),
    "ema_cross": (EmaCrossParams, EmaCross),
    "donchian": (DonchianParams, Donchian),
    "bollinger": (BollingerParams, Bollinger),
}


def strategy_names() -> list[str]:
    return sorted(_BUILTINS)


def build_strategy(
    name: str, params: Mapping[str, Any], where: str = "strategy"
) -> StrategyFactory:
    """Validate ``params`` for strategy ``name``. Values may be strings (``--param fast=10``)."""
    if name not in _BUILTINS:
        raise ConfigError(
            where, "name", f"unknown strategy {name!r}; built-in: {', '.join(strategy_names())}"
        )
    params_type, rule_type = _BUILTINS[name]
    try:
        validated = msgspec.convert(dict(params), params_type, strict=False)
    except msgspec.ValidationError as exc:
        text = str(exc)
        key = text.rsplit("`$.", 1)[-1].rstrip("`") if "`$." in text else ""
        if "unknown field" in text:
            key = text.split("`")[1]
            allowed = ", ".join(f.name for f in msgspec.structs.fields(params_type))
            text = f"unknown parameter for {name}; expected one of: {allowed}"
        raise ConfigError(where, f"params.{key}".rstrip("."), text.split(" - at ")[0]) from None
    except ValueError as exc:
        raise ConfigError(where, "params", str(exc)) from None
    return StrategyFactory(name=name, params=validated, make_rule=lambda: rule_type(validated))
