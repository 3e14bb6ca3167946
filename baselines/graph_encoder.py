"""The generic graph encoder shared by GTN and DGCN: blocks, stacks, and the two input modes.

A *graph block* (ST-GCN / 2s-AGCN unit structure, which both papers build on) is::

    y = ReLU( temporal( spatial(x) ) + residual(x) )        x: (N, C_in, T, V)

where ``spatial`` mixes information across the ``V`` graph nodes (GTN: graph transformer;
DGCN: spectral + vertex-domain graph convolution) and ``temporal`` across the ``T`` axis
(GTN: temporal kernel attention; DGCN: temporal convolution). The model files only define
these two units; this file stacks them (:func:`build_graph_stack`) and wraps the stack for
the two modes:

- **skeleton mode** (:class:`SkeletonEncoder`, :class:`GraphRecognizer`): input joints
  ``(N, C, T, V, M)``, nodes = joints of :data:`baselines.graph.COCO17` or ``NTU25``; the
  ``M`` persons are folded into the batch and averaged at the end (ST-GCN).
- **clip-graph mode** (:class:`ClipGraphEncoder`): input clip features ``(B, T, D_in)`` of a
  feature-only dataset (I3D / C3D / VGG). The ``T`` clips become the ``V`` *nodes* of a
  :func:`baselines.graph.temporal_chain_graph` (edges to temporal neighbours within ``k``),
  laid out as ``(B, D_in, 1, T)``: one "frame" whose nodes are the clips. The spatial unit
  then reasons over the clip graph (chain adjacency, learned adjacency, attention / graph
  Fourier basis of the chain), and the temporal unit, wrapped in :class:`AlongNodes`, runs
  along the clip axis (a temporal convolution over a single frame would be a no-op). All
  strides are 1 so every clip keeps its feature: output ``(B, T, D)`` for the shared
  localization head. Clip-graph mode is single-stream (clip features have no bones).

Assumed (neither paper specifies it for these datasets): the clip-graph mode as a whole;
input normalisation by BatchNorm over ``M*V*C`` (skeleton, as ST-GCN's ``data_bn``) or over
``D_in`` (clips); residual = identity, or 1x1 conv + BN when the width or stride changes
(also on the first block); global average pooling over ``T, V, M``; dropout before the
linear classifier.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from baselines.graph import Graph, temporal_chain_graph
from baselines.skeleton_stream import TwoStream


class SpatialFactory(Protocol):
    """Makes a spatial unit ``(N, C_in, T, V) -> (N, C_out, T, V)`` for ``graph``."""

    def __call__(self, *, graph: Graph, in_channels: int, out_channels: int) -> nn.Module: ...


class TemporalFactory(Protocol):
    """Makes a temporal unit ``(N, C, T, V) -> (N, C, ceil(T / stride), V)``."""

    def __call__(self, *, channels: int, stride: int) -> nn.Module: ...


def check_values(x: torch.Tensor, *, where: str, dtype: torch.dtype) -> None:
    """Raise a ``ValueError`` unless ``x`` has the model's dtype and only finite values."""
    if x.dtype != dtype:
        raise ValueError(f"{where}: expected a {dtype} input, got {x.dtype}")
    if not torch.isfinite(x).all():
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{where}: input contains {bad} NaN/inf values")


def residual_projection(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """Identity, or a strided 1x1 conv + BN when the width or the temporal stride changes."""
    if in_channels == out_channels and stride == 1:
        return nn.Identity()
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=(stride, 1)),
        nn.BatchNorm2d(out_channels),
    )


class TemporalConv2d(nn.Conv2d):
    """A ``(k, 1)`` :class:`~torch.nn.Conv2d` over ``(N, C, T, V)`` (the same parameters and
    state-dict keys); when ``V == 1`` (clip-graph mode, through :class:`AlongNodes`) it runs
    as the equivalent ``conv1d`` over ``T``, which oneDNN computes about twice as fast on CPU
    as a convolution over a width-1 image."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[-1] != 1 or self.kernel_size[1] != 1:
            return super().forward(x)
        y = F.conv1d(
            x.squeeze(-1),
            self.weight.squeeze(-1),
            self.bias,
            stride=self.stride[0],
            padding=self.padding[0],
            dilation=self.dilation[0],
            groups=self.groups,
        )
        return y.unsqueeze(-1)


class AlongNodes(nn.Module):
    """Runs a temporal unit along the node axis: ``(N, C, T, V)`` -> swap T and V -> unit -> swap.

    Used in clip-graph mode, where the nodes are the clips in temporal order and ``T = 1``.
    """

    def __init__(self, unit: nn.Module) -> None:
        super().__init__()
        self.unit = unit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.unit(x.transpose(2, 3)).transpose(2, 3)


class GraphBlock(nn.Module):
    """``y = ReLU(temporal(spatial(x)) + residual(x))``.

    Shapes: ``(N, C_in, T, V) -> (N, C_out, ceil(T / stride), V)``.
    """

    def __init__(self, spatial: nn.Module, temporal: nn.Module, residual: nn.Module) -> None:
        super().__init__()
        self.spatial = spatial
        self.temporal = temporal
        self.residual = residual
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.temporal(self.spatial(x)) + self.residual(x))


def build_graph_stack(
    *,
    graph: Graph,
    in_channels: int,
    channels: Sequence[int],
    strides: Sequence[int],
    spatial: SpatialFactory,
    temporal: TemporalFactory,
    temporal_along_nodes: bool = False,
) -> nn.Sequential:
    """A stack of ``len(channels)`` :class:`GraphBlock` s, block ``i`` of width ``channels[i]``.

    Block ``i`` maps ``channels[i-1] -> channels[i]`` (``in_channels`` for the first) with
    temporal stride ``strides[i]``.
    """
    if not channels:
        raise ValueError("channels must name at least one block width")
    if len(strides) != len(channels):
        raise ValueError(f"got {len(strides)} strides for {len(channels)} blocks")
    if any(s < 1 for s in strides) or any(c < 1 for c in channels):
        raise ValueError(f"channels and strides must be positive, got {channels}, {strides}")
    blocks = []
    widths = (in_channels, *channels)
    for c_in, c_out, stride in zip(widths[:-1], widths[1:], strides, strict=True):
        t_unit = temporal(channels=c_out, stride=stride)
        if temporal_along_nodes:
            t_unit = AlongNodes(t_unit)
        blocks.append(
            GraphBlock(
                spatial(graph=graph, in_channels=c_in, out_channels=c_out),
                t_unit,
                residual_projection(c_in, c_out, stride),
            )
        )
    return nn.Sequential(*blocks)


class SkeletonEncoder(nn.Module):
    """Graph blocks over skeleton sequences.

    Shapes: input ``(N, C, T, V, M)``; :meth:`feature_map` ``(N, M, D, T', V)``;
    :meth:`clip_features` ``(N, T', D)`` (mean over ``V, M``); :meth:`features` ``(N, D)``
    (mean over ``T', V, M``). ``T' = ceil(T / temporal_stride)``, ``temporal_stride =
    prod(strides)``.
    """

    def __init__(
        self,
        *,
        name: str,
        graph: Graph,
        in_channels: int,
        num_persons: int,
        blocks: nn.Sequential,
        out_channels: int,
        temporal_stride: int,
    ) -> None:
        super().__init__()
        self.name = name
        self.graph = graph
        self.in_channels = in_channels
        self.num_persons = num_persons
        self.out_channels = out_channels
        self.temporal_stride = temporal_stride
        self.data_bn = nn.BatchNorm1d(num_persons * graph.num_nodes * in_channels)
        self.blocks = blocks

    def check_input(self, x: torch.Tensor) -> None:
        c, v, m = self.in_channels, self.graph.num_nodes, self.num_persons
        expected = f"(N, C={c}, T, V={v}, M={m}) for graph {self.graph.name!r}"
        got = tuple(x.shape)
        if x.ndim != 5:
            raise ValueError(f"{self.name}: expected input {expected}, got {x.ndim}-d {got}")
        problems = [
            f"{axis}={n} (expected {e})"
            for axis, n, e in (("C", got[1], c), ("V", got[3], v), ("M", got[4], m))
            if n != e
        ]
        if got[0] < 1 or got[2] < 1:
            problems.append("empty N or T")
        if problems:
            raise ValueError(
                f"{self.name}: expected input {expected}, got {got}: " + ", ".join(problems)
            )
        check_values(x, where=self.name, dtype=self.data_bn.weight.dtype)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        n, c, t, v, m = x.shape
        x = x.permute(0, 4, 3, 1, 2).reshape(n, m * v * c, t)
        x = self.data_bn(x)
        x = x.view(n, m, v, c, t).permute(0, 1, 3, 4, 2).reshape(n * m, c, t, v)
        y = self.blocks(x)
        return y.view(n, m, *y.shape[1:])

    def clip_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature_map(x).mean(dim=(1, 4)).transpose(1, 2)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature_map(x).mean(dim=(1, 3, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class GraphRecognizer(nn.Module):
    """An encoder plus a linear classifier on its pooled features.

    ``forward(x)`` returns logits ``(N, num_classes)``, or the features ``(N, D)`` when built
    without a head (``num_classes=None``). :meth:`features` and :meth:`clip_features` pass
    through to the encoder; ``feature_dim`` ``D`` and ``temporal_stride`` come from it.
    """

    def __init__(
        self, encoder: SkeletonEncoder, *, num_classes: int | None, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if num_classes is not None and num_classes < 1:
            raise ValueError(f"num_classes must be >= 1 or None, got {num_classes}")
        self.encoder = encoder
        self.feature_dim = encoder.out_channels
        self.temporal_stride = encoder.temporal_stride
        self.num_classes = num_classes
        self.dropout = nn.Dropout(dropout)
        self.head = None if num_classes is None else nn.Linear(self.feature_dim, num_classes)

    def check_input(self, x: torch.Tensor) -> None:
        self.encoder.check_input(x)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder.features(x)

    def clip_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder.clip_features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        return f if self.head is None else self.head(self.dropout(f))


class ClipGraphEncoder(nn.Module):
    """Graph blocks over the clips of a video (clip-graph mode, see the module docstring).

    ``forward(x)`` = :meth:`clip_features`: ``(B, T, D_in) -> (B, T, D)`` with
    ``T = graph.num_nodes``; :meth:`features` ``(B, D)`` is the mean over clips.
    """

    def __init__(
        self, *, name: str, graph: Graph, in_dim: int, blocks: nn.Sequential, out_channels: int
    ) -> None:
        super().__init__()
        self.name = name
        self.graph = graph
        self.in_dim = in_dim
        self.feature_dim = out_channels
        self.temporal_stride = 1
        self.input_bn = nn.BatchNorm1d(in_dim)
        self.blocks = blocks

    def check_input(self, x: torch.Tensor) -> None:
        t, d = self.graph.num_nodes, self.in_dim
        expected = f"(B, T={t}, D={d})"
        got = tuple(x.shape)
        if x.ndim != 3:
            raise ValueError(f"{self.name}: expected input {expected}, got {x.ndim}-d {got}")
        if got[1] != t or got[2] != d or got[0] < 1:
            raise ValueError(
                f"{self.name}: expected input {expected}, got {got} (resample features to "
                f"{t} clips)"
            )
        check_values(x, where=self.name, dtype=self.input_bn.weight.dtype)

    def clip_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        h = self.input_bn(x.transpose(1, 2))  # (B, D_in, T)
        h = self.blocks(h.unsqueeze(2))  # (B, D, 1, T): one frame, the clips are nodes
        return h.squeeze(2).transpose(1, 2)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.clip_features(x).mean(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.clip_features(x)


def build_skeleton_recognizer(
    *,
    name: str,
    graph: Graph,
    in_channels: int,
    num_persons: int,
    num_classes: int | None,
    channels: Sequence[int],
    strides: Sequence[int],
    spatial: SpatialFactory,
    temporal: TemporalFactory,
    dropout: float,
    two_stream: bool,
    fusion_weights: tuple[float, float],
) -> GraphRecognizer | TwoStream:
    """One :class:`GraphRecognizer`, or joint + bone recognizers fused by :class:`TwoStream`."""

    def make(stream: str) -> GraphRecognizer:
        blocks = build_graph_stack(
            graph=graph,
            in_channels=in_channels,
            channels=channels,
            strides=strides,
            spatial=spatial,
            temporal=temporal,
        )
        encoder = SkeletonEncoder(
            name=f"{name}[{stream}]" if two_stream else name,
            graph=graph,
            in_channels=in_channels,
            num_persons=num_persons,
            blocks=blocks,
            out_channels=channels[-1],
            temporal_stride=math.prod(strides),
        )
        return GraphRecognizer(encoder, num_classes=num_classes, dropout=dropout)

    if not two_stream:
        return make("joint")
    return TwoStream(make("joint"), make("bone"), parents=graph.parents, weights=fusion_weights)


def build_clip_graph_encoder(
    *,
    name: str,
    num_clips: int,
    in_dim: int,
    neighbours: int,
    channels: Sequence[int],
    spatial: SpatialFactory,
    temporal: TemporalFactory,
) -> ClipGraphEncoder:
    """A :class:`ClipGraphEncoder` over :func:`temporal_chain_graph` ``(num_clips, neighbours)``."""
    graph = temporal_chain_graph(num_clips, k=neighbours)
    blocks = build_graph_stack(
        graph=graph,
        in_channels=in_dim,
        channels=channels,
        strides=[1] * len(channels),
        spatial=spatial,
        temporal=temporal,
        temporal_along_nodes=True,
    )
    return ClipGraphEncoder(
        name=name, graph=graph, in_dim=in_dim, blocks=blocks, out_channels=channels[-1]
    )
