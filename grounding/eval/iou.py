"""Temporal IoU of spans ``[start, end]`` (DESIGN.md §6).

``IoU = |A ∩ B| / |A ∪ B|`` with the true union ``len(A) + len(B) - |A ∩ B|``; 0 when the union is
empty (two zero-length spans). For overlapping spans the true union equals the hull
``max(e) - min(s)`` that Moment-DETR and MMN use, and for disjoint spans the intersection is 0,
so all reference implementations agree with this one on valid spans.
"""

from __future__ import annotations

import numpy as np


def span_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of spans, broadcasting over leading dimensions.

    Args:
        a: ``(..., 2)`` spans ``[start, end]``.
        b: ``(..., 2)`` spans, broadcastable against ``a``.

    Returns:
        ``(...)`` float64 IoU in ``[0, 1]``; NaN where either span is NaN (padding).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    s1, e1 = a[..., 0], a[..., 1]
    s2, e2 = b[..., 0], b[..., 1]
    inter = np.clip(np.minimum(e1, e2) - np.maximum(s1, s2), 0.0, None)
    union = (e1 - s1) + (e2 - s2) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    nan = np.isnan(s1) | np.isnan(e1) | np.isnan(s2) | np.isnan(e2)
    return np.where(nan, np.nan, iou)
