"""Evaluation: moment metrics (R@n, mIoU, mAP, NMS), classification metrics, statistics."""

from grounding.eval.evaluator import EvalResult, evaluate, evaluate_arrays
from grounding.eval.iou import span_iou
from grounding.eval.nms import nms
from grounding.eval.protocols import PRESETS, Protocol, get_protocol

__all__ = [
    "PRESETS",
    "EvalResult",
    "Protocol",
    "evaluate",
    "evaluate_arrays",
    "get_protocol",
    "nms",
    "span_iou",
]
