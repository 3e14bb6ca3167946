"""Evaluation protocols: the options that make the field's numbers differ, and named presets.

Each preset reproduces one project's own evaluation code, down to its dtype, its IoU formula at
each place and its rounding (``docs/protocols.md`` gives every rule with the upstream file and
function it follows):

- ``default``: ``>=``, candidates ranked by score (stable), greedy NMS 0.5 (suppress hull IoU
  > 0.5), R@n over the first n survivors, GT clipped to ``[0, duration]``, float64, hull union
  (the field's convention).
- ``2dtan`` (microsoft/2D-TAN ``lib/core/eval.py``): float64; NMS keeps ``inter / (len_i + len_j
  - inter) <= 0.5`` and stops once 5 are kept; metric IoU with the hull union, strict ``>``;
  mIoU is the IoU of the first kept moment.
- ``mmn`` (MCG-NJU/MMN ``mmn/data/datasets/evaluation.py``): float32 everywhere, candidates
  ranked by ``torch.sort(descending=True)``, NMS suppresses hull IoU ``> 0.5`` and keeps every
  survivor, ``>=``; the figure is ``'{:.02f}'`` of the float32 recall.
- ``moment_detr`` (jayleicn/moment_detr ``standalone_eval/eval.py``): no NMS and no re-sorting (the
  first submitted window is the top-1), GT window chosen by the sum-union IoU, hull IoU ``>=``,
  GT windows as given.

mAP is always Moment-DETR's definition (first 10 submitted windows, stable sort by score, one
match per GT, sum-union IoU, VOC interpolated AP per query, IoU 0.5:0.05:0.95), whatever the
preset.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal


@dataclass(frozen=True)
class Protocol:
    """How predictions are turned into R@n / mIoU.

    Attributes:
        name: preset name, recorded in results.
        strict: compare IoU with ``>`` instead of ``>=``.
        nms_thresh: greedy NMS threshold, or ``None`` for no NMS.
        max_keep: stop NMS after this many kept candidates (``None``: keep all survivors).
        sort_by_score: rank candidates by score (stable) before NMS; ``False`` keeps the
            submitted order.
        clip_gt: clip ground-truth windows to ``[0, duration]``.
        max_candidates: use only the first this many submitted windows (``None``: all).
        recall_at: the n of R@n.
        iou_thresholds: the m of R@n,IoU=m.
        map_max_windows: windows per query used for mAP (Moment-DETR uses 10).
        dtype: arithmetic of GT, candidates, scores, IoUs and thresholds (MMN: ``float32``).
        metric_union: union of the metric IoU (``hull`` or ``sum``, see :mod:`.iou`).
        nms_union: union of the NMS overlap.
        nms_nan_suppresses: an undefined NMS overlap (``0 / 0``, two zero-length spans at one
            time) suppresses the candidate, as 2D-TAN's ``ovr <= thresh`` test does; MMN's
            ``iou > thresh`` keeps it.
        sort: ``stable`` (ties keep the submitted order) or ``torch`` (MMN's
            ``scores.sort(descending=True)`` on float32 scores, whose ties are not stable).
        gt_choice: with several GT windows, ``best`` takes the max metric IoU over them;
            ``sum_argmax`` takes the metric IoU of the window with the highest sum-union IoU
            (Moment-DETR's ``compute_mr_r1``).
        percent: ``round`` (``round(100 * mean, 2)`` in float64) or ``float32`` (MMN:
            ``'{:.02f}'.format(float32(count / n) * 100)``).
    """

    name: str = "default"
    strict: bool = False
    nms_thresh: float | None = 0.5
    max_keep: int | None = None
    sort_by_score: bool = True
    clip_gt: bool = True
    max_candidates: int | None = None
    recall_at: tuple[int, ...] = (1, 5)
    iou_thresholds: tuple[float, ...] = (0.3, 0.5, 0.7)
    map_max_windows: int = 10
    dtype: Literal["float64", "float32"] = "float64"
    metric_union: Literal["hull", "sum"] = "hull"
    nms_union: Literal["hull", "sum"] = "hull"
    nms_nan_suppresses: bool = False
    sort: Literal["stable", "torch"] = "stable"
    gt_choice: Literal["best", "sum_argmax"] = "best"
    percent: Literal["round", "float32"] = "round"

    def __post_init__(self) -> None:
        if self.nms_thresh is not None and not 0.0 <= self.nms_thresh <= 1.0:
            raise ValueError(f"nms_thresh must be in [0, 1], got {self.nms_thresh}")
        if not self.recall_at or min(self.recall_at) < 1:
            raise ValueError(f"recall_at must be positive integers, got {self.recall_at}")
        if not self.iou_thresholds or not all(0.0 <= m <= 1.0 for m in self.iou_thresholds):
            raise ValueError(f"iou_thresholds must lie in [0, 1], got {self.iou_thresholds}")
        if self.max_keep is not None and self.max_keep < 1:
            raise ValueError(f"max_keep must be >= 1, got {self.max_keep}")
        if self.max_candidates is not None and self.max_candidates < 1:
            raise ValueError(f"max_candidates must be >= 1, got {self.max_candidates}")
        choices = {
            "dtype": ("float64", "float32"),
            "metric_union": ("hull", "sum"),
            "nms_union": ("hull", "sum"),
            "sort": ("stable", "torch"),
            "gt_choice": ("best", "sum_argmax"),
            "percent": ("round", "float32"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "comparator": ">" if self.strict else ">=",
            "nms_thresh": self.nms_thresh,
            "max_keep": self.max_keep,
            "sort_by_score": self.sort_by_score,
            "clip_gt": self.clip_gt,
            "max_candidates": self.max_candidates,
            "recall_at": list(self.recall_at),
            "iou_thresholds": list(self.iou_thresholds),
            "map": f"moment_detr (IoU 0.5:0.05:0.95, first {self.map_max_windows} windows)",
            "dtype": self.dtype,
            "metric_union": self.metric_union,
            "nms_union": self.nms_union,
            "nms_nan_suppresses": self.nms_nan_suppresses,
            "sort": self.sort,
            "gt_choice": self.gt_choice,
            "percent": self.percent,
        }


PRESETS: dict[str, Protocol] = {
    "default": Protocol(name="default"),
    "2dtan": Protocol(
        name="2dtan",
        strict=True,
        nms_thresh=0.5,
        max_keep=5,
        nms_union="sum",
        nms_nan_suppresses=True,
    ),
    "mmn": Protocol(
        name="mmn",
        strict=False,
        nms_thresh=0.5,
        max_keep=None,
        dtype="float32",
        sort="torch",
        percent="float32",
    ),
    "moment_detr": Protocol(
        name="moment_detr",
        strict=False,
        nms_thresh=None,
        sort_by_score=False,
        clip_gt=False,
        gt_choice="sum_argmax",
    ),
}


def get_protocol(name: str, **overrides: object) -> Protocol:
    """A preset by name, optionally with fields overridden (e.g. ``iou_thresholds``)."""
    try:
        base = PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown protocol {name!r}; choose from {sorted(PRESETS)}") from None
    return replace(base, **overrides) if overrides else base
