"""Training: ``python -m grounding.train recognition|grounding ...`` (also under ``torchrun``).

- ``loop``         the shared epoch loop: seeding, AdamW + cosine schedule, NaN guard,
                   atomic per-epoch checkpoints and ``--resume``, tqdm, tables
- ``distributed``  torchrun / DistributedDataParallel (gloo on CPU, nccl on CUDA), sharded
                   evaluation, all-reduce and gather helpers
- ``paths``        the files of a run folder, the default cache folder
- ``recognition``  action recognition on HMDB51-style clips (ours from pixels, GTN/DGCN from
                   skeletons)
- ``grounding``    temporal grounding on clip features with the moment map head (encoder:
                   MHSSA, or GTN/DGCN in clip-graph mode)
"""

from grounding.train.distributed import DistContext, init_distributed, resolve_device
from grounding.train.grounding import (
    GroundingTrainConfig,
    build_encoder,
    build_grounding_network,
)
from grounding.train.loop import NonFiniteError, fit, seed_everything
from grounding.train.paths import RunPaths, default_cache_dir
from grounding.train.recognition import RecognitionConfig, build_recognizer

__all__ = [
    "DistContext",
    "GroundingTrainConfig",
    "NonFiniteError",
    "RecognitionConfig",
    "RunPaths",
    "build_encoder",
    "build_grounding_network",
    "build_recognizer",
    "default_cache_dir",
    "fit",
    "init_distributed",
    "resolve_device",
    "seed_everything",
]
