"""R@n,IoU=m, mIoU, discounted recall and mAP of ranked moment predictions (docs/protocols.md).

:func:`evaluate` takes a :class:`~grounding.data.annotations.QuerySet` and predictions keyed by
qid; :func:`evaluate_arrays` does the work on padded arrays, vectorised over queries (the only
loops are over the n survivor slots, the <= 10 mAP ranks and, for MMN's sort, the distinct
candidate counts).

A query counts for R@n,IoU=m if any of its first n ranked (and, per protocol, NMS-surviving)
moments has IoU >= m (or > m) with its GT window (the best-matching one when there are several).
mIoU is the mean IoU of the top-1. Discounted recall (Yuan et al. 2021) multiplies each hit by
``(1 - |s - s_gt| / D) * (1 - |e - e_gt| / D)`` and takes the best of the first n. Every step
runs in the protocol's own arithmetic (:class:`~grounding.eval.protocols.Protocol`). A query
with no prediction is a miss everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from grounding.data.annotations import QuerySet, RaggedWindows
from grounding.eval.average_precision import mean_average_precision
from grounding.eval.iou import interval_iou
from grounding.eval.nms import first_survivors
from grounding.eval.protocols import Protocol
from grounding.io import json_safe

#: queries per block of the vectorised steps: small enough that their temporaries are reused
#: from the heap (first touches of fresh memory cost more than the arithmetic), large enough
#: that numpy's per-call overhead stays negligible
CHUNK = 8192


def query_chunks(q: int, size: int = CHUNK) -> list[slice]:
    """``q`` queries as consecutive slices of at most ``size``."""
    return [slice(i, min(i + size, q)) for i in range(0, q, size)]


#: GT-length buckets of ``--breakdown``, as fractions of the video: ``(lo, hi]``.
LENGTH_FRACTIONS: tuple[tuple[float, float], ...] = ((0.0, 0.1), (0.1, 0.3), (0.3, 0.5), (0.5, 1.0))
#: The IoU thresholds of the bucket table (R1 at each).
BUCKET_IOUS: tuple[float, ...] = (0.5, 0.7)


def metric_name(n: int, m: float) -> str:
    """``R1@0.5`` style key of R@n,IoU=m."""
    return f"R{n}@{m:g}"


@dataclass
class EvalResult:
    """Metrics in percent (2 decimals) plus per-query values for statistics.

    Attributes:
        protocol: the protocol used.
        n_queries: GT queries evaluated.
        metrics: ``R{n}@{m}``, ``mIoU``, ``dR{n}@{m}``, ``mAP``, ``mAP@0.5``, ``mAP@0.75``,
            ``{short,middle,long}/mAP`` in percent rounded to 2 decimals (NaN for an empty bucket).
        per_query: unrounded per-query values in [0, 1]: ``R{n}@{m}`` (0/1), ``dR{n}@{m}``,
            ``IoU@1``, ``AP``.
        counts: ``missing_predictions`` (GT query without a prediction line),
            ``empty_predictions`` (line with an empty list), ``unknown_qids`` (prediction for a
            qid not in the GT), ``pred_windows_before_start`` / ``pred_windows_past_end``
            (submitted windows outside ``[0, duration]``, scored as given), bucket sizes.
        buckets: ``{"length": {...}, "position": {...}}``: per bucket ``n`` and R1@0.5 / R1@0.7
            in percent (GT-length as a fraction of the video; GT-centre third).
        top_windows: ``(Q, n, 2)`` the protocol's first ``n = max(recall_at)`` ranked (and
            NMS-surviving) windows of each query, NaN where it has fewer.
        top_scores: ``(Q, n)`` their scores (NaN where missing).
        top_ious: ``(Q, n)`` their IoU with the matched GT window (0 where missing).
    """

    protocol: Protocol
    n_queries: int
    metrics: dict[str, float]
    per_query: dict[str, np.ndarray] = field(repr=False, default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    buckets: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    top_windows: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0, 2)))
    top_scores: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0)))
    top_ious: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0)))

    def to_dict(self) -> dict:
        return {
            "protocol": self.protocol.name,
            "protocol_options": self.protocol.to_dict(),
            "n_queries": self.n_queries,
            "metrics": {k: (None if np.isnan(v) else v) for k, v in self.metrics.items()},
            "counts": dict(self.counts),
            "buckets": json_safe(self.buckets),
        }


def pack_predictions(
    predictions: Mapping[str, np.ndarray], qids: list[str], *, max_windows: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ragged per-query ``(K_i, 3)`` arrays -> padded ``(Q, K, 2)`` windows, ``(Q, K)`` scores,
    ``(Q, K)`` valid mask, in the order of ``qids`` (missing qids get no valid window). A
    :class:`~grounding.data.annotations.RaggedWindows` is padded in one vectorised step."""
    if isinstance(predictions, RaggedWindows):
        return _pack_ragged(predictions, qids, max_windows)
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
    return _split_packed(packed, lengths)


def _split_packed(packed: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, ...]:
    k = packed.shape[1]
    valid = np.arange(k)[None, :] < lengths[:, None]
    scores = np.where(valid, packed[..., 2], -np.inf) if k else np.zeros((len(packed), 0))
    return packed[..., :2], scores, valid


def _pack_ragged(
    ragged: RaggedWindows, qids: list[str], max_windows: int | None
) -> tuple[np.ndarray, ...]:
    index = ragged.index
    rows = np.array([index.get(q, -1) for q in qids], dtype=np.int64)
    found = rows >= 0
    counts = np.where(found, ragged.counts[np.maximum(rows, 0)], 0)
    if max_windows is not None:
        counts = np.minimum(counts, max_windows)
    k = int(counts.max()) if len(counts) else 0
    uniform = len(ragged.counts) and (ragged.counts == ragged.counts[0]).all()
    if uniform and found.all() and k == ragged.counts[0]:  # every query has K rows
        packed = ragged.flat.reshape(len(ragged), k, 3)
        if len(rows) != len(ragged) or (rows != np.arange(len(rows))).any():
            packed = packed[rows]  # else the file's order is the GT's: no copy
    else:
        packed = np.full((len(qids), k, 3), np.nan)
        q_of = np.repeat(np.arange(len(qids)), counts)
        col = np.arange(len(q_of)) - np.repeat(np.cumsum(counts) - counts, counts)
        src = np.repeat(ragged.offsets[np.maximum(rows, 0)], counts) + col
        packed[q_of, col] = ragged.flat[src]
    return _split_packed(packed, counts)


def _torch_priority(scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``(Q, K)`` ranking key that orders each query's candidates as MMN's ``nms`` does:
    ``torch.sort(descending=True)`` of its float32 scores. torch's CPU sort is not stable, so
    queries whose float32 scores tie are ranked by torch itself, on rows of the query's own
    length (a batch of equal-length rows sorts exactly as each row alone); any sort agrees on
    the others, whose key is their score."""
    key = np.where(valid, scores.astype(np.float32), np.float32(-np.inf))
    ties = np.zeros(len(key), dtype=bool)
    for c in query_chunks(len(key)):
        ordered = np.sort(key[c], axis=1)
        ties[c] = ((ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] > -np.inf)).any(axis=1)
    if not ties.any():
        return key
    import torch  # local: only tied float32 scores need torch's own sort

    rows = np.flatnonzero(ties)
    lengths = valid[rows].sum(axis=1)
    for length in np.unique(lengths):
        same = rows[lengths == length]
        for c in query_chunks(len(same)):
            sub = same[c]
            block = torch.from_numpy(np.ascontiguousarray(key[sub, :length]))
            order = block.sort(dim=1, descending=True).indices.numpy()
            rank = np.empty_like(order)
            np.put_along_axis(rank, order, np.arange(length), axis=1)
            key[sub, :length] = -rank.astype(np.float32)
    return key


def _percent(count: int, n: int, protocol: Protocol) -> float:
    """``count`` hits of ``n`` queries as the percentage the protocol's own code prints."""
    if protocol.percent == "float32":  # MMN: float32 count / n, * 100 in float32, '{:.02f}'
        value = np.float32(count) / np.float32(n) * np.float32(100)
        return float(f"{float(value):.2f}")
    return round(100.0 * count / n, 2)


def _bucket_table(
    gt_first: np.ndarray, durations: np.ndarray, top1: np.ndarray, protocol: Protocol
) -> dict[str, dict[str, dict[str, float]]]:
    """R1@0.5 / R1@0.7 and the query count per GT-length bucket (fraction of the video) and per
    GT-centre third, from the first GT window of each query and its top-1 IoU."""
    frac_len = (gt_first[:, 1] - gt_first[:, 0]) / durations
    centre = (gt_first[:, 0] + gt_first[:, 1]) / 2 / durations
    groups = {
        "length": {
            f"({lo:g}, {hi:g}]": (frac_len > lo) & (frac_len <= hi) for lo, hi in LENGTH_FRACTIONS
        },
        "position": {
            "first third": centre < 1 / 3,
            "middle third": (centre >= 1 / 3) & (centre < 2 / 3),
            "last third": centre >= 2 / 3,
        },
    }
    dtype = np.float32 if protocol.dtype == "float32" else np.float64
    out: dict[str, dict[str, dict[str, float]]] = {}
    for group, masks in groups.items():
        out[group] = {}
        for name, mask in masks.items():
            n = int(mask.sum())
            row: dict[str, float] = {"n": n}
            for m in BUCKET_IOUS:
                hit = top1[mask] > dtype(m) if protocol.strict else top1[mask] >= dtype(m)
                row[metric_name(1, m)] = (
                    _percent(int(hit.sum()), n, protocol) if n else float("nan")
                )
            out[group][name] = row
    return out


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
        pred_valid: ``(Q, K)`` bool; the valid windows of a query come first.
        protocol: how to rank, suppress, compare and round.
    """
    q = gt_windows.shape[0]
    dtype = np.float32 if protocol.dtype == "float32" else np.float64
    gt64 = gt_windows.astype(np.float64, copy=True)
    durations = np.asarray(durations, dtype=np.float64)
    if protocol.clip_gt:  # 2D-TAN / MMN readers: [max(s, 0), min(e, duration)]
        gt64[..., 0] = np.maximum(gt64[..., 0], 0.0)
        gt64[..., 1] = np.minimum(gt64[..., 1], durations[:, None])
    gt_valid = ~np.isnan(gt64).any(axis=-1)
    if (gt_valid.sum(axis=1) == 0).any():
        raise ValueError("every query needs at least one ground-truth window")
    gt = gt64.astype(dtype)

    if pred_windows.shape[1] == 0:  # no query has a prediction: one padding column
        pred_windows = np.full((q, 1, 2), np.nan)
        pred_scores = np.full((q, 1), -np.inf)
        pred_valid = np.zeros((q, 1), dtype=bool)
    counts = {
        "pred_windows_before_start": int((pred_valid & (pred_windows[..., 0] < 0)).sum()),
        "pred_windows_past_end": int(
            (pred_valid & (pred_windows[..., 1] > durations[:, None])).sum()
        ),
    }

    # ---- ranking and NMS for R@n / mIoU / dR ----
    pw = pred_windows.astype(dtype, copy=False)
    ps, pv = pred_scores, pred_valid
    if protocol.max_candidates is not None:
        cut = protocol.max_candidates
        pw, ps, pv = pw[:, :cut], ps[:, :cut], pv[:, :cut]
    priority = None
    if protocol.sort_by_score and protocol.sort == "torch":
        priority = _torch_priority(ps, pv)
    elif protocol.sort_by_score:
        priority = ps.astype(dtype, copy=False)
    n_max = max(protocol.recall_at)
    n_keep = n_max if protocol.max_keep is None else min(n_max, protocol.max_keep)
    surv = (
        np.concatenate(
            [
                first_survivors(
                    pw[c],
                    pv[c],
                    thresh=protocol.nms_thresh,
                    n_keep=n_keep,
                    priority=None if priority is None else priority[c],
                    union=protocol.nms_union,
                    nan_suppresses=protocol.nms_nan_suppresses,
                )
                for c in query_chunks(q)
            ]
        )
        if q
        else np.zeros((0, n_keep), np.int64)
    )  # (Q, n_keep) in rank order
    rows = np.arange(q)[:, None]
    kept = np.where((surv >= 0)[..., None], pw[rows, np.maximum(surv, 0)], np.nan)
    ks, ke = kept[:, :, None, 0], kept[:, :, None, 1]  # (Q, n_keep, 1)
    gs, ge = gt[:, None, :, 0], gt[:, None, :, 1]  # (Q, 1, G)
    iou_all = interval_iou(ks, ke, gs, ge, union=protocol.metric_union)  # (Q, n_keep, G)
    if protocol.gt_choice == "sum_argmax":  # Moment-DETR: GT of the highest sum-union IoU
        cross = interval_iou(ks, ke, gs, ge, union="sum")
        pick = np.argmax(np.where(np.isnan(cross), -np.inf, cross), axis=-1)
    else:
        pick = np.argmax(np.where(np.isnan(iou_all), -np.inf, iou_all), axis=-1)
    iou = np.take_along_axis(iou_all, pick[..., None], axis=-1)[..., 0]
    iou = np.where(np.isnan(iou), dtype(0), iou)  # (Q, n_keep), 0 for missing

    # ---- discounted recall: the chosen GT's boundary distances, as fractions of the video ----
    chosen = np.take_along_axis(gt64, pick[..., None], axis=1)  # (Q, n_keep, 2)
    kept64 = kept.astype(np.float64)
    d = durations[:, None]
    discount = (1 - np.abs(kept64[..., 0] - chosen[..., 0]) / d) * (
        1 - np.abs(kept64[..., 1] - chosen[..., 1]) / d
    )
    discount = np.where(np.isnan(discount), 0.0, discount)

    metrics: dict[str, float] = {}
    per_query: dict[str, np.ndarray] = {}
    discounted: dict[str, float] = {}
    for n in protocol.recall_at:
        top = iou[:, : min(n, n_keep)]
        for m in protocol.iou_thresholds:
            hit_all = (top > dtype(m)) if protocol.strict else (top >= dtype(m))
            hit = hit_all.any(axis=1)
            key = metric_name(n, m)
            per_query[key] = hit.astype(np.float64)
            metrics[key] = _percent(int(hit.sum()), q, protocol) if q else 0.0
            dr = np.where(hit_all, discount[:, : min(n, n_keep)], 0.0).max(axis=1, initial=0.0)
            per_query["d" + key] = dr
            discounted["d" + key] = round(100.0 * float(dr.mean()), 2) if q else 0.0
    per_query["IoU@1"] = iou[:, 0].astype(np.float64) if n_keep else np.zeros(q)
    metrics["mIoU"] = round(100.0 * float(per_query["IoU@1"].mean()), 2) if q else 0.0
    metrics.update(discounted)
    top1 = iou[:, 0] if n_keep else np.zeros(q, dtype)
    buckets = _bucket_table(gt64[:, 0], durations, top1, protocol) if q else {}

    # ---- Moment-DETR mAP (submitted order, first map_max_windows windows, float64) ----
    map_metrics, ap = mean_average_precision(
        pred_windows,
        pred_scores,
        pred_valid,
        gt64,
        gt_valid,
        max_windows=protocol.map_max_windows,
    )
    per_query["AP"] = ap
    counts.update({k: int(v) for k, v in map_metrics.items() if k.endswith("/n_queries")})
    for k, v in map_metrics.items():
        if not k.endswith("/n_queries"):
            metrics[k] = round(100.0 * v, 2) if not np.isnan(v) else float("nan")
    return EvalResult(
        protocol=protocol,
        n_queries=q,
        metrics=metrics,
        per_query=per_query,
        counts=counts,
        buckets=buckets,
        top_windows=kept.astype(np.float64),
        top_scores=np.where(surv >= 0, ps[rows, np.maximum(surv, 0)], np.nan),
        top_ious=iou.astype(np.float64),
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
    if not gt.queries:
        raise ValueError(f"{gt.source or 'ground truth'}: no query to evaluate")
    qids = [x.qid for x in gt.queries]
    gt_windows, _, durations = gt.gt_arrays()
    pw, ps, pv = pack_predictions(predictions, qids, max_windows=None)
    result = evaluate_arrays(gt_windows, durations, pw, ps, pv, protocol)
    gt_qids = set(qids)
    present = set(predictions) & gt_qids
    result.counts["missing_predictions"] = len(gt_qids) - len(present)
    result.counts["empty_predictions"] = int((~pv.any(axis=1)).sum()) - (
        len(gt_qids) - len(present)
    )
    result.counts["unknown_qids"] = len(predictions) - len(present)
    return result
