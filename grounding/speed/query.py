"""Per-query grounding latency from cached features (batch 1).

The clip features ``(1, N, D_in)`` and the sentence embedding ``(1, D_s)`` are already in
memory on the device, as when a feature file and a sentence cache are loaded; one timed call is
the grounding model's forward plus the ranking of all ``N (N + 1) / 2`` moments, NMS and top-k
(:meth:`grounding.models.grounding_model.GroundingModel.predict`). Encoding the sentence when it
is not cached is timed separately (:func:`measure_text_latency`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from grounding.models.complexity import measure_complexity
from grounding.models.grounding_model import GroundingModel
from grounding.speed.timing import LatencyStats, measure_latency, resolve_device

__all__ = ["QUERY_TEXT", "QuerySpeed", "measure_query_latency", "measure_text_latency"]

QUERY_TEXT = "the player in red shoots the ball after dribbling past the defender"


@dataclass
class QuerySpeed:
    """Latency of one query on cached features, with the model's size (forward pass only)."""

    name: str
    latency: LatencyStats
    params: int
    gflops: float
    num_clips: int
    in_dim: int

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "latency": self.latency.to_dict(),
            "queries_per_s": self.latency.per_second,
            "params": self.params,
            "gflops": self.gflops,
            "num_clips": self.num_clips,
            "in_dim": self.in_dim,
        }


def measure_query_latency(
    model: GroundingModel,
    *,
    name: str = "ours",
    device: torch.device | str = "cpu",
    warmup: int = 5,
    iters: int = 50,
    duration: float = 30.0,
    nms_thresh: float | None = 0.5,
    top_k: int | None = 5,
    seed: int = 0,
) -> QuerySpeed:
    """p50/p95 latency of one query (``predict`` on ``(1, N, D_in)`` features of a video of
    ``duration`` seconds). The model is moved to ``device``; its training mode is restored."""
    dev = resolve_device(device)
    cfg = model.config
    g = torch.Generator().manual_seed(seed)
    clips = torch.randn(1, cfg.num_clips, cfg.in_dim, generator=g).to(dev)
    sentence = torch.nn.functional.normalize(torch.randn(1, cfg.text_dim, generator=g), dim=-1)
    sentence = sentence.to(dev)
    was_training = model.training
    model.to(dev).eval()
    try:
        complexity = measure_complexity(model, clips, sentence)
        latency = measure_latency(
            lambda: model.predict(clips, sentence, [duration], nms_thresh=nms_thresh, top_k=top_k),
            warmup=warmup,
            iters=iters,
            device=dev,
        )
    finally:
        model.train(was_training)
    return QuerySpeed(
        name=name,
        latency=latency,
        params=complexity.params,
        gflops=complexity.gflops,
        num_clips=cfg.num_clips,
        in_dim=cfg.in_dim,
    )


def measure_text_latency(
    encoder: object,
    *,
    sentence: str = QUERY_TEXT,
    device: torch.device | str = "cpu",
    warmup: int = 2,
    iters: int = 20,
) -> LatencyStats:
    """Latency of ``encoder.encode([sentence])`` (e.g. :class:`grounding.models.text.
    SentenceEncoder`), for queries whose embedding is not cached."""
    return measure_latency(
        lambda: encoder.encode([sentence]),  # type: ignore[attr-defined]
        warmup=warmup,
        iters=iters,
        device=device,
    )
