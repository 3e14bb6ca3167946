"""The one device rule of every command (``--device auto|cpu|cuda|cuda:K``)."""

from __future__ import annotations

import torch

__all__ = ["DeviceError", "resolve_device"]


class DeviceError(ValueError):
    """The requested device cannot be used (e.g. ``cuda`` on a machine without CUDA)."""


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when ``torch.cuda.is_available()``, else CPU; ``"cpu"``, ``"cuda"``,
    ``"cuda:K"`` as given, checked.

    Raises:
        DeviceError: CUDA was asked for but is not available, or the index does not exist.
        ValueError: an unknown device string.
    """
    name = str(device) if isinstance(device, torch.device) else str(device).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:K") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            built = torch.version.cuda or "none (a CPU-only build)"
            raise DeviceError(
                f"device {name!r} was requested but CUDA is not available "
                f"(torch {torch.__version__}, CUDA build: {built}, "
                f"visible GPUs: {torch.cuda.device_count()}); use --device cpu or auto"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(
                f"device {name!r} does not exist: {torch.cuda.device_count()} GPU(s) visible"
            )
    elif dev.type != "cpu":
        raise ValueError(f"unsupported device {device!r}; use auto, cpu, cuda or cuda:K")
    return dev
