"""Models: BN-Inception, the two-stream network, spatial/temporal attention, the sentence
encoder, the moment-localization head, the feature-path grounding model and checkpoints.

One concept per module:

- ``registry``         the model registry: ``@register_model``, ``get_model``, ``list_models``,
                       ``--import`` of user modules; every command looks models up here
- ``recognizer``       recognition config, recognizer inputs (pixels / skeletons), builder
- ``zoo``              the paper's ``ours`` and its Table 3 temporal variants (registered)
- ``device``           the one ``--device`` rule (``resolve_device``)
- ``bninception``      BN-Inception backbone (TSN's Caffe table), CPU profile, weight loading
- ``two_stream``       RGB + flow streams, cross-modality init (eq. 6), Partial BN, fusion (eq. 7)
- ``spatial``          residual sigmoid spatial attention + avg/max (+ bilinear) pooling
- ``temporal``         MHSSA (sigmoid attention, eqs. 10-14), softmax attention, RNN/LSTM/GRU
- ``text``             offline all-MiniLM-L6-v2 sentence encoder and sentence cache
- ``localization``     2D temporal moment map head, scaled-IoU loss, ranking
- ``grounding_model``  clip features -> projection -> MHSSA -> moment map head
- ``checkpoint``       atomic checkpoints, config check, safetensors export
- ``complexity``       parameter and MAC counts
"""

from grounding.models.bninception import CPU_PROFILE, FULL_PROFILE, BNInception, build_bninception
from grounding.models.checkpoint import export_safetensors, load_checkpoint, save_checkpoint
from grounding.models.grounding_model import (
    GroundingModel,
    GroundingModelConfig,
    build_grounding_model,
)
from grounding.models.localization import (
    MomentMapHead,
    moment_iou_targets,
    predict_moments,
    rank_moments,
    scaled_iou_loss,
)
from grounding.models.spatial import SpatialAttentionPooling
from grounding.models.temporal import MultiHeadSelfAttention, RecurrentTemporal, build_temporal
from grounding.models.two_stream import (
    TwoStreamConfig,
    TwoStreamNetwork,
    build_two_stream,
    cross_modality_init,
    set_partial_bn,
)

__all__ = [
    "CPU_PROFILE",
    "FULL_PROFILE",
    "BNInception",
    "GroundingModel",
    "GroundingModelConfig",
    "MomentMapHead",
    "MultiHeadSelfAttention",
    "RecurrentTemporal",
    "SpatialAttentionPooling",
    "TwoStreamConfig",
    "TwoStreamNetwork",
    "build_bninception",
    "build_grounding_model",
    "build_temporal",
    "build_two_stream",
    "cross_modality_init",
    "export_safetensors",
    "load_checkpoint",
    "moment_iou_targets",
    "predict_moments",
    "rank_moments",
    "save_checkpoint",
    "scaled_iou_loss",
    "set_partial_bn",
]
