"""Built-in entry rules by name, and the composition of a strategy from the config, with every
parameter validated at the edge."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from algotrading.bounded import Count
from algotrading.data.instruments import InstrumentSpec
from algotrading.errors import ConfigError
from algotrading.strategies.breakout import Donchian, DonchianParams
from algotrading.strategies.compose import Composition, Entry, InstrumentStrategy, Sides
from algotrading.strategies.ema_cross import EmaCross, EmaCrossParams
from algotrading.strategies.exits import ExitRules
from algotrading.strategies.mean_reversion import Bollinger, BollingerParams
from algotrading.strategies.ml_signal import MlSignal, MlSignalParams
from algotrading.strategies.position_sizing import Sizing
from algotrading.strategies.sma_cross import SmaCross, SmaCrossParams


class StrategySpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``system.yaml``'s ``strategy`` section: the entry rule (``name``, ``params``) and the
    composition around it."""

    name: str = "sma_cross"
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    sides: Sides = Sides.BOTH
    atr_period: Count = 14
    sizing: Sizing = Sizing()
    exits: ExitRules = ExitRules()

    def __post_init__(self) -> None:
        if self.atr_period < 1:
            raise ValueError("atr_period must be >= 1")
        if self.sizing.needs_stop and self.exits.stop_loss is None:
            raise ValueError(
                f"{self.sizing.kind} sizing risks a fraction of equity down to the stop-loss: "
                "set exits.stop_loss"
            )


@dataclass(frozen=True)
class StrategyFactory:
    name: str
    params: msgspec.Struct
    composition: Composition
    make_entry: Callable[[], Entry]

    def make(self, spec: InstrumentSpec) -> InstrumentStrategy:
        return InstrumentStrategy(spec, self.make_entry(), self.composition)

    @property
    def needs_equity(self) -> bool:
        return self.composition.sizing.needs_equity


_BUILTINS: dict[str, tuple[type[msgspec.Struct], Callable[[Any], Entry]]] = {
    "sma_cross": (SmaCrossParams, SmaCross),
    "ema_cross": (EmaCrossParams, EmaCross),
    "donchian": (DonchianParams, Donchian),
    "bollinger": (BollingerParams, Bollinger),
    "ml_signal": (MlSignalParams, MlSignal),
}


def strategy_names() -> list[str]:
    return sorted(_BUILTINS)


def _error(where: str, prefix: str, exc: msgspec.ValidationError | ValueError) -> ConfigError:
    text = str(exc)
    key = text.rsplit("`$.", 1)[-1].rstrip("`") if "`$." in text else ""
    return ConfigError(where, f"{prefix}.{key}".rstrip("."), text.split(" - at ")[0])


def _split(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Entry-rule parameters, and composition overrides: dotted keys (``sizing.units``,
    ``exits.stop_loss.pips``), ``sides``, ``atr_period``, and ``quantity`` — short for
    ``sizing.units``."""
    entry: dict[str, Any] = {}
    overrides: dict[str, Any] = {}
    for key, value in params.items():
        if key == "quantity":
            overrides["sizing.units"] = value
        elif "." in key or key in ("sides", "atr_period"):
            overrides[key] = value
        else:
            entry[key] = value
    return entry, overrides


def _apply(spec: StrategySpec, overrides: Mapping[str, Any], where: str) -> StrategySpec:
    if not overrides:
        return spec
    tree = msgspec.to_builtins(spec)
    for dotted, value in overrides.items():
        node = tree
        *path, last = dotted.split(".")
        for part in path:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(where, dotted, f"{part} is not a section")
            node = child
        node[last] = value
    try:
        return msgspec.convert(tree, StrategySpec, strict=False)
    except (msgspec.ValidationError, ValueError) as exc:
        raise _error(where, "strategy", exc) from None


def build_strategy(
    name: str,
    params: Mapping[str, Any],
    where: str = "strategy",
    spec: StrategySpec | None = None,
) -> StrategyFactory:
    """Validate the entry rule ``name`` with ``params`` (values may be strings: ``--param
    fast=10``), composed as ``spec`` says (sizing, exits, sides; defaults when ``None``)."""
    if name not in _BUILTINS:
        raise ConfigError(
            where, "name", f"unknown strategy {name!r}; built-in: {', '.join(strategy_names())}"
        )
    entry_params, overrides = _split(params)
    spec = _apply(spec or StrategySpec(), overrides, where)
    params_type, entry_type = _BUILTINS[name]
    try:
        validated = msgspec.convert(entry_params, params_type, strict=False)
    except msgspec.ValidationError as exc:
        text = str(exc)
        if "unknown field" in text:
            allowed = ", ".join(f.name for f in msgspec.structs.fields(params_type))
            raise ConfigError(
                where,
                f"params.{text.split('`')[1]}",
                f"unknown parameter for {name}; expected one of: {allowed} (or quantity, sides, "
                "atr_period, sizing.*, exits.*)",
            ) from None
        raise _error(where, "params", exc) from None
    except ValueError as exc:
        raise ConfigError(where, "params", str(exc)) from None
    composition = Composition(
        sizing=spec.sizing, exits=spec.exits, sides=spec.sides, atr_period=spec.atr_period
    )
    return StrategyFactory(
        name=name,
        params=validated,
        composition=composition,
        make_entry=lambda: entry_type(validated),
    )
