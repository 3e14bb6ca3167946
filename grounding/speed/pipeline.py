"""End-to-end grounding speed per video: the bench's feature pipeline, then the head.

One run of :func:`ground_video` answers one query on one video file from nothing cached, the
way the bench does it: ``python -m grounding.extract`` of the model's kind of features
(:class:`grounding.extract.ClipPipeline`, called as it is, not a copy; person-centric for
``ours``) followed by the grounding model:

1. **inputs**: :meth:`ClipPipeline.load`: decoding, optical flow, person crops or skeleton
   windows, the resize to the recognizer's input size;
2. **backbone**: :meth:`ClipPipeline.compute`: the recognizer's features of every clip
   ``(K, D)``;
3. **text** (only for a query given as text): its sentence embedding ``(1, 384)``;
4. **head**: resampling the ``K`` clip features to the model's ``N`` clips
   (:func:`grounding.data.features.resample_features`), the grounding model's forward, ranking
   of every moment, NMS and top-k (:meth:`GroundingModel.predict`).

Frames per second, both definitions (they differ a lot because sampling is sparse):

- **covered**: video frames spanned per second of wall time, ``n_frames / seconds``;
- **processed**: frames actually decoded and fed to the model per second,
  ``(RGB frames + distinct grayscale frames decoded for the flow stacks + skeleton frames) /
  seconds`` (:meth:`ClipPipeline.counts`; each RGB frame is also a frame of its flow stack: it
  is decoded twice, in colour and in gray).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from grounding.data.features import resample_features
from grounding.data.video import video_info
from grounding.extract import ClipPipeline, FrameCounts
from grounding.models.grounding_model import GroundingModel
from grounding.speed.timing import LatencyStats, Timer

__all__ = [
    "STAGES",
    "FrameCounts",
    "PipelineConfig",
    "PipelineSpeed",
    "VideoRun",
    "ground_video",
    "measure_pipeline",
]

STAGES = ("inputs", "backbone", "text", "head")

COVERED_DEF = "video frames spanned / wall seconds"
PROCESSED_DEF = "(RGB frames + grayscale frames decoded for flow + skeleton frames) / wall seconds"


@dataclass(frozen=True)
class PipelineConfig:
    """Extraction's settings of the end-to-end runs (those of ``python -m grounding.extract``)
    and the head's post-processing.

    Attributes:
        clip_seconds: clip length (``--clip-seconds``).
        person_context: person-centric features: seconds each clip's snippets reach past it
            (``--person-context``).
        batch_size: clips per recognizer forward pass.
        nms_thresh / top_k: the head's post-processing.
    """

    clip_seconds: float = 1.0
    person_context: float = 0.0
    batch_size: int = 16
    nms_thresh: float | None = 0.5
    top_k: int | None = 5

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class VideoRun:
    """One timed run on one video: stage seconds, the counts, the ranked moments."""

    video: str
    counts: FrameCounts
    stages: dict[str, float]
    moments: np.ndarray = field(repr=False)

    @property
    def seconds(self) -> float:
        return float(sum(self.stages.values()))


def ground_video(
    vid: str,
    sentence: torch.Tensor | str,
    *,
    pipeline: ClipPipeline,
    grounding: GroundingModel,
    config: PipelineConfig = PipelineConfig(),
    text_encoder: object | None = None,
) -> VideoRun:
    """Ground one query in video ``vid`` of the pipeline's dataset, timing each stage (see
    the module docstring).

    Args:
        vid: the video id (``pipeline.video(vid)`` is its file).
        sentence: a cached embedding ``(1, D_s)`` or ``(D_s,)``, or the query text (then
            ``text_encoder.encode([text]) -> (1, D_s)`` is timed as the ``text`` stage).
        pipeline / grounding: the feature pipeline (its recognizer in eval mode on its
            device) and a grounding model on the same device taking its features
            (``grounding.config.in_dim`` must equal the features' ``D``).

    Returns:
        :class:`VideoRun` with moments ``(K, 3) [start_s, end_s, score]``.
    """
    if isinstance(sentence, str) and text_encoder is None:
        raise ValueError("a query given as text needs a text_encoder")
    dev, stages = pipeline.device, dict.fromkeys(STAGES, 0.0)
    with torch.inference_mode():
        t0 = time.perf_counter()
        inputs = pipeline.load(vid)
        stages["inputs"] = time.perf_counter() - t0
        with Timer(dev) as t:
            feats = pipeline.compute(inputs)
        stages["backbone"] = t.seconds
        if grounding.config.in_dim != feats.shape[1]:
            raise ValueError(
                f"the grounding model takes {grounding.config.in_dim}-d clip features but the "
                f"{pipeline.kind} pipeline of {pipeline.config.model} gives {feats.shape[1]}-d"
            )
        if isinstance(sentence, str):
            with Timer(dev) as t:
                emb = text_encoder.encode([sentence])  # type: ignore[attr-defined]
                emb = torch.as_tensor(emb).to(dev)
            stages["text"] = t.seconds
        else:
            emb = sentence.reshape(1, -1).to(dev)
        video = pipeline.video(vid)
        with Timer(dev) as t:
            clips = resample_features(feats, grounding.config.num_clips)
            moments = grounding.predict(
                torch.from_numpy(clips)[None].to(dev),
                emb,
                [video_info(video).duration],
                nms_thresh=config.nms_thresh,
                top_k=config.top_k,
            )[0]
        stages["head"] = t.seconds
    counts = pipeline.counts(vid, inputs)
    return VideoRun(video=str(video), counts=counts, stages=stages, moments=moments)


@dataclass
class PipelineSpeed:
    """End-to-end speed over several runs of several videos.

    ``per_video`` is the wall-time distribution of single runs; FPS values are totals
    (all frames of all runs / all seconds); ``stage_ms`` the mean milliseconds per run;
    ``clips`` the extraction clips of all runs, ``num_clips`` the grounding model's ``N``."""

    videos: int
    runs: int
    per_video: LatencyStats
    stage_ms: dict[str, float]
    frames_covered: int
    frames_processed: int
    rgb_frames: int
    flow_frames: int
    skeleton_frames: int
    clips: int
    seconds: float
    num_clips: int
    config: PipelineConfig

    @property
    def fps_covered(self) -> float:
        return self.frames_covered / self.seconds

    @property
    def fps_processed(self) -> float:
        return self.frames_processed / self.seconds

    @classmethod
    def from_runs(cls, runs: Sequence[VideoRun], *, num_clips: int, config: PipelineConfig):
        if not runs:
            raise ValueError("no video runs to summarise")
        seconds = float(sum(r.seconds for r in runs))
        return cls(
            videos=len({r.video for r in runs}),
            runs=len(runs),
            per_video=LatencyStats.from_seconds([r.seconds for r in runs]),
            stage_ms={s: 1e3 * float(np.mean([r.stages[s] for r in runs])) for s in STAGES},
            frames_covered=sum(r.counts.n_frames for r in runs),
            frames_processed=sum(r.counts.processed for r in runs),
            rgb_frames=sum(r.counts.rgb_frames for r in runs),
            flow_frames=sum(r.counts.flow_frames for r in runs),
            skeleton_frames=sum(r.counts.skeleton_frames for r in runs),
            clips=sum(r.counts.clips for r in runs),
            seconds=seconds,
            num_clips=num_clips,
            config=config,
        )

    def to_dict(self) -> dict:
        return {
            "videos": self.videos,
            "runs": self.runs,
            "clips": self.clips,
            "num_clips": self.num_clips,
            "per_video": self.per_video.to_dict(),
            "stage_ms": self.stage_ms,
            "seconds": self.seconds,
            "frames_covered": self.frames_covered,
            "frames_processed": self.frames_processed,
            "rgb_frames": self.rgb_frames,
            "flow_frames": self.flow_frames,
            "skeleton_frames": self.skeleton_frames,
            "fps_covered": self.fps_covered,
            "fps_covered_definition": COVERED_DEF,
            "fps_processed": self.fps_processed,
            "fps_processed_definition": PROCESSED_DEF,
            "config": self.config.to_dict(),
        }


def measure_pipeline(
    vids: Sequence[str],
    sentences: Sequence[torch.Tensor | str],
    *,
    pipeline: ClipPipeline,
    grounding: GroundingModel,
    config: PipelineConfig = PipelineConfig(),
    text_encoder: object | None = None,
    warmup: int = 1,
    iters: int = 3,
    progress: bool = False,
) -> PipelineSpeed:
    """Time :func:`ground_video` ``iters`` times on each video (``sentences[i]`` is the query of
    ``vids[i]``) after ``warmup`` untimed runs on the first video. The models are moved to the
    pipeline's device and timed in eval mode; their training modes are restored."""
    from tqdm.auto import tqdm

    if not vids or len(vids) != len(sentences):
        raise ValueError(f"need one sentence per video, got {len(vids)} and {len(sentences)}")
    if warmup < 0 or iters < 1:
        raise ValueError(f"need warmup >= 0 and iters >= 1, got {warmup}, {iters}")
    models = (pipeline.model, grounding)
    modes = [m.training for m in models]
    for m in models:
        m.to(pipeline.device).eval()
    kw = dict(pipeline=pipeline, grounding=grounding, config=config, text_encoder=text_encoder)
    try:
        for _ in range(warmup):
            ground_video(vids[0], sentences[0], **kw)
        runs = [
            ground_video(v, s, **kw)
            for v, s in tqdm(
                list(zip(vids, sentences, strict=True)) * iters,
                desc="end-to-end",
                unit="run",
                disable=not progress,
            )
        ]
    finally:
        for m, mode in zip(models, modes, strict=True):
            m.train(mode)
    return PipelineSpeed.from_runs(runs, num_clips=grounding.config.num_clips, config=config)
