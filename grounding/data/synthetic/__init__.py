"""The synthetic basketball grounding dataset (the package's embedded default dataset).

Procedurally rendered practice scenes: a court with hoops, one to three stick-figure players
(17 COCO joints, coloured jerseys, distinct body sizes) doing sequences of basketball actions,
a ball, a moving and shaking camera, lighting changes and sensor noise. Written in the real
community formats (Charades-STA, ActivityNet Captions, HMDB51-style clips, skeleton arrays) so
the ordinary readers load it. Entry points: :func:`generate_dataset` and
``python -m grounding.data.synthetic``.
"""

from grounding.data.synthetic.actions import ACTIONS
from grounding.data.synthetic.generate import GeneratorConfig, generate_dataset, split_videos
from grounding.data.synthetic.queries import GroundingQuery, make_queries
from grounding.data.synthetic.script import VideoScript, make_script

__all__ = [
    "ACTIONS",
    "GeneratorConfig",
    "GroundingQuery",
    "VideoScript",
    "generate_dataset",
    "make_queries",
    "make_script",
    "split_videos",
]
