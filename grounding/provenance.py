"""What a results file records about how it was made: commit, versions, device, time."""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

_PACKAGES = (
    "grounding",
    "numpy",
    "scipy",
    "pandas",
    "torch",
    "transformers",
    "opencv-python-headless",
    "h5py",
)


def git_commit(cwd: Path | None = None) -> str:
    """HEAD commit of the checkout holding this package (``+dirty`` if modified), or
    ``unknown`` outside a git checkout."""
    where = cwd or Path(__file__).resolve().parent

    def git(*args: str) -> str:
        run = subprocess.run(
            ["git", *args], cwd=where, capture_output=True, text=True, check=True, timeout=10
        )
        return run.stdout.strip()

    try:
        sha = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


def versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def device_name(device: str = "cpu") -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    return f"cpu: {platform.processor() or platform.machine()}"


def provenance(device: str = "cpu") -> dict:
    return {
        "commit": git_commit(),
        "versions": versions(),
        "device": device_name(device),
        "platform": platform.platform(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
    }
