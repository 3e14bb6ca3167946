"""R@n,IoU=m, mIoU and mAP of ranked moment predictions against ground truth (DESIGN.md §6).

:func:`evaluate` takes a :class:`~grounding.data.annotations.QuerySet` and predictions keyed by
qid; :func:`evaluate_arrays` does the work on padded arrays, vectorised over queries (the only
loops are over the n survivor slots and the <= 10 mAP ranks).

A query counts for R@n,IoU=m if any of its first n ranked (and, per protocol, NMS-surviving)
moments has IoU >= m (or > m) with any of its GT windows. mIoU is the mean IoU of the top-1
(max over GT windows). A query with no prediction is a miss everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from grounding.data.annotations import QuerySet
from grounding.eval.average_precision import mean_average_precision
from grounding.eval.iou import span_iou
from grounding.eval.nms import first_survivors
from grounding.eval.protocols import Protocol


def metric_name(n: int, m: float) -> str:
    """``R1@0.5`` style key of R@n,IoU=m."""
    return f"R{n}@{m:g}"


@dataclass
class EvalResult:
    """Metrics in percent (2 decimals) plus per-query values for statistics.

    Attributes:
        protocol: the protocol used.
        n_queries: GT queries evaluated.
        metrics: ``R{n}@{m}``, ``mIoU``, ``mAP``, ``mAP@0.5``, ``mAP@0.75``,
            ``{short,middle,long}/mAP`` in percent rounded to 2 decimals (NaN for an empty bucket).
        per_query: unrounded per-query values in [0, 1]: ``R{n}@{m}`` (0/1), ``IoU@1``, ``AP``.
        counts: ``missing_predictions`` (GT query without a prediction line),
            ``empty_predictions`` (line with an empty list), ``unknown_qids`` (prediction for a
            qid not in the GT), bucket sizes.
    """

    protocol: Protocol
    n_queries: int
    metrics: dict[str, float]
    per_query: dict[str, np.ndarray] = field(repr=False, default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "protocol": self.protocol.name,
            "protocol_options": self.protocol.to_dict(),
            "n_queries": self.n_queries,
            "metrics": {k: (None if np.isnan(v) else v) for k, v in self.metrics.items()},
            "counts": dict(self.counts),
        }


def pack_predictions(
    predictions: Mapping[str, np.ndarray], qids: list[str], *, max_windows: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ragged per-query ``(K_i, 3)`` arrays -> padded ``(Q, K, 2)`` windows, ``(Q, K)`` scores,
    ``(Q, K)`` valid mask, in the order of ``qids`` (missing qids get no valid window)."""
    rows = [np.asarray(predictions.get(q, np.zeros((0, 3))), dtype=np.float64) for q in qids]
    if max_windows is not None:
        rows = [r[:max_windows] for r in rows]
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    k = int(lengths.max()) if len(rows) else 0
    if len(rows) and (lengths == k).all():
        packed = np.stack(rows) if k else np.zeros((len(rows), 0, 3))
    else:
        packed = np.full((len(rows), k, 3), np.nan)
        for i, r in enumerate(rows):
            packed[i, : len(r)] = r
    valid = np.arange(k)[None, :] < lengths[:, None]
    scores = np.where(valid, packed[..., 2], -np.inf) if k else np.zeros((len(rows), 0))
    return packed[..., :2], scores, valid


def evaluate_arrays(
    gt_windows: np.ndarray,
    durations: np.ndarray,
    pred_windows: np.ndarray,
    pred_scores: np.ndarray,
    pred_valid: np.ndarray,
    protocol: Protocol,
) -> EvalResult:
    """Evaluate padded arrays.

    Args:
        gt_windows: ``(Q, G, 2)`` seconds, NaN-padded.
        durations: ``(Q,)`` video durations (used to clip GT when ``protocol.clip_gt``).
        pred_windows: ``(Q, K, 2)`` in submitted order.
        pred_scores: ``(Q, K)``.
        pred_valid: ``(Q, K)`` bool.
        protocol: how to rank, suppress and compare.
    """
    q = gt_windows.shape[0]
    gt = gt_windows.astype(np.float64, copy=True)
    if protocol.clip_gt:
        gt = np.clip(gt, 0.0, durations[:, None, None])
    gt_valid = ~np.isnan(gt).any(axis=-1)
    if (gt_valid.sum(axis=1) == 0).any():
        raise ValueError("every query needs at least one ground-truth window")

    if pred_windows.shape[1] == 0:  # no query has a prediction: one padding column
        pred_windows = np.full((q, 1, 2), np.nan)
        pred_scores = np.full((q, 1), -np.inf)
        pred_valid = np.zeros((q, 1), dtype=bool)

    # ---- ranking and NMS for R@n / mIoU ----
    pw, ps, pv = pred_windows, pred_scores, pred_valid
    if protocol.max_candidates is not None:
        pw, ps, pv = (
            pw[:, : protocol.max_candidates],
            ps[:, : protocol.max_candidates],
            pv[:, : protocol.max_candidates],
        )
    n_max = max(protocol.recall_at)
    n_keep = n_max if protocol.max_keep is None else min(n_max, protocol.max_keep)
    surv = first_survivors(
        pw,
        pv,
        thresh=protocol.nms_thresh,
        n_keep=n_keep,
        priority=ps if protocol.sort_by_score else None,
    )  # (Q, n_keep) in rank order
    rows = np.arange(q)[:, None]
    kept = np.where((surv >= 0)[..., None], pw[rows, np.maximum(surv, 0)], np.nan)
    iou = span_iou(kept[:, :, None, :], gt[:, None, :, :])  # (Q, n_keep, G)
    iou = np.where(np.isnan(iou), 0.0, iou).max(axis=-1)  # (Q, n_keep), 0 for missing

    metrics: dict[str, float] = {}
    per_query: dict[str, np.ndarray] = {}
    for n in protocol.recall_at:
        top = iou[:, : min(n, n_keep)]
        for m in protocol.iou_thresholds:
            hit = (top > m) if protocol.strict else (top >= m)
            hit = hit.any(axis=1)
            per_query[metric_name(n, m)] = hit.astype(np.float64)
            metrics[metric_name(n, m)] = float(hit.mean()) if q else 0.0
    per_query["IoU@1"] = iou[:, 0] if n_keep else np.zeros(q)
    metrics["mIoU"] = float(per_query["IoU@1"].mean()) if q else 0.0

    # ---- Moment-DETR mAP (submitted order, first map_max_windows windows) ----
    map_metrics, ap = mean_average_precision(
        pred_windows,
        pred_scores,
        pred_valid,
        gt,
        gt_valid,
        max_windows=protocol.map_max_windows,
    )
    per_query["AP"] = ap
    counts = {k: int(v) for k, v in map_metrics.items() if k.endswith("/n_queries")}
    metrics.update({k: v for k, v in map_metrics.items() if not k.endswith("/n_queries")})
    metrics = {
        k: round(100.0 * v, 2) if not np.isnan(v) else float("nan") for k, v in metrics.items()
    }
    return EvalResult(
        protocol=protocol, n_queries=q, metrics=metrics, per_query=per_query, counts=counts
    )


def evaluate(
    gt: QuerySet,
    predictions: Mapping[str, np.ndarray],
    protocol: Protocol,
) -> EvalResult:
    """Evaluate predictions ``{qid: (K, 3) [start, end, score]}`` against a query set.

    Queries of ``gt`` without a prediction count as misses; predictions for qids not in ``gt``
    are ignored and counted in ``result.counts["unknown_qids"]``.
    """
    qids = [x.qid for x in gt.queries]
    gt_windows, _, durations = gt.gt_arrays()
    pw, ps, pv = pack_predictions(predictions, qids, max_windows=None)
    result = evaluate_arrays(gt_windows, durations, pw, ps, pv, protocol)
    gt_qids = set(qids)
    result.counts["missing_predictions"] = sum(1 for x in qids if x not in predictions)
    result.counts["empty_predictions"] = sum(
        1 for x in qids if x in predictions and len(predictions[x]) == 0
    )
    result.counts["unknown_qids"] = sum(1 for x in predictions if x not in gt_qids)
    return result
