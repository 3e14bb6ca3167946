"""Training checkpoints: atomic save, safe load with a config check, safetensors export.

A checkpoint is a ``torch.save`` dict of plain data (tensors, numbers, strings), written via
:func:`grounding.io.atomic_path` so a crash never leaves a half-written file, and read back
with ``torch.load(weights_only=True)`` (never unpickling arbitrary objects). It stores the
model and optimizer (and optional scheduler) state, ``step``, ``epoch``, the model config
dataclass as JSON, the RNG states (Python, NumPy global, torch CPU and CUDA) and a free
``extra`` dict of plain data. Loading refuses a checkpoint whose stored config differs from
the expected one and names the differing fields.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from grounding.io import atomic_path, check_input_file

FORMAT_VERSION = 1


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside DistributedDataParallel / DataParallel wrappers."""
    while isinstance(model, nn.parallel.DistributedDataParallel | nn.DataParallel):
        model = model.module
    return model


def config_to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as JSON-compatible data (tuples become lists, paths strings)."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"config must be a dataclass instance, got {type(config).__name__}")
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def config_differences(stored: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """``"field: checkpoint X, expected Y"`` for every differing field. A field the checkpoint
    does not have is no difference while the expected value is ``None`` (an option added after
    the checkpoint was written, left off)."""
    diffs = []
    for key in sorted(set(stored) | set(expected)):
        if key not in expected:
            diffs.append(f"{key}: checkpoint {stored[key]!r}, not in the expected config")
        elif key not in stored:
            if expected[key] is None:  # a field added later, at its "off" default
                continue
            diffs.append(f"{key}: missing from the checkpoint, expected {expected[key]!r}")
        elif stored[key] != expected[key]:
            diffs.append(f"{key}: checkpoint {stored[key]!r}, expected {expected[key]!r}")
    return diffs


def capture_rng_state() -> dict[str, Any]:
    """Python, NumPy (global), torch CPU and CUDA generator states as plain data."""
    name, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 (legacy global)
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss_next],
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state(  # noqa: NPY002 (legacy global)
        (name, keys.numpy().astype(np.uint32), pos, has_gauss, cached)
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns besides loading the states in place."""

    path: Path
    step: int
    epoch: int
    config: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    rng_state: dict[str, Any] | None = None


def save_checkpoint(
    path: str | Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    step: int,
    epoch: int,
    config: Any,
    extra: dict[str, Any] | None = None,
    save_rng: bool = True,
) -> Path:
    """Write a checkpoint atomically; returns the path."""
    obj = {
        "format_version": FORMAT_VERSION,
        "config_type": type(config).__name__,
        "config_json": json.dumps(config_to_dict(config), sort_keys=True),
        "model": unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "step": int(step),
        "epoch": int(epoch),
        "extra": dict(extra or {}),
        "rng_state": capture_rng_state() if save_rng else None,
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return path


def load_checkpoint(
    path: str | Path,
    *,
    model: nn.Module,
    expected_config: Any,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    restore_rng: bool = False,
    ignore_fields: Collection[str] = (),
    map_location: str | torch.device = "cpu",
) -> Checkpoint:
    """Load a checkpoint into ``model`` (and ``optimizer`` / ``scheduler`` when given).

    Raises ``ValueError`` naming the file when it is not a checkpoint of this package, when
    its config differs from ``expected_config`` (fields in ``ignore_fields`` excepted; the
    message lists every differing field), or when the state dicts do not fit.
    """
    path = check_input_file(path, "checkpoint")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable checkpoint ({exc})") from exc
    if not isinstance(obj, dict) or obj.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: not a grounding checkpoint (format {FORMAT_VERSION})")
    stored = json.loads(obj["config_json"])
    expected = config_to_dict(expected_config)
    diffs = [
        d
        for d in config_differences(stored, expected)
        if d.split(":", 1)[0] not in set(ignore_fields)
    ]
    if diffs or obj["config_type"] != type(expected_config).__name__:
        kinds = f"{obj['config_type']} vs {type(expected_config).__name__}"
        raise ValueError(
            f"{path}: checkpoint config differs from the expected one ({kinds}): "
            + "; ".join(diffs)
        )
    try:
        unwrap(model).load_state_dict(obj["model"])
    except RuntimeError as exc:
        raise ValueError(f"{path}: model state does not fit: {exc}") from exc
    for name, target in (("optimizer", optimizer), ("scheduler", scheduler)):
        if target is None:
            continue
        if obj[name] is None:
            raise ValueError(f"{path}: checkpoint has no {name} state")
        try:
            target.load_state_dict(obj[name])
        except (ValueError, KeyError, RuntimeError) as exc:
            raise ValueError(f"{path}: {name} state does not fit: {exc}") from exc
    if restore_rng:
        if obj["rng_state"] is None:
            raise ValueError(f"{path}: checkpoint was saved without RNG state")
        restore_rng_state(obj["rng_state"])
    return Checkpoint(
        path=path,
        step=obj["step"],
        epoch=obj["epoch"],
        config=stored,
        extra=obj["extra"],
        rng_state=obj["rng_state"],
    )


def export_safetensors(model: nn.Module, path: str | Path, *, config: Any | None = None) -> Path:
    """Write the model weights as ``.safetensors`` (atomically), with the config as JSON in
    the metadata under ``"config"``. Shared tensors are stored once."""
    from safetensors.torch import save_model

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"export path must end in .safetensors, got {path}")
    metadata = {"format": "pt"}
    if config is not None:
        metadata["config"] = json.dumps(config_to_dict(config), sort_keys=True)
        metadata["config_type"] = type(config).__name__
    with atomic_path(path) as tmp:
        save_model(unwrap(model), str(tmp), metadata=metadata)
    return path
