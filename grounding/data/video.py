"""Video decoding with sparse frame access and TSN segment sampling.

Decoding uses OpenCV. :func:`read_frames` walks the stream once with ``grab()`` and decodes
(``retrieve()``) only the wanted frames: no per-frame seeks, which are slow and, for some
codecs, inexact.

Sampling follows TSN (Wang et al., ECCV 2016): the video is cut into ``n_segments`` equal
segments and one snippet start is taken per segment, at a random offset when training and at
the middle when testing. A snippet is ``new_length`` consecutive frames (1 for RGB, 5 flow
fields for the flow stream), so starts are drawn from ``[0, n_frames - new_length]`` and every
snippet fits in the video. Videos with fewer valid starts than segments repeat starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from grounding.io import check_input_file

__all__ = [
    "VideoError",
    "VideoInfo",
    "read_frames",
    "segment_indices",
    "snippet_indices",
    "video_info",
]


class VideoError(ValueError):
    """A video cannot be decoded (corrupt, truncated, empty or too short). Names the file."""

    def __init__(self, path: str | Path, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = str(path)


@dataclass(frozen=True)
class VideoInfo:
    """Container metadata of one video (``n_frames`` as the container reports it)."""

    path: Path
    n_frames: int
    fps: float
    width: int
    height: int

    @property
    def duration(self) -> float:
        """Seconds (``n_frames / fps``)."""
        return self.n_frames / self.fps if self.fps > 0 else 0.0


def _open(path: str | Path) -> tuple[Path, cv2.VideoCapture]:
    p = check_input_file(path, "video")
    cap = cv2.VideoCapture(str(p))
    if not cap.isOpened():
        cap.release()
        raise VideoError(p, "cannot be opened as a video (corrupt or unsupported format)")
    return p, cap


def video_info(path: str | Path) -> VideoInfo:
    """Frame count, frame rate and size of a video.

    Raises:
        FileNotFoundError: the file does not exist.
        VideoError: the file is not a decodable video or reports no frames.
    """
    p, cap = _open(path)
    try:
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        h = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        cap.release()
    if n <= 0 or w <= 0 or h <= 0:
        raise VideoError(p, f"no decodable frames (frame count {n}, size {w}x{h})")
    return VideoInfo(p, n, fps, w, h)


def read_frames(
    path: str | Path, indices: Sequence[int] | np.ndarray, *, gray: bool = False
) -> np.ndarray:
    """Decode only the frames at ``indices`` (any order, repeats allowed).

    Args:
        path: video file.
        indices: 0-based frame indices.
        gray: return single-channel grayscale instead of RGB.

    Returns:
        ``(K, H, W, 3)`` uint8 RGB (or ``(K, H, W)`` uint8 gray), in the order of ``indices``.

    Raises:
        FileNotFoundError: missing file. VideoError: not a video, an index out of range, or the
        stream ends (truncated/corrupt) before a wanted frame.
    """
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    p, cap = _open(path)
    try:
        n_meta = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if len(idx) == 0:
            w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
            return np.zeros((0, h, w) if gray else (0, h, w, 3), np.uint8)
        if idx.min() < 0 or (n_meta > 0 and idx.max() >= n_meta):
            raise VideoError(p, f"frame index out of range [0, {n_meta}): {idx.min()}..{idx.max()}")
        wanted = np.unique(idx)
        frames: dict[int, np.ndarray] = {}
        k = 0
        for i in range(int(wanted[-1]) + 1):
            if not cap.grab():
                raise VideoError(
                    p,
                    f"truncated or corrupt: the stream ended at frame {i} "
                    f"(container says {n_meta} frames), frame {int(wanted[k])} was wanted",
                )
            if i == wanted[k]:
                ok, frame = cap.retrieve()
                if not ok or frame is None:
                    raise VideoError(p, f"frame {i} cannot be decoded (corrupt data)")
                code = cv2.COLOR_BGR2GRAY if gray else cv2.COLOR_BGR2RGB
                frames[i] = cv2.cvtColor(frame, code)
                k += 1
    finally:
        cap.release()
    return np.stack([frames[int(i)] for i in idx])


def segment_indices(
    n_frames: int,
    n_segments: int,
    *,
    train: bool,
    rng: np.random.Generator | None = None,
    new_length: int = 1,
) -> np.ndarray:
    """TSN snippet starts: one per equal segment.

    Args:
        n_frames: frames (or, for flow, flow fields = frames - 1) in the video.
        n_segments: number of segments ``N``.
        train: random offset inside each segment (needs ``rng``); else the segment middle.
        new_length: consecutive frames per snippet; every start leaves room for them.

    Returns:
        ``(N,)`` int64 non-decreasing starts in ``[0, n_frames - new_length]``.
    """
    if n_segments < 1:
        raise ValueError(f"n_segments must be >= 1, got {n_segments}")
    if new_length < 1:
        raise ValueError(f"new_length must be >= 1, got {new_length}")
    valid = int(n_frames) - int(new_length) + 1
    if valid < 1:
        raise ValueError(
            f"a video of {n_frames} frames is shorter than one snippet of {new_length}"
        )
    edges = np.linspace(0.0, valid, n_segments + 1)
    if train:
        if rng is None:
            raise ValueError("train sampling needs an rng (np.random.Generator) for determinism")
        pos = edges[:-1] + rng.random(n_segments) * (edges[1:] - edges[:-1])
    else:
        pos = 0.5 * (edges[:-1] + edges[1:])
    return np.clip(np.floor(pos).astype(np.int64), 0, valid - 1)


def snippet_indices(starts: np.ndarray, length: int) -> np.ndarray:
    """Frame indices of each snippet: ``(K,)`` starts -> ``(K, length)``."""
    return np.asarray(starts, dtype=np.int64)[:, None] + np.arange(length)[None, :]
