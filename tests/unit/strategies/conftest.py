"""Shared by the strategy tests: bars from closes, and the targets a composed strategy decides."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pytest

from algotrading.data.instruments import BUILTIN_INSTRUMENTS, InstrumentSpec
from algotrading.messages import Bar
from algotrading.strategies.registry import StrategySpec, build_strategy


class Account:
    def __init__(self, equity: float = 100_000.0, rate: float = 1.0) -> None:
        self._equity, self.rate = equity, rate

    def equity(self) -> float:
        return self._equity

    def quote_rate(self, spec: InstrumentSpec, price: float) -> float | None:
        return self.rate


def closes_to_bars(closes: Iterable[float], instrument: str = "EUR_USD") -> list[Bar]:
    return [
        Bar(
            ts_event=i + 1,
            instrument=instrument,
            interval_ns=1,
            ts_open=i,
            open=c,
            high=c,
            low=c,
            close=c,
        )
        for i, c in enumerate(closes)
    ]


@pytest.fixture
def bars_of() -> Callable[..., list[Bar]]:
    return closes_to_bars


@pytest.fixture
def targets_of() -> Callable[..., list[tuple[int, float]]]:
    """``(bar index, target)`` for every decision of strategy ``name`` over ``data``."""

    def run(
        name: str,
        params: dict[str, Any],
        data: Sequence[Bar],
        spec: StrategySpec | None = None,
        account: Account | None = None,
    ) -> list[tuple[int, float]]:
        strategy = build_strategy(name, params, spec=spec).make(BUILTIN_INSTRUMENTS["EUR_USD"])
        account = account or Account()
        out = []
        for i, bar in enumerate(data):
            decision = strategy.on_bar(bar, account)
            if decision is not None:
                out.append((i, decision.target))
        return out

    return run


@pytest.fixture
def account() -> Account:
    return Account()
