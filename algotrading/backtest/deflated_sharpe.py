"""The deflated Sharpe ratio: how likely the best of N backtests has a true Sharpe above zero,
once the selection among N trials and non-normal returns are accounted for.

Bailey, D. H. and López de Prado, M. (2014), "The Deflated Sharpe Ratio: Correcting for
Selection Bias, Backtest Overfitting and Non-Normality", Journal of Portfolio Management
40(5), 94-107. With every Sharpe ratio per period (daily here, not annualised):

    SR0 = sqrt(V) * ((1 - g) * Z^-1(1 - 1/N) + g * Z^-1(1 - 1/(N e)))
    DSR = Z( (SR - SR0) * sqrt(T - 1) / sqrt(1 - g3 * SR + (g4 - 1) / 4 * SR^2) )

where N is the number of trials, V the variance of the trials' Sharpe ratios, SR0 the
expected maximum Sharpe ratio of N trials whose true Sharpe is zero (g = 0.5772..., the
Euler-Mascheroni constant), SR the selected trial's Sharpe ratio over T returns, g3 the
skewness and g4 the kurtosis (3 for a normal; not the excess) of those returns, and Z the
standard normal CDF. The paper's example (annual SR 2.5 over T = 1250 days, g3 = -3, g4 = 10,
N = 100, annual V = 1/2) gives SR0 = 0.1132 per day and DSR = 0.9004.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

EULER_GAMMA = 0.5772156649015329


def normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def sharpe_ratio(returns: Sequence[float]) -> float | None:
    """Mean over standard deviation (ddof=1) of ``returns``, per period; None when undefined."""
    if len(returns) < 2 or any(not math.isfinite(r) for r in returns):
        return None
    std = statistics.stdev(returns)
    return statistics.fmean(returns) / std if std > 0 else None


def moments(returns: Sequence[float]) -> tuple[float, float] | None:
    """Skewness and kurtosis (not excess) of ``returns`` from population moments, as
    ``scipy.stats.skew`` and ``kurtosis(fisher=False)`` compute them by default."""
    n = len(returns)
    if n < 2:
        return None
    mean = statistics.fmean(returns)
    m2 = sum((r - mean) ** 2 for r in returns) / n
    if m2 <= 0:
        return None
    m3 = sum((r - mean) ** 3 for r in returns) / n
    m4 = sum((r - mean) ** 4 for r in returns) / n
    return m3 / m2**1.5, m4 / m2**2


def expected_max_sharpe(n_trials: int, variance: float) -> float:
    """SR0: the expected largest Sharpe ratio of ``n_trials`` independent trials of true Sharpe
    zero whose estimates vary with ``variance``; 0 for a single trial (nothing was selected)."""
    if n_trials < 2 or variance <= 0:
        return 0.0
    inv = statistics.NormalDist().inv_cdf
    return math.sqrt(variance) * (
        (1.0 - EULER_GAMMA) * inv(1.0 - 1.0 / n_trials)
        + EULER_GAMMA * inv(1.0 - 1.0 / (n_trials * math.e))
    )


def deflated_sharpe_ratio(
    sharpe: float, sharpe0: float, n_returns: int, skewness: float, kurtosis: float
) -> float | None:
    """The probability that the true Sharpe ratio exceeds ``sharpe0``, given ``sharpe``
    measured over ``n_returns`` returns of that skewness and kurtosis; None when undefined."""
    spread = 1.0 - skewness * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if n_returns < 2 or spread <= 0:
        return None
    return normal_cdf((sharpe - sharpe0) * math.sqrt(n_returns - 1) / math.sqrt(spread))


def deflate_best(
    best_returns: Sequence[float], trial_sharpes: Sequence[float | None]
) -> dict[str, float | int | None]:
    """The deflated Sharpe ratio of the best trial and what went into it; ``trial_sharpes``
    holds every trial's per-period Sharpe ratio (None where undefined), the best's included."""
    defined = [s for s in trial_sharpes if s is not None]
    n_trials = len(trial_sharpes)
    variance = statistics.variance(defined) if len(defined) > 1 else 0.0
    sharpe = sharpe_ratio(best_returns)
    shape = moments(best_returns)
    sharpe0 = expected_max_sharpe(n_trials, variance)
    dsr = None
    if sharpe is not None and shape is not None:
        dsr = deflated_sharpe_ratio(sharpe, sharpe0, len(best_returns), *shape)
    return {
        "deflated_sharpe": dsr,
        "sharpe": sharpe,
        "expected_max_sharpe": sharpe0,
        "n_trials": n_trials,
        "sharpe_variance": variance,
        "n_returns": len(best_returns),
        "skewness": shape[0] if shape else None,
        "kurtosis": shape[1] if shape else None,
    }
