"""Where a run keeps its files, and the default cache folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RunPaths", "default_cache_dir"]


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
