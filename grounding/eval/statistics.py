"""Statistics across seeds and queries (docs/design.md, "Evaluation protocol", paper Table 5).

- :func:`mean_std`: mean and sample standard deviation (``ddof=1``; 0 for a single value).
- :func:`ttest_against`: independent two-sample t-test (scipy ``ttest_ind``, Student's, equal
  variances, as the paper's "independent sample t test") of a model's per-seed values against
  ours.
- :func:`paired_bootstrap_ci`: percentile confidence interval of the difference of two models'
  mean per-query scores, resampling queries with replacement (paired: the same resampled queries
  for both models).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise ValueError("mean_std of no values")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def format_mean_std(values: Sequence[float], digits: int = 2) -> str:
    m, s = mean_std(values)
    return f"{m:.{digits}f} ± {s:.{digits}f}" if len(values) > 1 else f"{m:.{digits}f}"


def ttest_against(ours: Sequence[float], other: Sequence[float]) -> float:
    """Two-sided p-value of an independent two-sample t-test (pooled variance). NaN with fewer
    than two values per side; with both samples constant, 0 if they differ and 1 if equal. One
    constant sample (e.g. a deterministic baseline over seeds) is valid: scipy's precision-loss
    warning about it is silenced."""
    a = np.asarray(ours, dtype=np.float64)
    b = np.asarray(other, dtype=np.float64)
    if a.size < 2 or b.size < 2:
        return float("nan")
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return 0.0 if a[0] != b[0] else 1.0
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Precision loss", category=RuntimeWarning)
        return float(stats.ttest_ind(a, b, equal_var=True).pvalue)


def paired_bootstrap_ci(
    a: np.ndarray,
    b: np.ndarray | None = None,
    *,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, float]:
    """``(low, high)`` percentile CI of ``mean(a) - mean(b)`` (or of ``mean(a)`` without ``b``)
    over queries resampled with replacement; inputs are per-query values ``(Q,)``."""
    a = np.asarray(a, dtype=np.float64)
    d = a if b is None else a - np.asarray(b, dtype=np.float64)
    if d.size == 0:
        raise ValueError("bootstrap of no queries")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, d.size, size=(n_boot, d.size))
    means = d[idx].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)
