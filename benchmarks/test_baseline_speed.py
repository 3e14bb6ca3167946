"""Forward-pass speed, parameters and MACs of the GTN and DGCN baselines (default configs).

Speed: ``pytest benchmarks/test_baseline_speed.py`` (pytest-benchmark; params and MACs are
attached to each result as ``extra_info``). Complexity table only:
``python benchmarks/test_baseline_speed.py``.

Inputs: skeleton mode one sample ``(1, 3, 32, 17, 2)`` (32 frames, 17 COCO joints,
2 persons), two streams, 10 classes; clip-graph mode one video of 64 clips of 1024-d
(I3D-sized) features.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from tabulate import tabulate
from torch import nn

from baselines.dgcn import build_dgcn, build_dgcn_clip_encoder
from baselines.gtn import build_gtn, build_gtn_clip_encoder
from grounding.models.complexity import measure_complexity

SKELETON_INPUT = (1, 3, 32, 17, 2)
CLIP_INPUT = (1, 64, 1024)
NUM_CLASSES = 10

CONFIGS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "GTN skeleton": (lambda: build_gtn(num_classes=NUM_CLASSES), SKELETON_INPUT),
    "DGCN skeleton": (lambda: build_dgcn(num_classes=NUM_CLASSES), SKELETON_INPUT),
    "GTN clip graph": (
        lambda: build_gtn_clip_encoder(num_clips=CLIP_INPUT[1], in_dim=CLIP_INPUT[2]),
        CLIP_INPUT,
    ),
    "DGCN clip graph": (
        lambda: build_dgcn_clip_encoder(num_clips=CLIP_INPUT[1], in_dim=CLIP_INPUT[2]),
        CLIP_INPUT,
    ),
}


def _model_and_input(name: str) -> tuple[nn.Module, torch.Tensor]:
    build, shape = CONFIGS[name]
    torch.manual_seed(0)
    return build().eval(), torch.randn(shape)


def complexity_table() -> str:
    """Parameters and MACs of each default configuration, as a table."""
    rows = []
    for name in CONFIGS:
        model, x = _model_and_input(name)
        c = measure_complexity(model, x)
        rows.append([name, tuple(x.shape), f"{c.mparams:.3f}", f"{c.macs / 1e6:.1f}", c.gflops])
    headers = ["model", "input", "params (M)", "MACs (M)", "GFLOPs"]
    return tabulate(rows, headers=headers, floatfmt=".3f")


@pytest.mark.parametrize("name", list(CONFIGS))
def test_forward_speed(benchmark, name: str) -> None:
    model, x = _model_and_input(name)
    c = measure_complexity(model, x)
    benchmark.extra_info.update(params=c.params, macs=c.macs, input=list(x.shape))
    with torch.no_grad():
        out = benchmark(model, x)
    assert torch.isfinite(out).all()


if __name__ == "__main__":
    print(complexity_table())
