"""How good out-of-sample predictions are: ``n``, ``hit_rate`` (the share of predictions on the
right side: a probability above 0.5 for an up move, or a predicted return of the realised
return's sign) and ``ic``, the information coefficient: the Spearman rank correlation of the
prediction and the realised forward return. With no edge, the hit rate is within noise of 0.5
(about ``0.5 / sqrt(n)``) and the IC within noise of 0 (about ``1 / sqrt(n)``)."""

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
    hits = (p > 0.5) == (y > 0.5) if task == "classification" else np.sign(p) == np.sign(r)
    return {"n": n, "hit_rate": float(np.mean(hits)), "ic": spearman(p, r)}
