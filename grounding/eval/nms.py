"""Greedy temporal non-maximum suppression, vectorised over queries.

Greedy NMS walks the ranked candidates and keeps one unless a candidate kept before it overlaps it
with IoU > ``thresh`` (2D-TAN ``lib/core/eval.py`` and MMN ``evaluation.py`` both suppress on
``>``). The overlap's union (``hull`` for MMN and the default, ``sum`` for 2D-TAN) and the case of
an undefined overlap (``0 / 0``: 2D-TAN's ``ovr <= thresh`` suppresses it, MMN's ``iou > thresh``
keeps it) are options, and the arithmetic stays in the windows' dtype, so a float32 input
reproduces MMN's float32 tensors. Only kept candidates suppress, so the n-th kept candidate is the
best-ranked candidate not yet kept and not suppressed by the first n-1 kept ones.
:func:`first_survivors` finds the first ``n_keep`` survivors of every query at once in ``n_keep``
vectorised steps, without sorting the whole list: each step is a masked ``argmax`` of the ranking
priority, and ``argmax`` returns the first maximum, so ties keep the submitted order exactly as a
stable sort does.
"""

from __future__ import annotations

import numpy as np

from grounding.eval.iou import Union, interval_iou


def _suppressed(
    starts: np.ndarray,
    ends: np.ndarray,
    s: np.ndarray,
    e: np.ndarray,
    thresh: np.floating,
    union: Union,
    nan_suppresses: bool,
) -> np.ndarray:
    """Which candidates ``(Q, K)`` a kept span per query ``(Q, 1)`` suppresses."""
    overlap = interval_iou(starts, ends, s, e, union=union, empty=np.nan)
    if nan_suppresses:
        return ~(overlap <= thresh)
    return overlap > thresh


def _first_survivors_full(
    starts: np.ndarray,
    ends: np.ndarray,
    key: np.ndarray,
    *,
    thresh: np.floating | None,
    n_keep: int,
    union: Union = "hull",
    nan_suppresses: bool = False,
) -> np.ndarray:
    """Greedy NMS over the whole candidate list. ``key`` is ``(Q, K)`` priority with ``-inf``
    for padding; it is modified in place."""
    q = key.shape[0]
    out = np.full((q, n_keep), -1, dtype=np.int64)
    rows = np.arange(q)
    for slot in range(n_keep):
        pick = np.argmax(key, axis=1)
        has = key[rows, pick] > -np.inf
        if not has.any():
            break
        out[has, slot] = pick[has]
        key[rows, pick] = -np.inf
        if thresh is not None and slot + 1 < n_keep:
            s = starts[rows, pick][:, None]
            e = ends[rows, pick][:, None]
            key[_suppressed(starts, ends, s, e, thresh, union, nan_suppresses)] = -np.inf
    return out


def first_survivors(
    windows: np.ndarray,
    valid: np.ndarray,
    *,
    thresh: float | None,
    n_keep: int,
    priority: np.ndarray | None = None,
    prefix: int | None = None,
    union: Union = "hull",
    nan_suppresses: bool = False,
) -> np.ndarray:
    """Indices of the first ``n_keep`` candidates kept by greedy NMS, per query.

    Args:
        windows: ``(Q, K, 2)`` candidates; float32 windows are compared in float32.
        valid: ``(Q, K)`` bool, False for padding.
        thresh: suppress a candidate whose IoU with a kept one is ``> thresh``; ``None`` keeps
            every valid candidate (no NMS).
        n_keep: how many survivors to return.
        priority: ``(Q, K)`` ranking key, higher first, ties to the lower index (e.g. scores);
            ``None`` ranks by position (the windows are already in rank order).
        prefix: run NMS on only the best ``prefix`` candidates of each query first (default
            ``4 * n_keep``). Greedy NMS is prefix-consistent, so survivors found there are exact;
            a query whose prefix cannot prove its answer (too few survivors, or its last
            survivor ties the prefix boundary score) is redone on its full list.
        union: union of the NMS overlap, ``"hull"`` or ``"sum"``.
        nan_suppresses: an undefined overlap (``0 / 0``) suppresses the candidate.

    Returns:
        ``(Q, n_keep)`` int64 indices into K in rank order, ``-1`` where fewer survivors exist.
    """
    q, k = valid.shape
    if k == 0 or n_keep == 0:
        return np.full((q, n_keep), -1, dtype=np.int64)
    dtype = np.float32 if windows.dtype == np.float32 else np.float64
    starts = np.ascontiguousarray(windows[..., 0], dtype=dtype)
    ends = np.ascontiguousarray(windows[..., 1], dtype=dtype)
    rule = {
        "thresh": None if thresh is None else dtype(thresh),
        "n_keep": n_keep,
        "union": union,
        "nan_suppresses": nan_suppresses,
    }
    if priority is None:
        priority = np.broadcast_to(-np.arange(k, dtype=np.float64), (q, k))
    key = np.where(valid, priority, -np.inf)
    m = max(4 * n_keep, 8) if prefix is None else prefix
    if thresh is None or k <= m:
        return _first_survivors_full(starts, ends, key, **rule)

    # best m per query, re-ordered by original index so argmax ties still go to the lower index
    top = np.sort(np.argpartition(-key, m - 1, axis=1)[:, :m], axis=1)
    key_top = np.take_along_axis(key, top, axis=1)
    boundary = key_top.min(axis=1)  # the m-th best key of each query
    out_top = _first_survivors_full(
        np.take_along_axis(starts, top, axis=1),
        np.take_along_axis(ends, top, axis=1),
        key_top.copy(),
        **rule,
    )
    rows = np.arange(q)[:, None]
    out = np.where(out_top >= 0, top[rows, np.maximum(out_top, 0)], -1)
    last = out[:, -1]
    last_key = key[np.arange(q), np.maximum(last, 0)]
    # proven: n_keep survivors and the last one ranks strictly above everything left out
    redo = np.flatnonzero((last < 0) | ~(last_key > boundary))
    if len(redo):
        out[redo] = _first_survivors_full(starts[redo], ends[redo], key[redo], **rule)
    return out


def nms(
    windows: np.ndarray,
    scores: np.ndarray,
    *,
    thresh: float = 0.5,
    max_keep: int | None = None,
    union: Union = "hull",
) -> np.ndarray:
    """Greedy NMS of one query's candidates (float64).

    Args:
        windows: ``(K, 2)`` spans.
        scores: ``(K,)`` scores, ranked descending; ties keep input order (stable).
        thresh: suppression threshold (suppress IoU ``> thresh``).
        max_keep: stop after this many kept (2D-TAN stops at 5); ``None`` keeps all survivors.
        union: union of the overlap, ``"hull"`` or ``"sum"``.

    Returns:
        Indices into the input of the kept candidates, best first.
    """
    windows = np.asarray(windows, dtype=np.float64).reshape(-1, 2)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(windows) != len(scores):
        raise ValueError(f"nms: {len(windows)} windows but {len(scores)} scores")
    if np.isnan(scores).any() or np.isnan(windows).any():
        raise ValueError("nms: NaN in windows or scores")
    order = np.argsort(-scores, kind="stable")
    ranked = windows[order]
    survivors = []
    alive = np.ones(len(order), dtype=bool)
    for i in range(len(order)):  # single query: plain greedy loop over the ranked list
        if not alive[i]:
            continue
        survivors.append(i)
        if max_keep is not None and len(survivors) == max_keep:
            break
        later = ranked[i + 1 :]
        alive[i + 1 :] &= ~_suppressed(
            later[:, 0], later[:, 1], ranked[i, 0], ranked[i, 1], np.float64(thresh), union, False
        )
    return order[np.array(survivors, dtype=np.int64)]
