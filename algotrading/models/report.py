"""The training report: one self-contained page — what was trained on what, how each fold and
the pooled out-of-sample predictions scored, whether the probabilities mean what they say, and
what trading them did (the backtest of ``ml_signal``, linked)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go

from algotrading.backtest.report import Plots, key_value_table, page, table
from algotrading.models.training import WalkForwardResult
from algotrading.timestamps import iso_utc

CALIBRATION_BINS = 10


def _num(value: Any, digits: int = 4) -> str:
    if isinstance(value, float):
        return "n/a" if np.isnan(value) else f"{value:.{digits}f}"
    return html.escape(str(value))


def _folds_table(result: WalkForwardResult) -> str:
    ts = result.data.ts
    rows = []
    for f in result.folds:
        fold = f.fold
        best = f.validation.get("best_iteration", f.validation.get("best_epoch", float("nan")))
        rows.append(
            [
                str(fold.index),
                iso_utc(int(ts[fold.fit[0]]))[:10],
                iso_utc(int(ts[fold.valid[-1]]))[:10],
                iso_utc(int(ts[fold.test_start]))[:10],
                iso_utc(int(ts[fold.test_end - 1]))[:10],
                str(len(fold.fit)),
                _num(best, 0),
                str(f.evaluation["n"]),
                _num(f.evaluation["hit_rate"]),
                _num(f.evaluation["ic"]),
            ]
        )
    return table(
        [
            "Fold",
            "Train from",
            "Train to",
            "Test from",
            "Test to",
            "Fit rows",
            "Best iteration/epoch",
            "n",
            "Hit rate",
            "IC",
        ],
        rows,
    )


def _pooled_table(pooled: dict[str, float]) -> str:
    n = pooled["n"]
    noise = 0.5 / np.sqrt(n) if n else float("nan")
    return table(
        ["Out-of-sample", "Value", "Noise (1 s.e., no edge)"],
        [
            ["n", str(n), ""],
            ["hit rate", _num(pooled["hit_rate"]), f"0.5 ± {_num(noise)}"],
            ["IC (Spearman)", _num(pooled["ic"]), f"0 ± {_num(2 * noise)}"],
        ],
    )


def _fold_figure(plots: Plots, result: WalkForwardResult) -> str:
    folds = [str(f.fold.index) for f in result.folds]
    fig = go.Figure()
    fig.add_bar(x=folds, y=[f.evaluation["ic"] for f in result.folds], name="IC")
    fig.add_bar(
        x=folds, y=[f.evaluation["hit_rate"] - 0.5 for f in result.folds], name="hit rate - 0.5"
    )
    fig.update_layout(title="Per fold", xaxis_title="fold", barmode="group")
    return plots.render(fig, "folds", 340)


def _calibration_figure(plots: Plots, result: WalkForwardResult, task: str) -> str:
    p = result.predictions
    rows = result.rows
    realised = (result.data.forward[rows] > 0).astype(float)
    ok = ~np.isnan(p)
    p, realised = p[ok], realised[ok]
    if len(p) < CALIBRATION_BINS:
        return "<p>Too few predictions to bin.</p>"
    edges = np.quantile(p, np.linspace(0, 1, CALIBRATION_BINS + 1))
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, CALIBRATION_BINS - 1)
    centres = [float(np.mean(p[which == b])) for b in range(CALIBRATION_BINS) if (which == b).any()]
    hits = [
        float(np.mean(realised[which == b])) for b in range(CALIBRATION_BINS) if (which == b).any()
    ]
    fig = go.Figure()
    fig.add_scatter(x=centres, y=hits, mode="lines+markers", name="realised up share")
    if task == "classification":
        fig.add_scatter(
            x=[min(centres), max(centres)],
            y=[min(centres), max(centres)],
            mode="lines",
            name="perfect calibration",
            line={"dash": "dot"},
        )
    fig.update_layout(
        title="Predictions in deciles against how often the price went up",
        xaxis_title="mean prediction in the decile",
        yaxis_title="share of up moves",
    )
    return plots.render(fig, "calibration", 360)


def write_training_report(
    path: Path,
    *,
    result: WalkForwardResult,
    task: str,
    setup: dict[str, Any],
    backtest_metrics: dict[str, Any] | None,
) -> None:
    plots = Plots()
    pooled = result.pooled(task)
    sections = [
        ("pooled", "Out-of-sample predictions, pooled", _pooled_table(pooled)),
        ("folds", "Walk-forward folds", _folds_table(result) + _fold_figure(plots, result)),
        ("calibration", "Calibration", _calibration_figure(plots, result, task)),
    ]
    if backtest_metrics is not None:
        keys = ("total_return", "sharpe", "max_drawdown", "n_trades", "win_rate", "profit_factor")
        rows = [[k, _num(backtest_metrics.get(k))] for k in keys]
        link = '<p>The full backtest: <a href="backtest/report.html">backtest/report.html</a>.</p>'
        sections.append(
            (
                "backtest",
                "Trading the out-of-sample predictions (ml_signal)",
                table(["Metric", "Value"], rows) + link,
            )
        )
    sections.append(("setup", "What was trained", key_value_table(setup)))
    path.write_text(page("Walk-forward training", sections), encoding="utf-8")
