import numpy as np
import pandas as pd

from algotrading.features.moving_average import RollingSma, sma


def test_array_and_incremental_forms_agree_exactly():
    rng = np.random.default_rng(3)
    values = 1.1 + np.cumsum(rng.normal(0, 1e-4, 3000)).round(5)
    batch = sma(values, 20)
    rolling = RollingSma(20)
    stream = [rolling.update(float(v)) for v in values]
    assert all(s is None for s in stream[:19])
    assert np.array_equal(batch[19:], np.array(stream[19:], dtype=float))
    assert np.isnan(batch[:19]).all()
    np.testing.assert_allclose(batch, pd.Series(values).rolling(20).mean(), rtol=0, atol=1e-12)
