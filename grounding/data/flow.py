"""Optical flow for the temporal stream: computation, uint8 mapping, stacks and an HDF5 cache.

* :func:`compute_flow`: dense flow between two grayscale frames with OpenCV DIS (default on CPU),
  Farneback, or TV-L1 (only with opencv-contrib, ``cv2.optflow``).
* :func:`flow_to_uint8`: paper eq. (4): flow is truncated to ``[-bound, bound]`` (bound 20 as in
  TSN) and min-max mapped to ``0..255``: ``o_new = 255 (o - o_min) / (o_max - o_min)`` with the
  truncation bounds as ``o_min``/``o_max`` (a fixed range, so values mean the same in every
  frame, as in TSN's ``denseflow``).
* :func:`flow_stacks`: for each snippet start, ``length`` consecutive flow fields as
  ``2 * length`` channels ``x0, y0, x1, y1, ...`` (TSN's interleaving); only the frames the
  snippets need are decoded and only their flows computed.
* :class:`FlowCache` / :func:`extract_flow_cache`: stacks for ``n_segments`` TSN snippets per
  video in a gzip-compressed HDF5 file, grouped by a key of every flow parameter (a change of
  parameters recomputes). Each finished video is first saved atomically as a small part file,
  and parts are merged into the HDF5 file through an atomic rename, so an interrupted run
  resumes without recomputing finished videos and never leaves a half-written cache.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import h5py
import numpy as np
from tqdm import tqdm

from grounding.data.video import VideoError, read_frames, segment_indices, video_info
from grounding.io import atomic_path

__all__ = [
    "FLOW_METHODS",
    "FlowCache",
    "FlowParams",
    "compute_flow",
    "extract_flow_cache",
    "flow_stacks",
    "flow_to_uint8",
    "make_flow_fn",
    "uint8_to_flow",
]

FLOW_METHODS = ("dis", "farneback", "tvl1")
DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
CACHE_FORMAT = 1

FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def has_tvl1() -> bool:
    """Whether OpenCV was built with the contrib ``optflow`` module (TV-L1)."""
    return hasattr(cv2, "optflow") and hasattr(cv2.optflow, "DualTVL1OpticalFlow_create")


def make_flow_fn(method: str = "dis", *, dis_preset: str = "medium") -> FlowFn:
    """A reusable ``(prev_gray, next_gray) -> (H, W, 2) float32`` flow function.

    Raises:
        ValueError: unknown method or preset. RuntimeError: TV-L1 without opencv-contrib.
    """
    if method == "dis":
        if dis_preset not in DIS_PRESETS:
            raise ValueError(f"unknown DIS preset {dis_preset!r}; known: {', '.join(DIS_PRESETS)}")
        dis = cv2.DISOpticalFlow_create(DIS_PRESETS[dis_preset])
        return lambda a, b: dis.calc(a, b, None)
    if method == "farneback":
        return lambda a, b: cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    if method == "tvl1":
        if not has_tvl1():
            raise RuntimeError(
                "TV-L1 optical flow needs OpenCV's contrib module cv2.optflow, which this OpenCV "
                f"({cv2.__version__}) lacks: install opencv-contrib-python-headless instead of "
                "opencv-python-headless, or use method='dis' or 'farneback'"
            )
        tvl1 = cv2.optflow.DualTVL1OpticalFlow_create()
        return lambda a, b: tvl1.calc(a, b, None)
    raise ValueError(f"unknown flow method {method!r}; known: {', '.join(FLOW_METHODS)}")


def _as_gray(img: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[2] == 3:
        a = cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_RGB2GRAY)
    if a.ndim != 2 or a.dtype != np.uint8:
        raise ValueError(f"{name} must be a (H, W) uint8 grayscale image, got {a.dtype} {a.shape}")
    return np.ascontiguousarray(a)


def compute_flow(
    prev_gray: np.ndarray, next_gray: np.ndarray, *, method: str = "dis", dis_preset: str = "medium"
) -> np.ndarray:
    """Dense optical flow from ``prev_gray`` to ``next_gray`` (``(H, W)`` uint8; RGB is
    converted).

    Returns:
        ``(H, W, 2)`` float32 displacement ``(dx, dy)`` in pixels.
    """
    a, b = _as_gray(prev_gray, "prev_gray"), _as_gray(next_gray, "next_gray")
    if a.shape != b.shape:
        raise ValueError(f"frames differ in size: {a.shape} vs {b.shape}")
    return make_flow_fn(method, dis_preset=dis_preset)(a, b).astype(np.float32, copy=False)


def flow_to_uint8(flow: np.ndarray, bound: float = 20.0) -> np.ndarray:
    """Paper eq. (4): truncate to ``[-bound, bound]``, map min-max to ``0..255`` (rounded).

    ``(...,)`` float -> same shape uint8; 0 flow maps to 127.5 -> 128.
    """
    if not bound > 0:
        raise ValueError(f"bound must be > 0, got {bound}")
    o = np.clip(np.nan_to_num(np.asarray(flow, dtype=np.float32)), -bound, bound)
    return np.round(255.0 * (o + bound) / (2.0 * bound)).astype(np.uint8)


def uint8_to_flow(u8: np.ndarray, bound: float = 20.0) -> np.ndarray:
    """Inverse of :func:`flow_to_uint8` (up to quantisation): uint8 -> float32 pixels."""
    return (np.asarray(u8, dtype=np.float32) / 255.0 * (2.0 * bound) - bound).astype(np.float32)


def flow_stacks(
    video_path: str | Path,
    starts: Sequence[int] | np.ndarray,
    *,
    length: int = 5,
    method: str = "dis",
    bound: float = 20.0,
    dis_preset: str = "medium",
    flow_fn: FlowFn | None = None,
) -> np.ndarray:
    """Stacks of ``length`` flow fields starting at each of ``starts``.

    Stack ``k`` holds flows ``(f_s -> f_s+1), ..., (f_s+L-1 -> f_s+L)`` for ``s = starts[k]``.

    Returns:
        ``(K, 2 * length, H, W)`` uint8, channels ``x0, y0, x1, y1, ...`` (eq. 4 mapping).

    Raises:
        VideoError: the video has fewer than ``length + 1`` frames (one stack), or a start
        leaves no room for a whole stack; decoding errors name the file.
    """
    starts = np.asarray(starts, dtype=np.int64).reshape(-1)
    info = video_info(video_path)
    if info.n_frames < length + 1:
        raise VideoError(
            info.path,
            f"has {info.n_frames} frames, fewer than one flow stack needs ({length} flows = "
            f"{length + 1} frames)",
        )
    if len(starts) and (starts.min() < 0 or starts.max() + length >= info.n_frames):
        raise VideoError(
            info.path,
            f"flow stack starts must be in [0, {info.n_frames - length - 1}], got "
            f"{starts.min()}..{starts.max()}",
        )
    need = np.unique((starts[:, None] + np.arange(length + 1)[None, :]).reshape(-1))
    gray = read_frames(info.path, need, gray=True)
    frame_at = {int(i): k for k, i in enumerate(need)}
    fn = flow_fn or make_flow_fn(method, dis_preset=dis_preset)
    pairs: dict[int, np.ndarray] = {}
    out = np.empty((len(starts), 2 * length, info.height, info.width), np.uint8)
    for k, s in enumerate(starts):
        for j in range(length):
            i = int(s) + j
            if i not in pairs:
                f = fn(gray[frame_at[i]], gray[frame_at[i + 1]])
                pairs[i] = flow_to_uint8(f, bound).transpose(2, 0, 1)
            out[k, 2 * j : 2 * j + 2] = pairs[i]
    return out


# --------------------------------------------------------------------------------------------
# cache


@dataclass(frozen=True)
class FlowParams:
    """Everything that changes the cached stacks (all of it goes into the cache key)."""

    method: str = "dis"
    length: int = 5
    n_segments: int = 8
    bound: float = 20.0
    train: bool = False
    seed: int = 0
    dis_preset: str = "medium"
    format: int = CACHE_FORMAT

    def key(self) -> str:
        """``<method>-L<length>-N<segments>-b<bound>-<test|train-s<seed>>-<hash>``."""
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        digest = hashlib.sha256(blob).hexdigest()[:10]
        mode = f"train-s{self.seed}" if self.train else "test"
        return f"{self.method}-L{self.length}-N{self.n_segments}-b{self.bound:g}-{mode}-{digest}"

    def starts(self, vid: str, n_frames: int) -> np.ndarray:
        """Snippet starts for a video (train offsets are seeded by ``seed`` and ``vid``)."""
        rng = None
        if self.train:
            rng = np.random.default_rng(
                np.random.SeedSequence(
                    [self.seed, int(hashlib.sha256(vid.encode()).hexdigest()[:8], 16)]
                )
            )
        return segment_indices(
            n_frames - 1, self.n_segments, train=self.train, rng=rng, new_length=self.length
        )


class FlowCache:
    """Read access to an HDF5 flow cache: group ``<params key>/<vid>`` holds uint8
    ``(n_segments, 2 * length, H, W)`` stacks with attribute ``starts``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _open(self) -> h5py.File:
        try:
            return h5py.File(self.path, "r")
        except OSError as e:
            raise OSError(
                f"{self.path}: not a readable HDF5 flow cache ({e}); delete it to recompute"
            ) from e

    def vids(self, params: FlowParams) -> list[str]:
        """Videos cached with ``params``."""
        if not self.path.is_file():
            return []
        with self._open() as f:
            g = f.get(params.key())
            return sorted(g.keys()) if g is not None else []

    def parts(self, params: FlowParams) -> list[Path]:
        """Finished but not yet merged videos (temporary files of a killed run excluded)."""
        d = self.parts_dir(params)
        if not d.is_dir():
            return []
        return sorted(p for p in d.glob("*.npz") if not p.name.startswith("."))

    def has(self, vid: str, params: FlowParams) -> bool:
        return vid in self.vids(params)

    def get(self, vid: str, params: FlowParams) -> tuple[np.ndarray, np.ndarray]:
        """``(stacks (N, 2L, H, W) uint8, starts (N,) int64)`` of one video."""
        with self._open() as f:
            key = f"{params.key()}/{vid}"
            if key not in f:
                raise KeyError(
                    f"{self.path}: no flow for video {vid!r} with parameters {params.key()}"
                )
            d = f[key]
            return d[()], np.asarray(d.attrs["starts"], dtype=np.int64)

    def parts_dir(self, params: FlowParams) -> Path:
        """Where finished videos wait (atomically written) until merged into the HDF5 file."""
        return self.path.parent / f".{self.path.name}.parts" / params.key()

    def merge(self, params: FlowParams) -> int:
        """Merge finished parts into the HDF5 file via an atomic rename; returns how many."""
        parts = self.parts(params)
        if not parts:
            return 0
        with atomic_path(self.path) as tmp:
            with h5py.File(tmp, "w") as out:
                if self.path.is_file():
                    with self._open() as old:
                        for name in old:
                            old.copy(old[name], out, name=name)
                        for k, v in old.attrs.items():
                            out.attrs[k] = v
                g = out.require_group(params.key())
                g.attrs["params"] = json.dumps(asdict(params), sort_keys=True)
                for p in parts:
                    with np.load(p, allow_pickle=False) as z:
                        vid = p.stem
                        if vid in g:
                            del g[vid]
                        d = g.create_dataset(
                            vid,
                            data=z["stacks"],
                            compression="gzip",
                            compression_opts=4,
                            chunks=(1, *z["stacks"].shape[1:]),
                        )
                        d.attrs["starts"] = z["starts"]
        shutil.rmtree(self.parts_dir(params))
        return len(parts)


def extract_flow_cache(
    video_paths: Sequence[str | Path],
    cache_path: str | Path,
    *,
    n_segments: int,
    length: int = 5,
    method: str = "dis",
    bound: float = 20.0,
    train: bool = False,
    seed: int = 0,
    dis_preset: str = "medium",
    progress: bool = True,
) -> FlowCache:
    """Compute (or resume) the flow stacks of ``n_segments`` TSN snippets for every video.

    Videos already in the cache with the same parameters are skipped; video ids are file stems
    and must be unique. Any decoding error names the file.
    """
    params = FlowParams(
        method, length, n_segments, float(bound), bool(train), int(seed), dis_preset
    )
    fn = make_flow_fn(method, dis_preset=dis_preset)  # fail fast on a bad method
    paths = [Path(p) for p in video_paths]
    if not paths:
        raise ValueError("no videos given for flow extraction")
    stems = [p.stem for p in paths]
    dup = sorted({s for s in stems if stems.count(s) > 1})
    if dup:
        raise ValueError(f"video ids (file stems) must be unique, repeated: {dup}")
    cache = FlowCache(cache_path)
    cache.path.parent.mkdir(parents=True, exist_ok=True)
    done = set(cache.vids(params))
    done |= {p.stem for p in cache.parts(params)}
    parts = cache.parts_dir(params)
    if parts.is_dir():  # temporary files of a killed run
        for stale in parts.glob(".*.tmp*"):
            stale.unlink()
    todo = [p for p in paths if p.stem not in done]
    for p in tqdm(todo, desc=f"flow {params.key()}", unit="video", disable=not progress):
        info = video_info(p)
        if info.n_frames < length + 1:
            raise VideoError(
                p, f"has {info.n_frames} frames, fewer than one flow stack needs ({length + 1})"
            )
        starts = params.starts(p.stem, info.n_frames)
        stacks = flow_stacks(p, starts, length=length, bound=bound, flow_fn=fn)
        with atomic_path(parts / f"{p.stem}.npz") as tmp:
            np.savez(tmp, stacks=stacks, starts=starts)
    cache.merge(params)
    return cache
