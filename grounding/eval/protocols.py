"""Evaluation protocols: the options that make the field's numbers differ, and named presets.

Each preset reproduces one project's own evaluation code (DESIGN.md §6):

- ``default``: ``>=``, candidates ranked by score (stable), greedy NMS 0.5 (suppress IoU > 0.5),
  R@n over the first n survivors, GT clipped to ``[0, duration]``.
- ``2dtan`` (microsoft/2D-TAN ``lib/core/eval.py``): strict ``>``, NMS 0.5 stopping once 5 are kept,
  true-union IoU; mIoU is the IoU of the first kept moment.
- ``mmn`` (MCG-NJU/MMN ``mmn/data/datasets/evaluation.py``): ``>=``, NMS 0.5 keeping every survivor.
- ``moment_detr`` (jayleicn/moment_detr ``standalone_eval/eval.py``): no NMS and no re-sorting (the
  first submitted window is the top-1), ``>=``, GT windows as given.

mAP is always Moment-DETR's definition (first 10 submitted windows, stable sort by score, one
match per GT, VOC interpolated AP per query, IoU 0.5:0.05:0.95), whatever the preset.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


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
        }


PRESETS: dict[str, Protocol] = {
    "default": Protocol(name="default"),
    "2dtan": Protocol(name="2dtan", strict=True, nms_thresh=0.5, max_keep=5),
    "mmn": Protocol(name="mmn", strict=False, nms_thresh=0.5, max_keep=None),
    "moment_detr": Protocol(
        name="moment_detr", strict=False, nms_thresh=None, sort_by_score=False, clip_gt=False
    ),
}


def get_protocol(name: str, **overrides: object) -> Protocol:
    """A preset by name, optionally with fields overridden (e.g. ``iou_thresholds``)."""
    try:
        base = PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown protocol {name!r}; choose from {sorted(PRESETS)}") from None
    return replace(base, **overrides) if overrides else base
