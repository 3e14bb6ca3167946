"""Paired statistics for two systems scored on the same queries (numpy/scipy only).

Every function takes per-query values in the same query order for both systems (``a`` the
reference, ``b`` the system compared with it) and looks at the per-query differences
``d = b - a``:

- :func:`paired_bootstrap` - percentile confidence interval of ``mean(d)``, resampling queries
  with replacement (``n_boot`` resamples). The resamples come from :func:`bootstrap_indices`,
  seeded, and are the same for every metric and every pair compared with the same seed (common
  random numbers), so the intervals of a table are computed on the same resampled query sets.
- :func:`mcnemar_exact` - exact McNemar test for 0/1 values (R@n hits): a two-sided binomial
  test of the discordant pairs, ``n_b_only`` of ``n_a_only + n_b_only`` against p = 1/2. No
  discordant pair: p = 1.
- :func:`sign_flip_test` - paired permutation test for continuous values (per-query IoU, AP,
  discounted recall): the signs of the differences are flipped at random; p is the share of sign
  patterns whose ``|mean|`` reaches the observed one. Exact (all ``2**m`` patterns of the ``m``
  non-zero differences) when ``2**m <= n_perm``, else ``n_perm`` seeded random patterns with
  the ``(1 + hits) / (1 + n_perm)`` estimate (never 0). All differences zero: p = 1.
- :func:`compare_pair` - all of the above for every metric of two per-query dicts: binary
  (McNemar) when both systems' values are all 0 or 1, else continuous (sign flip).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import binomtest

__all__ = [
    "McNemar",
    "PairedStat",
    "bootstrap_indices",
    "compare_pair",
    "is_binary",
    "mcnemar_exact",
    "paired_bootstrap",
    "sign_flip_test",
]

#: elements of one chunk of resample indices / sign patterns (bounds memory to ~64 MB)
CHUNK_ELEMENTS = 8_000_000


def is_binary(*values: np.ndarray) -> bool:
    """Whether every value of every array is exactly 0 or 1."""
    return all(bool(np.isin(np.asarray(v), (0.0, 1.0)).all()) for v in values)


def _check_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(
            f"paired values need two (Q,) arrays of one length, got {a.shape} {b.shape}"
        )
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("paired values must be finite")
    return a, b


def bootstrap_indices(n: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """The resampled query indices, in chunks of ``(C, n)`` rows (``n_boot`` rows in all), from
    ``numpy.random.default_rng(seed)``."""
    if n < 1 or n_boot < 1:
        raise ValueError(f"bootstrap needs n >= 1 and n_boot >= 1, got {n}, {n_boot}")
    rng = np.random.default_rng(seed)
    chunk = max(1, CHUNK_ELEMENTS // n)
    for start in range(0, n_boot, chunk):
        yield rng.integers(0, n, size=(min(chunk, n_boot - start), n))


def _bootstrap_means(diffs: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """``(M, n_boot)`` means of the ``(M, Q)`` differences over the resamples."""
    m, q = diffs.shape
    out = np.empty((m, n_boot))
    done = 0
    for idx in bootstrap_indices(q, n_boot, seed):
        c = len(idx)
        # resample counts per query (C, Q), then one matrix product for all metrics
        counts = np.bincount((idx + (np.arange(c) * q)[:, None]).ravel(), minlength=c * q)
        out[:, done : done + c] = diffs @ counts.reshape(c, q).T.astype(np.float64) / q
        done += c
    return out


def _interval(means: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def paired_bootstrap(
    a: np.ndarray,
    b: np.ndarray,
    *,
    n_boot: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``mean(b - a)`` (fractions, like the inputs)."""
    a, b = _check_pair(a, b)
    means = _bootstrap_means((b - a)[None, :], n_boot, seed)[0]
    return _interval(means, confidence)


@dataclass(frozen=True)
class McNemar:
    """Exact McNemar test: ``n_a_only`` queries hit by ``a`` only, ``n_b_only`` by ``b`` only."""

    p: float
    n_a_only: int
    n_b_only: int


def mcnemar_exact(a: np.ndarray, b: np.ndarray) -> McNemar:
    """Two-sided exact McNemar test of 0/1 per-query hits."""
    a, b = _check_pair(a, b)
    if not is_binary(a, b):
        raise ValueError("McNemar's test needs 0/1 values")
    n_a = int(((a == 1) & (b == 0)).sum())
    n_b = int(((a == 0) & (b == 1)).sum())
    if n_a + n_b == 0:
        return McNemar(1.0, 0, 0)
    p = binomtest(n_b, n_a + n_b, 0.5, alternative="two-sided").pvalue
    return McNemar(min(1.0, float(p)), n_a, n_b)


def _reaches(stat: np.ndarray, observed: float) -> np.ndarray:
    """``stat >= observed`` up to float rounding of the sums (a tie counts)."""
    return stat >= observed - 1e-12 * max(1.0, observed)


def _exact(m: int, n_perm: int) -> bool:
    """Enumerate all ``2**m`` sign patterns when there are no more than ``n_perm`` of them."""
    return m < 63 and 2**m <= n_perm


def sign_flip_test(d: np.ndarray, *, n_perm: int = 10_000, seed: int = 0) -> float:
    """Two-sided paired permutation (sign-flip) p-value of ``mean(d) = 0``."""
    d = np.asarray(d, dtype=np.float64)
    nz = d[d != 0]
    m = len(nz)
    if m == 0:
        return 1.0
    observed = abs(float(nz.sum()))  # |mean| up to the constant 1/Q
    if _exact(m, n_perm):
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=m)))
        return float(_reaches(np.abs(signs @ nz), observed).mean())
    rng = np.random.default_rng(seed)
    chunk = max(1, CHUNK_ELEMENTS // m)
    hits = 0
    for start in range(0, n_perm, chunk):
        c = min(chunk, n_perm - start)
        signs = np.where(rng.random((c, m)) < 0.5, -1.0, 1.0)
        hits += int(_reaches(np.abs(signs @ nz), observed).sum())
    return (1 + hits) / (1 + n_perm)


@dataclass(frozen=True)
class PairedStat:
    """One metric of ``b`` against ``a`` (values in percent, like the evaluator's metrics).

    Attributes:
        kind: ``binary`` (0/1 per query) or ``continuous``.
        test: ``exact McNemar`` or ``sign-flip permutation`` (``exact`` when enumerated).
        value_a / value_b: ``100 * mean`` of each system.
        diff: ``value_b - value_a`` (unrounded).
        ci_low / ci_high: the bootstrap interval of ``diff``.
        p: two-sided p-value.
        n_a_only / n_b_only: discordant queries (binary metrics; ``None`` otherwise).
    """

    kind: str
    test: str
    value_a: float
    value_b: float
    diff: float
    ci_low: float
    ci_high: float
    p: float
    n_a_only: int | None = None
    n_b_only: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def compare_pair(
    a: Mapping[str, np.ndarray],
    b: Mapping[str, np.ndarray],
    *,
    n_boot: int = 10_000,
    n_perm: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, PairedStat]:
    """Paired statistics of every metric ``a`` and ``b`` share (in ``a``'s key order)."""
    keys = [k for k in a if k in b]
    if not keys:
        raise ValueError("the two systems share no per-query metric")
    pairs = {k: _check_pair(a[k], b[k]) for k in keys}
    diffs = np.stack([pairs[k][1] - pairs[k][0] for k in keys])
    means = _bootstrap_means(diffs, n_boot, seed)
    out: dict[str, PairedStat] = {}
    for i, k in enumerate(keys):
        x, y = pairs[k]
        lo, hi = _interval(means[i], confidence)
        common = {
            "value_a": 100.0 * float(x.mean()),
            "value_b": 100.0 * float(y.mean()),
            "diff": 100.0 * float(diffs[i].mean()),
            "ci_low": 100.0 * lo,
            "ci_high": 100.0 * hi,
        }
        if is_binary(x, y):
            mc = mcnemar_exact(x, y)
            out[k] = PairedStat(
                "binary", "exact McNemar", **common, p=mc.p, n_a_only=mc.n_a_only,
                n_b_only=mc.n_b_only,
            )  # fmt: skip
        else:
            nonzero = int((diffs[i] != 0).sum())
            test = "sign-flip permutation" + (" (exact)" if _exact(nonzero, n_perm) else "")
            p = sign_flip_test(diffs[i], n_perm=n_perm, seed=seed)
            out[k] = PairedStat("continuous", test, **common, p=p)
    return out
