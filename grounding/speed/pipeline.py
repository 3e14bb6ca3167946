"""End-to-end grounding speed per video: decode -> optical flow -> both backbones -> head.

One run of :func:`ground_video` answers one query on one video file, from nothing cached:

1. **decode**: the RGB frames of the ``N`` snippets (:func:`grounding.data.video.read_frames`)
   plus the grayscale frames the flow stacks need, decoded inside
   :func:`grounding.data.flow.flow_stacks`; also the eq. 4 uint8 mapping, stacking and the
   resize to the model's input size.
2. **flow**: the OpenCV optical-flow calls only (timed inside the flow function).
3. **backbone**: the two-stream network's per-snippet features
   (:meth:`grounding.models.two_stream.TwoStreamNetwork.segment_features`), ``(1, N, D)``.
4. **text** (only with a sentence encoder): the query's sentence embedding ``(1, 384)``.
5. **head**: the grounding model's forward, ranking of every moment, NMS and top-k
   (:meth:`grounding.models.grounding_model.GroundingModel.predict`).

Sampling: the video is cut into ``N`` = ``grounding.config.num_clips`` equal segments with one
TSN test snippet (the segment middle) each: a stack of ``L`` consecutive flow fields starting at
``s_k`` and the RGB frame ``s_k + L // 2`` in its middle, the convention of the action dataset.

Frames per second, both definitions (they differ by orders of magnitude):

- **covered**: video frames spanned per second of wall time, ``n_frames / seconds`` (how fast a
  video is *indexed*; grows with video length since sampling is sparse);
- **processed**: frames actually decoded and fed to the model per second,
  ``(RGB frames + distinct grayscale frames decoded for the flow stacks) / seconds``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from grounding.data.flow import flow_stacks, make_flow_fn
from grounding.data.video import read_frames, segment_indices, video_info
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
    "snippet_plan",
]

STAGES = ("decode", "flow", "backbone", "text", "head")

COVERED_DEF = "video frames spanned / wall seconds"
PROCESSED_DEF = "(RGB frames + grayscale frames decoded for flow) / wall seconds"


@dataclass(frozen=True)
class PipelineConfig:
    """How a video is turned into the model's inputs.

    Attributes:
        input_size: side of the square frames the backbones see (resized when different).
        flow_length: ``L`` flow fields per stack (the flow stream takes ``2L`` channels).
        flow_method / dis_preset: OpenCV flow (:func:`grounding.data.flow.make_flow_fn`).
        bound: flow truncation of eq. 4.
        nms_thresh / top_k: the head's post-processing.
    """

    input_size: int = 128
    flow_length: int = 5
    flow_method: str = "dis"
    dis_preset: str = "medium"
    bound: float = 20.0
    nms_thresh: float | None = 0.5
    top_k: int | None = 5

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class FrameCounts:
    """What one video run reads: its length and the frames actually decoded."""

    n_frames: int
    rgb_frames: int
    flow_frames: int
    flow_fields: int

    @property
    def processed(self) -> int:
        return self.rgb_frames + self.flow_frames


def snippet_plan(n_frames: int, num_clips: int, flow_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Test-time snippets of a video: ``(flow starts (N,), RGB frame indices (N,))``.

    Raises:
        ValueError: the video is shorter than one flow stack (``flow_length + 1`` frames).
    """
    starts = segment_indices(n_frames - 1, num_clips, train=False, new_length=flow_length)
    return starts, starts + flow_length // 2


def _resize(x: np.ndarray, size: int) -> torch.Tensor:
    """``(K, C, H, W)`` uint8 -> ``(K, C, size, size)`` uint8 tensor (bilinear)."""
    t = torch.from_numpy(np.ascontiguousarray(x))
    if t.shape[-2:] == (size, size):
        return t
    out = F.interpolate(t.float(), size=(size, size), mode="bilinear", align_corners=False)
    return out.round_().clamp_(0, 255).to(torch.uint8)


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
        two_stream / grounding: models in eval mode on ``device``; ``grounding.config`` must
            take ``num_clips = N`` clips of ``two_stream.feature_dim``.

    Returns:
        :class:`VideoRun` with moments ``(K, 3) [start_s, end_s, score]``.
    """
    dev = resolve_device(device)
    n_clips = grounding.config.num_clips
    if grounding.config.in_dim != two_stream.feature_dim:
        raise ValueError(
            f"the grounding model takes {grounding.config.in_dim}-d clip features but the "
            f"two-stream network gives {two_stream.feature_dim}-d (RGB + flow)"
        )
    if isinstance(sentence, str) and text_encoder is None:
        raise ValueError("a query given as text needs a text_encoder")
    info = video_info(video)
    starts, rgb_idx = snippet_plan(info.n_frames, n_clips, config.flow_length)
    stages = dict.fromkeys(STAGES, 0.0)
    flow_fn = make_flow_fn(config.flow_method, dis_preset=config.dis_preset)

    def timed_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        out = flow_fn(a, b)
        stages["flow"] += time.perf_counter() - t0
        return out

    with torch.inference_mode():
        t0 = time.perf_counter()
        rgb = read_frames(info.path, rgb_idx).transpose(0, 3, 1, 2)
        flow = flow_stacks(
            info.path, starts, length=config.flow_length, bound=config.bound, flow_fn=timed_flow
        )
        rgb_t = _resize(rgb, config.input_size)[None]
        flow_t = _resize(flow, config.input_size)[None]
        stages["decode"] = time.perf_counter() - t0 - stages["flow"]

        with Timer(dev) as t:
            feats = two_stream.segment_features(rgb_t.to(dev), flow_t.to(dev))
        stages["backbone"] = t.seconds

        if isinstance(sentence, str):
            with Timer(dev) as t:
                emb = text_encoder.encode([sentence])  # type: ignore[attr-defined]
                emb = torch.as_tensor(emb).to(dev)
            stages["text"] = t.seconds
        else:
            emb = sentence.reshape(1, -1).to(dev)

        with Timer(dev) as t:
            moments = grounding.predict(
                feats, emb, [info.duration], nms_thresh=config.nms_thresh, top_k=config.top_k
            )[0]
        stages["head"] = t.seconds

    pairs = starts[:, None] + np.arange(config.flow_length + 1)[None, :]
    counts = FrameCounts(
        n_frames=info.n_frames,
        rgb_frames=len(np.unique(rgb_idx)),
        flow_frames=len(np.unique(pairs)),
        flow_fields=len(np.unique(pairs[:, :-1])),
    )
    return VideoRun(video=str(info.path), counts=counts, stages=stages, moments=moments)


@dataclass
class PipelineSpeed:
    """End-to-end speed over several runs of several videos.

    ``per_video`` is the wall-time distribution of single runs; FPS values are totals
    (all frames of all runs / all seconds); ``stage_ms`` the mean milliseconds per run."""

    videos: int
    runs: int
    per_video: LatencyStats
    stage_ms: dict[str, float]
    frames_covered: int
    frames_processed: int
    rgb_frames: int
    flow_frames: int
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
            seconds=seconds,
            num_clips=num_clips,
            config=config,
        )

    def to_dict(self) -> dict:
        return {
            "videos": self.videos,
            "runs": self.runs,
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
    ``videos[i]``) after ``warmup`` untimed runs on the first video. Models are put in eval
    mode and restored."""
    from tqdm.auto import tqdm

    if not videos or len(videos) != len(sentences):
        raise ValueError(f"need one sentence per video, got {len(videos)} and {len(sentences)}")
    if warmup < 0 or iters < 1:
        raise ValueError(f"need warmup >= 0 and iters >= 1, got {warmup}, {iters}")
    dev = resolve_device(device)
    modes = (two_stream.training, grounding.training)
    two_stream.eval()
    grounding.eval()
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
