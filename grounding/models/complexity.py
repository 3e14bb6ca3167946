"""Parameter and multiply-accumulate (MAC) counts, shared by our model and the baselines.

MACs are measured, not estimated: :func:`count_macs` runs one forward pass under
``torch.utils.flop_counter.FlopCounterMode`` and halves its FLOP total (PyTorch counts a
multiply-add as 2 FLOPs for matmul and convolution). GFLOPs in tables are ``2 * MACs / 1e9``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


@dataclass(frozen=True)
class Complexity:
    params: int
    macs: int

    @property
    def gflops(self) -> float:
        return 2.0 * self.macs / 1e9

    @property
    def mparams(self) -> float:
        return self.params / 1e6


def count_parameters(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters (all, or only those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@torch.no_grad()
def count_macs(model: nn.Module, *inputs: Any, **kwargs: Any) -> int:
    """MACs of one forward pass ``model(*inputs, **kwargs)`` (model put in eval mode, restored)."""
    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            model(*inputs, **kwargs)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops()) // 2


def measure_complexity(model: nn.Module, *inputs: Any, **kwargs: Any) -> Complexity:
    return Complexity(params=count_parameters(model), macs=count_macs(model, *inputs, **kwargs))
