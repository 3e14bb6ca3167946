"""Dataset readers, the synthetic dataset, video decoding and optical flow."""

from grounding.data.annotations import AnnotationError, Query, QuerySet, SkipLog

__all__ = ["AnnotationError", "Query", "QuerySet", "SkipLog"]
