"""End-to-end grounding speed per video: decode -> optical flow -> both backbones -> head.

One run of :func:`ground_video` answers one query on one video file from nothing cached, the
way ``python -m grounding.extract`` followed by the grounding model would:

1. **decode**: the RGB frames of every snippet (:func:`grounding.data.video.read_frames`) plus
   the grayscale frames the flow stacks need, decoded inside
   :func:`grounding.data.flow.flow_stacks`; also the eq. 4 uint8 mapping, stacking and the resize
   to the backbones' input size (:func:`grounding.data.action_dataset.resize_frames`).
2. **flow**: the OpenCV optical-flow calls only (timed inside the flow function).
3. **backbone**: the two-stream features of every snippet
   (:meth:`grounding.models.two_stream.TwoStreamNetwork.segment_features`) in batches of
   ``batch_size`` clips, averaged over each clip's ``S`` snippets: ``(K, D)``.
4. **text** (only for a query given as text): its sentence embedding ``(1, 384)``.
5. **head**: resampling the ``K`` clip features to the model's ``N`` clips
   (:func:`grounding.data.features.resample_features`), the grounding model's forward, ranking
   of every moment, NMS and top-k (:meth:`GroundingModel.predict`).

Sampling is extraction's (:mod:`grounding.extract`): the video is cut into ``K`` clips of
``clip_seconds`` (:func:`~grounding.extract.clip_windows`); each clip gets ``S`` TSN test
snippets at the middles of ``S`` equal segments (:func:`~grounding.extract.snippet_starts`),
each a stack of ``L`` flow fields starting at ``s`` and the RGB frame ``s + L // 2``.

Frames per second, both definitions (they differ a lot because sampling is sparse):

- **covered**: video frames spanned per second of wall time, ``n_frames / seconds``;
- **processed**: frames actually decoded and fed to the model per second,
  ``(RGB frames + distinct grayscale frames decoded for the flow stacks) / seconds`` (each RGB
  frame is also a frame of its flow stack: it is decoded twice, in colour and in gray).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from grounding.data.action_dataset import resize_frames
from grounding.data.features import resample_features
from grounding.data.flow import flow_stacks, make_flow_fn
from grounding.data.video import read_frames, video_info
from grounding.extract import clip_snippet_starts
from grounding.models.grounding_model import GroundingModel
from grounding.models.two_stream import TwoStreamNetwork
from grounding.speed.timing import LatencyStats, Timer, resolve_device

__all__ = [
    "STAGES",
    "FrameCounts",
    "PipelineConfig",
    "PipelineSpeed",
    "VideoRun",
    "ground_video",
    "measure_pipeline",
]

STAGES = ("decode", "flow", "backbone", "text", "head")

COVERED_DEF = "video frames spanned / wall seconds"
PROCESSED_DEF = "(RGB frames + grayscale frames decoded for flow) / wall seconds"


@dataclass(frozen=True)
class PipelineConfig:
    """How a video is turned into the model's inputs (extraction's settings).

    Attributes:
        clip_seconds: clip length ``python -m grounding.extract`` uses (``--clip-seconds``).
        segments: ``S`` snippets per clip (the recognizer's TSN segments).
        input_size: side of the square frames the backbones see (resized when different).
        flow_length: ``L`` flow fields per stack (the flow stream takes ``2L`` channels).
        flow_method / dis_preset / bound: optical flow (:func:`grounding.data.flow.make_flow_fn`,
            eq. 4 truncation).
        batch_size: clips per backbone forward pass.
        nms_thresh / top_k: the head's post-processing.
    """

    clip_seconds: float = 1.0
    segments: int = 3
    input_size: int = 128
    flow_length: int = 5
    flow_method: str = "dis"
    dis_preset: str = "medium"
    bound: float = 20.0
    batch_size: int = 16
    nms_thresh: float | None = 0.5
    top_k: int | None = 5

    @classmethod
    def from_recognition(cls, config: object, **overrides: object) -> PipelineConfig:
        """The sampling and flow settings of a :class:`grounding.train.recognition.
        RecognitionConfig` (e.g. ``read_recognition_config(checkpoint)``)."""
        fields = {
            "segments": config.segments,  # type: ignore[attr-defined]
            "input_size": config.input_size,  # type: ignore[attr-defined]
            "flow_length": config.flow_length,  # type: ignore[attr-defined]
            "flow_method": config.flow_method,  # type: ignore[attr-defined]
            "dis_preset": config.flow_preset,  # type: ignore[attr-defined]
            "bound": config.flow_bound,  # type: ignore[attr-defined]
        }
        return cls(**{**fields, **overrides})

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class FrameCounts:
    """What one video run reads: its length, its clips and the frames actually decoded."""

    n_frames: int
    clips: int
    rgb_frames: int
    flow_frames: int
    flow_fields: int

    @property
    def processed(self) -> int:
        return self.rgb_frames + self.flow_frames


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
    video: str | Path,
    sentence: torch.Tensor | str,
    *,
    two_stream: TwoStreamNetwork,
    grounding: GroundingModel,
    config: PipelineConfig = PipelineConfig(),
    device: torch.device | str = "cpu",
    text_encoder: object | None = None,
) -> VideoRun:
    """Ground one query in one video file, timing each stage (see the module docstring).

    Args:
        video: the video file.
        sentence: a cached embedding ``(1, D_s)`` or ``(D_s,)``, or the query text (then
            ``text_encoder.encode([text]) -> (1, D_s)`` is timed as the ``text`` stage).
        two_stream / grounding: models in eval mode on ``device``; ``grounding.config.in_dim``
            must equal ``two_stream.feature_dim``.

    Returns:
        :class:`VideoRun` with moments ``(K, 3) [start_s, end_s, score]``.
    """
    dev = resolve_device(device)
    if grounding.config.in_dim != two_stream.feature_dim:
        raise ValueError(
            f"the grounding model takes {grounding.config.in_dim}-d clip features but the "
            f"two-stream network gives {two_stream.feature_dim}-d (RGB + flow)"
        )
    if isinstance(sentence, str) and text_encoder is None:
        raise ValueError("a query given as text needs a text_encoder")
    c = config
    info = video_info(video)
    clip_starts = clip_snippet_starts(
        info, clip_seconds=c.clip_seconds, segments=c.segments, length=c.flow_length
    )
    k, starts = len(clip_starts), clip_starts.reshape(-1)
    rgb_idx = starts + c.flow_length // 2
    stages = dict.fromkeys(STAGES, 0.0)
    flow_fn = make_flow_fn(c.flow_method, dis_preset=c.dis_preset)

    def timed_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        out = flow_fn(a, b)
        stages["flow"] += time.perf_counter() - t0
        return out

    with torch.inference_mode():
        t0 = time.perf_counter()
        rgb = read_frames(info.path, rgb_idx).transpose(0, 3, 1, 2)
        flow = flow_stacks(
            info.path, starts, length=c.flow_length, bound=c.bound, flow_fn=timed_flow
        )
        rgb = resize_frames(np.ascontiguousarray(rgb), c.input_size)
        flow = resize_frames(flow, c.input_size)
        rgb_t = torch.from_numpy(rgb).view(k, c.segments, *rgb.shape[1:])
        flow_t = torch.from_numpy(flow).view(k, c.segments, *flow.shape[1:])
        stages["decode"] = time.perf_counter() - t0 - stages["flow"]

        with Timer(dev) as t:
            feats = torch.cat(
                [
                    two_stream.segment_features(
                        rgb_t[i : i + c.batch_size].to(dev), flow_t[i : i + c.batch_size].to(dev)
                    ).mean(dim=1)
                    for i in range(0, k, c.batch_size)
                ]
            )
        stages["backbone"] = t.seconds

        if isinstance(sentence, str):
            with Timer(dev) as t:
                emb = text_encoder.encode([sentence])  # type: ignore[attr-defined]
                emb = torch.as_tensor(emb).to(dev)
            stages["text"] = t.seconds
        else:
            emb = sentence.reshape(1, -1).to(dev)

        with Timer(dev) as t:
            clips = resample_features(feats.float().cpu().numpy(), grounding.config.num_clips)
            moments = grounding.predict(
                torch.from_numpy(clips)[None].to(dev),
                emb,
                [info.duration],
                nms_thresh=c.nms_thresh,
                top_k=c.top_k,
            )[0]
        stages["head"] = t.seconds

    pairs = starts[:, None] + np.arange(c.flow_length + 1)[None, :]
    counts = FrameCounts(
        n_frames=info.n_frames,
        clips=k,
        rgb_frames=len(np.unique(rgb_idx)),
        flow_frames=len(np.unique(pairs)),
        flow_fields=len(np.unique(pairs[:, :-1])),
    )
    return VideoRun(video=str(info.path), counts=counts, stages=stages, moments=moments)


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
            "fps_covered": self.fps_covered,
            "fps_covered_definition": COVERED_DEF,
            "fps_processed": self.fps_processed,
            "fps_processed_definition": PROCESSED_DEF,
            "config": self.config.to_dict(),
        }


def measure_pipeline(
    videos: Sequence[str | Path],
    sentences: Sequence[torch.Tensor | str],
    *,
    two_stream: TwoStreamNetwork,
    grounding: GroundingModel,
    config: PipelineConfig = PipelineConfig(),
    device: torch.device | str = "cpu",
    text_encoder: object | None = None,
    warmup: int = 1,
    iters: int = 3,
    progress: bool = False,
) -> PipelineSpeed:
    """Time :func:`ground_video` ``iters`` times on each video (``sentences[i]`` is the query of
    ``videos[i]``) after ``warmup`` untimed runs on the first video. The models are moved to
    ``device`` and timed in eval mode; their training modes are restored."""
    from tqdm.auto import tqdm

    if not videos or len(videos) != len(sentences):
        raise ValueError(f"need one sentence per video, got {len(videos)} and {len(sentences)}")
    if warmup < 0 or iters < 1:
        raise ValueError(f"need warmup >= 0 and iters >= 1, got {warmup}, {iters}")
    dev = resolve_device(device)
    modes = (two_stream.training, grounding.training)
    two_stream.to(dev).eval()
    grounding.to(dev).eval()
    kw = dict(
        two_stream=two_stream,
        grounding=grounding,
        config=config,
        device=dev,
        text_encoder=text_encoder,
    )
    try:
        for _ in range(warmup):
            ground_video(videos[0], sentences[0], **kw)
        runs = [
            ground_video(v, s, **kw)
            for v, s in tqdm(
                list(zip(videos, sentences, strict=True)) * iters,
                desc="end-to-end",
                unit="run",
                disable=not progress,
            )
        ]
    finally:
        two_stream.train(modes[0])
        grounding.train(modes[1])
    return PipelineSpeed.from_runs(runs, num_clips=grounding.config.num_clips, config=config)
