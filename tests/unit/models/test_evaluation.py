"""The hit rate judges only bars that moved: flat bars have no side to be right about."""

from __future__ import annotations

import math

import numpy as np
import pytest

from algotrading.models.evaluation import evaluate
from algotrading.models.labels import sign_label


def test_flat_bars_do_not_make_a_constant_down_call_look_like_an_edge():
    """Regression: with a sign label, a bar that did not move is "not up", so a model that
    always said "down" scored the share of flat bars above 0.5 with no edge at all."""
    rng = np.random.default_rng(7)
    moves = rng.choice([-1.0, 1.0], size=20_000) * 1e-4
    moves[rng.random(20_000) < 0.2] = 0.0  # a fifth of the bars are flat
    down = np.full(len(moves), 0.2)  # P(up) = 0.2 on every bar
    result = evaluate(down, sign_label(moves), moves, "classification")
    assert result["n"] == 20_000
    moved = int((moves != 0).sum())
    assert abs(result["hit_rate"] - 0.5) < 4 * 0.5 / math.sqrt(moved)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_hit_rate_on_a_small_case_by_hand(task: str):
    forward = np.array([0.01, -0.02, 0.0, 0.03, -0.01])
    if task == "classification":
        predictions = np.array([0.9, 0.4, 0.9, 0.2, 0.6])  # right, right, (flat), wrong, wrong
    else:
        predictions = np.array([0.5, -0.1, 0.3, -0.2, 0.1])
    result = evaluate(predictions, sign_label(forward), forward, task)
    assert result["hit_rate"] == 0.5  # 2 of the 4 bars that moved
    assert result["n"] == 5


def test_no_bar_moved_gives_no_hit_rate():
    flat = np.zeros(10)
    assert math.isnan(
        evaluate(np.full(10, 0.7), sign_label(flat), flat, "classification")["hit_rate"]
    )
