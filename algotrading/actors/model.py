"""The model actor: turns bars into predictions for the strategy.

``model.kind``: ``none`` (rule-based strategies) runs no model and emits nothing;
``predictions`` replays a file of predictions made elsewhere (``model.path``, see
:mod:`algotrading.models.prediction_file`) — a prediction is sent when the bar it was made on
closes, never earlier."""

from __future__ import annotations

from algotrading.messages import Bar, Prediction
from algotrading.models.prediction_file import ANY
from algotrading.runtime.actor import Actor

MODEL_KINDS = ("none", "predictions")


class ModelActor(Actor):
    emits = (Prediction,)

    def __init__(
        self,
        name: str = "model",
        *,
        kind: str = "none",
        predictions: dict[tuple[str, int], float] | None = None,
        model_id: str = "",
    ) -> None:
        super().__init__(name)
        if kind not in MODEL_KINDS:
            raise ValueError(f"model kind {kind!r} is not available; one of {MODEL_KINDS}")
        self.kind = kind
        self.bars_seen = 0
        self.predictions = predictions or {}
        self.model_id = model_id

    async def on_bar(self, msg: Bar) -> None:
        self.bars_seen += 1
        if not self.predictions:
            return
        value = self.predictions.get((msg.instrument, msg.ts_event))
        if value is None:
            value = self.predictions.get((ANY, msg.ts_event))
        if value is not None:
            await self.send(
                Prediction(
                    ts_event=msg.ts_event,
                    instrument=msg.instrument,
                    model_id=self.model_id,
                    value=value,
                )
            )
