"""The model actor: turns bars into predictions for the strategy. With ``model.kind: none``
(rule-based strategies) it runs no model and emits nothing; the model kinds arrive with the
machine-learning work."""

from __future__ import annotations

from algotrading.messages import Bar, Prediction
from algotrading.runtime.actor import Actor


class ModelActor(Actor):
    emits = (Prediction,)

    def __init__(self, name: str = "model", *, kind: str = "none") -> None:
        super().__init__(name)
        if kind != "none":
            raise ValueError(f"model kind {kind!r} is not available")
        self.kind = kind
        self.bars_seen = 0

    async def on_bar(self, msg: Bar) -> None:
        self.bars_seen += 1
