"""The speed report: one dataclass holding every measurement, JSON output and printed tables."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tabulate import tabulate

from grounding.io import write_json_atomic
from grounding.speed.pipeline import COVERED_DEF, PROCESSED_DEF, STAGES, PipelineSpeed
from grounding.speed.query import QuerySpeed
from grounding.speed.recognition import RecognitionSpeed
from grounding.speed.timing import LatencyStats, MemoryPeak

__all__ = ["SpeedReport"]


def _json_safe(obj: Any) -> Any:
    """Dicts/lists/scalars only; non-finite floats become ``None`` (JSON has no inf/NaN)."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if hasattr(obj, "item"):  # numpy / torch scalars
        return _json_safe(obj.item())
    return str(obj)


@dataclass
class SpeedReport:
    """Everything :func:`grounding.speed.suite.run_speed` measured.

    Attributes:
        runtime: device, device name, thread counts (:func:`grounding.speed.timing.runtime_info`).
        settings: warm-up, iterations, sizes used.
        query: per-query latency from cached features, one entry per grounding model.
        text: latency of encoding one sentence (``None`` when not measured).
        pipeline: end-to-end per video (``None`` when not measured).
        recognition: Figure 12 numbers per recognizer.
        memory: peak memory per section (see :class:`grounding.speed.timing.PeakMemory`).
        provenance: commit, versions, time (:func:`grounding.provenance.provenance`).
    """

    runtime: dict[str, Any]
    settings: dict[str, Any]
    query: list[QuerySpeed] = field(default_factory=list)
    text: LatencyStats | None = None
    pipeline: PipelineSpeed | None = None
    recognition: list[RecognitionSpeed] = field(default_factory=list)
    memory: dict[str, MemoryPeak] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (non-finite numbers as ``null``)."""
        return _json_safe(
            {
                "runtime": self.runtime,
                "settings": self.settings,
                "query": [q.to_dict() for q in self.query],
                "text": self.text.to_dict() if self.text else None,
                "end_to_end": self.pipeline.to_dict() if self.pipeline else None,
                "recognition": [r.to_dict() for r in self.recognition],
                "memory": {k: m.to_dict() for k, m in self.memory.items()},
                "provenance": self.provenance,
            }
        )

    def write_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` atomically; returns the path."""
        doc = self.to_dict()
        json.dumps(doc, allow_nan=False)  # fail here, not halfway through the file
        return write_json_atomic(path, doc)

    # ---- tables -------------------------------------------------------------------------

    def header(self) -> str:
        r = self.runtime
        load = r.get("load_average_1min")
        load = "?" if load is None else f"{load:.2f}"
        return (
            f"device {r.get('device')} ({r.get('device_name')}), torch threads "
            f"{r.get('torch_threads')}, OpenCV threads {r.get('opencv_threads')}, "
            f"{r.get('cpu_count')} CPUs with load average {load} at start, "
            f"warm-up {self.settings.get('warmup')}, timed iterations {self.settings.get('iters')}"
        )

    def query_table(self) -> str:
        rows = [
            [
                q.name,
                f"{q.num_clips} x {q.in_dim}",
                q.latency.p50_ms,
                q.latency.p95_ms,
                q.latency.mean_ms,
                q.latency.per_second,
                q.params / 1e6,
                q.gflops,
                q.latency.n,
            ]
            for q in self.query
        ]
        if self.text is not None:
            t = self.text
            rows.append(
                ["sentence encoder", "1 sentence", t.p50_ms, t.p95_ms, t.mean_ms, t.per_second]
                + [None] * 2
                + [t.n]
            )
        headers = ["model", "features", "p50 ms", "p95 ms", "mean ms", "queries/s"]
        headers += ["params (M)", "GFLOPs", "n"]
        return tabulate(rows, headers=headers, floatfmt=".3f", missingval="-")

    def pipeline_table(self) -> str:
        p = self.pipeline
        if p is None:
            return ""
        rows = [
            [
                "wall time per video p50 / p95 (ms)",
                f"{p.per_video.p50_ms:.1f} / {p.per_video.p95_ms:.1f}",
            ],
            *[[f"  stage {s} (mean ms)", f"{p.stage_ms[s]:.1f}"] for s in STAGES],
            ["FPS covered", f"{p.fps_covered:.1f}  [{COVERED_DEF}]"],
            ["FPS processed", f"{p.fps_processed:.1f}  [{PROCESSED_DEF}]"],
            [
                "frames (all runs)",
                f"{p.frames_covered} covered, {p.frames_processed} processed "
                f"({p.rgb_frames} RGB + {p.flow_frames} for flow + {p.skeleton_frames} "
                f"skeleton) in {p.seconds:.2f} s",
            ],
            [
                "runs",
                f"{p.runs} run(s) of {p.videos} video(s): {p.clips / p.runs:.1f} clips of "
                f"{p.config.clip_seconds:g} s per run, "
                f"resampled to N = {p.num_clips}",
            ],
        ]
        return tabulate(rows, headers=["end to end", "value"])

    def recognition_table(self) -> str:
        rows = [
            [
                r.name,
                r.latency.p50_ms,
                r.latency.p95_ms,
                r.clips_per_s,
                r.fps,
                r.frames_definition,
                r.params / 1e6,
                r.gflops_per_clip,
            ]
            for r in self.recognition
        ]
        headers = ["model", "p50 ms/clip", "p95 ms/clip", "clips/s", "FPS*", "frames per clip"]
        headers += ["params (M)", "GFLOPs/clip"]
        return tabulate(rows, headers=headers, floatfmt=".2f")

    def scaling_table(self) -> str:
        counts = sorted({n for r in self.recognition for n in r.scaling})
        rows = [
            [r.name, *[r.scaling[n].p50_ms if n in r.scaling else None for n in counts]]
            for r in self.recognition
        ]
        return tabulate(
            rows,
            headers=["model", *[f"n={n} (ms)" for n in counts]],
            floatfmt=".1f",
            missingval="-",
        )

    def memory_table(self) -> str:
        rows = [[k, m.peak_mb, m.delta_mb, m.kind] for k, m in self.memory.items()]
        return tabulate(rows, headers=["section", "peak MB", "delta MB", "measure"], floatfmt=".1f")

    def tables(self) -> str:
        parts = [self.header()]
        if self.query or self.text:
            parts += [
                "",
                "Per-query latency from cached features (batch 1, forward + ranking "
                "+ NMS + top-k):",
                self.query_table(),
            ]
        if self.pipeline is not None:
            parts += [
                "",
                "End to end per video (decode + flow + both backbones + head, one query):",
                self.pipeline_table(),
            ]
        if self.recognition:
            parts += [
                "",
                "Recognition (Figure 12a), inputs in memory, batch 1:",
                self.recognition_table(),
                "* FPS = clips/s x input frames per clip (the frames the model consumes).",
                "",
                "Recognition time vs number of samples (Figure 12b), one batched forward, p50 ms:",
                self.scaling_table(),
            ]
        if self.memory:
            parts += ["", "Peak memory:", self.memory_table()]
        return "\n".join(parts)
