"""Joint + bone two-stream late fusion (2s-AGCN, Shi et al. 2019), used by GTN and DGCN.

Both papers train a *joint* stream on the coordinates and a *bone* stream on the bone vectors
(joint minus parent, :func:`baselines.graph.bone_vectors`) and add the two streams' scores.

From the papers: two streams of the same architecture, joint and bone inputs, late fusion by
adding scores.

Assumed: the streams are one module trained jointly (the papers train them separately and
add softmax scores at test time): :meth:`TwoStream.forward` returns the weighted sum of the
two streams' *logits*, so one cross-entropy trains both; :meth:`TwoStream.fused_scores` gives
the papers' test-time fusion, the weighted sum of the softmax scores. Default weights 1 : 1.
Features for grounding are the concatenation of both streams' features.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from baselines.graph import bone_vectors


class TwoStream(nn.Module):
    """Late fusion of a joint stream and a bone stream over skeletons ``(N, C, T, V, M)``.

    Each stream is a recognizer with ``forward(x) -> (N, K)`` logits (or ``(N, D)`` features
    when it has no head), ``features(x) -> (N, D)``, ``clip_features(x) -> (N, T', D)``,
    ``check_input(x)``, ``feature_dim`` and ``temporal_stride``.

    - ``forward(x)``: ``w_j * joint(x) + w_b * bone(bones(x))``, logits ``(N, K)``; without
      heads, the concatenated features ``(N, 2D)``.
    - ``fused_scores(x)``: ``w_j * softmax(joint) + w_b * softmax(bone)``, ``(N, K)``.
    - ``features(x)`` ``(N, 2D)``, ``clip_features(x)`` ``(N, T', 2D)``: concatenations.
    """

    def __init__(
        self,
        joint: nn.Module,
        bone: nn.Module,
        *,
        parents: Sequence[int],
        weights: tuple[float, float] = (1.0, 1.0),
    ) -> None:
        super().__init__()
        if len(weights) != 2 or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"weights must be two non-negative numbers, got {weights}")
        self.joint = joint
        self.bone = bone
        self.parents = tuple(parents)
        self.weights = tuple(float(w) for w in weights)
        self.feature_dim = joint.feature_dim + bone.feature_dim
        self.temporal_stride = joint.temporal_stride
        self.has_head = getattr(joint, "head", None) is not None

    def check_input(self, x: torch.Tensor) -> None:
        self.joint.check_input(x)

    def bones(self, x: torch.Tensor) -> torch.Tensor:
        """Bone input ``(N, C, T, V, M)`` of the bone stream (checked joints in)."""
        self.check_input(x)
        return bone_vectors(x, self.parents, dim=3)

    def stream_outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(joint(x), bone(bones(x)))``."""
        return self.joint(x), self.bone(self.bones(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.has_head:
            return self.features(x)
        joint, bone = self.stream_outputs(x)
        return self.weights[0] * joint + self.weights[1] * bone

    def fused_scores(self, x: torch.Tensor) -> torch.Tensor:
        if not self.has_head:
            raise ValueError("fused_scores needs streams with a classifier (num_classes set)")
        joint, bone = self.stream_outputs(x)
        return self.weights[0] * joint.softmax(-1) + self.weights[1] * bone.softmax(-1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.joint.features(x), self.bone.features(self.bones(x))], dim=-1)

    def clip_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [self.joint.clip_features(x), self.bone.clip_features(self.bones(x))], dim=-1
        )
