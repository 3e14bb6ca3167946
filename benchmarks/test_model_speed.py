"""Forward-pass speed, parameters and MACs of the paper's model components.

Speed: ``pytest benchmarks/test_model_speed.py`` (pytest-benchmark; params and MACs are
attached to each result as ``extra_info``). Complexity table only:
``python benchmarks/test_model_speed.py``.

Inputs (batch 1, eval mode, no grad): BN-Inception at 224x224 (TSN) and at the CPU profile
(width 0.5, 128x128); the two-stream network with 3 segments (RGB + 10-channel flow) in both
profiles; each temporal module on 64 clips of 512-d; the spatial module on a 7x7x1024 map;
the feature-path grounding model on 16 and 64 clips of 1024-d I3D-sized features; the
sentence encoder on one sentence.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from tabulate import tabulate
from torch import nn

from grounding.models.bninception import CPU_PROFILE, FULL_PROFILE, build_bninception
from grounding.models.complexity import measure_complexity
from grounding.models.grounding_model import GroundingModelConfig, build_grounding_model
from grounding.models.spatial import SpatialAttentionPooling
from grounding.models.temporal import TEMPORAL_KINDS, build_temporal
from grounding.models.two_stream import TwoStreamConfig, build_two_stream

SEGMENTS = 3


def _bninception(profile) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    s = profile.input_size
    return build_bninception(width_mult=profile.width_mult), (torch.randn(1, 3, s, s),)


def _two_stream(profile) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    s = profile.input_size
    model = build_two_stream(config=TwoStreamConfig(num_classes=10, width_mult=profile.width_mult))
    rgb = torch.randint(0, 256, (1, SEGMENTS, 3, s, s), dtype=torch.uint8)
    flow = torch.randint(0, 256, (1, SEGMENTS, 10, s, s), dtype=torch.uint8)
    return model, (rgb, flow)


def _grounding(n: int) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    model = build_grounding_model(config=GroundingModelConfig(in_dim=1024, num_clips=n))
    return model, (torch.randn(1, n, 1024), torch.randn(1, 384))


CONFIGS: dict[str, Callable[[], tuple[nn.Module, tuple[torch.Tensor, ...]]]] = {
    "bninception_224": lambda: _bninception(FULL_PROFILE),
    "bninception_cpu": lambda: _bninception(CPU_PROFILE),
    "two_stream_224": lambda: _two_stream(FULL_PROFILE),
    "two_stream_cpu": lambda: _two_stream(CPU_PROFILE),
    "spatial_7x7x1024": lambda: (SpatialAttentionPooling(1024), (torch.randn(1, 1024, 7, 7),)),
    **{
        f"temporal_{kind}": (
            lambda kind=kind: (build_temporal(kind, dim=512, heads=4), (torch.randn(1, 64, 512),))
        )
        for kind in TEMPORAL_KINDS
    },
    "grounding_n16": lambda: _grounding(16),
    "grounding_n64": lambda: _grounding(64),
}


def _first_tensor(out) -> torch.Tensor:
    return out if isinstance(out, torch.Tensor) else out[-1]


def complexity_table() -> str:
    """Parameters and MACs of each configuration, as a table."""
    rows = []
    for name, make in CONFIGS.items():
        model, inputs = make()
        c = measure_complexity(model, *inputs)
        shapes = " ".join(str(tuple(x.shape)) for x in inputs)
        rows.append([name, shapes, f"{c.mparams:.3f}", f"{c.macs / 1e6:.1f}", c.gflops])
    headers = ["model", "input", "params (M)", "MACs (M)", "GFLOPs"]
    return tabulate(rows, headers=headers, floatfmt=".3f")


@pytest.mark.parametrize("name", list(CONFIGS))
def test_forward_speed(benchmark, name: str) -> None:
    model, inputs = CONFIGS[name]()
    c = measure_complexity(model, *inputs)
    benchmark.extra_info.update(
        params=c.params, macs=c.macs, inputs=[list(x.shape) for x in inputs]
    )
    model.eval()
    with torch.no_grad():
        out = benchmark(model, *inputs)
    assert torch.isfinite(_first_tensor(out)).any()


def test_sentence_encoder_speed(benchmark) -> None:
    from grounding.models.text import SentenceEncoder

    encoder = SentenceEncoder()
    sentence = ["the player in red shoots the ball after dribbling past the defender"]
    out = benchmark(encoder.encode, sentence)
    assert out.shape == (1, 384)


if __name__ == "__main__":
    print(complexity_table())
