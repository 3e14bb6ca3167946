"""Torch datasets of trimmed action clips (HMDB51-style splits) for recognition training.

Two input kinds, one per model family:

- :class:`ActionClipDataset` (the paper's two-stream network, sec. 2.1): TSN segment sampling
  (Wang et al., ECCV 2016). The clip is cut into ``S`` equal segments and one snippet is taken
  per segment (a random offset when training, the middle when testing,
  :func:`grounding.data.video.segment_indices`). A snippet is a stack of ``L = 5`` consecutive
  flow fields (``2L = 10`` channels ``x0, y0, x1, y1, ...``, eq. 5) and the RGB frame in the
  middle of that stack. Items: ``rgb (S, 3, H, W)`` and ``flow (S, 2L, H, W)`` uint8 (pixel
  range; the network normalises), ``label``, ``index``.
- :class:`SkeletonClipDataset` (GTN / DGCN): a window of ``frames`` skeleton frames sampled
  TSN-style over the clip, person-centred and scaled (:func:`normalize_skeleton`). Items:
  ``skeleton (C=3, T, V, M)`` float32 (x, y, visibility), ``label``, ``index``.

Optical flow comes from :mod:`grounding.data.flow` (OpenCV DIS by default, eq. 4 uint8
mapping). Since training samples new snippet offsets every epoch, :class:`ClipFlowCache` keeps
*every* consecutive flow field of a clip (``(F, 2, H, W)`` uint8, ``F = frames - 1``) in one
compressed ``.npz`` per clip, written atomically, computed once (:meth:`ClipFlowCache.prepare`
shows progress and can be split across DDP ranks). Snippets are slices of it.

Randomness: each item draws from ``np.random.default_rng([seed, epoch, index])``, so the samples
of an epoch do not depend on worker processes, DDP ranks or the order items are read in; call
:meth:`set_epoch` before each epoch. Training augments as TSN does: multi-scale random crops
(the same box for all snippets) and a horizontal flip with probability 0.5 (flow x channels
mirrored), plus a mild brightness/contrast jitter of the RGB frames.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from grounding.data.flow import FLOW_METHODS, flow_stacks
from grounding.data.hmdb import ActionClip
from grounding.data.keypoints import COCO17_MIRROR
from grounding.data.video import VideoError, read_frames, segment_indices, video_info
from grounding.io import atomic_path

__all__ = [
    "ActionClipDataset",
    "ClipFlowCache",
    "ClipInputs",
    "FlowSettings",
    "SkeletonClipDataset",
    "check_rgb_input",
    "crop_box",
    "flip_flow",
    "item_rng",
    "load_skeleton",
    "mirror_skeleton",
    "normalize_skeleton",
    "resize_frames",
    "rgb_difference",
    "rgb_input_from",
    "skeleton_window",
    "snippet_frames",
    "snippet_rgb",
    "subtract_camera_motion",
]


def build_missing(
    videos: Sequence[str | Path],
    *,
    done: Callable[[str | Path], object],
    build: Callable[[str | Path], object],
    desc: str,
    progress: bool = True,
) -> int:
    """Run ``build`` on every video ``done`` says is missing, with a progress bar; returns how
    many were built (the caches' ``prepare``; a rank passes its own slice of the videos)."""
    todo = [v for v in videos if not done(v)]
    for video in tqdm(todo, desc=desc, unit="clip", disable=not progress):
        build(video)
    return len(todo)


def item_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one item in one epoch (independent of workers and ranks)."""
    return np.random.default_rng([int(seed), int(epoch), int(index)])


# --------------------------------------------------------------------------------------------
# flow cache


@dataclass(frozen=True)
class FlowSettings:
    """How flow fields are computed (all of it goes into the cache folder name)."""

    method: str = "dis"
    dis_preset: str = "medium"
    bound: float = 20.0

    def __post_init__(self) -> None:
        if self.method not in FLOW_METHODS:
            raise ValueError(f"unknown flow method {self.method!r}; known: {FLOW_METHODS}")

    def key(self) -> str:
        return f"{self.method}-{self.dis_preset}-b{self.bound:g}"


class ClipFlowCache:
    """Every consecutive flow field of short clips, one ``.npz`` per clip.

    ``root/<settings key>/<clip folder>/<clip stem>-<path hash>.npz`` holds ``flow``
    ``(F, 2, H, W)`` uint8 (eq. 4 mapping) for a clip of ``F + 1`` frames.

    Args:
        root: cache folder (created on first write).
        settings: flow method, DIS preset, truncation bound.
        min_fields: clips with fewer flow fields (one flow stack) are refused with an error
            naming the file.
    """

    def __init__(
        self, root: str | Path, *, settings: FlowSettings = FlowSettings(), min_fields: int = 5
    ) -> None:
        self.root = Path(root)
        self.settings = settings
        self.min_fields = int(min_fields)

    #: the flow :meth:`get` returns is raw (camera motion not subtracted)
    compensated = False

    def rgb(self, video: str | Path, frames: np.ndarray, *, kind: str) -> np.ndarray:
        """:func:`snippet_rgb` of ``video`` (decoded from the video file)."""
        return snippet_rgb(video, frames, kind=kind)

    def path_for(self, video: str | Path) -> Path:
        video = Path(video)
        digest = hashlib.sha256(str(video.resolve()).encode()).hexdigest()[:8]
        return self.root / self.settings.key() / video.parent.name / f"{video.stem}-{digest}.npz"

    def compute(self, video: str | Path) -> np.ndarray:
        """All flow fields of ``video``: ``(F, 2, H, W)`` uint8 (not cached)."""
        info = video_info(video)
        if info.n_frames < self.min_fields + 1:
            raise VideoError(
                info.path,
                f"has {info.n_frames} frames, fewer than one flow stack needs "
                f"({self.min_fields} flow fields = {self.min_fields + 1} frames)",
            )
        s = self.settings
        stack = flow_stacks(
            info.path,
            [0],
            length=info.n_frames - 1,
            method=s.method,
            bound=s.bound,
            dis_preset=s.dis_preset,
        )[0]
        return stack.reshape(info.n_frames - 1, 2, *stack.shape[1:])

    def get(self, video: str | Path) -> np.ndarray:
        """Cached flow fields of ``video`` ``(F, 2, H, W)`` uint8, computed when missing."""
        path = self.path_for(video)
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as z:
                    return z["flow"]
            except Exception as exc:  # truncated (BadZipFile, EOFError), no "flow" key, ...
                raise ValueError(
                    f"{path}: unreadable flow cache entry of {video} ({npz_error(exc)}); delete it"
                ) from None
        flow = self.compute(video)
        with atomic_path(path) as tmp:
            np.savez_compressed(tmp, flow=flow)
        return flow

    def prepare(
        self,
        videos: Sequence[str | Path],
        *,
        rank: int = 0,
        world_size: int = 1,
        progress: bool = True,
    ) -> int:
        """Compute the missing entries of ``videos[rank::world_size]``; returns how many."""
        return build_missing(
            list(videos)[rank::world_size],
            done=lambda v: self.path_for(v).is_file(),
            build=self.get,
            desc="flow cache",
            progress=progress,
        )


class ClipInputs(Protocol):
    """Where :class:`ActionClipDataset` reads a clip's flow fields and RGB snippets:
    :class:`ClipFlowCache`, or :class:`grounding.data.input_cache.ClipInputCache` (decoded,
    memory-mapped)."""

    compensated: bool

    def get(self, video: str | Path) -> np.ndarray:
        """All flow fields ``(F, 2, H, W)`` uint8."""

    def rgb(self, video: str | Path, frames: np.ndarray, *, kind: str) -> np.ndarray:
        """RGB-stream input ``(S, 3, H, W)`` uint8 of the snippets centred on ``frames``."""

    def prepare(
        self, videos: Sequence[str | Path], *, rank: int, world_size: int, progress: bool
    ) -> int:
        """Fill the missing entries of ``videos[rank::world_size]``."""


# --------------------------------------------------------------------------------------------
# pixel clips


def snippet_frames(
    n_fields: int,
    segments: int,
    *,
    length: int,
    train: bool,
    rng: np.random.Generator | None,
) -> tuple[np.ndarray, np.ndarray]:
    """TSN snippets over ``n_fields`` flow fields: ``(starts (S,), rgb_frames (S,))``.

    Snippet ``k`` uses flow fields ``starts[k] .. starts[k] + length - 1`` and the RGB frame
    ``starts[k] + length // 2`` (the middle of the stack)."""
    starts = segment_indices(n_fields, segments, train=train, rng=rng, new_length=length)
    return starts, starts + length // 2


#: what the RGB stream is fed: ``frames`` (the paper's RGB frames) or ``diff`` (TSN's RGB
#: difference, :func:`snippet_rgb`)
RGB_INPUTS = ("frames", "diff")
#: frames between the two images of an RGB difference
DIFF_GAP = 2


def check_rgb_input(kind: str) -> str:
    """``kind`` if it is one of :data:`RGB_INPUTS`, else a ``ValueError`` naming the choices."""
    if kind not in RGB_INPUTS:
        raise ValueError(f"unknown RGB input {kind!r}; choose one of {RGB_INPUTS}")
    return kind


def snippet_rgb(
    video: str | Path, frames: np.ndarray, *, kind: str = "frames", gap: int = DIFF_GAP
) -> np.ndarray:
    """``(S, 3, H, W)`` uint8 RGB-stream input of the snippets centred on ``frames`` (S,).

    ``frames``: the RGB frames themselves. ``diff``: TSN's RGB-difference modality (Wang et
    al., ECCV 2016, sec. 3.2), ``128 + frame[t] - frame[t - gap]`` clipped to 0..255 (``t -
    gap`` clamped at 0): what moved between the two frames, in the colours of what moved. On
    the synthetic clips the static courts (a different floor, paint and lines per clip) let
    the RGB stream memorise backgrounds instead of poses; the difference removes them."""
    return rgb_input_from(lambda idx: read_frames(video, idx), frames, kind=kind, gap=gap)


def rgb_input_from(
    read: Callable[[np.ndarray], np.ndarray],
    frames: np.ndarray,
    *,
    kind: str = "frames",
    gap: int = DIFF_GAP,
) -> np.ndarray:
    """:func:`snippet_rgb` with the frames taken from ``read(indices) -> (K, H, W, 3)`` uint8
    (a decoder, or a cache of decoded frames)."""
    frames = np.asarray(frames, dtype=np.int64)
    if check_rgb_input(kind) == "frames":
        return read(frames).transpose(0, 3, 1, 2)
    both = read(np.concatenate([frames, np.maximum(frames - gap, 0)]))
    return rgb_difference(both[: len(frames)], both[len(frames) :]).transpose(0, 3, 1, 2)


def rgb_difference(now: np.ndarray, before: np.ndarray) -> np.ndarray:
    """``128 + now - before`` clipped to 0..255 (uint8, any matching shapes): the RGB
    difference of :func:`snippet_rgb`."""
    diff = 128 + now.astype(np.int16) - before.astype(np.int16)
    return np.clip(diff, 0, 255).astype(np.uint8)


def subtract_camera_motion(flow: np.ndarray) -> np.ndarray:
    """Remove the dominant (camera) translation from uint8 flow fields ``(..., C, H, W)``:
    every channel minus its spatial median, re-centred on 128 (a translation-only version of
    TSN's warped optical flow, which cancels camera motion so the actors' motion stands
    out)."""
    f = flow.astype(np.int16)
    med = np.median(f.reshape(*f.shape[:-2], -1), axis=-1)[..., None, None]
    return np.clip(f - med.astype(np.int16) + 128, 0, 255).astype(np.uint8)


def flip_flow(flow: np.ndarray) -> np.ndarray:
    """Mirror ``(..., 2L, H, W)`` uint8 flow stacks left-right: x channels (even) negate."""
    out = flow[..., ::-1].copy()
    out[..., 0::2, :, :] = 255 - out[..., 0::2, :, :]
    return out


def resize_frames(x: np.ndarray, size: int) -> np.ndarray:
    """Resize ``(K, C, H, W)`` uint8 to ``(K, C, size, size)`` (bilinear; no-op when equal)."""
    k, c, h, w = x.shape
    if (h, w) == (size, size):
        return x
    flat = x.reshape(k * c, h, w)
    out = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_LINEAR) for f in flat])
    return out.reshape(k, c, size, size)


class ActionClipDataset(Dataset):
    """RGB frames + flow stacks of trimmed clips, TSN segment sampling (see the module doc).

    Args:
        clips: the clips (e.g. ``read_hmdb51_split(...).train``).
        flow_cache: where the clips' flow fields (and RGB frames) are read from.
        segments: ``S`` snippets per clip.
        train: random snippet offsets and augmentation (else segment middles, no
            augmentation).
        seed: base seed of the per-item generators.
        input_size: output side in pixels (frames are resized when different).
        flow_length: ``L`` flow fields per stack.
        flip: allow the training flip.
        crop_scales: TSN multi-scale cropping when training: crop sides are drawn from these
            fractions of the frame (width and height at most one step apart), at a random
            position, the same box for every snippet of the clip; ``()`` disables it.
        compensate: subtract the camera translation from every flow field
            (:func:`subtract_camera_motion`).
        jitter: RGB brightness / contrast jitter amplitude when training (``x * (1 + c) + 255
            * b`` with ``c, b`` uniform in ``[-jitter, jitter]``; hue is left alone so colour
            words keep their meaning; for ``rgb_input="diff"`` the contrast only, around 128,
            since a brightness change cancels in a difference); 0 disables it.
        rgb_input: ``frames`` or ``diff`` (:func:`snippet_rgb`).

    Items: ``{"rgb": (S, 3, H, W) uint8, "flow": (S, 2L, H, W) uint8, "label": int,
    "index": int}``.
    """

    def __init__(
        self,
        clips: Sequence[ActionClip],
        *,
        flow_cache: ClipInputs,
        segments: int = 3,
        train: bool,
        seed: int = 0,
        input_size: int = 128,
        flow_length: int = 5,
        flip: bool = True,
        crop_scales: Sequence[float] = (1.0, 0.875, 0.75, 0.66),
        jitter: float = 0.2,
        compensate: bool = False,
        rgb_input: str = "frames",
    ) -> None:
        if not clips:
            raise ValueError("no clips to build an action dataset from")
        if segments < 1 or flow_length < 1 or input_size < 1:
            raise ValueError(
                f"segments, flow_length and input_size must be >= 1, got {segments}, "
                f"{flow_length}, {input_size}"
            )
        self.clips = list(clips)
        self.flow_cache = flow_cache
        self.segments = segments
        self.train = train
        self.seed = seed
        self.input_size = input_size
        self.flow_length = flow_length
        self.flip = flip
        self.crop_scales = tuple(crop_scales)
        self.jitter = float(jitter)
        self.compensate = compensate
        self.rgb_input = check_rgb_input(rgb_input)
        if flow_cache.compensated and not compensate:
            raise ValueError("the input cache holds camera-compensated flow; pass compensate=True")
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int]:
        clip = self.clips[index]
        fields = self.flow_cache.get(clip.path)  # (F, 2, H, W)
        if len(fields) < self.flow_length:
            raise VideoError(
                clip.path,
                f"has {len(fields)} flow fields, fewer than one stack of {self.flow_length}",
            )
        rng = item_rng(self.seed, self.epoch, index) if self.train else None
        starts, frames = snippet_frames(
            len(fields), self.segments, length=self.flow_length, train=self.train, rng=rng
        )
        idx = starts[:, None] + np.arange(self.flow_length)[None, :]
        flow = fields[idx].reshape(self.segments, 2 * self.flow_length, *fields.shape[2:])
        if self.compensate and not self.flow_cache.compensated:
            flow = subtract_camera_motion(flow)
        rgb = self.flow_cache.rgb(clip.path, frames, kind=self.rgb_input)  # (S, 3, H, W)
        if rgb.shape[2:] != flow.shape[2:]:
            raise VideoError(
                clip.path, f"frame size {rgb.shape[2:]} differs from its cached flow {flow.shape}"
            )
        if self.train:
            rgb, flow = self._augment(rgb, flow, rng)
        rgb = resize_frames(np.ascontiguousarray(rgb), self.input_size)
        flow = resize_frames(np.ascontiguousarray(flow), self.input_size)
        return {
            "rgb": torch.from_numpy(rgb),
            "flow": torch.from_numpy(flow),
            "label": clip.label,
            "index": index,
        }

    def _augment(
        self, rgb: np.ndarray, flow: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        if self.crop_scales:
            y, x, h, w = crop_box(*rgb.shape[2:], self.crop_scales, rng)
            rgb, flow = rgb[..., y : y + h, x : x + w], flow[..., y : y + h, x : x + w]
        if self.flip and rng.random() < 0.5:
            rgb, flow = rgb[..., ::-1], flip_flow(flow)
        if self.jitter > 0:
            c, b = rng.uniform(-self.jitter, self.jitter, 2)
            if self.rgb_input == "diff":
                rgb = np.clip((rgb - 128.0) * (1.0 + c) + 128.0, 0, 255).astype(np.uint8)
            else:
                rgb = np.clip(rgb * (1.0 + c) + 255.0 * b, 0, 255).astype(np.uint8)
        return rgb, flow


def crop_box(
    h: int, w: int, scales: Sequence[float], rng: np.random.Generator
) -> tuple[int, int, int, int]:
    """TSN's multi-scale crop: ``(y, x, height, width)`` with sides drawn from ``scales`` of
    the short side (the two scale indices at most one apart), at a random position."""
    base = min(h, w)
    i = int(rng.integers(len(scales)))
    j = int(np.clip(i + rng.integers(-1, 2), 0, len(scales) - 1))
    ch, cw = (max(1, min(n, round(base * scales[k]))) for n, k in ((h, i), (w, j)))
    return int(rng.integers(h - ch + 1)), int(rng.integers(w - cw + 1)), ch, cw


# --------------------------------------------------------------------------------------------
# skeletons


def npz_error(exc: BaseException) -> str:
    """A short reason for an ``np.load`` failure (numpy's own pickle advice left out: this
    package never unpickles a user's file)."""
    text = str(exc)
    if "pickled" in text or "Object arrays" in text:
        return "it holds pickled (object) data, which is never loaded"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def load_skeleton(path: str | Path, *, joints: int = 17) -> np.ndarray:
    """Read ``joints (T, M, V, 3)`` (x, y, visibility) from an ``.npz``; a clear ``ValueError``
    naming the file for garbage, a plain ``.npy``, pickled data, a missing key, a wrong shape
    or dtype, or non-finite values (``FileNotFoundError`` when it does not exist)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"skeleton file not found: {path}")
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as exc:  # garbage: BadZipFile, EOFError, ValueError (pickle), OSError
        raise ValueError(f"{path}: not a readable .npz skeleton file ({npz_error(exc)})") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: not an .npz archive with a 'joints' array (a plain .npy?)")
    with loaded as z:
        if "joints" not in z.files:
            raise ValueError(f"{path}: no 'joints' array (has {sorted(z.files)})")
        try:
            raw = z["joints"]
        except Exception as exc:
            raise ValueError(f"{path}: unreadable 'joints' array ({npz_error(exc)})") from None
    if raw.dtype.kind not in "fiub":
        raise ValueError(f"{path}: joints must be numbers, got dtype {raw.dtype}")
    arr = np.asarray(raw, dtype=np.float32)
    if arr.ndim != 4 or arr.shape[2] != joints or arr.shape[3] != 3 or min(arr.shape[:2]) < 1:
        raise ValueError(f"{path}: joints must be (T, M, {joints}, 3), got {arr.shape}")
    if not np.isfinite(arr).all():
        frames = np.flatnonzero(~np.isfinite(arr).reshape(len(arr), -1).all(axis=1))
        raise ValueError(f"{path}: non-finite joint values in frames {frames[:5].tolist()}")
    return arr


def normalize_skeleton(window: np.ndarray) -> np.ndarray:
    """Person-centred coordinates: ``(T, M, V, 3) -> (T, M, V, 3)``.

    For each person, x and y minus their mean over the window (visible joints, or all joints
    when none is visible), divided by the person's mean body height (y extent per frame), so
    the same motion gives the same input whatever the camera distance. Visibility is kept.
    """
    out = window.astype(np.float32, copy=True)
    xy, vis = out[..., :2], out[..., 2:3] > 0
    for m in range(out.shape[1]):
        mask = vis[:, m] if vis[:, m].any() else np.ones_like(vis[:, m])
        center = (xy[:, m] * mask).sum(axis=(0, 1)) / mask.sum()
        height = float((xy[:, m, :, 1].max(axis=1) - xy[:, m, :, 1].min(axis=1)).mean())
        xy[:, m] = (xy[:, m] - center) / max(height, 1e-3)
    return out


def skeleton_window(
    joints: np.ndarray,
    frames: int,
    *,
    train: bool,
    rng: np.random.Generator | None,
    start: int = 0,
    stop: int | None = None,
) -> np.ndarray:
    """``frames`` frames of ``joints[start:stop]`` sampled TSN-style (one per equal segment),
    person-normalised, as ``(C=3, T, V, M)`` float32."""
    stop = len(joints) if stop is None else stop
    idx = start + segment_indices(stop - start, frames, train=train, rng=rng)
    return normalize_skeleton(joints[idx]).transpose(3, 0, 2, 1).copy()


def mirror_skeleton(x: np.ndarray, mirror: Sequence[int]) -> np.ndarray:
    """Left-right flip of a normalised ``(C, T, V, M)`` window: x negated, left and right
    joints swapped by the permutation ``mirror``."""
    if len(mirror) != x.shape[2]:
        raise ValueError(f"mirror permutation has {len(mirror)} joints, the window {x.shape[2]}")
    out = x[:, :, list(mirror)].copy()
    out[0] = -out[0]
    return out


class SkeletonClipDataset(Dataset):
    """Skeleton windows of trimmed clips for GTN / DGCN.

    Args:
        clips: the clips; the skeleton of ``<root>/<class>/<name>.mp4`` is read from
            ``skeleton_root/<class>/<name>.npz`` (key ``joints`` ``(T, M, V, 3)``).
        skeleton_root: folder of per-class skeleton files (synthetic: ``actions/skeletons``).
        frames: ``T`` frames per window.
        num_persons: ``M`` of the model; extra persons are dropped, missing ones zero.
        train: random frame offsets and flips; seed: base seed.
        mirror: joint permutation of a left-right flip (default: COCO-17's left/right pairs);
            ``None`` disables the training flip.

    Items: ``{"skeleton": (3, T, V, M) float32, "label": int, "index": int}``.
    """

    def __init__(
        self,
        clips: Sequence[ActionClip],
        *,
        skeleton_root: str | Path,
        frames: int = 32,
        num_persons: int = 1,
        train: bool,
        seed: int = 0,
        mirror: Sequence[int] | None = COCO17_MIRROR,
    ) -> None:
        if not clips:
            raise ValueError("no clips to build a skeleton dataset from")
        if frames < 1 or num_persons < 1:
            raise ValueError(f"frames and num_persons must be >= 1, got {frames}, {num_persons}")
        self.clips = list(clips)
        self.skeleton_root = Path(skeleton_root)
        self.frames = frames
        self.num_persons = num_persons
        self.train = train
        self.seed = seed
        self.mirror = None if mirror is None else tuple(mirror)
        self.flip = mirror is not None
        self.epoch = 0
        missing = [c for c in self.clips if not self.path_for(c).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} of {len(self.clips)} clips have no skeleton file, e.g. "
                f"{self.path_for(missing[0])} for {missing[0].path}"
            )
        # every file is read once here, so a garbage or NaN skeleton is a clear error naming
        # it before training, not an exception wrapped in a DataLoader worker's traceback
        for clip in self.clips:
            load_skeleton(self.path_for(clip))

    def path_for(self, clip: ActionClip) -> Path:
        return self.skeleton_root / clip.class_name / f"{clip.path.stem}.npz"

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int]:
        clip = self.clips[index]
        joints = load_skeleton(self.path_for(clip))
        rng = item_rng(self.seed, self.epoch, index) if self.train else None
        x = skeleton_window(joints, self.frames, train=self.train, rng=rng)  # (3, T, V, M)
        if self.train and self.flip and rng.random() < 0.5:
            x = mirror_skeleton(x, self.mirror)
        m = self.num_persons
        if x.shape[3] >= m:
            x = x[..., :m]
        else:
            x = np.concatenate([x, np.zeros((*x.shape[:3], m - x.shape[3]), x.dtype)], axis=3)
        x = np.ascontiguousarray(x)
        return {"skeleton": torch.from_numpy(x), "label": clip.label, "index": index}
