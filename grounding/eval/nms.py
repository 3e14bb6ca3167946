"""Greedy temporal non-maximum suppression, vectorised over queries.

Greedy NMS walks the ranked candidates and keeps one unless a candidate kept before it overlaps
it with IoU > ``thresh`` (2D-TAN ``lib/core/eval.py`` and MMN ``evaluation.py`` both suppress on
``>``). Only kept candidates suppress. The n-th kept candidate is therefore the first candidate
not suppressed by the first n-1 kept ones, which lets :func:`first_survivors` find the first
``n_keep`` survivors of every query at once in ``n_keep`` vectorised steps instead of a Python
loop per query.
"""

from __future__ import annotations

import numpy as np

from grounding.eval.iou import span_iou


def first_survivors(
    windows: np.ndarray, valid: np.ndarray, *, thresh: float | None, n_keep: int
) -> np.ndarray:
    """Indices of the first ``n_keep`` candidates kept by greedy NMS, per query.

    Args:
        windows: ``(Q, K, 2)`` candidates already in rank order (best first).
        valid: ``(Q, K)`` bool, False for padding.
        thresh: suppress a candidate whose IoU with a kept one is ``> thresh``; ``None`` keeps
            every valid candidate in order (no NMS).
        n_keep: how many survivors to return.

    Returns:
        ``(Q, n_keep)`` int64 indices into K, ``-1`` where fewer survivors exist.
    """
    q, k = valid.shape
    out = np.full((q, n_keep), -1, dtype=np.int64)
    if k == 0 or n_keep == 0:
        return out
    available = valid.copy()
    positions = np.arange(k)
    rows = np.arange(q)
    for slot in range(n_keep):
        has = available.any(axis=1)
        if not has.any():
            break
        pick = np.argmax(available, axis=1)  # first available candidate in rank order
        out[has, slot] = pick[has]
        # everything up to and including the pick is consumed
        available &= positions[None, :] > pick[:, None]
        if thresh is not None:
            kept = windows[rows, pick]  # (Q, 2)
            iou = span_iou(windows, kept[:, None, :])
            with np.errstate(invalid="ignore"):
                available &= ~(iou > thresh)
        available[~has] = False
    return out


def nms(
    windows: np.ndarray,
    scores: np.ndarray,
    *,
    thresh: float = 0.5,
    max_keep: int | None = None,
) -> np.ndarray:
    """Greedy NMS of one query's candidates.

    Args:
        windows: ``(K, 2)`` spans.
        scores: ``(K,)`` scores; ranked descending with a stable sort (ties keep input order).
        thresh: suppression threshold (suppress IoU ``> thresh``).
        max_keep: stop after this many kept (2D-TAN stops at 5); ``None`` keeps all survivors.

    Returns:
        Indices into the input of the kept candidates, best first.
    """
    windows = np.asarray(windows, dtype=np.float64).reshape(-1, 2)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(windows) != len(scores):
        raise ValueError(f"nms: {len(windows)} windows but {len(scores)} scores")
    order = np.argsort(-scores, kind="stable")
    n = len(order) if max_keep is None else min(max_keep, len(order))
    idx = first_survivors(
        windows[order][None], np.ones((1, len(order)), bool), thresh=thresh, n_keep=n
    )[0]
    return order[idx[idx >= 0]]
