"""Model-ready inputs of trimmed clips, decoded once per dataset and memory-mapped.

:class:`ClipFlowCache` keeps each clip's flow fields compressed, so every training item pays
for unzipping them, decoding the RGB frames it needs and (with camera-motion compensation)
a spatial median per field, every epoch. :class:`ClipInputCache` pays those once: per clip,

- ``frames.npy``: every decoded RGB frame ``(N, H, W, 3)`` uint8, as
  :func:`grounding.data.video.read_frames` returns them;
- ``flow.npy``: every consecutive flow field ``(F = N - 1, 2, H, W)`` uint8 (eq. 4 mapping),
  with the camera translation already subtracted when ``compensate`` is set (the median of
  :func:`subtract_camera_motion` is per field and component, so subtracting it per field
  gives the same values as subtracting it per snippet).

Both are plain ``.npy`` files read with ``mmap_mode="r"``: an item copies only the frames and
fields it samples. The folder name holds every setting that shapes the arrays (flow method,
preset, bound, compensation), so a change of any of them builds a new cache beside the old.
Entries are written atomically (``frames.npy`` first, ``flow.npy`` last: an entry is complete
when ``flow.npy`` exists).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from grounding.data.action_dataset import (
    ClipFlowCache,
    FlowSettings,
    build_missing,
    npz_error,
    rgb_input_from,
    subtract_camera_motion,
)
from grounding.data.video import read_frames
from grounding.io import atomic_path

__all__ = ["ClipInputCache"]


class ClipInputCache:
    """Decoded RGB frames and (compensated) flow fields of clips, one folder per clip.

    ``root/<settings key>[-comp]/<clip folder>/<clip stem>-<path hash>/{frames,flow}.npy``.

    Args:
        root: cache folder (created on first write).
        settings: flow method, DIS preset, truncation bound.
        min_fields: clips with fewer flow fields (one flow stack) are refused with an error
            naming the file.
        compensate: store the flow with the camera translation subtracted.
    """

    #: the flow :meth:`get` returns is already camera-compensated when this is set
    compensated: bool

    def __init__(
        self,
        root: str | Path,
        *,
        settings: FlowSettings | None = None,
        min_fields: int = 5,
        compensate: bool = False,
    ) -> None:
        self.root = Path(root)
        self.compensated = bool(compensate)
        settings = settings or FlowSettings()
        folder = settings.key() + ("-comp" if compensate else "")
        self._flow = ClipFlowCache(self.root / folder, settings=settings, min_fields=min_fields)
        self.settings = settings

    @property
    def folder(self) -> Path:
        """The folder of this cache's settings."""
        return self._flow.root

    def path_for(self, video: str | Path) -> Path:
        """The folder of ``video``'s entry."""
        npz = self._flow.path_for(video)
        return npz.with_suffix("")

    def has(self, video: str | Path) -> bool:
        """Whether ``video``'s entry is complete."""
        return (self.path_for(video) / "flow.npy").is_file()

    def _load(self, video: str | Path, name: str) -> np.ndarray:
        path = self.path_for(video) / f"{name}.npy"
        try:
            return _open(path, video)
        except FileNotFoundError:  # each file is written atomically: absent or whole
            self._build(video)
        return _open(path, video)

    def get(self, video: str | Path) -> np.ndarray:
        """``video``'s flow fields ``(F, 2, H, W)`` uint8 (memory-mapped; compensated when
        :attr:`compensated`), built when missing."""
        return self._load(video, "flow")

    def frames(self, video: str | Path) -> np.ndarray:
        """``video``'s decoded RGB frames ``(N, H, W, 3)`` uint8 (memory-mapped)."""
        return self._load(video, "frames")

    def rgb(self, video: str | Path, frames: np.ndarray, *, kind: str) -> np.ndarray:
        """:func:`grounding.data.action_dataset.snippet_rgb` from the cached frames."""
        decoded = self.frames(video)
        return rgb_input_from(lambda idx: decoded[idx], frames, kind=kind)

    def _build(self, video: str | Path) -> None:
        flow = self._flow.compute(video)  # (F, 2, H, W); refuses too-short clips
        frames = read_frames(video, np.arange(len(flow) + 1))
        if self.compensated:
            flow = subtract_camera_motion(flow)
        folder = self.path_for(video)
        for name, array in (("frames", frames), ("flow", flow)):
            with atomic_path(folder / f"{name}.npy") as tmp:
                np.save(tmp, np.ascontiguousarray(array), allow_pickle=False)

    def prepare(
        self,
        videos: Sequence[str | Path],
        *,
        rank: int = 0,
        world_size: int = 1,
        progress: bool = True,
    ) -> int:
        """Build the missing entries of ``videos[rank::world_size]``; returns how many."""
        return build_missing(
            list(videos)[rank::world_size],
            done=self.has,
            build=self._build,
            desc="input cache",
            progress=progress,
        )

    def disk_bytes(self) -> int:
        """Bytes this cache's settings folder holds."""
        if not self.folder.is_dir():
            return 0
        return sum(p.stat().st_size for p in self.folder.rglob("*.npy"))


def _open(path: Path, video: str | Path) -> np.ndarray:
    """Memory-map one cached array; a damaged file is a one-line error naming it."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise
    except Exception as exc:  # truncated header, wrong format, ...
        raise ValueError(
            f"{path}: unreadable input cache entry of {video} ({npz_error(exc)}); delete it"
        ) from None
