"""``ml_signal``: trades on a model's predictions. Long when a prediction is at or above
``long_above``, short when at or below ``short_below``; in between, flat again if
``exit_inside`` (else the position is held until the other threshold or an exit). A
prediction from another model than ``model_id`` (when given) is ignored.

Predictions arrive after the bar they were made on (the model actor sees the bar first), and
the decision is taken at that bar's close, like any other entry. For a classifier of the sign
of the forward return, thresholds around 0.5 (``long_above: 0.55``, ``short_below: 0.45``);
for a regression of the return, around 0.
"""

from __future__ import annotations

import msgspec

from algotrading.messages import Bar, Prediction


class MlSignalParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    long_above: float = 0.55
    short_below: float = 0.45
    exit_inside: bool = False
    model_id: str = ""

    def __post_init__(self) -> None:
        if self.short_below > self.long_above:
            raise ValueError(
                f"short_below ({self.short_below}) must not be above long_above ({self.long_above})"
            )


class MlSignal:
    def __init__(self, params: MlSignalParams) -> None:
        self.params = params
        self._direction = 0

    def on_bar(self, bar: Bar) -> int | None:
        return None  # decisions come with the predictions

    def on_prediction(self, prediction: Prediction) -> int | None:
        p = self.params
        if p.model_id and prediction.model_id != p.model_id:
            return None
        value = prediction.value
        direction = self._direction
        if value >= p.long_above:
            direction = 1
        elif value <= p.short_below:
            direction = -1
        elif p.exit_inside:
            direction = 0
        if direction == self._direction:
            return None
        self._direction = direction
        return direction
