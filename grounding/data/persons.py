"""Person-centric inputs of a wide shot: per-person crops and appearance descriptors.

A recognizer trained on trimmed close-ups of one actor (HMDB51-style clips, and the synthetic
action clips, where the camera frames one player) sees a wide grounding video with several
people as something else: each person is a few times smaller and the scores mix everybody. The
person-centric path of :mod:`grounding.extract` (person kind) instead crops a box around each
person from the person's 2D pose (the dataset's skeleton file; on real videos, a pose
detector's output in the same ``(T, M, 17, 3)`` COCO layout), so the recognizer sees every
person at the framing it was trained on, and describes each person by what a sentence can name
them by:

- the colours of the upper garment, sampled along the shoulder-to-hip line of the pose (a
  histogram over a coarse RGB cube, :func:`torso_colours`), as pose-guided person
  re-identification describes people;
- the relative size and position among the people of the same moment (tallest, shortest, in
  the left / right half of the frame, :func:`relative_layout`).

Everything here is array code over ``(T, M, 17, 3)`` joints in frame pixels (x, y,
visibility) and ``(H, W, 3)`` uint8 frames; nothing depends on the synthetic generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from grounding.data.keypoints import COCO17_HIPS, COCO17_SHOULDERS

__all__ = [
    "COLOUR_BINS",
    "PersonBoxes",
    "crop_square",
    "descriptor_dim",
    "person_boxes",
    "relative_layout",
    "torso_colours",
]

SHOULDERS, HIPS = COCO17_SHOULDERS, COCO17_HIPS
#: levels per RGB channel of the colour histogram (``COLOUR_BINS ** 3`` bins)
COLOUR_BINS = 3
#: points sampled along the shoulder-to-hip line, as fractions of its length
TORSO_SAMPLES = np.linspace(0.15, 0.85, 8)
#: the ``relative_layout`` columns
LAYOUT = ("tallest", "shortest", "left", "right")


def descriptor_dim(bins: int = COLOUR_BINS) -> int:
    """Length of one person's appearance descriptor: colour bins, then :data:`LAYOUT`."""
    return bins**3 + len(LAYOUT)


@dataclass(frozen=True)
class PersonBoxes:
    """Square boxes around every person at a set of moments.

    Attributes:
        centre: ``(N, M, 2)`` box centres (x, y) in frame pixels.
        side: ``(N, M)`` box sides in pixels.
        height: ``(N, M)`` the person's pose height (y extent of the visible joints).
        present: ``(N, M)`` bool, the person has visible joints at that moment.
    """

    centre: np.ndarray
    side: np.ndarray
    height: np.ndarray
    present: np.ndarray


def person_boxes(
    joints: np.ndarray,
    windows: np.ndarray,
    *,
    scale: float = 2.5,
    min_side: float = 16.0,
) -> PersonBoxes:
    """One box per person and frame window, around the person's visible joints.

    Args:
        joints: ``(T, M, 17, 3)`` x, y, visibility in frame pixels.
        windows: ``(N, 2)`` frame ranges ``[a, b)`` (e.g. a flow stack's frames).
        scale: box side over the person's pose height (2.5: the person fills about 40 % of
            the crop's height, the framing of the synthetic close-ups).
        min_side: smallest side in pixels (a lying or barely visible person).

    Returns:
        :class:`PersonBoxes`; a person without a visible joint in a window is not present
        there (centre and side 0).
    """
    joints = np.asarray(joints, dtype=np.float32)
    windows = np.asarray(windows, dtype=np.int64).reshape(-1, 2)
    if joints.ndim != 4 or joints.shape[-1] != 3:
        raise ValueError(f"joints must be (T, M, V, 3), got {joints.shape}")
    n, m = len(windows), joints.shape[1]
    centre = np.zeros((n, m, 2), np.float32)
    side = np.zeros((n, m), np.float32)
    height = np.zeros((n, m), np.float32)
    present = np.zeros((n, m), bool)
    for i, (a, b) in enumerate(windows):
        a, b = max(0, int(a)), min(len(joints), max(int(b), int(a) + 1))
        w = joints[a:b]  # (F, M, V, 3)
        vis = w[..., 2] > 0
        for p in range(m):
            v = vis[:, p]
            if not v.any():
                continue
            xy = w[:, p, :, :2][v]  # (n_visible, 2)
            lo, hi = xy.min(axis=0), xy.max(axis=0)
            frames = v.any(axis=1)
            ys = np.where(v, w[:, p, :, 1], np.nan)[frames]
            h = float(np.median(np.nanmax(ys, axis=1) - np.nanmin(ys, axis=1)))
            centre[i, p] = (lo + hi) / 2
            height[i, p] = h
            side[i, p] = max(min_side, scale * h)
            present[i, p] = True
    return PersonBoxes(centre=centre, side=side, height=height, present=present)


def crop_square(frames: np.ndarray, centre: np.ndarray, side: float, size: int) -> np.ndarray:
    """``(F, H, W, C)`` uint8 frames -> ``(F, size, size, C)``: the square of ``side`` pixels
    around ``centre`` (x, y), resized; parts outside the frame repeat its border."""
    frames = np.asarray(frames)
    if frames.ndim != 4:
        raise ValueError(f"frames must be (F, H, W, C), got {frames.shape}")
    if not side > 0:
        raise ValueError(f"side must be > 0, got {side}")
    s = size / float(side)
    cx, cy = float(centre[0]), float(centre[1])
    # output pixel centre (u + 0.5) maps to input (x + 0.5) = (u + 0.5) / s + cx - side / 2
    tx = 0.5 - (cx - side / 2 + 0.5 / s) * s
    ty = 0.5 - (cy - side / 2 + 0.5 / s) * s
    affine = np.array([[s, 0.0, tx], [0.0, s, ty]], np.float64)
    out = [
        cv2.warpAffine(
            np.ascontiguousarray(f),
            affine,
            (size, size),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        for f in frames
    ]
    return np.stack(out).reshape(len(frames), size, size, -1)


def torso_colours(frame: np.ndarray, joints: np.ndarray, *, bins: int = COLOUR_BINS) -> np.ndarray:
    """Colour histogram ``(bins ** 3,)`` of the upper garment of one person in one frame.

    Pixels are sampled at :data:`TORSO_SAMPLES` along the line from the shoulders' midpoint to
    the hips' midpoint (the median of each 3x3 neighbourhood, against noise), each binned softly
    (trilinear weights between the nearest level centres) into a ``bins``-level RGB cube; the
    histogram sums to 1, or is all zeros when a shoulder or a
    hip is not visible (occluded: the colour is unknown, not black).

    Args:
        frame: ``(H, W, 3)`` uint8 RGB.
        joints: ``(17, 3)`` x, y, visibility of the person.
    """
    out = np.zeros(bins**3, np.float32)
    j = np.asarray(joints, dtype=np.float32)
    if not (j[list(SHOULDERS + HIPS), 2] > 0).all():
        return out
    top = j[list(SHOULDERS), :2].mean(axis=0)
    bottom = j[list(HIPS), :2].mean(axis=0)
    h, w = frame.shape[:2]
    pts = top[None] + TORSO_SAMPLES[:, None] * (bottom - top)[None]
    cube = out.reshape(bins, bins, bins)
    for x, y in np.round(pts).astype(int):
        if not (0 <= x < w and 0 <= y < h):
            continue
        patch = frame[max(0, y - 1) : y + 2, max(0, x - 1) : x + 2].reshape(-1, 3)
        # soft (trilinear) binning between the two nearest level centres of each channel, so
        # a colour near a level boundary does not flip between bins with the lighting
        u = np.clip(np.median(patch, axis=0) * bins / 256.0 - 0.5, 0, bins - 1)
        lo = np.minimum(np.floor(u).astype(int), bins - 2) if bins > 1 else np.zeros(3, int)
        frac = u - lo
        for corner in np.ndindex(2, 2, 2):
            c = np.array(corner)
            weight = np.prod(np.where(c == 1, frac, 1 - frac))
            cube[tuple(np.minimum(lo + c, bins - 1))] += weight
    total = out.sum()
    return out / total if total > 0 else out


def relative_layout(boxes: PersonBoxes, frame_width: int) -> np.ndarray:
    """``(N, M, 4)`` float32 :data:`LAYOUT` indicators of every present person among the
    people present at the same moment: the tallest and the shortest pose (only when two or
    more people are present), and the half of the frame the box centre lies in."""
    n, m = boxes.present.shape
    out = np.zeros((n, m, len(LAYOUT)), np.float32)
    for i in range(n):
        here = np.flatnonzero(boxes.present[i])
        if not len(here):
            continue
        if len(here) > 1:
            h = boxes.height[i, here]
            out[i, here[np.argmax(h)], 0] = 1.0
            out[i, here[np.argmin(h)], 1] = 1.0
        left = boxes.centre[i, here, 0] < frame_width / 2
        out[i, here, 2] = left
        out[i, here, 3] = ~left
    return out
