"""Bounded numbers for the configuration schemas: the one place that says what "a duration",
"a count" or "a fraction" may hold, so a key's constraint is part of its type and the loader's
error names the key (``expected `float` > 0 - at $.feed.speed``).

Every bound is finite: NaN, infinity and absurdly large values (``1e300`` seconds) are refused
at load, not discovered at run time. A type named ``Off...`` takes 0 as "off".
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

MAX_SECONDS = 10 * 366 * 86400.0  # ten years: longer than any timeout or interval means
MAX_COUNT = 1_000_000_000  # items, bars, restarts, connections
MAX_AMOUNT = 1e15  # money in the account currency, quantities in units
MAX_SEED = 2**32 - 1  # what numpy's generators take

Seconds = Annotated[float, Meta(gt=0, le=MAX_SECONDS)]
OffSeconds = Annotated[float, Meta(ge=0, le=MAX_SECONDS)]  # 0 = off
Count = Annotated[int, Meta(ge=1, le=MAX_COUNT)]
OffCount = Annotated[int, Meta(ge=0, le=MAX_COUNT)]  # 0 = off / none
Amount = Annotated[float, Meta(gt=0, le=MAX_AMOUNT)]
OffAmount = Annotated[float, Meta(ge=0, le=MAX_AMOUNT)]  # 0 = off / none
Seed = Annotated[int, Meta(ge=0, le=MAX_SEED)]
Fraction = Annotated[float, Meta(gt=0, le=1)]  # (0, 1]
UnitInterval = Annotated[float, Meta(ge=0, le=1)]  # [0, 1]
Pips = Annotated[float, Meta(ge=0, le=1e6)]
Milliseconds = Annotated[float, Meta(ge=0, le=3_600_000)]  # at most an hour
AnnualRate = Annotated[float, Meta(ge=-1, le=1)]  # -100 % .. +100 % a year
Multiple = Annotated[float, Meta(gt=0, le=1e6)]  # a positive factor (ATRs, volatilities)
LearningRate = Annotated[float, Meta(gt=0, le=10)]
