"""Person-centric clip features of the two-stream recognizer (``grounding.extract``, person kind).

Per clip (the clips and TSN snippets of :func:`grounding.extract.pixel_clip_inputs`) and per
person present in it (from the video's pose file, :mod:`grounding.data.persons`):

1. each snippet's frames are cropped around the person at the framing of the recognizer's
   training close-ups, then the flow stack and the RGB input are computed on the crops, exactly
   as for a training clip (flow at the crop side, then resized to the network's side);
2. the recognizer's fused class posterior ``a_p = softmax(w_rgb s_rgb + w_flow s_flow)``
   ``(A,)`` (eq. 7's fusion, averaged over the snippets) says *what* the person does;
3. the appearance descriptor ``c_p`` ``(C,)``: upper-garment colour histogram and relative
   size / side (:func:`grounding.data.persons.torso_colours`, :func:`relative_layout`) says
   *who* the person is, in the terms sentences use.

The clip's feature holds the people's fused segment features ``f_p`` ``(F,)`` (the
features :mod:`grounding.extract` writes for a whole frame, here per person) pooled by the
mean and the max over persons (as the skeleton baselines pool theirs), and binds action and
appearance by an outer product summed over persons (second-order pooling, the full-rank form
of the paper's bilinear pooling eq. 15, here between a person's action and appearance),
followed by the plain sum of the posteriors::

    x = [ mean_p f_p , max_p f_p , vec(sum_p a_p c_p^T) , sum_p a_p ]    D = 2 F + A * C + A

so "the player in red dribbles" is one coordinate of ``x`` whatever the number and the order
of the people, while ``sum_p a_p`` answers "someone dribbles". A clip with nobody visible is
all zeros.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from grounding.data.action_dataset import (
    DIFF_GAP,
    load_skeleton,
    npz_error,
    resize_frames,
    rgb_difference,
    subtract_camera_motion,
)
from grounding.data.flow import FlowFn, flow_to_uint8, make_flow_fn
from grounding.data.persons import (
    COLOUR_BINS,
    crop_square,
    descriptor_dim,
    person_boxes,
    relative_layout,
    torso_colours,
)
from grounding.data.video import read_frames, video_info
from grounding.io import atomic_path
from grounding.models.recognizer import RecognitionConfig

__all__ = [
    "PersonClipInputs",
    "PersonInputCache",
    "person_clip_features",
    "person_clip_inputs",
    "person_feature_dim",
]


def person_feature_dim(num_classes: int, feature_dim: int) -> int:
    """``D = 2 F + A * C + A`` of :func:`person_clip_features` for ``A`` classes and a
    recognizer of fused feature size ``F``."""
    return 2 * feature_dim + num_classes * descriptor_dim(COLOUR_BINS) + num_classes


@dataclass
class PersonClipInputs:
    """Network inputs of every (clip, person) pair with the person present in the clip.

    Attributes:
        clip: ``(N,)`` clip index of each pair (``K`` clips in all).
        person: ``(N,)`` person index of each pair (the pose file's ``M`` axis).
        rgb: ``(N, S, 3, H, W)`` uint8 RGB-stream input of the person's crops.
        flow: ``(N, S, 2L, H, W)`` uint8 flow stacks of the crops.
        descriptor: ``(N, C)`` appearance descriptors (:func:`descriptor_dim`).
        n_clips: ``K``.
    """

    clip: np.ndarray
    person: np.ndarray
    rgb: np.ndarray
    flow: np.ndarray
    descriptor: np.ndarray
    n_clips: int


#: the recognizer config fields :func:`person_clip_inputs` reads: the cache key holds these
#: alone, so recognizers trained for more epochs (or another seed) reuse the same entries
INPUT_FIELDS = (
    "flow_length",
    "flow_method",
    "flow_preset",
    "flow_bound",
    "flow_compensation",
    "rgb_input",
    "input_size",
)


class PersonInputCache:
    """:func:`person_clip_inputs` of each video kept as one uncompressed ``.npz``, so a later
    extraction with the same input settings (another recognizer of the same sizes, a resumed
    run) skips the crops and their optical flow, most of a person-centric extraction's time.

    An entry is keyed by the video and pose files (path, size, modification time), the
    snippet starts, the crop side and scale, and the recognizer's :data:`INPUT_FIELDS`; a
    change of any of them writes a new entry beside the old. Entries are written atomically
    and read with ``allow_pickle=False``.
    """

    #: raise when :func:`person_clip_inputs` computes other arrays from the same arguments
    VERSION = 1

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path_for(
        self,
        video: Path,
        skeleton: Path,
        config: RecognitionConfig,
        starts: np.ndarray,
        **options: object,
    ) -> Path:
        """The entry of :func:`person_clip_inputs` with these arguments (``options``: its
        keyword arguments)."""
        files = {}
        for name, f in (("video", Path(video)), ("skeleton", Path(skeleton))):
            stat = f.stat()
            files[name] = [str(f.resolve()), stat.st_size, stat.st_mtime_ns]
        starts = np.ascontiguousarray(starts, dtype=np.int64)
        defaults = {  # the keyword defaults in force, so a changed default keys new entries
            k: p.default
            for k, p in inspect.signature(person_clip_inputs).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        }
        key = {
            "version": self.VERSION,
            "files": files,
            "starts": [list(starts.shape), hashlib.sha256(starts.tobytes()).hexdigest()],
            "config": {f: getattr(config, f) for f in INPUT_FIELDS},
            "options": {**defaults, **options},
            "diff_gap": DIFF_GAP,
        }
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        return self.root / f"{Path(video).stem}-{digest}.npz"

    def get(self, path: Path, compute: Callable[[], PersonClipInputs]) -> PersonClipInputs:
        """The entry at ``path`` (:meth:`path_for`), computed and written when missing."""
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as z:
                    arrays = {f.name: z[f.name] for f in fields(PersonClipInputs)}
            except Exception as exc:  # truncated, not an npz, a field missing, ...
                raise ValueError(
                    f"{path}: unreadable person input cache entry ({npz_error(exc)}); delete it"
                ) from None
            return PersonClipInputs(**{**arrays, "n_clips": int(arrays["n_clips"])})
        inputs = compute()
        with atomic_path(path) as tmp:
            np.savez(tmp, **{f.name: getattr(inputs, f.name) for f in fields(PersonClipInputs)})
        return inputs

    def disk_bytes(self) -> int:
        """Bytes of every entry in the cache folder."""
        if not self.root.is_dir():
            return 0
        return sum(p.stat().st_size for p in self.root.glob("*.npz"))


def _snippet_ranges(
    starts: np.ndarray, length: int, rgb_input: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First frame, RGB frame and RGB-difference frame of every snippet (same shape as
    ``starts``); a snippet's frames run from the first to ``start + length``."""
    mid = starts + length // 2
    before = np.maximum(mid - DIFF_GAP, 0) if rgb_input == "diff" else mid
    return np.minimum(starts, before), mid, before


def person_clip_inputs(
    video: Path,
    skeleton: Path,
    config: RecognitionConfig,
    starts: np.ndarray,
    *,
    crop_size: int | None = None,
    scale: float = 2.5,
    persons: Sequence[int] | None = None,
) -> PersonClipInputs:
    """Crops, flow stacks and descriptors of every person in every clip.

    Args:
        video: the video.
        skeleton: its pose file (``joints (T, M, 17, 3)``, one row per video frame).
        config: the recognizer's config (flow settings, RGB input, input side).
        starts: ``(K, S)`` flow-stack starts of the clips' snippets
            (:func:`grounding.extract.snippet_starts`).
        crop_size: side the crops are cut at and the flow computed at (default: the video's
            height, the side of the generator's close-ups), before resizing to the network's.
        scale: box side over the person's pose height (:func:`person_boxes`).
        persons: only these persons (pose file indices); default every person.
    """
    info = video_info(video)
    joints = load_skeleton(skeleton)
    if len(joints) != info.n_frames:
        raise ValueError(
            f"{skeleton}: {len(joints)} pose frames for the {info.n_frames} frames of {video}"
        )
    length = config.flow_length
    k, s = starts.shape
    first, mid, before = _snippet_ranges(starts, length, config.rgb_input)
    stop = starts + length + 1
    snip = person_boxes(joints, np.stack([first, stop], -1).reshape(-1, 2), scale=scale)
    whole = person_boxes(joints, np.stack([first.min(1), stop.max(1)], -1), scale=scale)
    layout = relative_layout(whole, info.width)
    pairs = np.argwhere(whole.present)  # (N, 2) clip, person
    if persons is not None:
        pairs = pairs[np.isin(pairs[:, 1], list(persons))]
    size = crop_size or info.height
    ranges = [np.arange(a, b) for a, b in zip(first.ravel(), stop.ravel(), strict=True)]
    need = np.unique(np.concatenate(ranges))
    frames = read_frames(video, need) if len(pairs) else None
    at = {int(f): i for i, f in enumerate(need)}
    flow_fn = make_flow_fn(config.flow_method, dis_preset=config.flow_preset)
    n = len(pairs)
    rgb = np.empty((n, s, 3, size, size), np.uint8)
    flow = np.empty((n, s, 2 * length, size, size), np.uint8)
    desc = np.zeros((n, descriptor_dim(COLOUR_BINS)), np.float32)
    for i, (c, p) in enumerate(pairs):
        colours = []
        for j in range(s):
            q = c * s + j
            own = snip.present[q, p]  # else the clip's box (the person shows up elsewhere)
            centre = snip.centre[q, p] if own else whole.centre[c, p]
            side = snip.side[q, p] if own else whole.side[c, p]
            crops = crop_square(
                frames[[at[f] for f in range(first[c, j], stop[c, j])]], centre, side, size
            )
            rgb[i, j], flow[i, j] = _crop_inputs(
                crops,
                flow_fn,
                config,
                flow_at=starts[c, j] - first[c, j],
                rgb_at=(mid[c, j] - first[c, j], before[c, j] - first[c, j]),
            )
            hist = torso_colours(frames[at[int(mid[c, j])]], joints[mid[c, j], p])
            if hist.any():
                colours.append(hist)
        if colours:
            desc[i, : len(colours[0])] = np.mean(colours, axis=0)
        desc[i, -layout.shape[-1] :] = layout[c, p]
    if n:  # else nobody is visible in the whole video: no inputs, all-zero features
        if config.flow_compensation:
            flow = subtract_camera_motion(flow)
        rgb = resize_frames(rgb.reshape(n * s, 3, size, size), config.input_size)
        flow = resize_frames(flow.reshape(n * s, 2 * length, size, size), config.input_size)
    else:
        rgb = np.empty((0, 3, config.input_size, config.input_size), np.uint8)
        flow = np.empty((0, 2 * length, config.input_size, config.input_size), np.uint8)
    return PersonClipInputs(
        clip=pairs[:, 0].copy(),
        person=pairs[:, 1].copy(),
        rgb=rgb.reshape(n, s, *rgb.shape[1:]),
        flow=flow.reshape(n, s, *flow.shape[1:]),
        descriptor=desc,
        n_clips=k,
    )


def _crop_inputs(
    crops: np.ndarray,
    flow_fn: FlowFn,
    config: RecognitionConfig,
    *,
    flow_at: int,
    rgb_at: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """RGB ``(3, H, W)`` and flow ``(2L, H, W)`` uint8 inputs of one snippet from its
    ``(F, H, W, 3)`` crops: the flow stack from crop ``flow_at``, the RGB frame (or the
    difference of the two crops of ``rgb_at``)."""
    length = config.flow_length
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in crops]
    stack = [
        flow_to_uint8(flow_fn(gray[flow_at + f], gray[flow_at + f + 1]), config.flow_bound)
        for f in range(length)
    ]
    flow = np.concatenate([u.transpose(2, 0, 1) for u in stack])
    now, then = crops[rgb_at[0]], crops[rgb_at[1]]
    rgb = rgb_difference(now, then) if config.rgb_input == "diff" else now
    return rgb.transpose(2, 0, 1), flow


@torch.no_grad()
def person_clip_features(
    model: nn.Module, inputs: PersonClipInputs, *, batch_size: int, device: torch.device
) -> np.ndarray:
    """``(K, 2 F + A * C + A)`` float32 clip features (module docstring) from a two-stream
    model (``F`` its fused feature size)."""
    feats, probs = [], []
    for i in range(0, len(inputs.clip), batch_size):
        r = torch.from_numpy(inputs.rgb[i : i + batch_size]).to(device)
        f = torch.from_numpy(inputs.flow[i : i + batch_size]).to(device)
        seg = model.segment_features(r, f)  # (B, S, F): one pass gives features and scores
        d = model.rgb.out_dim
        logits = model.fuse(
            model.rgb.classifier(seg[..., :d]).mean(1), model.flow.classifier(seg[..., d:]).mean(1)
        )
        feats.append(seg.mean(1).float().cpu())
        probs.append(logits.float().softmax(dim=-1).cpu())
    num_classes, dim = model.rgb.classifier.out_features, model.feature_dim
    f = torch.cat(feats) if feats else torch.zeros(0, dim)
    a = torch.cat(probs) if probs else torch.zeros(0, num_classes)
    c = torch.from_numpy(inputs.descriptor)
    clip = torch.from_numpy(inputs.clip).long()
    k = inputs.n_clips
    count = torch.zeros(k).index_add_(0, clip, torch.ones(len(clip))).clamp(min=1)
    mean = torch.zeros(k, dim).index_add_(0, clip, f) / count[:, None]
    peak = torch.zeros(k, dim).scatter_reduce_(
        0, clip[:, None].expand(-1, dim), f, "amax", include_self=False
    )  # clips with nobody stay 0
    pair = torch.cat([(a[:, :, None] * c[:, None, :]).flatten(1), a], dim=1)
    bound = torch.zeros(k, pair.shape[1]).index_add_(0, clip, pair)
    return torch.cat([mean, peak, bound], dim=1).numpy()
