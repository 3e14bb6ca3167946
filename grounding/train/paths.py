"""Where a run keeps its files, the default cache folder, and the checks of a run folder
before training: a folder holding a run's outputs is refused unless ``--resume`` or
``--overwrite``, and stale temporary files of the trainer's own writers are removed."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from grounding.io import remove_stale_temps
from grounding.settings import flag
from grounding.train.distributed import DistContext, barrier

__all__ = ["RunOptions", "RunPaths", "check_run_dir", "default_cache_dir", "prepare_run_dir"]


@dataclass(frozen=True)
class RunPaths:
    """Files of one run folder ``RUN_DIR``."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoint.pt"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def predictions(self) -> Path:
        return self.root / "predictions.jsonl"


def prepare_run_dir(
    paths: RunPaths,
    outputs: Sequence[Path],
    *,
    resume: bool,
    overwrite: bool,
    is_main: bool = True,
) -> list[Path]:
    """Check the run folder before anything is loaded or trained.

    ``outputs`` are the files this run writes. Any of them already there is refused
    (``FileExistsError`` naming them) unless ``resume`` (continue from the checkpoint, which must
    then exist) or ``overwrite`` (rank 0 removes them now, so the folder never mixes two runs).
    Then rank 0 removes the stale temporary files a killed writer left for the run's files
    (only the exact names :mod:`grounding.io` gives them) and returns their paths.
    """
    if resume and overwrite:
        raise ValueError("--resume and --overwrite exclude each other: continue or replace")
    root = paths.root
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"--out is not a directory: {root}")
    for p in outputs:
        if p.exists() and not p.is_file():
            raise IsADirectoryError(f"{p} is in the way of the run's output: not a regular file")
    existing = [p for p in outputs if p.exists()]
    if existing and not (resume or overwrite):
        names = ", ".join(p.name for p in existing)
        raise FileExistsError(
            f"{root} already holds {names}: pass --resume to continue that run, --overwrite to "
            "replace these files, or choose another --out folder"
        )
    if resume and existing and not paths.checkpoint.is_file():
        names = ", ".join(p.name for p in existing)
        raise FileExistsError(
            f"--resume: {root} holds {names} but no {paths.checkpoint.name} to continue from; "
            "pass --overwrite to replace these files, or choose another --out folder"
        )
    if not is_main:
        return []
    if overwrite:
        for p in existing:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
    return remove_stale_temps(root, {p.name for p in outputs})


def default_cache_dir(data: Path, out: Path) -> Path:
    """``DATA/.cache`` (shared by the runs on that data) when the data folder is writable,
    else ``RUN_DIR/cache``. Caches: optical flow of the clips, sentence embeddings."""
    data = Path(data)
    cache = data / ".cache"
    if cache.is_dir() and os.access(cache, os.W_OK):
        return cache
    if data.is_dir() and os.access(data, os.W_OK | os.X_OK):
        return cache
    return Path(out) / "cache"


@dataclass(frozen=True)
class RunOptions:
    """How a training run is carried out (not what it computes: never part of a stage key)."""

    device: str = field(default="auto", metadata=flag("auto (CUDA when present), cpu, cuda:0"))
    resume: bool = field(default=False, metadata=flag("continue RUN_DIR/checkpoint.pt"))
    overwrite: bool = field(
        default=False, metadata=flag("replace the outputs of an earlier run in --out")
    )
    stop_after: int | None = field(default=None, metadata=flag("stop after N epochs (resumable)"))
    cache_dir: Path | None = field(
        default=None,
        metadata=flag("flow / sentence cache folder (default DATA/.cache)"),
    )


def check_run_dir(
    paths: RunPaths, outputs: Sequence[Path], options: RunOptions, ctx: DistContext
) -> None:
    """:func:`prepare_run_dir` with a trainer's ``--resume`` / ``--overwrite``; rank 0 reports
    the stale temporary files it removed."""
    removed = prepare_run_dir(
        paths,
        outputs,
        resume=options.resume,
        overwrite=options.overwrite,
        is_main=ctx.is_main,
    )
    if removed:
        names = ", ".join(p.name for p in removed)
        print(f"removed {len(removed)} stale temporary file(s) of a killed run: {names}")
    barrier(ctx)
