"""Measured speed (docs/design.md, "Speed"): latency per query, end to end per video,
recognition FPS.

One concept per module:

- ``timing``       device choice, synchronised latency (p50/p95), peak memory, thread info
- ``query``        per-query grounding latency from cached features
- ``pipeline``     end to end per video: the bench's feature pipeline + head, both FPS
- ``recognition``  recognizer clips/s and FPS, time vs number of samples (Figure 12)
- ``report``       :class:`SpeedReport`: JSON and tables
- ``suite``        models (passed in or untrained defaults) -> :class:`SpeedReport`
- ``__main__``     ``python -m grounding.speed``
"""

from grounding.speed.pipeline import (
    FrameCounts,
    PipelineConfig,
    PipelineSpeed,
    VideoRun,
    ground_video,
    measure_pipeline,
)
from grounding.speed.query import QuerySpeed, measure_query_latency, measure_text_latency
from grounding.speed.recognition import (
    RecognitionSpeed,
    Recognizer,
    measure_recognition,
    recognizer_input,
)
from grounding.speed.report import SpeedReport
from grounding.speed.suite import (
    SpeedModels,
    SpeedSettings,
    build_speed_models,
    run_speed,
    synthetic_queries,
)
from grounding.speed.timing import (
    DeviceError,
    LatencyStats,
    MemoryPeak,
    PeakMemory,
    Timer,
    measure_latency,
    resolve_device,
    runtime_info,
    synchronize,
)

__all__ = [
    "DeviceError",
    "FrameCounts",
    "LatencyStats",
    "MemoryPeak",
    "PeakMemory",
    "PipelineConfig",
    "PipelineSpeed",
    "QuerySpeed",
    "RecognitionSpeed",
    "Recognizer",
    "SpeedModels",
    "SpeedReport",
    "SpeedSettings",
    "Timer",
    "VideoRun",
    "build_speed_models",
    "ground_video",
    "measure_latency",
    "measure_pipeline",
    "measure_query_latency",
    "measure_recognition",
    "measure_text_latency",
    "recognizer_input",
    "resolve_device",
    "run_speed",
    "runtime_info",
    "synchronize",
    "synthetic_queries",
]
