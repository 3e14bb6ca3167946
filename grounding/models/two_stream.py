"""The paper's two-stream network (sec. 2.1, eqs. 5-7) with its attention modules (sec. 2.2).

Each :class:`Stream` is ``input normalisation -> BN-Inception map -> spatial module ->
(optional) temporal module over the S segments -> dropout -> linear classifier -> segment
consensus`` (TSN: the average of the per-segment class scores). The RGB stream sees one frame
per segment ``(B, S, 3, H, W)``; the flow stream a stack of 5 x/y flow fields
``(B, S, 10, H, W)`` (eq. 5). The flow backbone is the RGB backbone (pretrained or not) with
conv1 replaced by a 10-channel conv whose weights are the mean of the RGB conv1 weights over
the 3 colour channels, replicated (cross-modality initialisation, eq. 6). Partial BN freezes
every BN layer but the first of each backbone. The streams' scores are fused by a weighted sum
(eq. 7; TSN's RGB : flow = 1 : 1.5 by default).

Inputs are pixel-range floats (or uint8): RGB in 0..255 and flow mapped to 0..255 by eq. 4.
Each stream normalises its input with its own per-channel mean and std (buffers), so a data
loader can hand over uint8 tensors unchanged.

Memory layout: :func:`build_two_stream` returns the network in ``torch.channels_last`` (NHWC
conv weights); each backbone converts its ``(B*S, C, H, W)`` input to the layout of its weights
(:attr:`grounding.models.bninception.BNInception.memory_format`), so callers hand over ordinary
contiguous batches, and ``net.to(memory_format=torch.contiguous_format)`` switches the whole
network back (same outputs to float rounding). Checkpoints load into either layout.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import torch
from torch import nn

from grounding.models.bninception import (
    BNInception,
    build_bninception,
    load_backbone_weights,
    read_state_dict,
)
from grounding.models.spatial import GlobalAvgPooling, SpatialAttentionPooling
from grounding.models.temporal import ResidualTemporal, build_temporal

IMAGENET_RGB_MEAN = (123.675, 116.28, 103.53)  # 0..255 scale
IMAGENET_RGB_STD = (58.395, 57.12, 57.375)
#: what Caffe-converted BN-Inception weights (TSN, ``pretrainedmodels``) expect: BGR in 0..255
#: minus this mean, no scaling
CAFFE_BGR_MEAN = (104.0, 117.0, 128.0)
FLOW_MEAN = 128.0
FLOW_STD = 64.0


def cross_modality_init(rgb_conv: nn.Conv2d, flow_conv: nn.Conv2d) -> None:
    """Eq. 6: set ``flow_conv``'s weights to the mean of ``rgb_conv``'s weights over its input
    channels, replicated over ``flow_conv``'s input channels; copy the bias."""
    if rgb_conv.weight.shape[0] != flow_conv.weight.shape[0] or (
        rgb_conv.weight.shape[2:] != flow_conv.weight.shape[2:]
    ):
        raise ValueError(
            f"conv shapes are incompatible: rgb {tuple(rgb_conv.weight.shape)}, "
            f"flow {tuple(flow_conv.weight.shape)} (out channels and kernel must match)"
        )
    with torch.no_grad():
        mean = rgb_conv.weight.mean(dim=1, keepdim=True)
        flow_conv.weight.copy_(mean.expand_as(flow_conv.weight))
        if flow_conv.bias is not None and rgb_conv.bias is not None:
            flow_conv.bias.copy_(rgb_conv.bias)


def make_flow_backbone(rgb_backbone: BNInception, *, in_channels: int = 10) -> BNInception:
    """A copy of ``rgb_backbone`` whose conv1 takes ``in_channels`` (eq. 6 initialisation)."""
    flow = copy.deepcopy(rgb_backbone)
    old = rgb_backbone.conv1
    new = nn.Conv2d(
        in_channels,
        old.out_channels,
        old.kernel_size,
        stride=old.stride,
        padding=old.padding,
        bias=old.bias is not None,
    )
    cross_modality_init(old, new)
    flow.conv1_7x7_s2.conv = new
    flow.in_channels = in_channels
    return flow


def set_partial_bn(module: nn.Module) -> list[str]:
    """Partial BN (TSN): put every BatchNorm of ``module`` except the first in eval mode and
    freeze its affine parameters. Returns the names of the frozen layers."""
    frozen = []
    bns = [
        (n, m) for n, m in module.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
    ]
    for name, bn in bns[1:]:
        bn.eval()
        for p in bn.parameters():
            p.requires_grad_(False)
        frozen.append(name)
    return frozen


class InputNorm(nn.Module):
    """``(x - mean) / std`` per channel: ``(..., C, H, W) -> (..., C, H, W)`` as float32."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32)[:, None, None])
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32)[:, None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() - self.mean) / self.std


class Stream(nn.Module):
    """One stream: ``(B, S, C, H, W) -> (B, K)`` class scores (segment consensus);
    :meth:`segment_features` gives ``(B, S, D)``.

    Args:
        backbone: a BN-Inception (``forward_features`` gives ``(B*S, C_map, h, w)``).
        spatial: ``(B*S, C_map, h, w) -> (B*S, D)``, with attribute ``out_dim``.
        temporal: optional ``(B, S, D) -> (B, S, D)`` module over segments.
        norm: input normalisation.
        num_classes: K.
        dropout: before the classifier (TSN uses 0.8 RGB / 0.7 flow for fine-tuning).
        partial_bn: keep every BN but the backbone's first in eval mode and frozen.
    """

    def __init__(
        self,
        *,
        backbone: BNInception,
        spatial: nn.Module,
        temporal: nn.Module | None,
        norm: InputNorm,
        num_classes: int,
        dropout: float = 0.5,
        partial_bn: bool = False,
    ) -> None:
        super().__init__()
        self.norm = norm
        self.backbone = backbone
        self.spatial = spatial
        self.temporal = temporal
        self.dropout = nn.Dropout(dropout)
        self.out_dim = spatial.out_dim
        self.classifier = nn.Linear(self.out_dim, num_classes)
        self.partial_bn = partial_bn
        if partial_bn:
            set_partial_bn(self.backbone)

    def train(self, mode: bool = True) -> Stream:
        super().train(mode)
        if mode and self.partial_bn:
            set_partial_bn(self.backbone)
        return self

    def segment_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, S, C, H, W) -> (B, S, D)``: per-segment features after the temporal module."""
        c = self.backbone.in_channels
        if x.ndim != 5 or x.shape[2] != c:
            raise ValueError(f"stream input must be (B, S, {c}, H, W), got {tuple(x.shape)}")
        b, s = x.shape[:2]
        fmap = self.backbone.forward_features(self.norm(x.flatten(0, 1)))
        feats = self.spatial(fmap).view(b, s, -1)
        return self.temporal(feats) if self.temporal is not None else feats

    def segment_scores(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, S, C, H, W) -> (B, S, K)`` per-segment class scores."""
        return self.classifier(self.dropout(self.segment_features(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.segment_scores(x).mean(dim=1)  # TSN average consensus


class TwoStreamOutput(NamedTuple):
    """Class scores (logits) ``(B, K)`` of each stream and their weighted fusion (eq. 7)."""

    rgb: torch.Tensor
    flow: torch.Tensor
    fused: torch.Tensor


class TwoStreamNetwork(nn.Module):
    """RGB + flow streams fused by weighted voting (eq. 7).

    ``forward(rgb (B, S, 3, H, W), flow (B, S, 10, H, W)) -> TwoStreamOutput`` with
    ``fused = w_rgb * rgb + w_flow * flow`` (logits). Train with a loss on each stream's
    logits (TSN trains the streams separately; a sum of the two losses is equivalent here);
    report accuracy on ``fused``.
    """

    def __init__(
        self, *, rgb: Stream, flow: Stream, fusion_weights: tuple[float, float] = (1.0, 1.5)
    ) -> None:
        super().__init__()
        if len(fusion_weights) != 2 or min(fusion_weights) < 0 or sum(fusion_weights) <= 0:
            raise ValueError(
                f"fusion_weights must be two non-negative numbers, got {fusion_weights}"
            )
        self.rgb = rgb
        self.flow = flow
        self.fusion_weights = tuple(float(w) for w in fusion_weights)
        self.feature_dim = rgb.out_dim + flow.out_dim

    def _check(self, rgb: torch.Tensor, flow: torch.Tensor) -> None:
        if rgb.ndim != 5 or flow.ndim != 5 or rgb.shape[:2] != flow.shape[:2]:
            raise ValueError(
                f"rgb (B, S, 3, H, W) and flow (B, S, {self.flow.backbone.in_channels}, H, W) "
                f"must share B and S, got rgb {tuple(rgb.shape)} and flow {tuple(flow.shape)}"
            )
        if flow.shape[2] != self.flow.backbone.in_channels:
            stack = self.flow.backbone.in_channels // 2
            raise ValueError(
                f"flow input must have {self.flow.backbone.in_channels} channels ({stack} "
                f"stacked x,y flow fields), got {flow.shape[2]} in shape {tuple(flow.shape)}"
            )

    def fuse(self, rgb_scores: torch.Tensor, flow_scores: torch.Tensor) -> torch.Tensor:
        w_rgb, w_flow = self.fusion_weights
        return w_rgb * rgb_scores + w_flow * flow_scores

    def forward(self, rgb: torch.Tensor, flow: torch.Tensor) -> TwoStreamOutput:
        self._check(rgb, flow)
        r, f = self.rgb(rgb), self.flow(flow)
        return TwoStreamOutput(rgb=r, flow=f, fused=self.fuse(r, f))

    def segment_features(self, rgb: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        """Per-segment fused features ``(B, S, D_rgb + D_flow)``: the two streams' features
        concatenated (RGB first), for feature extraction."""
        self._check(rgb, flow)
        return torch.cat([self.rgb.segment_features(rgb), self.flow.segment_features(flow)], -1)


@dataclass(frozen=True)
class TwoStreamConfig:
    """Settings of :func:`build_two_stream` (CPU profile: ``width_mult=0.5``, 128x128 input)."""

    num_classes: int
    width_mult: float = 1.0
    flow_stack: int = 5
    spatial: Literal["attention", "avg"] = "attention"
    spatial_attention: Literal["sigmoid", "softmax"] = "sigmoid"
    spatial_residual: bool = True
    spatial_fusion: Literal["sum", "concat"] = "sum"
    bilinear_rank: int | None = None
    temporal: str = "mhssa"
    heads: int = 4
    dropout: float = 0.5
    fusion_weights: tuple[float, float] = (1.0, 1.5)
    partial_bn: bool | None = None  # None: on when pretrained weights are given


def _spatial(config: TwoStreamConfig, dim: int) -> nn.Module:
    if config.spatial == "avg":
        return GlobalAvgPooling(dim)
    return SpatialAttentionPooling(
        dim,
        attention=config.spatial_attention,
        residual=config.spatial_residual,
        fusion=config.spatial_fusion,
        bilinear_rank=config.bilinear_rank,
    )


def _temporal(config: TwoStreamConfig, dim: int) -> nn.Module | None:
    if config.temporal == "none":
        return None
    module = build_temporal(config.temporal, dim=dim, heads=config.heads)
    return ResidualTemporal(module, dim)


def caffe_conv1_to_rgb(
    weight: torch.Tensor,
    bias: torch.Tensor,
    *,
    mean: Sequence[float] = IMAGENET_RGB_MEAN,
    std: Sequence[float] = IMAGENET_RGB_STD,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Re-express a Caffe-converted conv1 for this network's RGB input.

    Caffe's conv1 computes ``W * (x_bgr - CAFFE_BGR_MEAN) + b``; the stream feeds
    ``x_n = (x_rgb - mean) / std``. With ``W'`` = ``W`` with its input channels reversed,
    the same response is ``(W' * std) * x_n + b + sum(W' * (mean - CAFFE_BGR_MEAN[::-1]))``,
    exact except where the zero padding of the border differs.

    Args:
        weight: ``(C_out, 3, k, k)`` Caffe conv1 weights (BGR input channels).
        bias: ``(C_out,)``.

    Returns:
        ``(weight, bias)`` for RGB input normalised by ``mean`` / ``std``.
    """
    if weight.ndim != 4 or weight.shape[1] != 3:
        raise ValueError(f"conv1 weight must be (C_out, 3, k, k), got {tuple(weight.shape)}")
    flipped = weight.flip(1)
    std_t = torch.tensor(std, dtype=weight.dtype)[None, :, None, None]
    shift = torch.tensor(mean, dtype=weight.dtype) - torch.tensor(CAFFE_BGR_MEAN[::-1])
    return flipped * std_t, bias + (flipped * shift[None, :, None, None]).sum(dim=(1, 2, 3))


def _from_caffe_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with its conv1 converted by :func:`caffe_conv1_to_rgb` when it uses the flat
    TSN / ``pretrainedmodels`` names (Caffe conversions); this package's own keys (weights it
    exported, already for normalised RGB) pass unchanged."""
    for prefix in ("", "module.", "base_model."):
        w_key, b_key = f"{prefix}conv1_7x7_s2.weight", f"{prefix}conv1_7x7_s2.bias"
        if w_key in state and b_key in state:
            state = dict(state)
            state[w_key], state[b_key] = caffe_conv1_to_rgb(state[w_key], state[b_key])
            break
    return state


def build_two_stream(
    *, config: TwoStreamConfig, rgb_weights: str | Path | None = None
) -> TwoStreamNetwork:
    """Build the two-stream network. ``rgb_weights``: an optional BN-Inception state dict
    (e.g. ImageNet) for the RGB backbone; the flow backbone starts from the same weights with
    conv1 converted by eq. 6. Weights with TSN's flat Caffe names get their conv1 re-expressed
    for the normalised RGB input (:func:`caffe_conv1_to_rgb`). Partial BN defaults to on
    exactly when weights are given (when training from scratch every BN must learn its
    statistics). The network is returned in ``torch.channels_last`` (module docstring)."""
    if config.num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {config.num_classes}")
    if config.flow_stack < 1:
        raise ValueError(f"flow_stack must be >= 1, got {config.flow_stack}")
    partial_bn = rgb_weights is not None if config.partial_bn is None else config.partial_bn
    rgb_backbone = build_bninception(width_mult=config.width_mult)
    if rgb_weights is not None:
        state = _from_caffe_layout(read_state_dict(rgb_weights))
        load_backbone_weights(rgb_backbone, state, source=str(rgb_weights))
    flow_backbone = make_flow_backbone(rgb_backbone, in_channels=2 * config.flow_stack)
    dim = rgb_backbone.out_dim
    flow_channels = flow_backbone.in_channels
    norms = {
        "rgb": InputNorm(IMAGENET_RGB_MEAN, IMAGENET_RGB_STD),
        "flow": InputNorm([FLOW_MEAN] * flow_channels, [FLOW_STD] * flow_channels),
    }
    streams = {}
    for name, backbone in (("rgb", rgb_backbone), ("flow", flow_backbone)):
        spatial = _spatial(config, dim)
        streams[name] = Stream(
            backbone=backbone,
            spatial=spatial,
            temporal=_temporal(config, spatial.out_dim),
            norm=norms[name],
            num_classes=config.num_classes,
            dropout=config.dropout,
            partial_bn=partial_bn,
        )
    net = TwoStreamNetwork(
        rgb=streams["rgb"], flow=streams["flow"], fusion_weights=config.fusion_weights
    )
    # oneDNN's CPU convolutions and pools run faster on NHWC maps, and the spatial module's
    # (B, H*W, C) tokens are then a contiguous view of the last map instead of a copy
    return net.to(memory_format=torch.channels_last)
