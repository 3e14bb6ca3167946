"""DGCN: dual-domain graph convolutional network (reconstruction).

Chen, Xu, Mi, Jiang, Sun, "Dual-domain graph convolutional networks for skeleton-based action
recognition", Machine Learning 111, 2381-2406, 2022. No public code exists; this is rebuilt
from the paper's description.

From the paper:
- Each block combines a *spectral-domain* graph convolution, i.e. a filter applied in the
  graph Fourier domain spanned by the eigenvectors ``U`` of the normalised skeleton Laplacian
  ``L = I - D^-1/2 A D^-1/2 = U Λ U^T`` (``y = U g(Λ) U^T x``), with a *vertex-domain*
  adaptive graph convolution (fixed skeleton adjacency + learned adjacency), followed by a
  temporal convolution and a residual connection.
- Joint and bone streams fused late (:mod:`baselines.skeleton_stream`).

Assumed:
- ``g(Λ)`` is a free learnable gain per frequency *and per input channel* ``(C_in, V)``,
  initialised to ones (the identity filter), followed by a 1x1 conv ``C_in -> C_out``.
- The vertex-domain branch is the 2s-AGCN unit without the data-dependent term:
  ``sum_k W_k x (A_k + B_k)`` over the ST-GCN partitions (self, inward, outward), ``B_k``
  initialised to zero.
- The two domains are summed, then BN + ReLU; the temporal unit is a 9x1 conv + BN (ST-GCN).
- Widths (32, 64, 128), temporal strides (1, 2, 2): a CPU-sized default (pass
  ``channels``/``strides`` for the 10-block 64-128-256 layout).
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


class SpectralGraphFilter(nn.Module):
    """Learnable graph-spectral filter, per channel ``c``: ``y_c = U diag(g_c) U^T x_c``.

    ``U`` ``(V, V)`` is the graph Fourier basis (:meth:`baselines.graph.Graph.fourier_basis`),
    ``g`` ``(C, V)`` the gains over the ``V`` graph frequencies (ones = identity filter).
    Shapes: ``(N, C, T, V) -> (N, C, T, V)``.
    """

    def __init__(self, *, graph: Graph, channels: int) -> None:
        super().__init__()
        _, basis = graph.fourier_basis()
        self.register_buffer("basis", torch.as_tensor(basis, dtype=torch.float32))
        self.gain = nn.Parameter(torch.ones(channels, graph.num_nodes))

    def filter_matrix(self) -> torch.Tensor:
        """``U diag(g_c) U^T`` for every channel: ``(C, V, V)``, symmetric (for inspection)."""
        return torch.einsum("vl,cl,wl->cvw", self.basis, self.gain, self.basis)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_hat = torch.matmul(x, self.basis)  # graph Fourier transform: (N, C, T, V freqs)
        x_hat = x_hat * self.gain[:, None, :]
        return torch.matmul(x_hat, self.basis.T)  # inverse transform


class AdaptiveGraphConv(nn.Module):
    """Vertex-domain adaptive graph convolution ``y = sum_k W_k x (A_k + B_k)``.

    ``A_k`` ``(3, V, V)``: the column-normalised partitions of
    :meth:`baselines.graph.Graph.adjacency_stack`; ``B_k`` learned. Aggregation
    ``y[..., w] = sum_v x[..., v] (A_k + B_k)[v, w]``. ``(N, C_in, T, V) -> (N, C_out, T, V)``.
    """

    def __init__(self, *, graph: Graph, in_channels: int, out_channels: int) -> None:
        super().__init__()
        stack = torch.as_tensor(graph.adjacency_stack(), dtype=torch.float32)
        self.register_buffer("skeleton", stack)
        self.learned = nn.Parameter(torch.zeros_like(stack))
        self.out_channels = out_channels
        self.conv = nn.Conv2d(in_channels, len(stack) * out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, t, v = x.shape
        h = self.conv(x).view(n, -1, self.out_channels, t, v)
        return torch.einsum("nkctv,kvw->nctw", h, self.skeleton + self.learned)


class DualDomainGraphConv(nn.Module):
    """Spectral branch + vertex branch, summed, then BN + ReLU.

    ``y = ReLU(BN(W_s U g(Λ) U^T x + sum_k W_k x (A_k + B_k)))``;
    ``(N, C_in, T, V) -> (N, C_out, T, V)``.
    """

    def __init__(self, *, graph: Graph, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.spectral = nn.Sequential(
            SpectralGraphFilter(graph=graph, channels=in_channels),
            nn.Conv2d(in_channels, out_channels, kernel_size=1),
        )
        self.vertex = AdaptiveGraphConv(
            graph=graph, in_channels=in_channels, out_channels=out_channels
        )
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.spectral(x) + self.vertex(x)))


class TemporalConv(nn.Module):
    """``k x 1`` convolution over ``T`` + BN: ``(N, C, T, V) -> (N, C, ceil(T / stride), V)``."""

    def __init__(self, *, channels: int, stride: int, kernel_size: int = 9) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
        self.conv = TemporalConv2d(
            channels,
            channels,
            kernel_size=(kernel_size, 1),
            stride=(stride, 1),
            padding=(kernel_size // 2, 0),
        )
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


def build_dgcn(
    *,
    num_classes: int | None,
    graph: Graph = COCO17,
    in_channels: int = 3,
    num_persons: int = 2,
    channels: Sequence[int] = (32, 64, 128),
    strides: Sequence[int] = (1, 2, 2),
    temporal_kernel: int = 9,
    dropout: float = 0.0,
    two_stream: bool = True,
    fusion_weights: tuple[float, float] = (1.0, 1.0),
) -> GraphRecognizer | TwoStream:
    """DGCN for skeletons ``(N, C, T, V, M)``.

    Returns a model with ``forward(x) -> (N, num_classes)`` logits (features if
    ``num_classes=None``), ``features(x) -> (N, D)`` and ``clip_features(x) -> (N, T', D)``;
    ``D = channels[-1]`` (doubled for two streams), ``T' = ceil(T / prod(strides))``.
    """
    return build_skeleton_recognizer(
        name="DGCN",
        graph=graph,
        in_channels=in_channels,
        num_persons=num_persons,
        num_classes=num_classes,
        channels=channels,
        strides=strides,
        spatial=DualDomainGraphConv,
        temporal=functools.partial(TemporalConv, kernel_size=temporal_kernel),
        dropout=dropout,
        two_stream=two_stream,
        fusion_weights=fusion_weights,
    )


def build_dgcn_clip_encoder(
    *,
    num_clips: int,
    in_dim: int,
    channels: Sequence[int] = (256, 256),
    temporal_kernel: int = 9,
    neighbours: int = 1,
) -> ClipGraphEncoder:
    """DGCN blocks over a chain graph of ``num_clips`` clips: ``(B, T, in_dim) -> (B, T, D)``.

    The spectral branch filters in the Fourier basis of the chain (a learned filter over the
    temporal frequencies of the video), the vertex branch mixes ``neighbours`` clips on each
    side, the temporal convolution runs along the clip axis.
    """
    return build_clip_graph_encoder(
        name="DGCN-clips",
        num_clips=num_clips,
        in_dim=in_dim,
        neighbours=neighbours,
        channels=channels,
        spatial=DualDomainGraphConv,
        temporal=functools.partial(TemporalConv, kernel_size=temporal_kernel),
    )


@register_model(name="dgcn", recognizer=skeleton_spec(build_dgcn))
def dgcn_clip_encoder(
    *, dim: int, num_clips: int, heads: int, layers: int, dropout: float
) -> nn.Module:
    """DGCN blocks in clip-graph mode (build_dgcn_clip_encoder): (B, N, dim) -> (B, N, dim)."""
    return build_dgcn_clip_encoder(num_clips=num_clips, in_dim=dim, channels=(dim,) * layers)
