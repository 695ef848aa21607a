"""What trading costs at the simulated venue, and when an order gets there.

All models are deterministic: the latency jitter comes from a seeded generator, so the same run
pays the same costs to the cent.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class CostModel:
    """Transaction costs.

    * ``spread_pips``: the spread charged on **bar** fills, half on each side (a bar carries
      one price); quote fills pay the quoted bid/ask instead.
    * ``slippage_pips``: moves market and stop fills against the order (limit fills never
      slip: they fill at their price or better).
    * ``commission_per_unit`` (account currency per unit) plus ``commission_bps`` of the
      traded notional in the account currency, at least ``commission_min`` per fill.
    """

    spread_pips: float = 0.0
    slippage_pips: float = 0.0
    commission_per_unit: float = 0.0
    commission_bps: float = 0.0
    commission_min: float = 0.0

    def describe(self) -> dict[str, float]:
        return asdict(self)

    def commission(self, quantity: float, notional_account: float) -> float:
        raw = quantity * self.commission_per_unit + notional_account * self.commission_bps / 1e4
        return max(raw, self.commission_min) if raw or self.commission_min else 0.0


@dataclass
class LatencyModel:
    """Time from an order leaving the order manager to its arrival at the matching engine:
    ``fixed_ms`` plus a uniform jitter in ``[0, jitter_ms]`` from a generator seeded with
    ``seed``. An order is matched only against prices stamped at or after its arrival."""

    fixed_ms: float = 0.0
    jitter_ms: float = 0.0
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def delay_ns(self) -> int:
        jitter = self._rng.uniform(0.0, self.jitter_ms) if self.jitter_ms else 0.0
        return round((self.fixed_ms + jitter) * 1_000_000)

    def describe(self) -> dict[str, float]:
        return {"fixed_ms": self.fixed_ms, "jitter_ms": self.jitter_ms, "seed": self.seed}


@dataclass(frozen=True)
class FinancingRate:
    """Annual financing rates (fractions: -0.025 = 2.5 % a year paid) for long and short
    positions, applied to the position's notional in the account currency."""

    long: float = 0.0
    short: float = 0.0


@dataclass(frozen=True)
class FinancingModel:
    """Overnight financing of FX positions, booked at the 17:00 New York rollover: one day's
    worth on Monday, Tuesday, Thursday and Friday, three on Wednesday (whose value date spans
    the weekend). Instruments without a rate are not financed."""

    rates: dict[str, FinancingRate] = field(default_factory=dict)
    days_per_year: int = 365

    def amount(self, instrument: str, quantity: float, notional_account: float, days: int) -> float:
        rate = self.rates.get(instrument)
        if rate is None or not quantity:
            return 0.0
        annual = rate.long if quantity > 0 else rate.short
        return notional_account * annual * days / self.days_per_year

    def describe(self) -> dict[str, Any]:
        return {
            "rates": {k: asdict(v) for k, v in sorted(self.rates.items())},
            "days_per_year": self.days_per_year,
            "rollover": "17:00 America/New_York, Mon-Fri; x3 on Wednesday",
        }
