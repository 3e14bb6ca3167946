"""Per-clip features of full videos from a trained recognizer: ``python -m grounding.extract``.

``python -m grounding.extract --data DIR --checkpoint RUN_DIR/checkpoint.pt --out FEATS.h5
[--clip-seconds 1.0]`` cuts every video into clips of ``--clip-seconds`` and writes ONE HDF5
file keyed by video id with ``f[vid]`` of shape ``(T_clips, D)`` float32: the layout of the
Charades-STA feature readers (:class:`grounding.data.features.HDF5Features`), so
``python -m grounding.train grounding --features FEATS.h5`` reads it.

Features per clip, by the kind the checkpoint's model declares in the registry
(:class:`grounding.models.registry.FeatureKind`; ``--kind`` picks another one its recognizer
can make), each kind one :class:`ClipPipeline` (``video -> (K, D)``) that the speed suite
times as it is (:mod:`grounding.speed.pipeline`):

- ``frame`` (two-stream; videos ``DIR/videos/<vid>.mp4``): the fused segment features (RGB and
  flow stream features concatenated, after the spatial and temporal modules,
  :meth:`TwoStreamNetwork.segment_features`), averaged over the ``S`` TSN snippets taken at the
  middles of ``S`` equal segments of the clip (the test-time sampling of training, so the
  temporal module sees what it was trained on). ``D = 2 * width``-scaled 1024. ``--stream rgb``
  or ``flow`` keeps one stream's half (``D`` = width-scaled 1024).
- ``person`` (two-stream, the default of ``ours``): person-centric features from crops around
  every person of ``DIR/skeletons/<vid>.npz`` (:mod:`grounding.person_features`).
- ``skeleton`` (``gtn`` / ``dgcn``; skeletons ``DIR/skeletons/<vid>.npz``, key
  ``joints (T, M, 17, 3)``): the recognizer's pooled joint+bone features of each person's
  window (person-normalised as in training), then the mean and the max over the ``M`` persons
  concatenated (``D = 2 * 2 * C``), so the features do not depend on the order of the persons.

Resumable and atomic: each finished video is saved as ``.FEATS.h5.parts/<vid>.npy``
(atomically); at the end the parts (and the videos of an existing file, which are skipped)
are merged into a temporary HDF5 file that is renamed onto ``FEATS.h5``. An existing file made
with another checkpoint or clip length is refused unless ``--overwrite``.
"""

from __future__ import annotations

from grounding.runtime import prefer_passive_omp

if __name__ == "__main__":  # before torch is loaded
    prefer_passive_omp()

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar

import h5py
import numpy as np
import torch
from tabulate import tabulate
from torch import nn
from tqdm.auto import tqdm

from grounding.data.action_dataset import (
    load_skeleton,
    resize_frames,
    skeleton_window,
    snippet_rgb,
    subtract_camera_motion,
)
from grounding.data.flow import flow_stacks
from grounding.data.video import VideoInfo, segment_indices, video_info
from grounding.io import atomic_path, atomic_write, check_input_dir, check_input_file, file_digest
from grounding.models.checkpoint import load_checkpoint
from grounding.models.device import resolve_device
from grounding.models.recognizer import (
    RecognitionConfig,
    build_recognizer,
    config_from_dict,
    recognizer_spec,
)
from grounding.models.registry import FeatureKind, add_import_argument, import_models
from grounding.person_features import (
    PersonClipInputs,
    PersonInputCache,
    person_clip_features,
    person_clip_inputs,
    person_feature_dim,
)
from grounding.settings import add_arguments as add_settings_arguments
from grounding.settings import flag
from grounding.settings import from_args as settings_from_args

GENERATOR = "grounding.extract"

__all__ = [
    "ClipPipeline",
    "ExtractionSettings",
    "FrameCounts",
    "clip_pipeline",
    "clip_snippet_starts",
    "clip_windows",
    "extract_features",
    "load_recognizer",
    "pixel_clip_inputs",
    "pixel_inputs_at",
    "read_recognition_config",
    "run_extraction",
    "video_clip_features",
]


def read_recognition_config(path: str | Path) -> RecognitionConfig:
    """The :class:`RecognitionConfig` stored in a ``grounding.train recognition`` checkpoint."""
    return _stored_recognition_config(path)[0]


def _stored_recognition_config(path: str | Path) -> tuple[RecognitionConfig, dict]:
    """The config of a recognition checkpoint and the raw field dict it was built from (fields
    the file lacks, written by older versions, took their defaults)."""
    path = check_input_file(path, "checkpoint")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable checkpoint ({exc})") from exc
    if not isinstance(obj, dict) or obj.get("config_type") != RecognitionConfig.__name__:
        kind = obj.get("config_type") if isinstance(obj, dict) else type(obj).__name__
        raise ValueError(
            f"{path}: not a recognition checkpoint of grounding.train (config type {kind!r})"
        )
    try:
        stored = json.loads(obj["config_json"])
        return config_from_dict(stored), stored
    except Exception as exc:  # no / garbage config_json, unknown fields, wrong types
        raise ValueError(
            f"{path}: unreadable recognizer config in the checkpoint ({type(exc).__name__}: {exc})"
        ) from None


def load_recognizer(
    path: str | Path, *, device: torch.device
) -> tuple[nn.Module, RecognitionConfig]:
    """Rebuild the recognizer of a checkpoint and load its weights (eval mode)."""
    config, stored = _stored_recognition_config(path)
    model = build_recognizer(config)
    # the config was read from this file: fields it lacks (older versions) took defaults
    missing = [f.name for f in fields(RecognitionConfig) if f.name not in stored]
    load_checkpoint(
        path, model=model, expected_config=config, map_location="cpu", ignore_fields=missing
    )
    return model.to(device).eval(), config


def clip_windows(n_frames: int, fps: float, clip_seconds: float) -> np.ndarray:
    """``(K, 2)`` frame ranges ``[a, b)`` of consecutive clips of ``clip_seconds``;
    ``K = ceil(n_frames / (fps * clip_seconds))``, the last clip may be shorter."""
    if not (fps > 0 and clip_seconds > 0):
        raise ValueError(f"fps and clip_seconds must be > 0, got {fps} and {clip_seconds}")
    if n_frames < 1:
        raise ValueError(f"a video needs at least one frame, got {n_frames}")
    step = max(1, round(fps * clip_seconds))
    starts = np.arange(0, n_frames, step)
    return np.stack([starts, np.minimum(starts + step, n_frames)], axis=1)


def snippet_starts(windows: np.ndarray, n_frames: int, *, segments: int, length: int) -> np.ndarray:
    """``(K, S)`` flow-stack starts: the middles of ``S`` equal segments of each window, in
    flow-field index space (field ``i`` = frame ``i`` -> ``i + 1``), each stack inside the
    video (a window shorter than a stack is widened, at the video's end moved back)."""
    n_fields = n_frames - 1
    if n_fields < length:
        raise ValueError(f"{n_frames} frames are fewer than one flow stack needs ({length + 1})")
    out = np.empty((len(windows), segments), np.int64)
    for k, (a, b) in enumerate(windows):
        lo = min(int(a), n_fields - length)
        hi = max(min(int(b), n_fields), lo + length)
        out[k] = lo + segment_indices(hi - lo, segments, train=False, new_length=length)
    return out


def clip_snippet_starts(
    info: VideoInfo,
    *,
    clip_seconds: float,
    segments: int,
    length: int,
    context_seconds: float = 0.0,
) -> np.ndarray:
    """``(K, S)`` flow-stack starts of every clip of a video (:func:`clip_windows`, then
    :func:`snippet_starts`), each clip widened by ``context_seconds`` on both sides (inside
    the video) before its snippets are placed."""
    windows = clip_windows(info.n_frames, info.fps, clip_seconds)
    if context_seconds:
        pad = round(context_seconds * info.fps)
        windows = np.stack(
            [np.maximum(windows[:, 0] - pad, 0), np.minimum(windows[:, 1] + pad, info.n_frames)],
            1,
        )
    return snippet_starts(windows, info.n_frames, segments=segments, length=length)


def pixel_clip_inputs(
    video: Path, config: RecognitionConfig, clip_seconds: float
) -> tuple[np.ndarray, np.ndarray]:
    """RGB ``(K, S, 3, H, W)`` and flow ``(K, S, 2L, H, W)`` uint8 inputs of every clip."""
    clip_starts = clip_snippet_starts(
        video_info(video),
        clip_seconds=clip_seconds,
        segments=config.segments,
        length=config.flow_length,
    )
    return pixel_inputs_at(video, config, clip_starts)


def pixel_inputs_at(
    video: Path, config: RecognitionConfig, clip_starts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """RGB ``(K, S, 3, H, W)`` and flow ``(K, S, 2L, H, W)`` uint8 inputs of the clips whose
    ``(K, S)`` flow-stack starts are given (:func:`clip_snippet_starts`, or a slice of it)."""
    length = config.flow_length
    k, s = clip_starts.shape
    starts = clip_starts.reshape(-1)
    flow = flow_stacks(
        video,
        starts,
        length=length,
        method=config.flow_method,
        bound=config.flow_bound,
        dis_preset=config.flow_preset,
    )
    if config.flow_compensation:
        flow = subtract_camera_motion(flow)
    rgb = snippet_rgb(video, starts + length // 2, kind=config.rgb_input)
    rgb = resize_frames(np.ascontiguousarray(rgb), config.input_size)
    flow = resize_frames(flow, config.input_size)
    return rgb.reshape(k, s, *rgb.shape[1:]), flow.reshape(k, s, *flow.shape[1:])


def skeleton_clip_inputs(
    path: Path, config: RecognitionConfig, clip_seconds: float, fps: float
) -> np.ndarray:
    """``(K, M, 3, T, V, 1)`` person-normalised windows of every clip and person."""
    joints = load_skeleton(path)
    windows = clip_windows(len(joints), fps, clip_seconds)
    return np.stack(
        [
            np.stack(
                [
                    skeleton_window(
                        joints[:, p : p + 1],
                        config.skeleton_frames,
                        train=False,
                        rng=None,
                        start=int(a),
                        stop=int(b),
                    )
                    for p in range(joints.shape[1])
                ]
            )
            for a, b in windows
        ]
    )


def skeleton_fps(path: Path, video: Path) -> float:
    """Frame rate of a skeleton file: its ``fps`` entry, else its video's (errors name the
    file: call :func:`load_skeleton` first to check the file itself)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            fps = float(z["fps"]) if "fps" in z.files else None
    except Exception as exc:  # not an npz, pickled, a non-scalar or non-numeric fps
        raise ValueError(f"{path}: unreadable 'fps' entry ({type(exc).__name__})") from None
    if fps is not None:
        if not (np.isfinite(fps) and fps > 0):
            raise ValueError(f"{path}: 'fps' must be a positive number, got {fps}")
        return fps
    if video.is_file():
        return video_info(video).fps
    raise ValueError(f"{path}: no 'fps' entry and no video {video} to read the frame rate from")


CPU = torch.device("cpu")
#: ``--stream`` choices of the two-stream model's frame-level features
STREAMS = ("fused", "rgb", "flow")


@dataclass(frozen=True)
class ExtractionSettings:
    """How the clip features of a recognizer are made (``grounding.extract``'s flags, a
    profile's extraction stage; :func:`clip_pipeline` says what each one does)."""

    clip_seconds: float = field(default=1.0, metadata=flag("clip length (default 1.0)"))
    batch_size: int = field(default=16, metadata=flag("clips per forward pass"))
    input_size: int | None = field(
        default=None,
        metadata=flag("pixel models: frame side fed to the network (default: its training side)"),
    )
    segments: int | None = field(
        default=None,
        metadata=flag("pixel models: TSN snippets per clip (default: the training --segments)"),
    )
    stream: str = field(
        default="fused",
        metadata=flag(
            "two-stream features: both streams concatenated (default) or one stream's", STREAMS
        ),
    )
    kind: str | None = field(
        default=None,
        metadata=flag(
            "how the features are made (default: the model's; ours: person, crops around every "
            "person of DIR/skeletons/<vid>.npz; frame: whole frames; gtn/dgcn: skeleton)",
            [str(k) for k in FeatureKind],
        ),
    )
    person_context: float = field(
        default=0.0,
        metadata=flag(
            "person-centric features: seconds each clip's snippets reach past the clip on both "
            "sides (default 0)"
        ),
    )


@dataclass(frozen=True)
class FrameCounts:
    """What one video's features read: its length, its clips and the frames decoded (RGB
    frames, distinct grayscale frames of the flow stacks, flow fields, skeleton frames)."""

    n_frames: int
    clips: int
    rgb_frames: int = 0
    flow_frames: int = 0
    flow_fields: int = 0
    skeleton_frames: int = 0

    @property
    def processed(self) -> int:
        return self.rgb_frames + self.flow_frames + self.skeleton_frames


@dataclass(frozen=True)
class ClipPipeline:
    """The clip features of one video from one recognizer: ``load(vid)`` reads and prepares
    the network inputs (decode, flow, crops, skeleton windows), ``compute(inputs)`` runs the
    network: ``(K, D)`` float32 for the ``K`` clips of ``clip_seconds``. One subclass per
    :class:`FeatureKind` (:data:`PIPELINES`); build one with :func:`clip_pipeline`.

    Attributes:
        model / config: the recognizer (eval mode, on ``device``) and its config.
        data: dataset folder (``videos/``, ``skeletons/``); ``videos``: the video folder.
        stream: frame-level two-stream features: ``fused``, ``rgb`` or ``flow``.
        person_context: person-centric features: seconds each clip's snippets reach past it.
        input_cache: person-centric features: folder of :class:`PersonInputCache` entries
            (each video's crops and flow stacks, reused by later extractions with the same
            input settings); ``None``: computed every time.
    """

    kind: ClassVar[FeatureKind]
    model: nn.Module
    config: RecognitionConfig
    data: Path
    videos: Path
    clip_seconds: float = 1.0
    batch_size: int = 16
    device: torch.device = CPU
    stream: str = "fused"
    person_context: float = 0.0
    input_cache: Path | None = None

    @property
    def skeletons(self) -> Path:
        return self.data / "skeletons"

    def video(self, vid: str) -> Path:
        return self.videos / f"{vid}.mp4"

    def sources(self) -> tuple[dict[str, Path], dict[str, Path]]:
        """The input file of every video to extract, and the videos that cannot be:
        ``{vid: the missing file}``."""
        folder = check_input_dir(self.videos, "video folder")
        found = {p.stem: p for p in sorted(folder.glob("*.mp4"))}
        if not found:
            raise FileNotFoundError(f"no *.mp4 videos in {folder}")
        return found, {}

    def load(self, vid: str) -> Any:
        raise NotImplementedError

    def compute(self, inputs: Any) -> np.ndarray:
        raise NotImplementedError

    def counts(self, vid: str, inputs: Any) -> FrameCounts:
        raise NotImplementedError

    def feature_dim(self) -> int:
        """``D`` of the features :meth:`compute` returns."""
        raise NotImplementedError

    def __call__(self, vid: str) -> np.ndarray:
        return self.compute(self.load(vid))

    def plan(self, video: Path, pose: Path | None) -> np.ndarray:
        """One row per clip of a video file outside a dataset folder (and its pose file, for
        the kinds that read one): what :meth:`load_part` needs to load those clips
        (:func:`video_clip_features`)."""
        raise NotImplementedError

    def load_part(self, video: Path, pose: Path | None, part: np.ndarray) -> Any:
        """The inputs of the clips of ``part`` (consecutive rows of :meth:`plan`), the same
        as :meth:`load` gives for those clips."""
        raise NotImplementedError

    def settings(self) -> dict[str, str]:
        """Settings of this kind written with the features (only when not the defaults)."""
        return {}

    #: the ``stream`` values this kind can make
    streams: ClassVar[tuple[str, ...]] = ("fused",)

    @classmethod
    def configure(
        cls, config: RecognitionConfig, *, input_size: int | None, segments: int | None
    ) -> RecognitionConfig:
        """``config`` with the inputs this kind feeds changed (nothing by default)."""
        return config


@dataclass(frozen=True)
class TwoStreamPipeline(ClipPipeline):
    """A kind fed TSN snippets of frames: ``input_size`` / ``segments`` may differ from the
    recognizer's training ones."""

    @classmethod
    def configure(
        cls, config: RecognitionConfig, *, input_size: int | None, segments: int | None
    ) -> RecognitionConfig:
        config = replace(
            config,
            input_size=input_size or config.input_size,
            segments=segments or config.segments,
        )
        config.validate()
        return config


def _snippet_counts(info: VideoInfo, starts: np.ndarray, length: int) -> FrameCounts:
    pairs = starts.reshape(-1)[:, None] + np.arange(length + 1)[None, :]
    return FrameCounts(
        n_frames=info.n_frames,
        clips=len(starts),
        rgb_frames=len(np.unique(starts + length // 2)),
        flow_frames=len(np.unique(pairs)),
        flow_fields=len(np.unique(pairs[:, :-1])),
    )


@dataclass(frozen=True)
class FramePipeline(TwoStreamPipeline):
    """Two-stream features of whole frames (module docstring, ``frame``)."""

    kind: ClassVar[FeatureKind] = FeatureKind.FRAME
    streams: ClassVar[tuple[str, ...]] = STREAMS

    def load(self, vid: str) -> tuple[np.ndarray, np.ndarray]:
        return pixel_clip_inputs(self.video(vid), self.config, self.clip_seconds)

    def plan(self, video: Path, pose: Path | None) -> np.ndarray:
        """``(K, S)`` flow-stack starts of the clips."""
        return clip_snippet_starts(
            video_info(video),
            clip_seconds=self.clip_seconds,
            segments=self.config.segments,
            length=self.config.flow_length,
        )

    def load_part(
        self, video: Path, pose: Path | None, part: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        return pixel_inputs_at(video, self.config, part)

    @torch.inference_mode()
    def compute(self, inputs: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        rgb, flow = inputs
        chunks = []
        for i in range(0, len(rgb), self.batch_size):
            r = torch.from_numpy(rgb[i : i + self.batch_size]).to(self.device)
            f = torch.from_numpy(flow[i : i + self.batch_size]).to(self.device)
            chunks.append(self._segments(r, f).mean(dim=1).float().cpu())
        return torch.cat(chunks).numpy()

    def _segments(self, rgb: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        """``(B, S, D)`` segment features of the two streams concatenated, or of one."""
        if self.stream == "rgb":
            return self.model.rgb.segment_features(rgb)
        if self.stream == "flow":
            return self.model.flow.segment_features(flow)
        return self.model.segment_features(rgb, flow)

    def counts(self, vid: str, inputs: Any) -> FrameCounts:
        info = video_info(self.video(vid))
        starts = clip_snippet_starts(
            info,
            clip_seconds=self.clip_seconds,
            segments=self.config.segments,
            length=self.config.flow_length,
        )
        return _snippet_counts(info, starts, self.config.flow_length)

    def settings(self) -> dict[str, str]:
        return {"stream": self.stream} if self.stream != "fused" else {}

    def feature_dim(self) -> int:
        return self.model.feature_dim if self.stream == "fused" else self.model.rgb.out_dim


@dataclass(frozen=True)
class PersonPipeline(TwoStreamPipeline):
    """Person-centric two-stream features (:mod:`grounding.person_features`)."""

    kind: ClassVar[FeatureKind] = FeatureKind.PERSON

    def sources(self) -> tuple[dict[str, Path], dict[str, Path]]:
        videos, _ = super().sources()
        check_input_dir(self.skeletons, "skeleton folder (person-centric features)")
        missing = _without_skeleton(videos, self.skeletons)
        if missing and len(missing) == len(videos):
            raise FileNotFoundError(
                f"none of the {len(videos)} videos has a skeleton file in {self.skeletons} "
                f"(e.g. {next(iter(missing.values()))})"
            )
        return {v: p for v, p in videos.items() if v not in missing}, missing

    def _starts(self, video: Path) -> np.ndarray:
        return clip_snippet_starts(
            video_info(video),
            clip_seconds=self.clip_seconds,
            segments=self.config.segments,
            length=self.config.flow_length,
            context_seconds=self.person_context,
        )

    def load(self, vid: str) -> PersonClipInputs:
        """:func:`person_clip_inputs` over the clips of :func:`pixel_clip_inputs`, each clip's
        snippets spread over the clip widened by ``person_context`` on both sides."""
        video = self.video(vid)
        return self._inputs(video, self.skeletons / f"{vid}.npz", self._starts(video))

    def plan(self, video: Path, pose: Path | None) -> np.ndarray:
        """``(K, S)`` flow-stack starts of the clips (widened by ``person_context``)."""
        _pose_of_video(video, pose, self.kind)
        return self._starts(video)

    def load_part(self, video: Path, pose: Path | None, part: np.ndarray) -> PersonClipInputs:
        return self._inputs(video, Path(pose), part)  # type: ignore[arg-type]

    def _inputs(self, video: Path, skeleton: Path, starts: np.ndarray) -> PersonClipInputs:
        """:func:`person_clip_inputs`, through the input cache when there is one."""
        if self.input_cache is None:
            return person_clip_inputs(video, skeleton, self.config, starts)
        cache = PersonInputCache(self.input_cache)
        return cache.get(
            cache.path_for(video, skeleton, self.config, starts),
            lambda: person_clip_inputs(video, skeleton, self.config, starts),
        )

    @torch.inference_mode()
    def compute(self, inputs: PersonClipInputs) -> np.ndarray:
        return person_clip_features(
            self.model, inputs, batch_size=self.batch_size, device=self.device
        )

    def counts(self, vid: str, inputs: PersonClipInputs) -> FrameCounts:
        video = self.video(vid)
        return _snippet_counts(video_info(video), self._starts(video), self.config.flow_length)

    def settings(self) -> dict[str, str]:
        return {"persons": repr(float(self.person_context))}  # the context seconds

    def feature_dim(self) -> int:
        classes = self.model.rgb.classifier.out_features
        return person_feature_dim(classes, self.model.feature_dim)


@dataclass(frozen=True)
class SkeletonPipeline(ClipPipeline):
    """Skeleton features pooled over the persons (module docstring, ``skeleton``)."""

    kind: ClassVar[FeatureKind] = FeatureKind.SKELETON

    def sources(self) -> tuple[dict[str, Path], dict[str, Path]]:
        folder = check_input_dir(self.skeletons, "skeleton folder")
        found = {p.stem: p for p in sorted(folder.glob("*.npz"))}
        if not found:
            raise FileNotFoundError(f"no *.npz skeletons in {folder}")
        videos = {p.stem: p for p in sorted(self.videos.glob("*.mp4"))}
        missing = _without_skeleton(videos, self.skeletons)
        return {v: p for v, p in found.items() if v not in missing}, missing

    def load(self, vid: str) -> np.ndarray:
        """``(K, M, 3, T, V, 1)`` person-normalised windows of every clip and person."""
        path = self.skeletons / f"{vid}.npz"
        load_skeleton(path)  # the file itself first: its errors name it
        fps = skeleton_fps(path, self.video(vid))
        return skeleton_clip_inputs(path, self.config, self.clip_seconds, fps)

    def plan(self, video: Path, pose: Path | None) -> np.ndarray:
        """``(K, M, 3, T, V, 1)`` windows of every clip (a few MB for an hour of video)."""
        path = _pose_of_video(video, pose, self.kind)
        return skeleton_clip_inputs(path, self.config, self.clip_seconds, skeleton_fps(path, video))

    def load_part(self, video: Path, pose: Path | None, part: np.ndarray) -> np.ndarray:
        return part

    @torch.inference_mode()
    def compute(self, inputs: np.ndarray) -> np.ndarray:
        k, m = inputs.shape[:2]
        flat = torch.from_numpy(inputs.reshape(k * m, *inputs.shape[2:]))
        step = self.batch_size * m
        chunks = [
            self.model.features(flat[i : i + step].to(self.device)).float().cpu()
            for i in range(0, len(flat), step)
        ]
        per_person = torch.cat(chunks).view(k, m, -1)
        return torch.cat([per_person.mean(dim=1), per_person.amax(dim=1)], dim=1).numpy()

    def counts(self, vid: str, inputs: np.ndarray) -> FrameCounts:
        joints = load_skeleton(self.skeletons / f"{vid}.npz")
        return FrameCounts(n_frames=len(joints), clips=len(inputs), skeleton_frames=len(joints))

    def feature_dim(self) -> int:
        return 2 * self.model.feature_dim  # mean and max over the persons


def _without_skeleton(videos: dict[str, Path], skeletons: Path) -> dict[str, Path]:
    return {v: skeletons / f"{v}.npz" for v in videos if not (skeletons / f"{v}.npz").is_file()}


def _pose_of_video(video: Path, pose: Path | None, kind: FeatureKind) -> Path:
    """The checked pose file of a video: present, readable, one pose row per video frame."""
    if pose is None:
        raise FileNotFoundError(
            f"{kind} features need the pose file of {video} (joints (T, M, 17, 3) in an .npz); "
            "none was given or found beside the video"
        )
    joints = load_skeleton(pose)  # errors name the file
    n_frames = video_info(video).n_frames
    if len(joints) != n_frames:
        raise ValueError(
            f"{pose}: {len(joints)} pose frames for the {n_frames} frames of {video} (the pose "
            "file of another video?)"
        )
    return Path(pose)


def video_clip_features(
    pipeline: ClipPipeline,
    video: str | Path,
    *,
    pose: str | Path | None = None,
    chunk_clips: int = 16,
    progress: bool = False,
) -> np.ndarray:
    """``(K, D)`` float32 clip features of one video file outside a dataset folder (its pose
    file ``pose`` for the person and skeleton kinds): the numbers ``pipeline(vid)`` gives for
    the same video in a dataset folder, for a video of any length.

    The clips are loaded and computed ``chunk_clips`` at a time (the next chunk decoded while
    the network runs on this one), so memory holds two chunks' inputs and the ``(K, D)``
    features, whatever the video's length; each chunk's decode walks the stream from its start
    (as :func:`grounding.data.video.read_frames` does: exact frames, no seeks), so decode time
    grows as ``L^2 / chunk`` in the video's length ``L``, a small share of the flow and network
    time for videos of up to an hour."""
    if chunk_clips < 1:
        raise ValueError(f"chunk_clips must be >= 1, got {chunk_clips}")
    video = Path(video)
    pose_path = None if pose is None else Path(pose)
    plan = pipeline.plan(video, pose_path)
    parts = [plan[i : i + chunk_clips] for i in range(0, len(plan), chunk_clips)]
    out: list[np.ndarray] = []
    bar = tqdm(total=len(plan), desc="encode", unit="clip", disable=not progress)
    with bar, ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(pipeline.load_part, video, pose_path, parts[0])
        for i, part in enumerate(parts):
            inputs = future.result()
            if i + 1 < len(parts):
                future = pool.submit(pipeline.load_part, video, pose_path, parts[i + 1])
            out.append(pipeline.compute(inputs).astype(np.float32))
            del inputs
            bar.update(len(part))
    return np.concatenate(out)


#: the pipeline of each feature kind
PIPELINES: dict[FeatureKind, type[ClipPipeline]] = {
    p.kind: p for p in (FramePipeline, PersonPipeline, SkeletonPipeline)
}
#: the kinds one recognizer's features can be made as (a two-stream network: whole frames or
#: person crops; a skeleton network: skeletons)
ALTERNATIVES: dict[FeatureKind, tuple[FeatureKind, ...]] = {
    FeatureKind.FRAME: (FeatureKind.FRAME, FeatureKind.PERSON),
    FeatureKind.PERSON: (FeatureKind.FRAME, FeatureKind.PERSON),
    FeatureKind.SKELETON: (FeatureKind.SKELETON,),
}


def clip_pipeline(
    model: nn.Module,
    config: RecognitionConfig,
    *,
    data: Path,
    kind: FeatureKind | str | None = None,
    videos_dir: Path | None = None,
    clip_seconds: float = ExtractionSettings.clip_seconds,
    batch_size: int = ExtractionSettings.batch_size,
    device: torch.device = CPU,
    input_size: int | None = None,
    segments: int | None = None,
    stream: str = ExtractionSettings.stream,
    person_context: float = ExtractionSettings.person_context,
    input_cache: Path | None = None,
) -> ClipPipeline:
    """The feature pipeline of a recognizer: ``kind`` (default: the one its registry entry
    declares), ``input_size`` / ``segments`` (two-stream kinds: another frame side or snippet
    count than training), ``stream`` (frame-level), ``person_context`` and ``input_cache``
    (person-centric)."""
    declared = recognizer_spec(config.model).features
    kind = declared if kind is None else FeatureKind(kind)
    if kind not in ALTERNATIVES[declared]:
        raise ValueError(
            f"{config.model} makes {declared} features; --kind {kind} is not one of "
            f"{[str(k) for k in ALTERNATIVES[declared]]}"
        )
    if stream not in STREAMS:
        raise ValueError(f"stream must be one of {STREAMS}, got {stream!r}")
    pipeline = PIPELINES[kind]
    if stream not in pipeline.streams:
        raise ValueError(f"--stream {stream} is for frame-level features, not {kind}")
    if not person_context >= 0:
        raise ValueError(f"--person-context must be >= 0 seconds, got {person_context}")
    return pipeline(
        model=model,
        config=pipeline.configure(config, input_size=input_size, segments=segments),
        data=Path(data),
        videos=Path(videos_dir or Path(data) / "videos"),
        clip_seconds=clip_seconds,
        batch_size=batch_size,
        device=device,
        stream=stream,
        person_context=person_context,
        input_cache=input_cache,
    )


# --------------------------------------------------------------------------------------------
# the feature file


def _parts_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.parts"


def _settings(pipeline: ClipPipeline, checkpoint: Path) -> dict[str, str]:
    """What a feature file was made with (its HDF5 attributes); the kind's own settings only
    when not the defaults, so files written before those options existed still match."""
    return {
        "generator": GENERATOR,
        "model": pipeline.config.model,
        "clip_seconds": repr(float(pipeline.clip_seconds)),
        "recognition_config": json.dumps(asdict(pipeline.config), sort_keys=True),
        "checkpoint_sha": file_digest(checkpoint),
        **pipeline.settings(),
    }


def _existing(out: Path, settings: dict[str, str], overwrite: bool) -> set[str]:
    """Video ids already in ``out`` (made with the same settings); removes it on overwrite."""
    parts = _parts_dir(out)
    if overwrite:
        out.unlink(missing_ok=True)
        shutil.rmtree(parts, ignore_errors=True)
        return set()
    done: set[str] = set()
    if out.exists():
        try:
            with h5py.File(out, "r") as f:
                keys = {*settings, *f.attrs}  # a setting written only when not default
                attrs = {k: str(f.attrs.get(k, "")) for k in keys}
                done = set(f.keys())
        except OSError as exc:
            raise ValueError(f"{out}: exists but is not a readable HDF5 file ({exc})") from exc
        differ = sorted(k for k in keys if attrs[k] != settings.get(k, ""))
        if differ:
            raise ValueError(
                f"{out} was extracted with other settings ({', '.join(differ)} differ); "
                "pass --overwrite or choose another --out"
            )
    settings_file = parts / "settings.json"
    if parts.is_dir():
        if settings_file.is_file() and _read_settings(settings_file) != settings:
            shutil.rmtree(parts)  # parts of other (or unknown) settings cannot be reused
        else:
            done |= {p.stem for p in parts.glob("*.npy")}
    return done


def _read_settings(path: Path) -> dict | None:
    """The settings a parts folder was made with; None when unreadable (then not reused)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _merge(out: Path, settings: dict[str, str]) -> int:
    parts = _parts_dir(out)
    files = sorted(parts.glob("*.npy")) if parts.is_dir() else []
    if not files and out.exists():
        return 0
    with atomic_path(out) as tmp:
        with h5py.File(tmp, "w") as f:
            if out.exists():
                with h5py.File(out, "r") as old:
                    for vid in old:
                        old.copy(old[vid], f, name=vid)
            for p in files:
                if p.stem in f:
                    del f[p.stem]
                f.create_dataset(p.stem, data=np.load(p, allow_pickle=False))
            for k, v in settings.items():
                f.attrs[k] = v
    shutil.rmtree(parts, ignore_errors=True)
    return len(files)


def extract_features(
    *,
    data: Path,
    checkpoint: Path,
    out: Path,
    clip_seconds: float = ExtractionSettings.clip_seconds,
    batch_size: int = ExtractionSettings.batch_size,
    device: str = "auto",
    videos_dir: Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    input_size: int | None = None,
    segments: int | None = None,
    stream: str = ExtractionSettings.stream,
    kind: FeatureKind | str | None = None,
    person_context: float = ExtractionSettings.person_context,
    input_cache: Path | None = None,
) -> dict[str, object]:
    """Extract (or finish extracting) the features of every video; returns a summary.

    ``kind``: how the features are made (default: the one the checkpoint's model declares in
    the registry; :func:`clip_pipeline` for the other options). ``input_size`` (two-stream
    kinds) feeds the videos at another side than the recognizer was trained at: the trimmed
    training clips are close-ups of one player, the grounding videos wide shots where a player
    is a few times smaller, so a larger side brings the players back to the scale the network
    learned (BN-Inception ends in global pooling, so any multiple of 32 works). ``segments``
    (two-stream kinds): TSN snippets per clip instead of the training count (the temporal
    module runs over any number). ``stream``: ``fused`` (both streams' features), ``rgb`` or
    ``flow`` (one stream's; frame-level features only). ``person_context`` (person-centric):
    seconds each clip's snippets reach past the clip on both sides; ``input_cache``
    (person-centric): folder where each video's crops and flow stacks are kept for the next
    extraction with the same input settings (:class:`PersonInputCache`)."""
    t0 = time.perf_counter()
    dev = resolve_device(device)
    model, config = load_recognizer(checkpoint, device=dev)
    pipeline = clip_pipeline(
        model,
        config,
        data=Path(data),
        kind=kind,
        videos_dir=videos_dir,
        clip_seconds=clip_seconds,
        batch_size=batch_size,
        device=dev,
        input_size=input_size,
        segments=segments,
        stream=stream,
        person_context=person_context,
        input_cache=input_cache,
    )
    out = Path(out)
    if out.suffix.lower() not in (".h5", ".hdf5"):
        raise ValueError(f"--out must be an .h5 / .hdf5 file, got {out}")
    settings = _settings(pipeline, Path(checkpoint))
    sources, missing = pipeline.sources()
    if missing:
        shown = ", ".join(str(p) for p in list(missing.values())[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        print(
            f"warning: skipped {len(missing)} video(s) without a skeleton file: {shown}{more}",
            file=sys.stderr,
            flush=True,
        )
    done = _existing(out, settings, overwrite)
    todo = [vid for vid in sources if vid not in done]
    parts = _parts_dir(out)
    parts.mkdir(parents=True, exist_ok=True)
    with atomic_write(parts / "settings.json", encoding="utf-8") as f:
        f.write(json.dumps(settings))

    def load(vid: str) -> object:
        try:
            return pipeline.load(vid)
        except (ValueError, OSError):  # the readers' errors name the file
            raise
        except Exception as exc:  # anything else a broken input provokes: name the input
            raise ValueError(
                f"{sources[vid]}: cannot read video {vid} ({type(exc).__name__}: {exc})"
            ) from None

    bar = tqdm(
        total=len(sources),
        initial=len(sources) - len(todo),
        desc="extract",
        unit="video",
        disable=not progress,
    )
    with bar, ThreadPoolExecutor(max_workers=1) as pool:  # decode/flow of the next video
        for vid, inputs in _prefetch(pool, load, todo):  # overlaps the model of this one
            feats = pipeline.compute(inputs)
            with atomic_path(parts / f"{vid}.npy") as tmp:
                np.save(tmp, feats.astype(np.float32))
            bar.update(1)
    merged = _merge(out, settings)
    return {
        "videos": len(sources) + len(missing),
        "extracted": merged,
        "skipped (already done)": len(sources) - len(todo),
        "skipped (no skeleton file)": len(missing),
        "feature dim": _feature_dim(out),
        "model": config.model,
        "kind": str(pipeline.kind),
        "stream": pipeline.stream,
        "clip seconds": clip_seconds,
        **(
            {"input cache MiB": round(PersonInputCache(input_cache).disk_bytes() / 2**20, 1)}
            if input_cache is not None and pipeline.kind is FeatureKind.PERSON
            else {}
        ),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def run_extraction(
    settings: ExtractionSettings,
    *,
    data: Path,
    checkpoint: Path,
    out: Path,
    device: str = "auto",
    videos_dir: Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    input_cache: Path | None = None,
) -> dict[str, object]:
    """:func:`extract_features` with ``settings`` (the stage the bench runs)."""
    return extract_features(
        data=data,
        checkpoint=checkpoint,
        out=out,
        device=device,
        videos_dir=videos_dir,
        overwrite=overwrite,
        progress=progress,
        input_cache=input_cache,
        **asdict(settings),
    )


def _prefetch(
    pool: ThreadPoolExecutor, load: Callable[[str], object], vids: list[str]
) -> Iterator[tuple[str, object]]:
    """``(vid, load(vid))`` in order, loading the next video while the caller works."""
    future = pool.submit(load, vids[0]) if vids else None
    for i, vid in enumerate(vids):
        inputs = future.result()
        future = pool.submit(load, vids[i + 1]) if i + 1 < len(vids) else None
        yield vid, inputs


def _feature_dim(out: Path) -> int:
    with h5py.File(out, "r") as f:
        first = next(iter(f.keys()), None)
        return int(f[first].shape[1]) if first is not None else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m grounding.extract",
        description="Per-clip features of every video from a recognition checkpoint, into one "
        "HDF5 file keyed by video id.",
    )
    p.add_argument("--data", type=Path, required=True, help="dataset folder (videos/, skeletons/)")
    p.add_argument("--checkpoint", type=Path, required=True, help="RUN_DIR/checkpoint.pt")
    p.add_argument("--out", type=Path, required=True, help="output .h5 file")
    add_settings_arguments(p, ExtractionSettings)
    p.add_argument("--videos-dir", type=Path, default=None, help="default DIR/videos")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda:0")
    p.add_argument("--overwrite", action="store_true", help="replace an existing feature file")
    p.add_argument(
        "--input-cache",
        type=Path,
        default=None,
        help="person-centric features: keep each video's crops and flow stacks in this folder "
        "for the next extraction with the same input settings (several MB per video; default: "
        "none)",
    )
    add_import_argument(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        import_models(args.imports)
        summary = run_extraction(
            settings_from_args(ExtractionSettings, args),
            data=args.data,
            checkpoint=args.checkpoint,
            out=args.out,
            device=args.device,
            videos_dir=args.videos_dir,
            overwrite=args.overwrite,
            input_cache=args.input_cache,
        )
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(tabulate(list(summary.items()), headers=["extract", str(args.out)]))
    if args.input_cache is not None and summary["kind"] != FeatureKind.PERSON:
        print(
            f"note: --input-cache {args.input_cache} was not used: it keeps person crops, and "
            f"{summary['kind']} features read none",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
