import numpy as np
import pytest
from scipy import stats

from grounding.eval.statistics import format_mean_std, mean_std, paired_bootstrap_ci, ttest_against


def test_mean_std_sample_std():
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert mean_std([5.0]) == (5.0, 0.0)
    assert format_mean_std([1.0, 2.0, 3.0]) == "2.00 ± 1.00"
    with pytest.raises(ValueError):
        mean_std([])


def test_ttest_matches_scipy_and_edge_cases():
    a, b = [60.1, 61.0, 59.5], [50.2, 52.0, 49.9]
    assert ttest_against(a, b) == pytest.approx(stats.ttest_ind(a, b).pvalue)
    assert ttest_against(a, b) < 0.05
    assert np.isnan(ttest_against([1.0], [2.0, 3.0]))
    assert ttest_against([1.0, 1.0], [1.0, 1.0]) == 1.0
    assert ttest_against([1.0, 1.0], [2.0, 2.0]) == 0.0


def test_bootstrap_ci_contains_difference():
    rng = np.random.default_rng(0)
    a = (rng.random(2000) < 0.6).astype(float)
    b = (rng.random(2000) < 0.4).astype(float)
    lo, hi = paired_bootstrap_ci(a, b, n_boot=500, seed=1)
    assert lo < a.mean() - b.mean() < hi and lo > 0
    assert paired_bootstrap_ci(a, b, n_boot=500, seed=1) == (lo, hi)
