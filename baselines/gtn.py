"""GTN: graph transformer network with temporal kernel attention (reconstruction).

Liu, Zhang, Xu, He, "Graph transformer network with temporal kernel attention for
skeleton-based action recognition", Knowledge-Based Systems 240, 108146, 2022. No public code
exists; this is rebuilt from the paper's description.

From the paper:
- Blocks of a spatial *graph transformer* unit (multi-head self-attention across the joints
  of each frame) followed by a *temporal kernel attention* unit, with residual connections,
  stacked in the 2s-AGCN layout, global pooling and a linear classifier.
- Adaptive graph: the spatial aggregation uses the fixed skeleton adjacency plus a learned
  adjacency plus the data-dependent attention (the 2s-AGCN ``A + B + C`` strategy, with ``C``
  the transformer attention).
- Temporal kernel attention: parallel temporal convolutions with different kernel sizes,
  selective-kernel fusion (sum, global pooling, FC, softmax across the kernels per channel,
  weighted sum of the branches).
- Joint and bone streams fused late (:mod:`baselines.skeleton_stream`).

Assumed:
- Attention per frame ``t`` and head ``h`` (eq. below), scaled dot product, with a learned
  per-node embedding added to the input of the query/key projection (positional encoding of
  the joints, or of the clips in clip-graph mode), initialised to zero.
- The fixed adjacency is the mean of the three normalised ST-GCN partitions
  (self, inward, outward), transposed to the row convention of attention; the learned
  adjacency ``B_h`` is per head, initialised to zero (2s-AGCN).
- No feed-forward sublayer in the spatial unit (the temporal unit follows instead); output
  projection + BN + ReLU.
- Kernel sizes (3, 5, 7) with stride on all branches, each branch conv + BN + ReLU; squeeze
  FC width ``max(C / reduction, 8)`` with reduction 4.
- Widths (32, 64, 128), temporal strides (1, 2, 2), 4 heads: a CPU-sized default (the paper
  uses the 10-block 64-128-256 AGCN layout; pass ``channels``/``strides`` to get it).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
from torch import nn

from baselines.graph import COCO17, Graph
from baselines.graph_encoder import (
    ClipGraphEncoder,
    GraphRecognizer,
    TemporalConv2d,
    build_clip_graph_encoder,
    build_skeleton_recognizer,
)
from baselines.skeleton_stream import TwoStream
from grounding.models.recognizer import skeleton_spec
from grounding.models.registry import register_model


class GraphTransformerUnit(nn.Module):
    """Multi-head graph-transformer attention across the ``V`` nodes of each frame.

    For head ``h`` and frame ``t`` (``x_t`` the ``(C_in, V)`` slice, ``E`` a node embedding)::

        Q, K = W_q^h (x_t + E), W_k^h (x_t + E);   Val = W_v^h x_t          (d = C_out / H)
        P^h_t = softmax(Q^T K / sqrt(d)) + A + B^h                          (V, V), rows = queries
        y_t = BN(W_o concat_h(Val P^h_t^T));  out = ReLU(y)

    ``A`` is the fixed skeleton adjacency, ``B^h`` learned, the softmax data-dependent.
    Shapes: ``(N, C_in, T, V) -> (N, C_out, T, V)``.
    """

    def __init__(self, *, graph: Graph, in_channels: int, out_channels: int, heads: int) -> None:
        super().__init__()
        if heads < 1 or out_channels % heads:
            raise ValueError(f"out_channels {out_channels} must be divisible by heads {heads}")
        v = graph.num_nodes
        self.heads = heads
        self.head_dim = out_channels // heads
        stack = torch.as_tensor(graph.adjacency_stack(), dtype=torch.float32)
        self.register_buffer("skeleton", stack.mean(0).T.contiguous())  # (V, V)
        self.learned = nn.Parameter(torch.zeros(heads, v, v))
        self.node_embedding = nn.Parameter(torch.zeros(1, in_channels, 1, v))
        self.query_key = nn.Conv2d(in_channels, 2 * out_channels, kernel_size=1)
        self.value = nn.Conv2d(in_channels, out_channels, kernel_size=1)
        self.project = nn.Conv2d(out_channels, out_channels, kernel_size=1)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """Adaptive attention ``P`` ``(N, H, T, V, V)``; row ``v`` weighs the nodes ``v`` reads."""
        n, _, t, v = x.shape
        qk = self.query_key(x + self.node_embedding).view(n, 2, self.heads, self.head_dim, t, v)
        q, k = qk.unbind(1)
        logits = torch.einsum("nhdtv,nhdtw->nhtvw", q, k) * self.head_dim**-0.5
        return logits.softmax(dim=-1) + self.skeleton + self.learned[:, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, t, v = x.shape
        values = self.value(x).view(n, self.heads, self.head_dim, t, v)
        y = torch.einsum("nhtvw,nhdtw->nhdtv", self.attention(x), values)
        return self.relu(self.bn(self.project(y.reshape(n, -1, t, v))))


class TemporalKernelAttention(nn.Module):
    """Selective-kernel attention over temporal convolutions of several kernel sizes.

    With branches ``U_i = ReLU(BN(conv_{k_i x 1}(x)))`` (stride ``s`` on ``T``)::

        s = mean_{T,V}(sum_i U_i)             (N, C)
        z = ReLU(W_z s)                        (N, C / r)
        a = softmax_i(W_i z)                   (N, K, C): positive, sums to 1 over the K kernels
        y = sum_i a_i * U_i                    (N, C, T', V)

    Shapes: ``(N, C, T, V) -> (N, C, ceil(T / stride), V)``.
    """

    def __init__(
        self,
        *,
        channels: int,
        stride: int,
        kernel_sizes: Sequence[int] = (3, 5, 7),
        reduction: int = 4,
    ) -> None:
        super().__init__()
        if not kernel_sizes or any(k < 1 or k % 2 == 0 for k in kernel_sizes):
            raise ValueError(f"kernel_sizes must be odd and positive, got {kernel_sizes}")
        self.branches = nn.ModuleList(
            nn.Sequential(
                TemporalConv2d(
                    channels,
                    channels,
                    kernel_size=(k, 1),
                    stride=(stride, 1),
                    padding=(k // 2, 0),
                    bias=False,
                ),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
            )
            for k in kernel_sizes
        )
        hidden = max(channels // reduction, 8)
        self.squeeze = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True))
        self.select = nn.Linear(hidden, len(kernel_sizes) * channels)

    def _weights(self, branches: torch.Tensor) -> torch.Tensor:
        n, k, c = branches.shape[:3]
        z = self.squeeze(branches.sum(dim=1).mean(dim=(2, 3)))
        return self.select(z).view(n, k, c).softmax(dim=1)

    def _branches(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([branch(x) for branch in self.branches], dim=1)  # (N, K, C, T', V)

    def kernel_weights(self, x: torch.Tensor) -> torch.Tensor:
        """Attention ``a`` ``(N, K, C)`` over the ``K`` kernels for input ``x``."""
        return self._weights(self._branches(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = self._branches(x)
        return (self._weights(branches)[..., None, None] * branches).sum(dim=1)


def build_gtn(
    *,
    num_classes: int | None,
    graph: Graph = COCO17,
    in_channels: int = 3,
    num_persons: int = 2,
    channels: Sequence[int] = (32, 64, 128),
    strides: Sequence[int] = (1, 2, 2),
    heads: int = 4,
    kernel_sizes: Sequence[int] = (3, 5, 7),
    reduction: int = 4,
    dropout: float = 0.0,
    two_stream: bool = True,
    fusion_weights: tuple[float, float] = (1.0, 1.0),
) -> GraphRecognizer | TwoStream:
    """GTN for skeletons ``(N, C, T, V, M)``.

    Returns a model with ``forward(x) -> (N, num_classes)`` logits (features if
    ``num_classes=None``), ``features(x) -> (N, D)`` and ``clip_features(x) -> (N, T', D)``;
    ``D = channels[-1]`` (doubled for two streams), ``T' = ceil(T / prod(strides))``.
    """
    return build_skeleton_recognizer(
        name="GTN",
        graph=graph,
        in_channels=in_channels,
        num_persons=num_persons,
        num_classes=num_classes,
        channels=channels,
        strides=strides,
        spatial=functools.partial(GraphTransformerUnit, heads=heads),
        temporal=functools.partial(
            TemporalKernelAttention, kernel_sizes=kernel_sizes, reduction=reduction
        ),
        dropout=dropout,
        two_stream=two_stream,
        fusion_weights=fusion_weights,
    )


def build_gtn_clip_encoder(
    *,
    num_clips: int,
    in_dim: int,
    channels: Sequence[int] = (256, 256),
    heads: int = 4,
    kernel_sizes: Sequence[int] = (3, 5, 7),
    reduction: int = 4,
    neighbours: int = 1,
) -> ClipGraphEncoder:
    """GTN blocks over a chain graph of ``num_clips`` clips: ``(B, T, in_dim) -> (B, T, D)``.

    The graph-transformer attention runs across the clips (biased by the chain adjacency with
    ``neighbours`` clips on each side), the kernel attention along the clip axis.
    """
    return build_clip_graph_encoder(
        name="GTN-clips",
        num_clips=num_clips,
        in_dim=in_dim,
        neighbours=neighbours,
        channels=channels,
        spatial=functools.partial(GraphTransformerUnit, heads=heads),
        temporal=functools.partial(
            TemporalKernelAttention, kernel_sizes=kernel_sizes, reduction=reduction
        ),
    )


@register_model(name="gtn", recognizer=skeleton_spec(build_gtn))
def gtn_clip_encoder(
    *, dim: int, num_clips: int, heads: int, layers: int, dropout: float
) -> nn.Module:
    """GTN blocks in clip-graph mode (build_gtn_clip_encoder): (B, N, dim) -> (B, N, dim)."""
    return build_gtn_clip_encoder(
        num_clips=num_clips, in_dim=dim, channels=(dim,) * layers, heads=heads
    )
