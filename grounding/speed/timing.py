"""Timing primitives: synchronised latency measurement, peak memory, threads (the device rule
is :func:`grounding.models.device.resolve_device`, re-exported here).

Every number is measured on the device it is reported for (docs/design.md, "Speed"):
:func:`measure_latency` runs ``warmup`` untimed calls, then times ``iters`` calls one by one
under ``torch.inference_mode()``, calling ``torch.cuda.synchronize()`` before starting and
after finishing each timed call on CUDA (kernels run asynchronously, so without it a timer
measures only the kernel launches).

Peak memory (:class:`PeakMemory`) is what the device can tell:

- CUDA: ``torch.cuda.max_memory_allocated`` after ``torch.cuda.reset_peak_memory_stats``, i.e.
  the peak of tensors allocated by torch inside the measured block (not the caching allocator's
  reserve, not the CUDA context).
- CPU: the *process* peak resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``).
  It cannot be reset, so it includes Python, torch, OpenCV and every model loaded before, and a
  block that stays below an earlier peak shows a delta of 0. ``tracemalloc`` is not used: it does
  not see torch's allocations.
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np
import torch

from grounding.models.device import DeviceError, resolve_device
from grounding.provenance import device_name

__all__ = [
    "DeviceError",
    "LatencyStats",
    "MemoryPeak",
    "PeakMemory",
    "Timer",
    "measure_latency",
    "resolve_device",
    "runtime_info",
    "synchronize",
]


def synchronize(device: torch.device) -> None:
    """Wait for queued CUDA work on ``device`` (a no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass(frozen=True)
class LatencyStats:
    """Latency of ``n`` timed calls in milliseconds: median, 95th percentile, mean, min."""

    p50_ms: float
    p95_ms: float
    mean_ms: float
    n: int
    min_ms: float = 0.0

    @classmethod
    def from_seconds(cls, samples: list[float] | np.ndarray) -> LatencyStats:
        ms = np.asarray(samples, dtype=np.float64).reshape(-1) * 1e3
        if len(ms) == 0:
            raise ValueError("no timing samples")
        if not np.isfinite(ms).all() or (ms < 0).any():
            raise ValueError(f"timing samples must be finite and >= 0, got {ms.tolist()[:5]}")
        return cls(
            p50_ms=float(np.percentile(ms, 50)),
            p95_ms=float(np.percentile(ms, 95)),
            mean_ms=float(statistics.fmean(ms)),
            n=len(ms),
            min_ms=float(ms.min()),
        )

    @property
    def per_second(self) -> float:
        """Calls per second at the median latency."""
        return 1e3 / self.p50_ms if self.p50_ms > 0 else float("inf")

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


class Timer:
    """Synchronised wall-clock timer: ``with Timer(device) as t: ...; t.seconds``."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seconds = 0.0

    def __enter__(self) -> Timer:
        synchronize(self.device)
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        synchronize(self.device)
        self.seconds = time.perf_counter() - self._t0


def measure_latency(
    fn: Callable[[], Any],
    *,
    warmup: int,
    iters: int,
    device: torch.device | str = "cpu",
    max_seconds: float | None = None,
) -> LatencyStats:
    """Time ``fn()`` call by call.

    Args:
        fn: the work to time (no arguments; bind inputs with a closure or ``functools.partial``).
        warmup: untimed calls first (allocator, kernel selection, caches).
        iters: timed calls.
        device: where ``fn`` runs (CUDA is synchronised around every timed call).
        max_seconds: stop timing early once this much timed wall time is spent (at least one
            timed call is always made; ``LatencyStats.n`` says how many were).

    Runs under ``torch.inference_mode()``.
    """
    if warmup < 0 or iters < 1:
        raise ValueError(f"need warmup >= 0 and iters >= 1, got warmup={warmup}, iters={iters}")
    dev = resolve_device(device)
    samples: list[float] = []
    with torch.inference_mode():
        for _ in range(warmup):
            fn()
        synchronize(dev)
        spent = 0.0
        for _ in range(iters):
            with Timer(dev) as t:
                fn()
            samples.append(t.seconds)
            spent += t.seconds
            if max_seconds is not None and spent >= max_seconds:
                break
    return LatencyStats.from_seconds(samples)


def _process_peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024  # Linux: KiB


@dataclass(frozen=True)
class MemoryPeak:
    """Peak memory of a measured block (see the module docstring for what ``kind`` means)."""

    kind: str
    peak_mb: float
    delta_mb: float

    def to_dict(self) -> dict[str, float | str]:
        return asdict(self)


class PeakMemory:
    """``with PeakMemory(device) as m: ...; m.result`` -> :class:`MemoryPeak`.

    CUDA: ``max_memory_allocated`` of the block (peak) and its rise over the allocation at entry
    (delta). CPU: the process peak RSS after the block and its rise during the block."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.result: MemoryPeak | None = None

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
        else:
            self._start = _process_peak_rss_bytes()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
            kind = "cuda max_memory_allocated (torch tensors)"
        else:
            peak = _process_peak_rss_bytes()
            kind = "process peak RSS (ru_maxrss, includes everything loaded before)"
        self.result = MemoryPeak(
            kind=kind, peak_mb=peak / 2**20, delta_mb=max(0, peak - self._start) / 2**20
        )


def runtime_info(device: torch.device) -> dict[str, Any]:
    """Device name, the thread settings the measurements ran with and the 1-minute load average
    when they started (other processes on the CPU slow every number down; an intra-op thread
    count above the free cores makes OpenMP threads wait on each other, sometimes 100x)."""
    info: dict[str, Any] = {
        "device": str(device),
        "device_name": device_name(str(device)),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "opencv_threads": cv2.getNumThreads(),
        "cuda": torch.version.cuda,
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }
    if device.type == "cuda":
        info["cudnn_benchmark"] = bool(torch.backends.cudnn.benchmark)
    return info
