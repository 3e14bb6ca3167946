"""Pre-extracted clip features per video: ``(T, D)`` float32 arrays keyed by video id.

The layouts the grounding literature ships:

- ``i3d`` (Charades-STA, e.g. MMN/VSLNet): a folder of ``<vid>.npy``, each ``(T, 1024)``, or one
  HDF5 keyed by vid;
- ``vgg`` (Charades-STA, 2D-TAN): one HDF5 file ``f[vid]`` of shape ``(T, 4096)``;
- ``c3d`` (ActivityNet, 2D-TAN/MMN): ``sub_activitynet_v1-3.c3d.hdf5`` with
  ``f[vid]['c3d_features']`` of shape ``(T, 500)``;
- Moment-DETR / Lighthouse (CLIP, SlowFast, ...): a folder of ``<vid>.npz``, the ``(T, D)`` array
  under the key ``features`` (or the file's only array).

Every store validates what it returns: a 2-D numeric array with ``T >= 1`` and only finite values,
converted to float32; anything else raises :class:`FeatureError` naming the file and the video.
A video that is not in the store raises :class:`MissingFeatures` (a ``KeyError``). User files are
never unpickled (``np.load(..., allow_pickle=False)``).

:func:`resample_features` maps ``(T, D)`` to a fixed ``(N, D)`` grid exactly as 2D-TAN's and MMN's
``average_to_fixed_length`` does.
"""

from __future__ import annotations

import abc
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from grounding.io import check_input_dir, check_input_file

__all__ = [
    "FEATURE_TYPES",
    "FeatureError",
    "FeatureSpec",
    "FeatureStore",
    "HDF5Features",
    "MissingFeatures",
    "NpyFolderFeatures",
    "NpzFolderFeatures",
    "open_features",
    "resample_features",
]


class FeatureError(ValueError):
    """Unreadable or invalid features; the message names the file and the video id."""

    def __init__(self, path: str | Path, vid: str | None, message: str) -> None:
        where = f"{path}" if vid is None else f"{path} [{vid}]"
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.vid = vid


class MissingFeatures(KeyError):
    """A video id with no features in the store (a ``KeyError`` with a readable message)."""

    def __init__(self, path: str | Path, vid: str) -> None:
        super().__init__(vid)
        self.message = f"{path}: no features for video {vid!r}"

    def __str__(self) -> str:
        return self.message


class FeatureStore(abc.ABC):
    """Read-only mapping ``vid -> (T, D) float32`` features.

    :func:`open_features` checks every video's shape when it opens a store
    (:meth:`check_shapes`), so a video of the wrong width is an error naming it at once.

    Subclasses implement :meth:`keys`, :meth:`__contains__`, :meth:`_read` (the raw array) and
    :meth:`_shape` (the raw shape, cheaply); this base validates every array it returns.
    """

    source: str
    _checked_dim: int | None = None  # set by check_shapes

    @abc.abstractmethod
    def keys(self) -> list[str]:
        """All video ids, sorted."""

    @abc.abstractmethod
    def __contains__(self, vid: object) -> bool: ...

    @abc.abstractmethod
    def _read(self, vid: str) -> Any:
        """The stored array of ``vid`` (known to exist); raise FeatureError when unreadable."""

    @abc.abstractmethod
    def _shape(self, vid: str) -> tuple[int, ...]:
        """The stored shape of ``vid`` without loading the data."""

    def __getitem__(self, vid: str) -> np.ndarray:
        """Features of ``vid``, shape ``(T, D)``, float32, all finite."""
        if vid not in self:
            raise MissingFeatures(self.source, vid)
        return _validated(self._read(vid), self.source, vid)

    def __len__(self) -> int:
        return len(self.keys())

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def _location(self, vid: str) -> str:
        """Where ``vid``'s features live, for messages (the file of a per-video store)."""
        return self.source

    @property
    def dim(self) -> int:
        """Feature dimension ``D`` (the width :meth:`check_shapes` found, else the first
        video's)."""
        if self._checked_dim is not None:
            return self._checked_dim
        keys = self.keys()
        if not keys:
            raise FeatureError(self.source, None, "the feature store is empty")
        shape = self._shape(keys[0])
        if len(shape) != 2:
            raise FeatureError(
                self._location(keys[0]), keys[0], f"expected (T, D) features, got {shape}"
            )
        return int(shape[1])

    def check_shapes(self) -> int:
        """Check every video's stored shape (file headers / HDF5 metadata, not the data) and
        return the common width ``D``: a video that is not ``(T, D)`` with ``T, D >= 1``, or
        whose width differs from the other videos', raises :class:`FeatureError` naming its
        file and video id, before any training rather than when the video is first read."""
        keys = self.keys()
        if not keys:
            raise FeatureError(self.source, None, "the feature store is empty")
        by_width: dict[int, list[str]] = {}
        for vid in keys:
            shape = tuple(self._shape(vid))
            if len(shape) != 2 or shape[0] < 1 or shape[1] < 1:
                raise FeatureError(
                    self._location(vid),
                    vid,
                    f"expected (T, D) features with T, D >= 1, got {shape}",
                )
            by_width.setdefault(int(shape[1]), []).append(vid)
        if len(by_width) > 1:
            # the width most videos have is taken as right; the others are named
            common = max(by_width, key=lambda d: (len(by_width[d]), -d))
            odd = [(vid, d) for d, vids in by_width.items() if d != common for vid in vids]
            vid, width = odd[0]
            others = ", ".join(f"{v} ({d})" for v, d in odd[1:4])
            more = f"; also {others}" + (" ..." if len(odd) > 4 else "") if others else ""
            raise FeatureError(
                self._location(vid),
                vid,
                f"feature width {width}, but {len(by_width[common])} of the {len(keys)} videos "
                f"have width {common} (e.g. {by_width[common][0]}); {len(odd)} video(s) "
                f"differ{more}",
            )
        self._checked_dim = next(iter(by_width))
        return self._checked_dim


def _validated(arr: Any, path: str, vid: str) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise FeatureError(path, vid, f"expected (T, D) features with T, D >= 1, got {arr.shape}")
    if arr.dtype.kind not in "fiu":
        raise FeatureError(path, vid, f"features must be numeric, got dtype {arr.dtype}")
    with np.errstate(over="ignore"):  # too-large values become inf and are reported below
        out = arr.astype(np.float32, copy=False)
    finite = np.isfinite(out)
    if not finite.all():
        frames = np.flatnonzero(~finite.all(axis=1))
        raise FeatureError(
            path,
            vid,
            f"{int((~finite).sum())} non-finite values (NaN/inf, or too large for float32) "
            f"in {len(frames)} of {len(out)} frames, first at frame {int(frames[0])}",
        )
    return out


class NpyFolderFeatures(FeatureStore):
    """A folder with one ``<vid>.npy`` of shape ``(T, D)`` per video."""

    def __init__(self, root: Path) -> None:
        self.root = check_input_dir(root, "feature folder")
        self.source = str(self.root)
        self._keys: list[str] | None = None

    def _file(self, vid: str) -> Path:
        return self.root / f"{vid}.npy"

    def keys(self) -> list[str]:
        if self._keys is None:
            self._keys = sorted(p.stem for p in self.root.glob("*.npy") if p.is_file())
        return self._keys

    def __contains__(self, vid: object) -> bool:
        return (
            isinstance(vid, str)
            and "/" not in vid
            and "\\" not in vid
            and vid not in ("", ".", "..")
            and self._file(vid).is_file()
        )

    def _load(self, vid: str, **kwargs: Any) -> np.ndarray:
        path = self._file(vid)
        try:
            return np.load(path, allow_pickle=False, **kwargs)
        except (ValueError, OSError, EOFError) as e:
            raise FeatureError(path, vid, f"not a readable .npy array ({e})") from None

    def _location(self, vid: str) -> str:
        return str(self._file(vid))

    def _read(self, vid: str) -> np.ndarray:
        return self._load(vid)

    def _shape(self, vid: str) -> tuple[int, ...]:
        return self._load(vid, mmap_mode="r").shape


class NpzFolderFeatures(NpyFolderFeatures):
    """A folder with one ``<vid>.npz`` per video (Moment-DETR / Lighthouse layout): the
    ``(T, D)`` array under the key ``features``, or the file's only array."""

    KEY = "features"

    def _file(self, vid: str) -> Path:
        return self.root / f"{vid}.npz"

    def keys(self) -> list[str]:
        if self._keys is None:
            self._keys = sorted(p.stem for p in self.root.glob("*.npz") if p.is_file())
        return self._keys

    def _member(self, names: list[str], path: Path, vid: str) -> str:
        if self.KEY in names:
            return self.KEY
        if len(names) == 1:
            return names[0]
        raise FeatureError(
            path, vid, f"holds {sorted(names)}: expected a {self.KEY!r} array or a single array"
        )

    def _read(self, vid: str) -> np.ndarray:
        path = self._file(vid)
        try:
            with np.load(path, allow_pickle=False) as f:
                return f[self._member(list(f.files), path, vid)]
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
            raise FeatureError(path, vid, f"not a readable .npz archive ({e})") from None

    def _shape(self, vid: str) -> tuple[int, ...]:
        """The array's shape from its .npy header inside the archive (nothing else is read)."""
        path = self._file(vid)
        try:
            with zipfile.ZipFile(path) as z:
                names = [n.removesuffix(".npy") for n in z.namelist()]
                member = self._member(names, path, vid)
                with z.open(f"{member}.npy") as f:
                    version = np.lib.format.read_magic(f)
                    if version == (1, 0):
                        return np.lib.format.read_array_header_1_0(f)[0]
                    if version == (2, 0):
                        return np.lib.format.read_array_header_2_0(f)[0]
            return self._read(vid).shape
        except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as e:
            raise FeatureError(path, vid, f"not a readable .npz archive ({e})") from None


class HDF5Features(FeatureStore):
    """One HDF5 file keyed by video id.

    Args:
        path: the ``.h5`` / ``.hdf5`` file.
        dataset_key: ``None`` when ``f[vid]`` is the ``(T, D)`` dataset (Charades VGG/I3D);
            the dataset name inside the group ``f[vid]`` otherwise (``"c3d_features"`` for
            ActivityNet's ``sub_activitynet_v1-3.c3d.hdf5``).

    The file is opened lazily and reopened after pickling, so a store can be handed to
    ``DataLoader`` workers.
    """

    def __init__(self, path: Path, *, dataset_key: str | None = None) -> None:
        self.path = check_input_file(path, "feature file")
        self.source = str(self.path)
        self.dataset_key = dataset_key
        self._file: h5py.File | None = None
        self._keys: list[str] | None = None
        self._h5()  # fail early on a file that is not HDF5

    def _h5(self) -> h5py.File:
        if self._file is None:
            try:
                self._file = h5py.File(self.path, "r")
            except OSError as e:
                raise FeatureError(self.path, None, f"not a readable HDF5 file ({e})") from None
        return self._file

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> HDF5Features:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_file"] = None
        return state

    def keys(self) -> list[str]:
        if self._keys is None:
            self._keys = sorted(self._h5().keys())
        return self._keys

    def __contains__(self, vid: object) -> bool:
        return isinstance(vid, str) and vid != "" and vid in self._h5()

    def _dataset(self, vid: str) -> h5py.Dataset:
        node = self._h5()[vid]
        if self.dataset_key is not None:
            if not isinstance(node, h5py.Group) or self.dataset_key not in node:
                have = sorted(node.keys()) if isinstance(node, h5py.Group) else "a dataset"
                raise FeatureError(self.path, vid, f"no {self.dataset_key!r} in f[vid] ({have})")
            node = node[self.dataset_key]
        if not isinstance(node, h5py.Dataset):
            raise FeatureError(
                self.path,
                vid,
                f"f[vid] is a group with {sorted(node.keys())}: pass dataset_key=",
            )
        return node

    def _read(self, vid: str) -> np.ndarray:
        dataset = self._dataset(vid)
        try:
            return dataset[()]
        except (OSError, ValueError, TypeError) as e:
            raise FeatureError(self.path, vid, f"cannot read features ({e})") from None

    def _shape(self, vid: str) -> tuple[int, ...]:
        shape = self._dataset(vid).shape
        return () if shape is None else tuple(shape)  # None: an empty (null) dataset


@dataclass(frozen=True)
class FeatureSpec:
    """What a named feature type usually is (``dim`` is informative, not enforced)."""

    dim: int
    dataset_key: str | None
    description: str


FEATURE_TYPES: dict[str, FeatureSpec] = {
    "i3d": FeatureSpec(1024, None, "Charades-STA I3D: folder of <vid>.npy or HDF5 f[vid]"),
    "vgg": FeatureSpec(4096, None, "Charades-STA VGG (2D-TAN): HDF5 f[vid]"),
    "c3d": FeatureSpec(
        500,
        "c3d_features",
        "ActivityNet C3D: sub_activitynet_v1-3.c3d.hdf5, f[vid]['c3d_features']",
    ),
}

_HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")


def open_features(path: Path, *, feature_type: str, check: bool = True) -> FeatureStore:
    """Open a feature store by layout: a folder -> :class:`NpyFolderFeatures`; an HDF5 file ->
    :class:`HDF5Features` with the ``dataset_key`` of ``feature_type`` (see ``FEATURE_TYPES``).
    ``check``: check every video's shape now (:meth:`FeatureStore.check_shapes`)."""
    store = _open_store(path, feature_type=feature_type)
    if check:
        store.check_shapes()
    return store


def _open_store(path: Path, *, feature_type: str) -> FeatureStore:
    spec = FEATURE_TYPES.get(feature_type.lower())
    if spec is None:
        raise ValueError(f"unknown feature_type {feature_type!r}; known: {sorted(FEATURE_TYPES)}")
    path = Path(path)
    if path.is_dir():
        has_npy = any(p.is_file() for p in path.glob("*.npy"))
        has_npz = any(p.is_file() for p in path.glob("*.npz"))
        if has_npy and has_npz:
            raise ValueError(f"{path}: holds both <vid>.npy and <vid>.npz files; keep one layout")
        return NpzFolderFeatures(path) if has_npz else NpyFolderFeatures(path)
    if path.suffix.lower() in _HDF5_SUFFIXES:
        return HDF5Features(path, dataset_key=spec.dataset_key)
    if not path.exists():
        raise FileNotFoundError(
            f"{feature_type} features not found: {path} (expected {spec.description})"
        )
    raise ValueError(
        f"{path}: expected a folder of <vid>.npy or <vid>.npz, or an HDF5 file "
        f"({', '.join(_HDF5_SUFFIXES)})"
    )


def resample_features(x: np.ndarray, n: int) -> np.ndarray:
    """Average-pool ``(T, D)`` features onto ``n`` equal spans -> ``(n, D)``.

    Exactly 2D-TAN's / MMN's ``average_to_fixed_length``: span boundaries
    ``b_i = min(round(i * T / n), T - 1)`` for ``i = 0..n`` (float32 arithmetic, round half to
    even); span ``i`` is the mean of frames ``b_i .. b_{i+1} - 1``, or frame ``b_i`` alone when the
    span is empty (``T < n``). Note the inherited quirk: the last frame enters a mean only
    through an empty span, since boundaries are capped at ``T - 1``.
    """
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"expected (T, D) features with T >= 1, got shape {x.shape}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    t = x.shape[0]
    pos = np.arange(n + 1, dtype=np.float32) / np.float32(n) * np.float32(t)
    bounds = np.minimum(np.round(pos).astype(np.int64), t - 1)
    start, end = bounds[:-1], bounds[1:]
    csum = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0, dtype=np.float64)])
    count = end - start
    means = (csum[end] - csum[start]) / np.maximum(count, 1)[:, None]
    out = np.where((count > 0)[:, None], means, x[start])
    return out.astype(np.float32 if x.dtype != np.float64 else np.float64)
