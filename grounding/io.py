"""Atomic file writing and checked paths.

Every result, checkpoint, cache and annotation file the package writes goes through
:func:`atomic_write`: the data goes to a temporary file in the same directory and is renamed
over the target only when complete, so a crash never leaves a half-written file that a later
run could mistake for a finished one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", **open_kwargs: Any) -> Iterator[Any]:
    """Open a temporary sibling of ``path`` for writing; rename it onto ``path`` on success.

    Usage::

        with atomic_write("out.json") as f:
            json.dump(obj, f)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with open(tmp, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` for libraries that write by file name
    (h5py, cv2.VideoWriter, torch.save, np.savez); it is renamed onto ``path`` on success.
    The temporary name keeps the target's suffix so format detection by extension works."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(fd)
    os.unlink(tmp)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json_atomic(path: str | Path, obj: Any, *, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON atomically and return the path."""
    with atomic_write(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=indent, sort_keys=False, allow_nan=False)
        f.write("\n")
    return Path(path)


def check_input_file(path: str | Path, what: str = "file") -> Path:
    """Return ``Path(path)`` if it is a readable regular file, else raise a clear error."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{what} not found: {p}")
    if not p.is_file():
        raise IsADirectoryError(f"{what} is not a regular file: {p}")
    if not os.access(p, os.R_OK):
        raise PermissionError(f"{what} is not readable: {p}")
    return p


def check_input_dir(path: str | Path, what: str = "directory") -> Path:
    """Return ``Path(path)`` if it is an existing readable directory, else raise a clear error."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{what} not found: {p}")
    if not p.is_dir():
        raise NotADirectoryError(f"{what} is not a directory: {p}")
    if not os.access(p, os.R_OK | os.X_OK):
        raise PermissionError(f"{what} is not readable: {p}")
    return p


def file_digest(path: str | Path, *, chars: int = 16) -> str:
    """The first ``chars`` hex digits of the file's SHA-256 (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:chars]
