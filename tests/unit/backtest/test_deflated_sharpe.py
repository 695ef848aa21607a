import math

import pytest

from algotrading.backtest.deflated_sharpe import (
    deflate_best,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    moments,
    normal_cdf,
    sharpe_ratio,
)


def test_the_papers_example():
    # Bailey & López de Prado (2014): annual SR 2.5 over 5 years of daily returns, skewness -3,
    # kurtosis 10, the best of N = 100 trials whose annual Sharpe ratios vary by 1/2.
    sharpe0 = expected_max_sharpe(100, 0.5 / 250)
    assert sharpe0 == pytest.approx(0.1132, abs=1e-4)
    assert sharpe0 * math.sqrt(250) == pytest.approx(1.7894, abs=1e-4)
    dsr = deflated_sharpe_ratio(2.5 / math.sqrt(250), sharpe0, 1250, -3.0, 10.0)
    assert dsr == pytest.approx(0.9004, abs=1e-4)


def test_a_value_computed_by_hand():
    returns = [0.01, -0.02, 0.03, 0.0, 0.01]
    # mean 0.006; squared deviations sum to 1.32e-3: sample std sqrt(3.3e-4) = 0.0181659
    assert sharpe_ratio(returns) == pytest.approx(0.006 / math.sqrt(3.3e-4))
    # population moments m2 = 2.64e-4, m3 = -7.68e-7, m4 = 1.58112e-7
    skewness, kurtosis = moments(returns)
    assert skewness == pytest.approx(-7.68e-7 / 2.64e-4**1.5)  # -0.179042
    assert kurtosis == pytest.approx(1.58112e-7 / 2.64e-4**2)  # 2.268595
    # three trials with Sharpe 0.330289 (the best), 0.1 and -0.1: variance 0.0463636;
    # Z^-1(2/3) = 0.430727, Z^-1(1 - 1/(3e)) = 1.161957, so
    # SR0 = sqrt(0.0463636) * (0.422784 * 0.430727 + 0.577216 * 1.161957) = 0.183628;
    # DSR = Z((0.330289 - 0.183628) * sqrt(4) / sqrt(1 + 0.179042 * 0.330289
    #                                              + 1.268595 / 4 * 0.330289^2))
    #     = Z(0.280472) = 0.610442
    out = deflate_best(returns, [sharpe_ratio(returns), 0.1, -0.1])
    assert out["n_trials"] == 3
    assert out["n_returns"] == 5
    assert out["sharpe_variance"] == pytest.approx(0.0463636, abs=1e-7)
    assert out["expected_max_sharpe"] == pytest.approx(0.183628, abs=1e-6)
    assert out["deflated_sharpe"] == pytest.approx(0.610442, abs=1e-6)


def test_normal_cdf():
    assert normal_cdf(0.0) == 0.5
    assert normal_cdf(1.959964) == pytest.approx(0.975, abs=1e-7)


def test_one_trial_is_not_deflated():
    # nothing was selected: SR0 is 0 and DSR is the probabilistic Sharpe ratio against 0
    returns = [0.01, -0.005, 0.007, 0.002, -0.001, 0.004]
    out = deflate_best(returns, [sharpe_ratio(returns)])
    assert out["expected_max_sharpe"] == 0.0
    assert out["sharpe_variance"] == 0.0
    assert 0.5 < out["deflated_sharpe"] < 1.0


def test_undefined_inputs_give_none():
    assert sharpe_ratio([0.01]) is None
    assert sharpe_ratio([0.01, 0.01, 0.01]) is None  # no spread
    assert sharpe_ratio([0.01, math.nan]) is None
    assert moments([0.0, 0.0]) is None
    assert deflated_sharpe_ratio(0.1, 0.0, 1, 0.0, 3.0) is None
    out = deflate_best([0.02, 0.02], [None, 0.3])
    assert out["deflated_sharpe"] is None
    assert out["n_trials"] == 2
