"""Moment-DETR's mean average precision for moment retrieval, vectorised over queries.

Reproduces ``compute_mr_ap`` / ``compute_average_precision_detection`` of jayleicn/moment_detr
``standalone_eval/eval.py``:

- a query's first ``max_windows`` (10) submitted windows are kept, then stably sorted by score;
- at each IoU threshold t in 0.5:0.05:0.95, predictions are visited best first; each is a true
  positive if some not-yet-matched GT window has IoU >= t (sum union, as its
  ``compute_temporal_iou_batch_cross``), matching the one with
  the highest IoU (ties: the later GT window, as ``argsort()[::-1]`` does), else a false positive;
- AP is VOC-2011 interpolated (precision made monotone from the right, summed over recall
  steps); mAP is the mean over queries, then over thresholds for ``average``;
- length buckets short (0, 10], middle (10, 30], long (30, 150] seconds keep a query if one of
  its GT windows falls in the bucket, and only those windows count.

One documented difference: Moment-DETR drops a query with an empty prediction list from the
average (and crashes in its R1 code); here it counts with AP 0, as a missing prediction is a miss.
"""

from __future__ import annotations

import numpy as np

from grounding.eval.iou import span_iou

MAP_THRESHOLDS: tuple[float, ...] = tuple(float(f"{t:.2f}") for t in np.linspace(0.5, 0.95, 10))
LENGTH_BUCKETS: dict[str, tuple[float, float]] = {
    "short": (0.0, 10.0),
    "middle": (10.0, 30.0),
    "long": (30.0, 150.0),
}


def average_precision_per_query(
    pred_windows: np.ndarray,
    pred_scores: np.ndarray,
    pred_valid: np.ndarray,
    gt_windows: np.ndarray,
    gt_valid: np.ndarray,
    *,
    thresholds: tuple[float, ...] = MAP_THRESHOLDS,
) -> np.ndarray:
    """Interpolated AP of every query at every threshold.

    Args:
        pred_windows: ``(Q, K, 2)`` predictions in submitted order (already cut to K windows).
        pred_scores: ``(Q, K)``.
        pred_valid: ``(Q, K)`` bool, False for padding.
        gt_windows: ``(Q, G, 2)``.
        gt_valid: ``(Q, G)`` bool; every query must have at least one valid window.

    Returns:
        ``(Q, T)`` AP in [0, 1].
    """
    q, k = pred_valid.shape
    if k == 0:
        return np.zeros((q, len(thresholds)))
    chunk = 8192  # queries per block: temporaries stay small and are reused from the heap
    if q > chunk:
        return np.concatenate(
            [
                average_precision_per_query(
                    pred_windows[i : i + chunk],
                    pred_scores[i : i + chunk],
                    pred_valid[i : i + chunk],
                    gt_windows[i : i + chunk],
                    gt_valid[i : i + chunk],
                    thresholds=thresholds,
                )
                for i in range(0, q, chunk)
            ]
        )
    t = np.asarray(thresholds, dtype=np.float64)
    order = np.argsort(np.where(pred_valid, -pred_scores, np.inf), axis=1, kind="stable")
    pw = np.take_along_axis(pred_windows, order[..., None], axis=1)
    pv = np.take_along_axis(pred_valid, order, axis=1)

    iou = span_iou(pw[:, :, None, :], gt_windows[:, None, :, :], union="sum")  # (Q, K, G)
    iou = np.where(gt_valid[:, None, :], iou, -np.inf)
    g = iou.shape[-1]
    locked = np.zeros((len(t), q, g), dtype=bool)
    tp = np.zeros((len(t), q, k), dtype=bool)
    rows_t = np.arange(len(t))[:, None]
    rows_q = np.arange(q)[None, :]
    for j in range(k):
        iou_j = iou[None, :, j, :]  # (1, Q, G)
        cand = (iou_j >= t[:, None, None]) & ~locked & pv[None, :, j, None]
        hit = cand.any(axis=-1)
        tp[:, :, j] = hit
        if g == 1:
            locked[..., 0] |= hit
            continue
        masked = np.where(cand, iou_j, -np.inf)
        # highest IoU, ties to the later GT window
        pick = g - 1 - np.argmax(masked[..., ::-1], axis=-1)  # (T, Q)
        locked[rows_t, rows_q, pick] |= hit
    fp = pv[None] & ~tp
    tp_c = np.cumsum(tp, axis=-1, dtype=np.float64)
    fp_c = np.cumsum(fp, axis=-1, dtype=np.float64)
    n_gt = gt_valid.sum(axis=1).astype(np.float64)  # (Q,)
    recall = tp_c / np.maximum(n_gt, 1.0)[None, :, None]
    denom = tp_c + fp_c
    precision = np.divide(tp_c, denom, out=np.zeros_like(tp_c), where=denom > 0)
    zeros = np.zeros((len(t), q, 1))
    mprec = np.concatenate([zeros, precision, zeros], axis=-1)
    mrec = np.concatenate([zeros, recall, np.ones((len(t), q, 1))], axis=-1)
    mprec = np.maximum.accumulate(mprec[..., ::-1], axis=-1)[..., ::-1]
    ap = np.sum((mrec[..., 1:] - mrec[..., :-1]) * mprec[..., 1:], axis=-1)  # (T, Q)
    return ap.T


def mean_average_precision(
    pred_windows: np.ndarray,
    pred_scores: np.ndarray,
    pred_valid: np.ndarray,
    gt_windows: np.ndarray,
    gt_valid: np.ndarray,
    *,
    max_windows: int = 10,
    thresholds: tuple[float, ...] = MAP_THRESHOLDS,
) -> tuple[dict[str, float], np.ndarray]:
    """Moment-DETR mAP metrics (fractions, not percentages) and the per-query average AP.

    Returns:
        metrics: ``mAP`` (average over thresholds), ``mAP@0.5``, ``mAP@0.75``, and
            ``{short,middle,long}/mAP`` (NaN for an empty bucket), plus ``{bucket}/n_queries``.
        per_query: ``(Q,)`` AP averaged over thresholds (full set).
    """
    pw = pred_windows[:, :max_windows]
    ps = pred_scores[:, :max_windows]
    pv = pred_valid[:, :max_windows]
    ap = average_precision_per_query(pw, ps, pv, gt_windows, gt_valid, thresholds=thresholds)
    per_thr = ap.mean(axis=0) if len(ap) else np.zeros(len(thresholds))
    metrics: dict[str, float] = {"mAP": float(np.mean(per_thr))}
    for t_val, v in zip(thresholds, per_thr, strict=True):
        if t_val in (0.5, 0.75):
            metrics[f"mAP@{t_val:g}"] = float(v)
    lengths = gt_windows[..., 1] - gt_windows[..., 0]
    for name, (lo, hi) in LENGTH_BUCKETS.items():
        with np.errstate(invalid="ignore"):
            in_bucket = gt_valid & (lengths > lo) & (lengths <= hi)
        keep = in_bucket.any(axis=1)
        metrics[f"{name}/n_queries"] = int(keep.sum())
        if not keep.any():
            metrics[f"{name}/mAP"] = float("nan")
            continue
        # a query whose GT windows all lie in the bucket has the same AP as in the full set
        mixed = keep & (in_bucket != gt_valid).any(axis=1)
        ap_b = ap[keep].copy()
        if mixed.any():
            ap_b[mixed[keep]] = average_precision_per_query(
                pw[mixed],
                ps[mixed],
                pv[mixed],
                gt_windows[mixed],
                in_bucket[mixed],
                thresholds=thresholds,
            )
        metrics[f"{name}/mAP"] = float(ap_b.mean(axis=0).mean())
    return metrics, ap.mean(axis=1)
