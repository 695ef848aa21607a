"""The model actor: turns bars into predictions for the strategy.

``model.kind``:

- ``none`` (rule-based strategies) runs no model and emits nothing;
- ``predictions`` replays a file of predictions made elsewhere (``model.path``, see
  :mod:`algotrading.models.prediction_file`) — a prediction is sent when the bar it was made on
  closes, never earlier;
- ``registry`` runs a saved model (:mod:`algotrading.models.live`): features bar by bar, one
  prediction per bar once warmed up.

A ``model_swap`` command (the retraining job sends one after registering a new model) loads
the named model — or the registry's active one — off the event loop, warms it on the recent
bars it keeps, and puts it in place between two bars: the bar after the swap is predicted by
the new model, and no bar goes unpredicted. A model that fails to load leaves the old one
working; both outcomes are alerts.
"""

from __future__ import annotations

import asyncio
import pickle
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from algotrading.errors import AlgotradingError
from algotrading.messages import Alert, AlertLevel, Bar, Command, Message, Prediction
from algotrading.models.prediction_file import ANY
from algotrading.runtime.actor import Actor
from algotrading.runtime.driver import sync_handler

if TYPE_CHECKING:  # a model (numpy, features) is loaded by the factory that needs one
    from algotrading.models.live import LiveModel

MODEL_KINDS = ("none", "predictions", "registry")
RECENT_BARS = 2_000  # per instrument, to warm a swapped-in model


class ModelActor(Actor):
    emits = (Prediction, Alert)

    def __init__(
        self,
        name: str = "model",
        *,
        kind: str = "none",
        predictions: dict[tuple[str, int], float] | None = None,
        model_id: str = "",
        live: LiveModel | None = None,
        loader: Callable[[str], LiveModel] | None = None,
        budget_us: float = 5_000.0,
    ) -> None:
        super().__init__(name)
        if kind not in MODEL_KINDS:
            raise ValueError(f"model kind {kind!r} is not available; one of {MODEL_KINDS}")
        self.kind = kind
        self.bars_seen = 0
        self.predictions = predictions or {}
        self.model_id = model_id
        self.live = live
        self.loader = loader
        self.budget_us = budget_us
        self.over_budget = 0
        self.recent: dict[str, deque[Bar]] = {}

    @sync_handler
    def on_bar(self, msg: Bar) -> Iterable[Message]:
        self.bars_seen += 1
        if self.live is not None:
            return self._predict_live(msg, self.live)
        if self.predictions:
            value = self.predictions.get((msg.instrument, msg.ts_event))
            if value is None:
                value = self.predictions.get((ANY, msg.ts_event))
            if value is not None:
                return (self._prediction(msg, value),)
        return ()

    def _predict_live(self, msg: Bar, live: LiveModel) -> Iterator[Message]:
        recent = self.recent.get(msg.instrument)
        if recent is None:
            recent = self.recent[msg.instrument] = deque(maxlen=RECENT_BARS)
        recent.append(msg)
        value = live.on_bar(msg)
        if value is None:
            return
        yield self._prediction(msg, value)
        spent_us = live.timings[-1] / 1e3
        if spent_us > self.budget_us:
            self.over_budget += 1
            if self.over_budget == 1 or self.over_budget % 1000 == 0:
                yield self._alert_message(
                    AlertLevel.WARNING,
                    "inference_slow",
                    f"model {live.model_id} took {spent_us:.0f} us on a bar (budget "
                    f"{self.budget_us:.0f} us; {self.over_budget} bars over so far)",
                )

    def _prediction(self, bar: Bar, value: float) -> Prediction:
        return Prediction(
            ts_event=bar.ts_event,
            instrument=bar.instrument,
            model_id=self.live.model_id if self.live is not None else self.model_id,
            value=value,
        )

    # -- snapshots (algotrading.state.recording) --

    def snapshot_state(self) -> bytes:
        live = self.live
        state = (
            self.bars_seen,
            self.recent,
            live.model_id if live is not None else "",
            live.series if live is not None else {},
        )
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)

    def restore_state(self, state: bytes) -> None:
        """The feature windows come back only into the same model; another one (the registry's
        active model changed meanwhile) is warmed up on the recent bars, as after a swap."""
        bars_seen, recent, model_id, series = pickle.loads(state)
        self.bars_seen, self.recent = bars_seen, recent
        if self.live is None:
            return
        if self.live.model_id == model_id:
            self.live.series = series
            return
        for bars in recent.values():
            for bar in bars:
                self.live.warm(bar)

    async def on_command(self, msg: Command) -> None:
        if msg.name != "model_swap":
            return
        wanted = str(msg.args.get("model_id", ""))
        if self.loader is None:
            await self._alert(AlertLevel.WARNING, "model_swap_failed", "no registry to load from")
            return
        old = self.live.model_id if self.live is not None else "none"
        try:
            new = await asyncio.to_thread(self.loader, wanted)
        except (AlgotradingError, OSError, ValueError, RuntimeError) as exc:
            await self._alert(
                AlertLevel.CRITICAL, "model_swap_failed", f"{wanted or 'active'}: {exc}"
            )
            return
        for bars in self.recent.values():
            for bar in bars:
                new.warm(bar)
        self.live = new
        self.log.warning(
            "model_swapped",
            old=old,
            new=new.model_id,
            warm_bars=sum(map(len, self.recent.values())),
        )
        await self._alert(
            AlertLevel.INFO, "model_swapped", f"model {old} replaced by {new.model_id}"
        )

    async def _alert(self, level: AlertLevel, code: str, text: str) -> None:
        await self.send(self._alert_message(level, code, text))

    def _alert_message(self, level: AlertLevel, code: str, text: str) -> Alert:
        return Alert(
            ts_event=self.clock.now_ns(), level=level, code=code, text=text, source=self.name
        )
