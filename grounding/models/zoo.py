"""The paper's model in the registry: ``ours`` (two-stream recognizer, MHSSA clip encoder,
person-centric grounding features) and the temporal-module variants of its Table 3 ablation.

============== ============================== ======================================
name           recognizer temporal module     grounding clip encoder
============== ============================== ======================================
ours           MHSSA, 2 heads                 MHSSA (the grounding ``--heads``)
ours-mhssa-hK  MHSSA, K = 1, 4, 6 heads       MHSSA
ours-softmax   softmax attention              softmax attention
ours-rnn/lstm  RNN / LSTM / GRU               the same recurrent module
/gru
============== ============================== ======================================

Use :data:`TWO_STREAM` as ``recognizer=`` of a model of your own to run it on the synthetic
videos with the paper's recognizer and features.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from grounding.models.recognizer import PIXEL_CLIPS, RecognitionConfig, RecognizerSpec
from grounding.models.registry import EncoderBuilder, FeatureKind, register_model
from grounding.models.temporal import build_temporal
from grounding.models.two_stream import TwoStreamConfig, build_two_stream

__all__ = ["TWO_STREAM", "build_two_stream_recognizer", "two_stream_spec"]


def build_two_stream_recognizer(
    *, config: RecognitionConfig, rgb_weights: Path | None
) -> nn.Module:
    """The two-stream network of ``config``: ``rgb (B, S, 3, H, W), flow (B, S, 2L, H, W)``
    uint8 -> ``TwoStreamOutput`` (fused, rgb, flow logits ``(B, A)``)."""
    return build_two_stream(
        rgb_weights=rgb_weights,
        config=TwoStreamConfig(
            num_classes=config.num_classes,
            width_mult=config.width_mult,
            flow_stack=config.flow_length,
            spatial_attention=config.spatial_attention,
            spatial_residual=config.spatial_residual,
            temporal=config.temporal,
            heads=config.heads,
            dropout=config.dropout,
            fusion_weights=config.fusion_weights,
            partial_bn=config.rgb_weights_sha is not None,
        ),
    )


def two_stream_spec(**defaults: object) -> RecognizerSpec:
    """The two-stream recognizer with person-centric grounding features, starting from
    ``defaults`` (:class:`RecognitionConfig` fields)."""
    return RecognizerSpec(
        build=build_two_stream_recognizer,
        inputs=PIXEL_CLIPS,
        features=FeatureKind.PERSON,
        defaults=defaults,
    )


#: the paper's recognizer (RecognitionConfig defaults: MHSSA with 2 heads)
TWO_STREAM = two_stream_spec()


def temporal_encoder(kind: str) -> EncoderBuilder:
    """A clip encoder of temporal module ``kind`` (:func:`build_temporal`)."""

    def build(*, dim: int, num_clips: int, heads: int, layers: int, dropout: float) -> nn.Module:
        """(B, N, dim) [, mask] -> (B, N, dim)"""
        return build_temporal(kind, dim=dim, heads=heads, dropout=dropout)

    build.__doc__ = f"{kind} temporal module over the clips: (B, N, dim) -> (B, N, dim)"
    return build


register_model(
    temporal_encoder("mhssa"),
    name="ours",
    recognizer=TWO_STREAM,
    description="the paper's two-stream network (MHSSA); person-centric grounding features",
)
for _heads in (1, 4, 6):
    register_model(
        temporal_encoder("mhssa"),
        name=f"ours-mhssa-h{_heads}",
        recognizer=two_stream_spec(heads=_heads),
        description=f"ours with {_heads}-head MHSSA in the recognizer (Table 3)",
    )
for _kind in ("softmax", "rnn", "lstm", "gru"):
    register_model(
        temporal_encoder(_kind),
        name=f"ours-{_kind}",
        recognizer=two_stream_spec(temporal=_kind),
        description=f"ours with a {_kind} temporal module (Table 3)",
    )
