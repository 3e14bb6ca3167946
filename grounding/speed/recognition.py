"""Recognition speed for the paper's Figure 12: clips per second, FPS, and time vs samples.

A :class:`Recognizer` is an ``nn.Module`` plus a function building its input for a batch of
``n`` clips, already in memory (decoding, flow and skeleton estimation are not timed here; the
end-to-end numbers are in :mod:`grounding.speed.pipeline`). :func:`recognizer_input` takes
both from the model's registry entry (:class:`grounding.models.recognizer.RecognizerInputs`):
``rgb (n, S, 3, H, W)`` + ``flow (n, S, 2L, H, W)`` uint8 for a two-stream network,
``(n, 3, T, 17, 1)`` skeleton windows for GTN / DGCN.

FPS of a recognizer = clips per second x input frames per clip, where *input frames* are the
frames the model consumes: ``S`` RGB frames + ``S * L`` flow fields for ours, ``T`` skeleton
frames for GTN / DGCN (the definition string travels with every number).

Figure 12(b), time vs number of samples: one batched forward pass over ``n`` clips for
``n`` in ``samples`` (default 1, 2, 4, 8, 16, 32); total milliseconds and milliseconds per clip.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from grounding.models.complexity import measure_complexity
from grounding.models.recognizer import RecognitionConfig, recognizer_spec
from grounding.speed.timing import (
    LatencyStats,
    MemoryPeak,
    PeakMemory,
    measure_latency,
    resolve_device,
)

__all__ = [
    "DEFAULT_SAMPLES",
    "RecognitionSpeed",
    "Recognizer",
    "measure_recognition",
    "recognizer_input",
]

DEFAULT_SAMPLES = (1, 2, 4, 8, 16, 32)

InputFn = Callable[[int], tuple[torch.Tensor, ...]]


@dataclass(frozen=True)
class Recognizer:
    """A model to time and how to feed it.

    Attributes:
        name: table name (``ours``, ``gtn``, ``dgcn``).
        model: the recognizer.
        make_input: ``n -> inputs`` for a batch of ``n`` clips (CPU tensors, deterministic).
        frames_per_clip: input frames one clip feeds the model.
        frames_definition: what those frames are, e.g. ``"3 x (1 RGB frame + 5 flow fields)"``.
    """

    name: str
    model: nn.Module
    make_input: InputFn
    frames_per_clip: int
    frames_definition: str


def recognizer_input(
    name: str, model: nn.Module, config: RecognitionConfig, *, seed: int = 0
) -> Recognizer:
    """The recognizer of ``config`` fed as its registry entry says."""
    inputs = recognizer_spec(config.model).inputs
    frames, definition = inputs.frames(config)
    return Recognizer(
        name=name,
        model=model,
        make_input=lambda n: inputs.example(config, n, seed=seed),
        frames_per_clip=frames,
        frames_definition=definition,
    )


@dataclass
class RecognitionSpeed:
    """Speed of one recognizer: batch-1 latency, clips/s, FPS, size, time vs samples."""

    name: str
    params: int
    gflops_per_clip: float
    latency: LatencyStats
    frames_per_clip: int
    frames_definition: str
    scaling: dict[int, LatencyStats]
    memory: MemoryPeak | None

    @property
    def clips_per_s(self) -> float:
        return self.latency.per_second

    @property
    def fps(self) -> float:
        return self.clips_per_s * self.frames_per_clip

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "params": self.params,
            "gflops_per_clip": self.gflops_per_clip,
            "latency_batch1": self.latency.to_dict(),
            "clips_per_s": self.clips_per_s,
            "fps": self.fps,
            "fps_definition": (
                f"clips/s at batch 1 x input frames per clip ({self.frames_definition})"
            ),
            "frames_per_clip": self.frames_per_clip,
            "time_vs_samples": [
                {"samples": n, **s.to_dict(), "ms_per_clip": s.p50_ms / n}
                for n, s in sorted(self.scaling.items())
            ],
            "memory": self.memory.to_dict() if self.memory else None,
        }


def measure_recognition(
    recognizer: Recognizer,
    *,
    device: torch.device | str = "cpu",
    warmup: int = 2,
    iters: int = 10,
    samples: Sequence[int] = DEFAULT_SAMPLES,
    max_seconds: float | None = None,
) -> RecognitionSpeed:
    """Time ``recognizer`` at batch 1 and for every batch size in ``samples``.

    ``max_seconds`` bounds the timed wall time of each batch size (see
    :func:`grounding.speed.timing.measure_latency`). The model is moved to ``device`` and timed in
    eval mode; its training mode is restored afterwards."""
    if any(int(n) < 1 for n in samples):
        raise ValueError(f"sample counts must be >= 1, got {list(samples)}")
    dev = resolve_device(device)
    model = recognizer.model
    was_training = model.training
    model.eval().to(dev)
    try:
        one = tuple(x.to(dev) for x in recognizer.make_input(1))
        complexity = measure_complexity(model, *one)
        runs: dict[int, LatencyStats] = {}
        with PeakMemory(dev) as mem:
            for n in sorted({1, *(int(n) for n in samples)}):
                inputs = tuple(x.to(dev) for x in recognizer.make_input(n))
                runs[n] = measure_latency(
                    lambda inputs=inputs: model(*inputs),
                    warmup=warmup,
                    iters=iters,
                    device=dev,
                    max_seconds=max_seconds,
                )
    finally:
        model.train(was_training)
    return RecognitionSpeed(
        name=recognizer.name,
        params=complexity.params,
        gflops_per_clip=complexity.gflops,
        latency=runs[1],
        frames_per_clip=recognizer.frames_per_clip,
        frames_definition=recognizer.frames_definition,
        scaling={n: runs[n] for n in samples},
        memory=mem.result,
    )
