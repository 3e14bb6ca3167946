"""Temporal IoU of spans ``[start, end]``, in the formulas the upstream evaluators use.

Two unions appear in the field's code, and on real annotation files (two-decimal times, many
spans whose IoU is exactly 0.3/0.5/0.7 in decimal) they round differently:

- **hull**: ``max(e) - min(s)``. 2D-TAN's metric ``iou`` (``lib/core/eval.py``), MMN's ``iou``
  (``mmn/data/datasets/utils.py``, used for its NMS *and* its metric), Moment-DETR's
  ``compute_temporal_iou_batch_paired`` (its R1). For overlapping spans it equals the true
  union; for disjoint spans the intersection is 0 anyway. This is the ``default`` protocol's IoU.
- **sum**: ``len(a) + len(b) - inter``. 2D-TAN's ``nms`` overlap and Moment-DETR's
  ``compute_temporal_iou_batch_cross`` (its mAP and its choice of GT window for R1).

Both keep the input dtype (``float32`` for MMN, ``float64`` otherwise), so a float32 protocol
rounds exactly as MMN's torch tensors do (IEEE min/max/sub/div are correctly rounded in numpy and
torch alike). ``empty`` is what an empty union (``0 / 0``) gives: 2D-TAN and MMN divide and get
NaN (which then fails every comparison), Moment-DETR's paired IoU writes 0.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Union = Literal["hull", "sum"]


def interval_iou(
    s1: np.ndarray,
    e1: np.ndarray,
    s2: np.ndarray,
    e2: np.ndarray,
    *,
    union: Union = "hull",
    empty: float = 0.0,
) -> np.ndarray:
    """IoU of spans given as broadcastable start / end arrays, in their common dtype.

    Args:
        s1, e1: starts and ends of the first spans, any shape.
        s2, e2: starts and ends of the second spans, broadcastable against the first.
        union: ``"hull"`` (``max(e) - min(s)``) or ``"sum"`` (``len1 + len2 - inter``).
        empty: the value where the union is not positive (``np.nan`` reproduces ``0 / 0``).

    Returns:
        IoU with the broadcast shape; NaN where an input is NaN (padding).
    """
    inter = np.minimum(e1, e2) - np.maximum(s1, s2)
    inter = np.maximum(inter, 0)
    if union == "hull":
        den = np.maximum(e1, e2) - np.minimum(s1, s2)
    elif union == "sum":
        den = (e1 - s1) + (e2 - s2) - inter
    else:
        raise ValueError(f"union must be 'hull' or 'sum', got {union!r}")
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = inter / den
    bad = ~(den > 0)
    if bad.any():
        iou = np.where(bad, np.asarray(empty, dtype=iou.dtype), iou)
        nan = np.isnan(s1) | np.isnan(e1) | np.isnan(s2) | np.isnan(e2)
        iou = np.where(nan, np.nan, iou)
    return iou


def span_iou(a: np.ndarray, b: np.ndarray, *, union: Union = "hull") -> np.ndarray:
    """IoU of spans, broadcasting over leading dimensions (float64).

    Args:
        a: ``(..., 2)`` spans ``[start, end]``.
        b: ``(..., 2)`` spans, broadcastable against ``a``.
        union: ``"hull"`` or ``"sum"`` (see the module docstring).

    Returns:
        ``(...)`` float64 IoU in ``[0, 1]``, 0 for an empty union; NaN where either span is NaN.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return interval_iou(a[..., 0], a[..., 1], b[..., 0], b[..., 1], union=union)
