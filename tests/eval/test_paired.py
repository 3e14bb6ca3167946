"""Paired statistics against hand-computed cases and per-query loop re-statements."""

from math import comb

import numpy as np
import pytest

from grounding.eval.paired import (
    bootstrap_indices,
    compare_pair,
    is_binary,
    mcnemar_exact,
    paired_bootstrap,
    sign_flip_test,
)


def test_mcnemar_hand_computed():
    a = np.array([1, 1, 0, 0, 1, 0], dtype=float)
    b = np.array([1, 0, 1, 1, 1, 1], dtype=float)
    mc = mcnemar_exact(a, b)
    # discordant: a only at 1, b only at 2, 3, 5; P(X <= 1) + P(X >= 3), X ~ Bin(4, 1/2)
    assert (mc.n_a_only, mc.n_b_only) == (1, 3)
    assert mc.p == pytest.approx(10 / 16)
    assert mcnemar_exact(b, a).p == pytest.approx(10 / 16)


def test_mcnemar_without_discordant_pairs_is_one():
    a = np.array([1, 0, 1, 0], dtype=float)
    assert mcnemar_exact(a, a.copy()).p == 1.0


def test_mcnemar_b_improves_five_percent_of_queries():
    rng = np.random.default_rng(0)
    a = (rng.random(400) < 0.4).astype(float)
    b = a.copy()
    b[np.flatnonzero(a == 0)[:20]] = 1.0  # 20 of 400 queries = 5 %
    mc = mcnemar_exact(a, b)
    assert (mc.n_a_only, mc.n_b_only) == (0, 20)
    assert mc.p == pytest.approx(2 * 0.5**20) and mc.p < 0.05


def test_mcnemar_refuses_continuous_values():
    with pytest.raises(ValueError, match="0/1"):
        mcnemar_exact(np.array([0.5, 1.0]), np.array([1.0, 0.0]))


@pytest.mark.parametrize(
    ("d", "p"),
    [
        ([1.0, 1.0, 1.0], 2 / 8),  # only all + and all - reach |sum| 3
        ([0.5, 0.25, 0.0, -0.25], 6 / 8),  # |sums| of 8 patterns: 1, .5, .5, 0 (twice each)
        ([0.0, 0.0], 1.0),
        ([0.3], 1.0),
    ],
)
def test_sign_flip_exact_hand_computed(d, p):
    assert sign_flip_test(np.array(d)) == pytest.approx(p)


def test_sign_flip_monte_carlo_is_seeded_and_never_zero():
    d = np.full(30, 0.1)  # 2**30 patterns: sampled; no random pattern reaches all-equal signs
    assert sign_flip_test(d, n_perm=1000, seed=3) == pytest.approx(1 / 1001)
    noisy = np.random.default_rng(1).normal(0.0, 1.0, 200)
    p1 = sign_flip_test(noisy, n_perm=2000, seed=5)
    assert p1 == sign_flip_test(noisy, n_perm=2000, seed=5) and 0.0 < p1 <= 1.0


def test_sign_flip_monte_carlo_restated_per_pattern():
    d = np.random.default_rng(2).normal(0.05, 1.0, 40)
    rng = np.random.default_rng(9)
    signs = np.where(rng.random((500, 40)) < 0.5, -1.0, 1.0)
    observed = abs(d.sum())
    hits = sum(1 for row in signs if abs(float((row * d).sum())) >= observed - 1e-12 * observed)
    assert sign_flip_test(d, n_perm=500, seed=9) == pytest.approx((1 + hits) / 501)


def quantile(sorted_values, q):
    """numpy's default (linear) quantile, by hand."""
    pos = q * (len(sorted_values) - 1)
    lo = int(np.floor(pos))
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (pos - lo) * (sorted_values[hi] - sorted_values[lo])


def test_bootstrap_restated_one_resample_at_a_time():
    rng = np.random.default_rng(4)
    a, b = rng.random(37), rng.random(37)
    idx = np.concatenate(list(bootstrap_indices(37, 300, seed=11)))
    assert idx.shape == (300, 37)
    means = []
    for row in idx:
        total = 0.0
        for i in row:
            total += b[i] - a[i]
        means.append(total / len(row))
    means.sort()
    lo, hi = paired_bootstrap(a, b, n_boot=300, seed=11, confidence=0.9)
    assert lo == pytest.approx(quantile(means, 0.05), abs=1e-12)
    assert hi == pytest.approx(quantile(means, 0.95), abs=1e-12)


def test_bootstrap_hand_computed():
    a = np.zeros(10)
    assert paired_bootstrap(a, a + 0.25, n_boot=50) == pytest.approx((0.25, 0.25))
    assert paired_bootstrap(a, a.copy(), n_boot=50) == (0.0, 0.0)
    # one query: every resample is that query
    assert paired_bootstrap(np.array([1.0]), np.array([0.0]), n_boot=5) == (-1.0, -1.0)


def test_bootstrap_chunks_cover_n_boot(monkeypatch):
    import grounding.eval.paired as paired

    monkeypatch.setattr(paired, "CHUNK_ELEMENTS", 30)
    chunks = list(bootstrap_indices(7, 10, seed=0))
    assert [len(c) for c in chunks] == [4, 4, 2]
    lo, hi = paired_bootstrap(np.zeros(7), np.arange(7.0), n_boot=10)
    assert 0.0 <= lo <= hi <= 6.0


def test_is_binary():
    assert is_binary(np.array([0.0, 1.0]), np.array([1.0]))
    assert not is_binary(np.array([0.0, 0.5]))


def test_compare_pair_restated_per_query():
    rng = np.random.default_rng(7)
    q = 120
    a = {"R1@0.5": (rng.random(q) < 0.3) * 1.0, "IoU@1": rng.random(q), "dR1@0.5": rng.random(q)}
    b = {"R1@0.5": (rng.random(q) < 0.5) * 1.0, "IoU@1": rng.random(q), "dR1@0.5": rng.random(q)}
    stats = compare_pair(a, b, n_boot=200, n_perm=300, seed=1)
    assert list(stats) == ["R1@0.5", "IoU@1", "dR1@0.5"]
    hit = stats["R1@0.5"]
    assert (hit.kind, hit.test) == ("binary", "exact McNemar")
    a_only = sum(1 for x, y in zip(a["R1@0.5"], b["R1@0.5"], strict=True) if x == 1 and y == 0)
    b_only = sum(1 for x, y in zip(a["R1@0.5"], b["R1@0.5"], strict=True) if x == 0 and y == 1)
    n, k = a_only + b_only, min(a_only, b_only)
    p = min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2**n)
    assert (hit.n_a_only, hit.n_b_only) == (a_only, b_only) and hit.p == pytest.approx(p)
    assert hit.value_a == pytest.approx(100 * sum(a["R1@0.5"]) / q)
    assert hit.diff == pytest.approx(100 * (sum(b["R1@0.5"]) - sum(a["R1@0.5"])) / q)
    for key in ("IoU@1", "dR1@0.5"):
        s = stats[key]
        assert s.kind == "continuous" and s.test == "sign-flip permutation"
        assert s.p == pytest.approx(sign_flip_test(b[key] - a[key], n_perm=300, seed=1))
        lo, hi = paired_bootstrap(a[key], b[key], n_boot=200, seed=1)
        assert (s.ci_low, s.ci_high) == pytest.approx((100 * lo, 100 * hi))
        assert s.ci_low <= s.diff <= s.ci_high


def test_compare_pair_with_a_copy_is_p_one_and_zero_difference():
    rng = np.random.default_rng(3)
    a = {"R1@0.5": (rng.random(50) < 0.5) * 1.0, "IoU@1": rng.random(50), "AP": rng.random(50)}
    stats = compare_pair(a, {k: v.copy() for k, v in a.items()}, n_boot=100)
    for s in stats.values():
        assert s.p == 1.0 and s.diff == 0.0 and (s.ci_low, s.ci_high) == (0.0, 0.0)


def test_compare_pair_rejects_mismatched_lengths_and_nan():
    with pytest.raises(ValueError, match="one length"):
        compare_pair({"R1@0.5": np.ones(3)}, {"R1@0.5": np.ones(4)})
    with pytest.raises(ValueError, match="finite"):
        compare_pair({"IoU@1": np.array([np.nan])}, {"IoU@1": np.array([0.5])})
    with pytest.raises(ValueError, match="share no"):
        compare_pair({"a": np.ones(2)}, {"b": np.ones(2)})
