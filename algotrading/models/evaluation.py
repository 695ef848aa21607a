"""How good out-of-sample predictions are: ``n``, ``hit_rate`` (the share of predictions on the
right side: a probability above 0.5 for an up move, or a predicted return of the realised
return's sign) and ``ic``, the information coefficient: the Spearman rank correlation of the
prediction and the realised forward return. With no edge, the hit rate is within noise of 0.5
(about ``0.5 / sqrt(n)``) and the IC within noise of 0 (about ``1 / sqrt(n)``).

The hit rate counts only the predictions whose realised move was not zero: a bar that did not
move has no side to be right about. Counted, such bars bias the figure with no edge at all — a
sign label calls them "not up", so a model that always says "down" would score the share of
flat bars above 0.5 (short bars of prices quoted to a tenth of a pip are often flat)."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy.stats import rankdata

Floats = NDArray[np.float64]


def spearman(a: Floats, b: Floats) -> float:
    if len(a) < 3:
        return math.nan
    ra, rb = rankdata(a), rankdata(b)
    sa, sb = float(np.std(ra)), float(np.std(rb))
    if sa == 0 or sb == 0:
        return math.nan
    return float(np.mean((ra - ra.mean()) * (rb - rb.mean())) / (sa * sb))


def evaluate(predictions: Floats, labels: Floats, forward: Floats, task: str) -> dict[str, float]:
    ok = ~np.isnan(predictions) & ~np.isnan(labels) & ~np.isnan(forward)
    p, y, r = predictions[ok], labels[ok], forward[ok]
    n = int(ok.sum())
    if n == 0:
        return {"n": 0, "hit_rate": math.nan, "ic": math.nan}
    moved = r != 0.0
    if task == "classification":
        hits = (p[moved] > 0.5) == (y[moved] > 0.5)
    else:
        hits = np.sign(p[moved]) == np.sign(r[moved])
    hit_rate = float(np.mean(hits)) if len(hits) else math.nan
    return {"n": n, "hit_rate": hit_rate, "ic": spearman(p, r)}
