"""Temporal video grounding benchmarks.

Subpackages:
    grounding.data    readers of the real dataset formats, the synthetic generator, video, flow
    grounding.eval    moment metrics (R@n, mIoU, mAP, NMS), classification metrics, statistics
    grounding.models  BN-Inception, two-stream, attention modules, text encoder, localization head
    grounding.research  diagnostics of the synthetic results, apart from the product

Layers and design: docs/design.md.
"""

__version__ = "0.1.0"
