"""NMS speed (pytest-benchmark).

- :func:`grounding.eval.nms.first_survivors`: batched greedy NMS as the evaluator runs it,
  10,000 queries x 100 candidates ranked by score, first 5 survivors, IoU threshold 0.5 and
  without NMS (``thresh=None``).
- :func:`grounding.eval.nms.nms`: one query's full 2D moment map as the localization head
  ranks it (``N (N + 1) / 2`` moments: 136 for N = 16 Charades, 2,080 for N = 64 ActivityNet),
  keeping every survivor and keeping 5.

Run: ``pytest benchmarks/test_nms_speed.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from bench_evaluator import make_inputs

from grounding.eval.nms import first_survivors, nms

QUERIES = 10_000
CANDIDATES = 100
KEEP = 5


@pytest.fixture(scope="module")
def batch():
    _, _, windows, scores, valid = make_inputs(QUERIES, CANDIDATES, seed=0)
    return windows, scores, valid


def moment_map(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """All ``n (n + 1) / 2`` moments ``[i, j + 1]`` of an ``n``-clip map with random scores."""
    i, j = np.triu_indices(n)
    windows = np.stack([i, j + 1], axis=1).astype(np.float64)
    scores = np.sort(np.random.default_rng(seed).random(len(windows)))[::-1]
    return windows, scores


@pytest.mark.parametrize("thresh", [0.5, None], ids=["nms0.5", "no-nms"])
def test_first_survivors_speed(benchmark, batch, thresh: float | None) -> None:
    windows, scores, valid = batch
    benchmark.extra_info.update(queries=QUERIES, candidates=CANDIDATES, keep=KEEP)
    out = benchmark(first_survivors, windows, valid, thresh=thresh, n_keep=KEEP, priority=scores)
    assert out.shape == (QUERIES, KEEP)
    assert (out[:, 0] == np.argmax(scores, axis=1)).all()  # the best candidate always survives
    assert ((out >= -1) & (out < CANDIDATES)).all()


@pytest.mark.parametrize("n", [16, 64])
@pytest.mark.parametrize("max_keep", [None, KEEP], ids=["all", "keep5"])
def test_nms_moment_map_speed(benchmark, n: int, max_keep: int | None) -> None:
    windows, scores = moment_map(n)
    benchmark.extra_info.update(moments=len(windows), max_keep=max_keep)
    kept = benchmark(nms, windows, scores, thresh=0.5, max_keep=max_keep)
    assert kept[0] == 0 and len(set(kept.tolist())) == len(kept)
    if max_keep is not None:
        assert len(kept) <= max_keep
