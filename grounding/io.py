"""Atomic file writing and checked paths.

Every result, checkpoint, cache and annotation file the package writes goes through
:func:`atomic_write`: the data goes to a temporary file in the same directory and is renamed
over the target only when complete, so a crash never leaves a half-written file that a later
run could mistake for a finished one. The file is fsynced before the rename and its directory
after it (power loss keeps either the old or the new file), and it gets the permissions of a
file created normally (``0666 & ~umask``), not ``mkstemp``'s ``0600``.

A killed writer can leave its temporary file behind; :func:`temp_target` recognises exactly the
names the two helpers create (``.NAME.XXXXXXXX.tmp`` and ``.STEM.XXXXXXXX.tmpSUFFIX``) and
:func:`remove_stale_temps` deletes those of chosen targets, never anything else.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

#: the random part of a ``tempfile.mkstemp`` name (8 of these characters)
_MKSTEMP_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"
_TEMP_NAME = re.compile(
    r"^\.(?P<stem>.+)\.[" + re.escape(_MKSTEMP_CHARS) + r"]{8}\.tmp(?P<suffix>\.[^./]+)?$",
    re.DOTALL,
)


def current_umask() -> int:
    """The process's umask (from ``/proc/self/status`` where it can, so no thread sees it
    changed; else by setting and restoring it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_dir(path: str | Path) -> None:
    """Flush a directory's entries (a rename into it) to disk; a file system that cannot
    fsync a directory is left as it is."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
    finally:
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
    fsync_dir(path.parent)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` for libraries that write by file name
    (h5py, cv2.VideoWriter, torch.save, np.savez); it is fsynced and renamed onto ``path`` on
    success. The temporary name keeps the target's suffix so format detection by extension
    works."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(fd)
    os.unlink(tmp)
    try:
        yield Path(tmp)
        if os.path.isfile(tmp):
            _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def temp_target(name: str) -> str | None:
    """The file name whose :func:`atomic_write` / :func:`atomic_path` temporary ``name`` is
    (``.metrics.json.ab12cd_9.tmp`` -> ``metrics.json``, ``.checkpoint.ab12cd_9.tmp.pt`` ->
    ``checkpoint.pt``), or None when ``name`` is not such a temporary name."""
    m = _TEMP_NAME.match(name)
    if m is None:
        return None
    return m["stem"] + (m["suffix"] or "")


def remove_stale_temps(
    directory: str | Path, targets: Iterable[str] | Callable[[str], bool]
) -> list[Path]:
    """Delete the temporary files a killed :func:`atomic_write` / :func:`atomic_path` left in
    ``directory`` (not recursive) for the target names ``targets`` (a collection of names or a
    predicate on a name); anything else is left alone. Returns the removed paths."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    if callable(targets):
        wanted = targets
    else:
        names = set(targets)
        wanted = names.__contains__
    removed = []
    for p in sorted(directory.iterdir()):
        target = temp_target(p.name)
        if target is None or not wanted(target) or p.is_symlink() or not p.is_file():
            continue
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            removed.append(p)
    return removed


def write_json_atomic(path: str | Path, obj: Any, *, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON atomically and return the path."""
    with atomic_write(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=indent, sort_keys=False, allow_nan=False)
        f.write("\n")
    return Path(path)


def json_safe(obj: Any) -> Any:
    """NaN and infinities -> ``None`` throughout nested dicts and lists (JSON has neither)."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [json_safe(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


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
    """The first ``chars`` hex digits of the file's SHA-256 (read in 1 MiB blocks; 64: all)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:chars]


def read_json(path: str | Path, what: str = "file") -> Any:
    """Parse the JSON file ``path``; every failure is a one-line error naming the file (and the
    line and column of a syntax error): ``FileNotFoundError`` / ``IsADirectoryError`` /
    ``PermissionError`` from :func:`check_input_file`, ``ValueError`` for an empty file,
    text that is not UTF-8 (a leading BOM is allowed) or invalid JSON."""
    p = check_input_file(path, what)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise OSError(f"{what} {p}: cannot read ({e.strerror or e})") from e
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ValueError(
            f"{what} {p}: not UTF-8 text (line {line}, byte 0x{data[e.start]:02x} at offset "
            f"{e.start})"
        ) from e
    if not text.strip():
        raise ValueError(f"{what} {p}: empty file, expected JSON")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(
            f"{what} {p}: invalid JSON at line {e.lineno} column {e.colno} ({e.msg})"
        ) from e
    except RecursionError as e:
        raise ValueError(f"{what} {p}: JSON nested too deeply") from e
