"""Per-query loop re-statements of each project's evaluation algorithm, used as test oracles for
the vectorised evaluator. They follow the control flow of the reference code (2D-TAN
``lib/core/eval.py``, MMN ``evaluation.py``, Moment-DETR ``standalone_eval/eval.py``) one query
and one candidate at a time, so a disagreement points at a vectorisation bug."""

from __future__ import annotations

import numpy as np


def iou_one(a, b) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = (a[1] - a[0]) + (b[1] - b[0]) - inter
    return inter / union if union > 0 else 0.0


def greedy_nms(cands: list, thresh: float | None, top_k: int | None) -> list:
    """cands already ranked. 2D-TAN stops when top_k are kept; MMN keeps all survivors."""
    keep: list = []
    for c in cands:
        if thresh is not None and any(iou_one(c, k) > thresh for k in keep):
            continue
        keep.append(c)
        if top_k is not None and len(keep) == top_k:
            break
    return keep


def recall_oracle(gt, preds, *, strict, nms_thresh, top_k, sort, ns, ms, clip, durations):
    """R@n,m and top-1 IoU per query. gt: list of list of (s,e); preds: list of list (s,e,score)."""
    hits = {(n, m): [] for n in ns for m in ms}
    top1 = []
    for g, p, d in zip(gt, preds, durations, strict=True):
        if clip:
            g = [(min(max(s, 0.0), d), min(max(e, 0.0), d)) for s, e in g]
        ranked = sorted(p, key=lambda x: -x[2]) if sort else list(p)  # Python sort is stable
        kept = greedy_nms([tuple(x[:2]) for x in ranked], nms_thresh, top_k)
        ious = [max(iou_one(k, w) for w in g) for k in kept]
        top1.append(ious[0] if ious else 0.0)
        for n in ns:
            for m in ms:
                ok = any((v > m) if strict else (v >= m) for v in ious[:n])
                hits[(n, m)].append(ok)
    return {k: float(np.mean(v)) for k, v in hits.items()}, float(np.mean(top1))


def ap_oracle(gt_windows, pred_rows, thresholds):
    """Moment-DETR compute_average_precision_detection for one query, at each threshold."""
    preds = sorted(pred_rows, key=lambda x: -x[2])  # stable, like list.sort(key=-score)
    aps = []
    for t in thresholds:
        if not preds:
            aps.append(0.0)
            continue
        lock = [False] * len(gt_windows)
        tp, fp = [], []
        for p in preds:
            ious = np.array([iou_one(p, g) for g in gt_windows])
            order = ious.argsort(kind="stable")[::-1]
            matched = False
            for j in order:
                if ious[j] < t:
                    break
                if lock[j]:
                    continue
                lock[j] = True
                matched = True
                break
            tp.append(1.0 if matched else 0.0)
            fp.append(0.0 if matched else 1.0)
        tp_c, fp_c = np.cumsum(tp), np.cumsum(fp)
        rec = tp_c / len(gt_windows)
        prec = tp_c / (tp_c + fp_c)
        mprec = np.hstack([[0], prec, [0]])
        mrec = np.hstack([[0], rec, [1]])
        for i in range(len(mprec) - 1)[::-1]:
            mprec[i] = max(mprec[i], mprec[i + 1])
        idx = np.where(mrec[1:] != mrec[:-1])[0] + 1
        aps.append(float(np.sum((mrec[idx] - mrec[idx - 1]) * mprec[idx])))
    return aps


def map_oracle(gt, preds, thresholds, max_windows=10, bucket=None):
    per_q = []
    for g, p in zip(gt, preds, strict=True):
        if bucket is not None:
            g = [w for w in g if bucket[0] < w[1] - w[0] <= bucket[1]]
            if not g:
                continue
        per_q.append(ap_oracle(g, list(p)[:max_windows], thresholds))
    if not per_q:
        return float("nan")
    return float(np.mean(np.mean(per_q, axis=0)))
