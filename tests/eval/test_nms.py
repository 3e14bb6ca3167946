"""NMS: the prefix shortcut and the vectorised path equal plain greedy NMS."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grounding.eval.nms import first_survivors, nms
from tests.eval.oracles import greedy_nms


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 10_000),
    st.integers(1, 30),
    st.integers(1, 6),
    st.sampled_from([0.0, 0.3, 0.5, 0.7]),
    st.integers(1, 12),
)
def test_prefix_shortcut_is_exact(seed, k, n_keep, thresh, prefix):
    rng = np.random.default_rng(seed)
    q = 25
    s = rng.integers(0, 20, (q, k)) / 2
    w = np.stack([s, s + rng.integers(1, 10, (q, k)) / 2], -1)
    scores = rng.integers(0, 4, (q, k)) / 4  # heavy ties, incl. at the prefix boundary
    valid = rng.random((q, k)) < 0.9
    got = first_survivors(w, valid, thresh=thresh, n_keep=n_keep, priority=scores, prefix=prefix)
    for i in range(q):
        order = [j for j in np.argsort(-scores[i], kind="stable") if valid[i, j]]
        kept = greedy_nms([tuple(w[i, j]) for j in order], thresh, n_keep)
        # map kept spans back to indices in rank order (duplicates resolved by rank)
        idx, used = [], set()
        for c in kept:
            j = next(j for j in order if tuple(w[i, j]) == c and j not in used)
            used.add(j)
            idx.append(j)
        assert got[i][got[i] >= 0].tolist() == idx, i


def test_nms_single_query_matches_greedy():
    rng = np.random.default_rng(1)
    s = rng.uniform(0, 50, 60)
    w = np.stack([s, s + rng.uniform(1, 20, 60)], -1)
    sc = rng.random(60)
    keep = nms(w, sc, thresh=0.5)
    order = np.argsort(-sc, kind="stable")
    expect = greedy_nms([tuple(x) for x in w[order]], 0.5, None)
    assert [tuple(x) for x in w[keep]] == expect
    assert len(nms(w, sc, thresh=0.5, max_keep=3)) == 3


def test_nms_bad_input():
    with pytest.raises(ValueError, match="3 windows but 2 scores"):
        nms(np.zeros((3, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="NaN"):
        nms(np.array([[0, 1.0]]), np.array([np.nan]))
