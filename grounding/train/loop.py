"""The training loop shared by recognition and grounding.

:func:`fit` runs the epochs: per-epoch seeding, AdamW (the paper's optimiser, initial lr
1e-3; the fused kernel where the device has one) with a cosine schedule, tqdm progress, a stop
with a message naming the epoch, step, batch and items on a non-finite loss or bad input, an
atomic checkpoint after every epoch and ``--resume`` from it (a checkpoint of another
configuration is refused with the differing fields named, by
:func:`grounding.models.checkpoint.load_checkpoint`).

Determinism: everything random in an epoch is derived from ``(seed, epoch)``: the sampler's
shuffle (``set_epoch``), the datasets' per-item generators (``set_epoch``) and the torch
generator (reseeded by :func:`epoch_seed` at the start of each epoch; dropout). So the same
seed gives the same weights, and a run resumed from the checkpoint of epoch ``k`` continues
exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import math
import random
import resource
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tabulate import tabulate
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm.auto import tqdm

from grounding.models.checkpoint import load_checkpoint, save_checkpoint
from grounding.train.distributed import DistContext, all_reduce_sum, any_rank, barrier

__all__ = [
    "EpochLoader",
    "FitResult",
    "NonFiniteError",
    "build_optimizer",
    "build_scheduler",
    "epoch_seed",
    "fit",
    "fused_supported",
    "make_loader",
    "peak_memory_mb",
    "print_table",
    "seed_everything",
]


class NonFiniteError(RuntimeError):
    """Training hit a NaN/inf loss or non-finite input; the message names the batch and step."""


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy's global generator and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (legacy global, for third-party code)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """The torch seed of one epoch on one rank (a function of its arguments only)."""
    return int(np.random.SeedSequence([int(seed), int(epoch), int(rank)]).generate_state(1)[0])


#: devices with a fused AdamW kernel in every torch this package supports
FUSED_DEVICES = ("cpu", "cuda")
#: how AdamW computes, not what: a checkpoint's values of these never replace the optimiser's
_IMPLEMENTATION_FLAGS = ("fused", "foreach")


def fused_supported(params: Iterable[torch.Tensor]) -> bool:
    """Whether ``torch.optim.AdamW(params, fused=True)`` runs: floating parameters on one of
    :data:`FUSED_DEVICES`."""
    return all(p.is_floating_point() and p.device.type in FUSED_DEVICES for p in params)


def _keep_implementation(optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> dict[str, Any]:
    """Load-state pre-hook: the saved groups take this optimiser's implementation flags, so a
    checkpoint written by a non-fused run resumes fused (and the reverse) with the same
    values; the caller's dict is not modified."""
    own = optimizer.param_groups[0]
    groups = [
        {**g, **{k: own[k] for k in _IMPLEMENTATION_FLAGS if k in own}}
        for g in state["param_groups"]
    ]
    return {**state, "param_groups": groups}


def _match_param_layout(optimizer: torch.optim.Optimizer) -> None:
    """Load-state post-hook: give every per-parameter state tensor its parameter's strides.

    A checkpoint keeps the layout it was saved in; the fused kernel walks a parameter and its
    moments as flat memory, so moments saved from a contiguous model and loaded into a
    ``channels_last`` one (or the reverse) would be applied to the wrong elements."""
    for param, state in optimizer.state.items():
        for key, value in state.items():
            if (
                isinstance(value, torch.Tensor)
                and value.shape == param.shape
                and value.stride() != param.stride()
            ):
                state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)


def build_optimizer(
    model: nn.Module, *, lr: float, weight_decay: float, fused: bool | None = None
) -> torch.optim.AdamW:
    """AdamW over the trainable parameters (frozen Partial-BN layers excluded).

    ``fused``: one fused kernel for the whole update instead of a chain of ``foreach`` ops
    (same values to float rounding); ``None``: where :func:`fused_supported`. Optimiser state
    loaded later (``--resume``) keeps this implementation and gets the parameters' memory
    layout, whatever the checkpoint was saved with."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    if fused is None:
        fused = fused_supported(params)
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused)
    optimizer.register_load_state_dict_pre_hook(_keep_implementation)
    optimizer.register_load_state_dict_post_hook(_match_param_layout)
    return optimizer


def build_scheduler(
    optimizer: torch.optim.Optimizer, *, total_steps: int, warmup_steps: int = 0
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up for ``warmup_steps``, then cosine decay to 0 at ``total_steps``."""
    total = max(1, int(total_steps))
    warm = max(0, min(int(warmup_steps), total - 1))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / (warm + 1)
        progress = min(1.0, (step - warm) / max(1, total - warm))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@dataclass
class EpochLoader:
    """A DataLoader whose sampler and dataset learn the epoch before it is iterated."""

    dataset: Dataset
    loader: DataLoader
    sampler: DistributedSampler

    def epoch(self, epoch: int) -> DataLoader:
        self.sampler.set_epoch(epoch)
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        return self.loader

    def __len__(self) -> int:
        return len(self.loader)


def make_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    ctx: DistContext,
    shuffle: bool,
    seed: int,
    workers: int = 0,
    collate_fn: Callable[[list[Any]], Any] | None = None,
) -> EpochLoader:
    """This rank's loader: ``batch_size`` is the global batch, split over the ranks; the order
    is a :class:`DistributedSampler`'s (one process included, so orders agree)."""
    if batch_size < ctx.world_size:
        raise ValueError(
            f"batch size {batch_size} is smaller than the number of processes {ctx.world_size}"
        )
    sampler = DistributedSampler(
        dataset,
        num_replicas=ctx.world_size,
        rank=ctx.rank,
        shuffle=shuffle,
        seed=seed,
        drop_last=False,
    )
    loader = DataLoader(
        dataset,
        batch_size=batch_size // ctx.world_size,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate_fn,
        pin_memory=ctx.device.type == "cuda",
    )
    return EpochLoader(dataset, loader, sampler)


@dataclass
class FitResult:
    """What :func:`fit` did: per-epoch history, epochs completed, where it resumed."""

    history: list[dict[str, float]] = field(default_factory=list)
    epochs_done: int = 0
    resumed_from_epoch: int | None = None
    seconds: float = 0.0


def _describe(batch: Any) -> str:
    if isinstance(batch, Mapping) and "index" in batch:
        idx = torch.as_tensor(batch["index"]).flatten().tolist()
        more = f" (+{len(idx) - 8} more)" if len(idx) > 8 else ""
        return f"items {idx[:8]}{more}"
    return "batch"


def _batch_size(batch: Any) -> int:
    if isinstance(batch, Mapping) and "index" in batch:
        return len(batch["index"])
    return 1


StepFn = Callable[[nn.Module, Any], torch.Tensor]


def fit(
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    loader: EpochLoader,
    step: StepFn,
    epochs: int,
    ctx: DistContext,
    checkpoint: Path,
    config: Any,
    seed: int,
    resume: bool = False,
    stop_after: int | None = None,
    describe: Callable[[Any], str] = _describe,
    desc: str = "train",
) -> FitResult:
    """Train ``model`` (already on ``ctx.device``, DDP-wrapped when distributed).

    Args:
        step: ``(model, batch) -> mean loss`` of one batch (forward only; ``fit`` runs the
            backward pass and the optimiser).
        checkpoint: written atomically after every epoch (rank 0); with ``resume`` an existing
            one is loaded (config checked) and training continues after its epoch. Without
            ``resume`` an existing checkpoint is an error (nothing is overwritten silently).
        stop_after: stop after this many epochs of this call (an interruption on purpose; the
            run can be resumed).
        describe: names the items of a batch in error messages.

    Raises:
        NonFiniteError: a non-finite loss, or bad input rejected by the model (NaN features,
            wrong shapes), naming epoch, step, batch and items. All ranks stop together.
    """
    result = FitResult()
    global_step = 0
    if checkpoint.exists():
        if not resume:
            raise FileExistsError(
                f"{checkpoint} already exists: pass --resume to continue that run, or choose "
                "another --out folder"
            )
        ck = load_checkpoint(
            checkpoint,
            model=model,
            expected_config=config,
            optimizer=optimizer,
            scheduler=scheduler,
            restore_rng=True,
            map_location=ctx.device,
        )
        result.history = list(ck.extra.get("history", []))
        result.epochs_done = result.resumed_from_epoch = ck.epoch + 1
        global_step = ck.step
    t_start = time.perf_counter()
    start = result.epochs_done
    for epoch in range(start, epochs):
        if stop_after is not None and epoch - start >= stop_after:
            break
        t0 = time.perf_counter()
        torch.manual_seed(epoch_seed(seed, epoch, ctx.rank))
        model.train()
        total, count = 0.0, 0
        bar = tqdm(
            loader.epoch(epoch),
            desc=f"{desc} epoch {epoch + 1}/{epochs}",
            unit="batch",
            disable=not ctx.is_main,
            leave=False,
        )
        for b, batch in enumerate(bar):
            error: Exception | None = None
            loss = None
            try:
                loss = step(model, batch)
                bad = not bool(torch.isfinite(loss.detach()).all())
            except ValueError as exc:  # input checks of the models (NaN features, shapes)
                error, bad = exc, True
            if any_rank(bad, ctx):
                where = f"epoch {epoch + 1}, step {global_step + 1}, batch {b} ({describe(batch)})"
                if error is not None:
                    raise NonFiniteError(f"bad input at {where}: {error}") from error
                if loss is not None and bad:
                    raise NonFiniteError(f"non-finite loss {loss.item()} at {where}")
                raise NonFiniteError(f"another process stopped on bad input at {where}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            global_step += 1
            n = _batch_size(batch)
            total += float(loss.item()) * n
            count += n
            bar.set_postfix(loss=f"{total / max(count, 1):.4f}")
        total, count = all_reduce_sum([total, count], ctx)
        result.epochs_done = epoch + 1
        result.history.append(
            {
                "epoch": epoch + 1,
                "loss": total / max(count, 1),
                "lr": float(optimizer.param_groups[0]["lr"]),
                "seconds": round(time.perf_counter() - t0, 2),
            }
        )
        if ctx.is_main:
            save_checkpoint(
                checkpoint,
                model=model,
                optimizer=optimizer,
                scheduler=scheduler,
                step=global_step,
                epoch=epoch,
                config=config,
                extra={"history": result.history},
            )
            h = result.history[-1]
            tqdm.write(
                f"{desc} epoch {epoch + 1}/{epochs}: loss {h['loss']:.4f} ({h['seconds']:.1f} s)"
            )
        barrier(ctx)
    result.seconds = time.perf_counter() - t_start
    return result


def peak_memory_mb() -> dict[str, float]:
    """Peak resident memory in MiB of this process and of its largest finished child
    (DataLoader workers) from ``getrusage`` (Linux reports KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"self_mb": round(own, 1), "children_mb": round(children, 1)}


def print_table(
    rows: Iterable[Iterable[Any]], headers: Iterable[str], ctx: DistContext | None = None
) -> None:
    """Print a tabulate table (rank 0 only)."""
    if ctx is None or ctx.is_main:
        print(tabulate(list(rows), headers=list(headers), floatfmt=".2f"), flush=True)
