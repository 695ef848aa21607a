"""Configuration: the three YAML files of ``config/`` validated by msgspec schemas.

Embedded defaults live in ``algotrading/defaults/``; a ``--config DIR`` overrides them file by
file and key by key (a user file may hold only the keys it changes). Every problem is reported
before anything starts, as a :class:`~algotrading.errors.ConfigError` naming the file, the key
path (``supervisor.max_restarts``), its line, and what was expected. Secrets never come from
YAML: only from the environment or a ``.env`` file (see :class:`Secrets`).
"""

from __future__ import annotations

import difflib
import enum
import math
import os
import re
import stat
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import msgspec
import yaml

from algotrading.adapters.websocket_feed import WebsocketFeedConfig
from algotrading.bounded import (
    MAX_AMOUNT,
    MAX_COUNT,
    Amount,
    AnnualRate,
    Count,
    Fraction,
    LearningRate,
    Milliseconds,
    Multiple,
    OffAmount,
    OffCount,
    OffSeconds,
    Pips,
    Seconds,
    Seed,
    UnitInterval,
)
from algotrading.data.instruments import BUILTIN_INSTRUMENTS, InstrumentSpec, normalize_symbol
from algotrading.errors import ConfigError
from algotrading.execution.algos import ExecutionConfig
from algotrading.ops.admin.config import AdminConfig
from algotrading.ops.alerts.config import AlertsConfig
from algotrading.ops.metrics import MetricsConfig
from algotrading.ops.systemd import SystemdConfig
from algotrading.risk.checks import RiskLimits
from algotrading.strategies.registry import StrategySpec

FILES = ("system.yaml", "market.yaml", "model.yaml")

_S = TypeVar("_S", bound=msgspec.Struct)


class _Schema(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class Escalation(enum.StrEnum):
    HALT = "halt"
    FLATTEN = "flatten"


class LogFormat(enum.StrEnum):
    AUTO = "auto"
    JSON = "json"
    CONSOLE = "console"


class AccountConfig(_Schema, frozen=True):
    currency: str = "USD"
    initial_cash: Amount = 100_000.0


class RuntimeConfig(_Schema, frozen=True):
    queue_size: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)] = 1024
    uvloop: bool = True
    drain_timeout_seconds: Seconds = 3.0


class SupervisorConfig(_Schema, frozen=True):
    max_restarts: OffCount = 3
    within_seconds: Seconds = 60.0
    backoff_initial_seconds: Seconds = 0.2
    backoff_max_seconds: Seconds = 5.0
    on_escalation: Escalation = Escalation.HALT


class FeedConfig(_Schema, frozen=True):
    source: Literal["synthetic", "csv", "websocket"] = "synthetic"  # websocket: a vendor's
    path: str = ""
    websocket: WebsocketFeedConfig | None = (
        None  # source websocket: docs/adapters/websocket-feed.md
    )
    speed: Annotated[float, msgspec.Meta(gt=0, le=1e6)] = 1.0  # 1 = real time
    seed: Seed = 2
    rate_hz: Annotated[float, msgspec.Meta(gt=0, le=10_000)] = 4.0
    start: str = "2024-01-08T08:00:00Z"


class CostConfig(_Schema, frozen=True):
    spread_pips: Pips = 0.0
    slippage_pips: Pips = 0.0
    commission_per_unit: OffAmount = 0.0
    commission_bps: Annotated[float, msgspec.Meta(ge=0, le=10_000)] = 0.0
    commission_min: OffAmount = 0.0


class LatencyConfig(_Schema, frozen=True):
    fixed_ms: Milliseconds = 0.0
    jitter_ms: Milliseconds = 0.0
    seed: Seed = 0


class FinancingRateConfig(_Schema, frozen=True):
    long: AnnualRate = 0.0
    short: AnnualRate = 0.0


class OandaConfig(_Schema, frozen=True):
    """The OANDA v20 venue (token: ALGOTRADING_OANDA_TOKEN, never in YAML)."""

    environment: Literal["practice", "live", "custom"] = "practice"  # custom: the URLs below
    rest_url: str = ""  # custom: e.g. http://127.0.0.1:8765 (the sim-exchange server)
    stream_url: str = ""  # custom: the stream host ("" = rest_url)
    account_id: str = ""  # "" = the first account the token sees
    requests_per_second: Annotated[float, msgspec.Meta(gt=0, le=10_000)] = 100.0
    timeout_seconds: Seconds = 10.0


class VenueConfig(_Schema, frozen=True):
    kind: str = "simulated"  # simulated (in-process) | oanda (v20 over HTTP)
    oanda: OandaConfig = OandaConfig()
    costs: CostConfig = CostConfig()
    latency: LatencyConfig = LatencyConfig()
    financing: dict[str, FinancingRateConfig] = msgspec.field(default_factory=dict)
    margin_closeout_level: UnitInterval = 0.5
    conversion_rates: dict[str, Amount] = msgspec.field(default_factory=dict)
    # False: the venue's own brackets are not used; the order manager builds them from parts
    native_brackets: bool = True


class BreakerConfig(_Schema, frozen=True):
    """One circuit breaker; a limit of 0 turns it off."""

    limit: OffAmount = 0.0  # daily_loss: account currency; max_drawdown: fraction; others: count,
    # seconds (stale_data) or pips (wide_spread)
    action: Literal["halt", "reduce"] = "halt"
    reset: Literal["auto", "manual"] = "auto"
    window_seconds: Seconds = 60.0  # rejections only


class BreakersConfig(_Schema, frozen=True):
    daily_loss: BreakerConfig = BreakerConfig()
    max_drawdown: BreakerConfig = BreakerConfig(reset="manual")
    consecutive_losses: BreakerConfig = BreakerConfig(action="reduce")
    stale_data: BreakerConfig = BreakerConfig(action="reduce")
    wide_spread: BreakerConfig = BreakerConfig(action="reduce")
    rejections: BreakerConfig = BreakerConfig(reset="manual")


class RiskConfig(RiskLimits, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The ``risk`` section: the pre-trade limits (:class:`RiskLimits`, their one definition,
    which ``set-limit`` and ``reload-config`` check against too) and the circuit breakers."""

    breakers: BreakersConfig = BreakersConfig()


class BacktestConfig(_Schema, frozen=True):
    periods_per_year: Annotated[int, msgspec.Meta(ge=1, le=100_000_000)] = 252


class LogConfig(_Schema, frozen=True):
    level: str = "info"
    format: LogFormat = LogFormat.AUTO


class RecoveryConfig(_Schema, frozen=True):
    catch_up: bool = True  # after a restart, trade to what the warm strategy holds
    backfill: bool = True  # fetch the bars missed while down from the venue (v20 candles)


class RetentionConfig(_Schema, frozen=True):
    """Scheduled journal rotation (:func:`algotrading.state.retention.rotate`); off by
    default. ``archive_dir`` is relative to the state directory unless absolute."""

    enabled: bool = False
    keep_days: Annotated[float, msgspec.Meta(ge=0, le=1_000_000)] = 30.0  # 0 = keep none
    archive_dir: str = "archive"
    keep_snapshots: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 3
    every_hours: Annotated[float, msgspec.Meta(gt=0, le=1_000_000)] = 24.0


class SchedulesConfig(_Schema, frozen=True):
    """The daemon's schedules (:mod:`algotrading.daemon.schedules`)."""

    timezone: str = "America/New_York"  # of the times below
    daily_summary_at: str = "17:00"  # HH:MM, the forex day's end; "" = no daily summary
    sessions: bool = True  # alert when an instrument's trading session opens and closes


class StateConfig(_Schema, frozen=True):
    snapshot_every_seconds: OffSeconds = 60.0  # actor snapshots; 0 = only on request (ctl snapshot)
    reconcile_every_seconds: OffSeconds = 60.0  # with a broker venue; 0 = only at the start
    recovery: RecoveryConfig = RecoveryConfig()
    retention: RetentionConfig = RetentionConfig()


class SystemConfig(_Schema, frozen=True):
    account: AccountConfig = AccountConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    supervisor: SupervisorConfig = SupervisorConfig()
    feed: FeedConfig = FeedConfig()
    venue: VenueConfig = VenueConfig()
    strategy: StrategySpec = StrategySpec()
    risk: RiskConfig = RiskConfig()
    execution: ExecutionConfig = ExecutionConfig()
    backtest: BacktestConfig = BacktestConfig()
    log: LogConfig = LogConfig()
    state: StateConfig = StateConfig()
    systemd: SystemdConfig = SystemdConfig()
    metrics: MetricsConfig = MetricsConfig()
    schedules: SchedulesConfig = SchedulesConfig()
    alerts: AlertsConfig = AlertsConfig()
    admin: AdminConfig = AdminConfig()


class MarketConfig(_Schema, frozen=True):
    instruments: list[str] = msgspec.field(default_factory=lambda: ["EUR_USD"])
    bar_interval: str = "1m"
    specs: list[InstrumentSpec] = msgspec.field(default_factory=list)


class ModelSpec(_Schema, frozen=True):
    kind: Literal["none", "predictions", "registry"] = "none"
    path: str = ""  # predictions: the CSV file
    registry: str = ""  # registry: the registry file ("" = the daemon's state database)
    model_id: str = ""  # registry: this model ("" = the active one)


class LabelConfig(_Schema, frozen=True):
    kind: Literal["sign", "return", "triple_barrier"] = "sign"
    horizon: Count = 1  # bars ahead
    barrier_up: Multiple = 1.0  # triple_barrier: multiples of the rolling volatility
    barrier_down: Multiple = 1.0
    vol_window: Annotated[int, msgspec.Meta(ge=2, le=MAX_COUNT)] = 20


class WalkForwardConfig(_Schema, frozen=True):
    scheme: Literal["expanding", "rolling"] = "expanding"
    min_train_bars: Annotated[int, msgspec.Meta(ge=2, le=MAX_COUNT)] = 2000
    train_bars: OffCount = 0  # rolling: the training window (>= 2)
    test_bars: Count = 1000  # bars per fold
    embargo_bars: OffCount = 0
    # of each training window, for early stopping
    valid_fraction: Annotated[float, msgspec.Meta(gt=0, lt=1)] = 0.2


class LightGbmConfig(_Schema, frozen=True):
    n_estimators: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 200
    learning_rate: LearningRate = 0.05
    num_leaves: Annotated[int, msgspec.Meta(ge=2, le=131_072)] = 15
    min_child_samples: OffCount = 50
    feature_fraction: Fraction = 0.9
    bagging_fraction: Fraction = 0.8
    lambda_l2: Annotated[float, msgspec.Meta(ge=0, le=1e6)] = 1.0
    early_stopping_rounds: OffCount = 20  # 0 = no early stopping
    seed: Seed = 0


class SequenceConfig(_Schema, frozen=True):
    window: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 32
    hidden: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 32
    layers: Annotated[int, msgspec.Meta(ge=1, le=100)] = 1
    dropout: Annotated[float, msgspec.Meta(ge=0, lt=1)] = 0.0
    epochs: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 30
    batch_size: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)] = 256
    learning_rate: LearningRate = 0.001
    patience: OffCount = 5
    seed: Seed = 0
    device: str = "auto"  # auto (a GPU when there is one) | cpu | cuda


Weight = Annotated[float, msgspec.Meta(ge=0, le=MAX_AMOUNT)]


class EnsembleConfig(_Schema, frozen=True):
    members: list[Literal["lightgbm", "lstm", "gru"]] = msgspec.field(
        default_factory=lambda: ["lightgbm", "lstm"]
    )
    method: Literal["mean", "weighted", "stacking"] = "mean"
    weights: list[Weight] = msgspec.field(default_factory=list)


class TrainingConfig(_Schema, frozen=True):
    model: Literal["lightgbm", "lstm", "gru", "ensemble"] = "lightgbm"
    task: Literal["classification", "regression"] = "classification"  # of the label's sign
    label: LabelConfig = LabelConfig()
    walk_forward: WalkForwardConfig = WalkForwardConfig()
    lightgbm: LightGbmConfig = LightGbmConfig()
    lstm: SequenceConfig = SequenceConfig()
    gru: SequenceConfig = SequenceConfig()
    ensemble: EnsembleConfig = EnsembleConfig()


class RetrainConfig(_Schema, frozen=True):
    """Scheduled retraining (paper and live, with ``model.kind: registry``)."""

    cron: str = ""  # a crontab line, e.g. "0 22 * * 5" (Fridays 22:00 UTC); "" = off
    every_seconds: OffSeconds = 0.0  # or an interval; 0 = off
    data: str = ""  # CSV of bars to train on ("" = the synthetic default history)
    timeout_seconds: Seconds = 3600.0


class ModelConfig(_Schema, frozen=True):
    model: ModelSpec = ModelSpec()
    retrain: RetrainConfig = RetrainConfig()
    features: list[str] = msgspec.field(default_factory=list)
    training: TrainingConfig = TrainingConfig()


class Config(msgspec.Struct, frozen=True, kw_only=True):
    system: SystemConfig
    market: MarketConfig
    model: ModelConfig
    source: str  # where it was read from, for messages

    @property
    def bar_interval_ns(self) -> int:
        return parse_duration_ns(self.market.bar_interval)

    def instrument(self, symbol: str) -> InstrumentSpec:
        for spec in self.market.specs:
            if spec.symbol == symbol:
                return spec
        return BUILTIN_INSTRUMENTS[symbol]

    def as_dict(self) -> dict[str, Any]:
        return {
            "system": msgspec.to_builtins(self.system),
            "market": msgspec.to_builtins(self.market),
            "model": msgspec.to_builtins(self.model),
        }


_SCHEMAS: dict[str, type[_Schema]] = {
    "system.yaml": SystemConfig,
    "market.yaml": MarketConfig,
    "model.yaml": ModelConfig,
}

_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)\s*$")
_UNIT_NS = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9}


def config_from_dict(data: Mapping[str, Any], source: str = "<recorded session>") -> Config:
    """A configuration as :meth:`Config.as_dict` wrote it (a session's recorded config)."""
    return Config(
        system=msgspec.convert(data["system"], SystemConfig),
        market=msgspec.convert(data["market"], MarketConfig),
        model=msgspec.convert(data["model"], ModelConfig),
        source=source,
    )


def parse_duration_ns(text: str) -> int:
    """``"500ms"``, ``"15s"``, ``"5m"``, ``"1h"``, ``"1d"`` as integer nanoseconds."""
    match = _DURATION.match(text)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"expected a positive duration like 30s, 5m or 1h, got {text!r}")
    return int(match.group(1)) * _UNIT_NS[match.group(2)]


def format_duration_ns(ns: int) -> str:
    """The inverse of :func:`parse_duration_ns`: ``3_600_000_000_000`` -> ``"1h"``."""
    for unit in ("d", "h", "m", "s", "ms"):
        if ns % _UNIT_NS[unit] == 0:
            return f"{ns // _UNIT_NS[unit]}{unit}"
    return f"{ns}ns"


def load_config(config_dir: str | Path | None = None) -> Config:
    """Embedded defaults, overlaid with the files of ``config_dir`` when given."""
    if config_dir is not None:
        _check_config_dir(Path(config_dir))
    parts: dict[str, _Schema] = {}
    for name in FILES:
        default_text = resources.files("algotrading.defaults").joinpath(name).read_text()
        data = _parse_yaml(default_text, f"<embedded defaults>/{name}")
        text, label = default_text, f"<embedded defaults>/{name}"
        if config_dir is not None:
            path = Path(config_dir) / name
            if os.path.lexists(path):  # a dangling link, a directory or a FIFO is refused
                text, label = read_config_file(path), str(path)
                data = _merge(data, _parse_yaml(text, label))
        parts[name] = _validate(name, data, text, label)
    config = Config(
        system=parts["system.yaml"],  # type: ignore[arg-type]
        market=parts["market.yaml"],  # type: ignore[arg-type]
        model=parts["model.yaml"],  # type: ignore[arg-type]
        source=str(config_dir) if config_dir else "<embedded defaults>",
    )
    _check_semantics(config, config_dir)
    return config


# YAML files a configuration directory may hold besides FILES (the sim-exchange server's)
OTHER_FILES = ("sim_exchange.yaml",)


def _check_config_dir(path: Path) -> None:
    """A directory named for the configuration must exist (a typo must not run on the defaults)
    and hold no YAML file whose name is a near miss of one that would be read (``systems.yaml``,
    ``market.yml``): it would be ignored, silently."""
    if not path.is_dir():
        problem = "is not a directory" if path.exists() else "no such configuration directory"
        raise ConfigError(str(path), "", problem)
    known = (*FILES, *OTHER_FILES)
    for file in sorted(path.iterdir()):
        if file.suffix.lower() not in (".yaml", ".yml") or file.name in known:
            continue
        stem = file.name.lower().rsplit(".", 1)[0]
        near = [k for k in known if k.rsplit(".", 1)[0] in (stem, stem.rstrip("s"))]
        near = near or difflib.get_close_matches(file.name.lower(), known, n=1, cutoff=0.8)
        if near:
            raise ConfigError(str(file), "", f"not read: the configuration file is named {near[0]}")


MAX_DEPTH = 64  # of nested mappings and lists in a configuration file; deeper is refused


class DuplicateKeyError(yaml.constructor.ConstructorError):  # type: ignore[misc]
    """A mapping names a key twice (YAML would keep the last, silently)."""

    def __init__(self, key: object, first: int, again: int, mark: yaml.Mark) -> None:
        self.key, self.first, self.again = key, first, again
        super().__init__(problem=f"duplicate key {key!r}", problem_mark=mark)


def _refusing_duplicates(base: type[yaml.SafeLoader]) -> type[yaml.SafeLoader]:
    class Loader(base):  # type: ignore[misc]
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # "<<: *anchor" entries are overridden on purpose
                try:
                    key = self.construct_object(key_node, deep=True)
                    first = seen.setdefault(key, key_node.start_mark.line + 1)
                except TypeError:
                    continue  # an unhashable key: the constructor's own error follows
                if first != key_node.start_mark.line + 1:
                    raise DuplicateKeyError(
                        key, first, key_node.start_mark.line + 1, key_node.start_mark
                    )
            return super().construct_mapping(node, deep)

    return Loader


# libyaml's parser where PyYAML was built with it: ten times faster on the embedded defaults
_FAST_SAFE_LOADER = _refusing_duplicates(getattr(yaml, "CSafeLoader", yaml.SafeLoader))
_SAFE_LOADER = _refusing_duplicates(yaml.SafeLoader)


def _safe_load(text: str) -> Any:
    """``yaml.safe_load`` refusing duplicate keys, on libyaml when it is there. A document
    libyaml refuses is parsed again by the pure-Python parser, so that its error (problem and
    line) is the one shown, whichever way PyYAML was built."""
    try:
        return yaml.load(text, Loader=_FAST_SAFE_LOADER)
    except yaml.YAMLError:
        return yaml.load(text, Loader=_SAFE_LOADER)


def read_config_file(path: Path) -> str:
    """The text of a configuration file; ConfigError unless it is a regular file (a dangling
    symlink, a directory or a FIFO is refused, not skipped) of UTF-8 text."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        problem = "a dangling symbolic link (its target is missing)"
        raise ConfigError(str(path), "", problem) from None
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else ""
        raise ConfigError(str(path), "", f"not a regular file ({kind or 'a special file'})")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot be read ({exc.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        problem = f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        raise ConfigError(str(path), "", problem, line) from None
    if "\x00" in text:
        raise ConfigError(
            str(path),
            "",
            "not text (it holds NUL bytes)",
            text.count("\n", 0, text.index("\x00")) + 1,
        )
    return text


def _parse_yaml(text: str, label: str) -> dict[str, Any]:
    try:
        data = _safe_load(text)
    except DuplicateKeyError as exc:
        problem = f"duplicate key (first at line {exc.first}, again at line {exc.again})"
        raise ConfigError(label, str(exc.key), problem, exc.again) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = f"not valid YAML ({getattr(exc, 'problem', exc)})"
        raise ConfigError(label, "", problem, line) from None
    except RecursionError:
        raise ConfigError(label, "", f"nested too deep (more than {MAX_DEPTH} levels)") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(label, "", f"expected a mapping of keys, got {type(data).__name__}")
    path = _first_bad(data, lambda v, d: d > MAX_DEPTH)
    if path is not None:
        problem = f"nested too deep (more than {MAX_DEPTH} levels)"
        raise ConfigError(label, path, problem, _line_of(text, path))
    return data


def _first_bad(data: Any, bad: Callable[[Any, int], bool]) -> str | None:
    """The key path (``a.b[2].c``) of the first value of ``data`` that is ``bad(value, depth)``,
    or None; walked without recursion, so that depth itself cannot overflow the stack."""
    stack: list[tuple[str, Any, int]] = [("", data, 0)]
    while stack:
        path, value, depth = stack.pop()
        if bad(value, depth):
            return path
        if isinstance(value, dict):
            items = [(f"{path}.{k}".lstrip("."), v) for k, v in value.items()]
        elif isinstance(value, list):
            items = [(f"{path}[{i}]", v) for i, v in enumerate(value)]
        else:
            continue
        stack.extend((p, v, depth + 1) for p, v in reversed(items))
    return None


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Key-by-key overlay. A strategy named anew brings its own params, not the old ones."""
    merged = dict(base)
    for key, value in override.items():
        old = merged.get(key)
        replace_params = key == "strategy" and isinstance(value, dict) and "name" in value
        if isinstance(old, dict) and isinstance(value, dict) and not replace_params:
            merged[key] = _merge(old, value)
        else:
            merged[key] = value
    return merged


_AT = re.compile(r"^(?P<problem>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<field>[^`]*)`$")


def _non_finite(value: Any, depth: int) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _validate(name: str, data: dict[str, Any], text: str, label: str) -> _Schema:
    config = validate_data(_SCHEMAS[name], data, text, label)
    for path, bounded in _BOUNDS_ELSEWHERE.get(name, {}).items():
        try:
            value = _value_at(msgspec.to_builtins(config), path)
        except TypeError:  # an optional section not given (None)
            continue
        try:
            msgspec.convert(value, bounded, strict=True)
        except msgspec.ValidationError as exc:
            problem = _AT.match(str(exc)).group("problem")  # type: ignore[union-attr]
            problem = problem[0].lower() + problem[1:]
            raise ConfigError(label, path, problem, _line_of(text, path)) from None
    return config


# Numeric keys of sections whose schemas live in rooms edited elsewhere (ops, adapters):
# their bounds, checked here after the schema; to move into the schemas themselves.
_BOUNDS_ELSEWHERE: dict[str, dict[str, Any]] = {
    "system.yaml": {
        "alerts.dedup_seconds": OffSeconds,  # 0 = every alert sent
        "alerts.rate_per_minute": Annotated[int, msgspec.Meta(ge=1, le=1_000_000)],
        "alerts.queue_size": Annotated[int, msgspec.Meta(ge=1, le=1_000_000)],
        "alerts.timeout_seconds": Seconds,
        "alerts.max_retries": Annotated[int, msgspec.Meta(ge=0, le=1000)],
        "admin.idle_timeout_seconds": Seconds,
        "admin.max_connections": Annotated[int, msgspec.Meta(ge=1, le=1_000_000)],
        "admin.max_line_bytes": Annotated[int, msgspec.Meta(ge=1024, le=1 << 30)],
        "metrics.stuck_seconds": Seconds,
        "metrics.port": Annotated[int, msgspec.Meta(ge=0, le=65535)],  # 0: any free port
        "systemd.watchdog_stuck_seconds": Seconds,
        "systemd.status_every_seconds": Seconds,
        **{
            f"feed.websocket.{key}_seconds": Seconds
            for key in (
                *("ping_interval", "ping_timeout", "stale_after", "open_timeout"),
                *("close_timeout", "reconnect_initial", "reconnect_max"),
            )
        },
        "feed.websocket.seed": Seed,
    }
}


def validate_data(schema: type[_S], data: dict[str, Any], text: str, label: str) -> _S:
    """``data`` (parsed from ``text``, read from ``label``) as ``schema``, or a ConfigError
    naming the key, its line and what it expected: no NaN or infinity anywhere, no unknown
    key, every value of its type and within its bounds, one of its choices."""
    path = _first_bad(data, _non_finite)  # no key takes NaN or infinity
    if path is not None:
        problem = "expected a finite number, got " + repr(_value_at(data, path))
        raise ConfigError(label, path, problem, _line_of(text, path))
    try:
        return msgspec.convert(data, schema, strict=True)
    except msgspec.ValidationError as exc:
        match = _AT.match(str(exc))
        assert match is not None
        problem, path = match.group("problem"), (match.group("path") or "").lstrip(".")
        path = _name_entry(schema, data, path)
        unknown = _UNKNOWN.match(problem)
        if unknown:
            path = f"{path}.{unknown.group('field')}".lstrip(".")
            allowed = _allowed_keys(schema, path.rsplit(".", 1)[0] if "." in path else "")
            problem = "unknown key"
            if allowed:
                problem += f"; expected one of: {', '.join(allowed)}"
            if re.search(r"token|secret|password|webhook", path, re.I):
                problem += " (secrets come only from the environment or a .env file)"
        elif problem.startswith("Invalid enum value"):
            choices = _choices(_field_type(schema, path))
            got = problem.removeprefix("Invalid enum value").strip()
            problem = f"expected one of {', '.join(choices)}, got {got}" if choices else problem
        else:
            problem = problem[0].lower() + problem[1:]
        raise ConfigError(label, path, problem, _line_of(text, path)) from None


def _name_entry(schema: type[msgspec.Struct], data: Any, path: str) -> str:
    """``path`` with msgspec's ``[...]`` (an entry of a mapping) replaced by the first key
    whose value the mapping's value type refuses (``venue.financing.EUR_USD.long``)."""
    if "[...]" not in path:
        return path
    prefix, _, rest = path.partition("[...]")
    mapping = _value_at(data, prefix) if prefix else data
    node: Any = _field_type(schema, prefix.rsplit(".", 1)[0]) if "." in prefix else schema
    fields = {f.name: f.type for f in msgspec.structs.fields(node)} if node else {}
    kind: Any = fields.get(prefix.rsplit(".", 1)[-1])
    while getattr(kind, "__origin__", None) is not dict and hasattr(kind, "__args__"):
        kind = next(a for a in kind.__args__ if a is not type(None))
    for key, value in mapping.items() if isinstance(mapping, dict) and kind else ():
        try:
            msgspec.convert(value, kind.__args__[1], strict=True)
        except msgspec.ValidationError:
            return _name_entry(schema, data, f"{prefix}.{key}{rest}")
    return path


def load_yaml_file(path: Path, schema: type[_S]) -> _S:
    """One YAML file of the configuration directory read as ``schema``, with the checks of
    :func:`load_config`: a regular UTF-8 file, no duplicate key, no NaN, every key bounded."""
    text = read_config_file(path)
    return validate_data(schema, _parse_yaml(text, str(path)), text, str(path))


def _value_at(data: Any, path: str) -> Any:
    for part in filter(None, re.split(r"\.|(\[\d+\])", path)):
        data = data[int(part[1:-1])] if part.startswith("[") else data[part]
    return data


def _unwrapped(node: Any) -> Any:
    """The type inside ``Annotated[...]``, ``X | None`` and ``list[X]``/``dict[str, X]``."""
    while getattr(node, "__metadata__", None) is not None or (
        getattr(node, "__origin__", None) is not Literal and hasattr(node, "__args__")
    ):
        args = [a for a in node.__args__ if a is not type(None)]
        node = args[-1] if args else None
    return node


def _field_type(schema: type[msgspec.Struct], path: str) -> Any:
    """The type of the key at ``path`` (``a.b[2].c``) in ``schema``, or None."""
    node: Any = schema
    for part in filter(None, re.split(r"\.", re.sub(r"\[\d+\]", "", path))):
        node = _unwrapped(node)
        if not (isinstance(node, type) and issubclass(node, msgspec.Struct)):
            return None
        node = {f.name: f.type for f in msgspec.structs.fields(node)}.get(part)
    return _unwrapped(node)


def _choices(kind: Any) -> list[str]:
    if getattr(kind, "__origin__", None) is Literal:
        return [str(a) for a in kind.__args__]
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return [str(m.value) for m in kind]
    return []


def _allowed_keys(schema: type[msgspec.Struct], path: str) -> list[str]:
    node = _field_type(schema, path) if path else schema
    if not (isinstance(node, type) and issubclass(node, msgspec.Struct)):
        return []
    return sorted(f.name for f in msgspec.structs.fields(node))


def _line_of(text: str, path: str) -> int | None:
    """The 1-based line of ``path`` in the YAML text, or of its closest existing parent."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in filter(None, re.split(r"\.|(\[\d+\])", path)):
        if isinstance(node, yaml.MappingNode):
            found = [(k, v) for k, v in node.value if k.value == part]
            if not found:
                break
            key, node = found[0]
            line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and part.startswith("["):
            index = int(part[1:-1])
            if index >= len(node.value):
                break
            node = node.value[index]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _check_semantics(config: Config, config_dir: str | Path | None) -> None:
    """Rules a schema cannot say: value ranges, names that must exist, cross-file links."""

    def fail(file: str, key: str, problem: str) -> None:
        label = str(Path(config_dir) / file) if config_dir else f"<embedded defaults>/{file}"
        text = Path(label).read_text() if config_dir and Path(label).is_file() else ""
        raise ConfigError(label, key, problem, _line_of(text, key) if text else None)

    system, market = config.system, config.market
    try:
        parse_duration_ns(market.bar_interval)
    except ValueError as exc:
        fail("market.yaml", "bar_interval", str(exc))
    known = {spec.symbol for spec in market.specs} | set(BUILTIN_INSTRUMENTS)
    for i, symbol in enumerate(market.instruments):
        if normalize_symbol(symbol) not in known:
            fail(
                "market.yaml",
                f"instruments[{i}]",
                f"unknown instrument {symbol!r}; add its spec under 'specs' or use one of "
                f"{', '.join(sorted(BUILTIN_INSTRUMENTS))}",
            )
    if not market.instruments:
        fail("market.yaml", "instruments", "expected at least one instrument")
    for key, symbols in (
        ("instruments", [normalize_symbol(s) for s in market.instruments]),
        ("specs", [spec.symbol for spec in market.specs]),
    ):
        for i, symbol in enumerate(symbols):
            if symbol in symbols[:i]:
                fail("market.yaml", f"{key}[{i}]", f"{symbol} is listed twice")
    for problem in system.admin.problems():
        key, _, what = problem.partition(": ")
        fail("system.yaml", f"admin.{key}", what)
    _check_schedules(system.schedules, fail)
    supervisor = system.supervisor
    if supervisor.backoff_max_seconds < supervisor.backoff_initial_seconds:
        fail("system.yaml", "supervisor.backoff_max_seconds", "expected >= backoff_initial_seconds")
    if system.feed.source == "websocket" and system.feed.websocket is None:
        fail("system.yaml", "feed.websocket", "expected the vendor's settings for source websocket")
    if system.feed.source == "csv" and not system.feed.path:
        fail("system.yaml", "feed.path", "expected the CSV file to replay when feed.source is csv")
    from algotrading.adapters.venue import KINDS

    if system.venue.kind not in KINDS:
        kinds = " or ".join(sorted(KINDS))
        fail("system.yaml", "venue.kind", f"expected {kinds}, got {system.venue.kind!r}")
    oanda = system.venue.oanda
    if oanda.environment == "custom" and not oanda.rest_url.startswith(("http://", "https://")):
        fail("system.yaml", "venue.oanda.rest_url", "a custom environment needs an http(s) URL")
    venue = system.venue
    for symbol in (*venue.financing, *venue.conversion_rates):
        if normalize_symbol(symbol) not in known:
            fail("system.yaml", "venue", f"unknown instrument {symbol!r}")
    if system.log.level.lower() not in ("debug", "info", "warning", "error"):
        fail("system.yaml", "log.level", "expected one of debug, info, warning, error")
    model = config.model.model
    if model.kind == "predictions" and not Path(model.path).is_file():
        fail(
            "model.yaml",
            "model.path",
            f"expected the predictions CSV file, {model.path!r} is not one",
        )
    if system.strategy.name == "ml_signal" and model.kind == "none":
        fail("system.yaml", "strategy.name", "ml_signal trades on predictions: set model.kind")
    _check_training(config.model, fail)


def _check_schedules(cfg: SchedulesConfig, fail: Callable[[str, str, str], None]) -> None:
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(cfg.timezone)
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
        fail("system.yaml", "schedules.timezone", f"unknown time zone {cfg.timezone!r}")
    at = cfg.daily_summary_at
    if at and not (_HH_MM.fullmatch(at) and int(at[:2]) < 24 and int(at[3:]) < 60):
        fail("system.yaml", "schedules.daily_summary_at", f"expected HH:MM or '', got {at!r}")


_HH_MM = re.compile(r"\d\d:\d\d")


def _check_training(model: ModelConfig, fail: Callable[[str, str, str], None]) -> None:
    from algotrading.features.feature_set import FeatureSet

    try:
        FeatureSet(model.features)
    except ValueError as exc:
        fail("model.yaml", "features", str(exc))
    if model.retrain.cron:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(model.retrain.cron, timezone="UTC")
        except ValueError as exc:
            fail("model.yaml", "retrain.cron", f"not a crontab line ({exc})")
    wf = model.training.walk_forward
    if wf.scheme == "rolling" and wf.train_bars < 2:
        fail("model.yaml", "training.walk_forward.train_bars", "a rolling scheme needs it >= 2")


# --- secrets -----------------------------------------------------------------------------------


class Secret:
    """A string that never shows itself in a repr, a log line or a traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


SECRET_ENV = {
    "oanda_token": "ALGOTRADING_OANDA_TOKEN",
    "telegram_bot_token": "ALGOTRADING_TELEGRAM_BOT_TOKEN",
    "slack_webhook_url": "ALGOTRADING_SLACK_WEBHOOK_URL",
}


def load_secrets(env_file: str | Path | None = None) -> dict[str, Secret]:
    """Secrets from the environment, then from ``env_file`` (``.env``) for names not set.
    The environment wins, as systemd's ``EnvironmentFile=`` would have set it."""
    values: dict[str, str | None] = {}
    if env_file is not None and Path(env_file).is_file():
        from dotenv import dotenv_values

        values = dotenv_values(env_file)
    secrets = {}
    for name, env in SECRET_ENV.items():
        value = os.environ.get(env) or values.get(env) or ""
        secrets[name] = Secret(value)
    return secrets
