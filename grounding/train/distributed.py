"""Distributed data parallel training under ``torchrun`` (docs/design.md, "Scale").

``torchrun --nproc_per_node=2 -m grounding.train ...`` starts one process per rank with
``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` in the environment; :func:`init_distributed` reads
them and joins the process group (gloo on CPU, nccl on CUDA). Without them it returns a
single-process context and every helper here is a no-op, so the same code runs both ways.

Rules the training code follows:

- the global batch is split evenly over the ranks (``batch_size // world_size`` each), the
  data order comes from :class:`torch.utils.data.DistributedSampler` (also for one process,
  so one and two processes see the same global order) and DDP averages gradients;
- evaluation shards the test items without padding (:func:`shard`) and gathers the
  predictions (:func:`gather_objects`), so metrics are computed once, on every item, exactly;
- loss sums are all-reduced (:func:`all_reduce_sum`); only rank 0 prints and writes files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from grounding.models.device import resolve_device

__all__ = [
    "DistContext",
    "all_reduce_sum",
    "any_rank",
    "barrier",
    "distributed_session",
    "gather_objects",
    "init_distributed",
    "shard",
    "shutdown",
    "wrap_model",
]

T = TypeVar("T")


@dataclass(frozen=True)
class DistContext:
    """Where this process runs: rank, world size and device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str = "auto") -> DistContext:
    """Join the ``torchrun`` process group when ``WORLD_SIZE > 1`` (gloo on CPU, nccl on
    CUDA; each rank uses GPU ``LOCAL_RANK``); a single-process context otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    dev = resolve_device(device)
    if world <= 1:
        return DistContext(device=dev)
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistContext(rank=rank, world_size=world, local_rank=local_rank, device=dev)


def shutdown(ctx: DistContext, *, synchronize: bool = True) -> None:
    """Leave the process group (no-op for one process). ``synchronize``: wait at a barrier
    first, so no rank tears gloo down while another is still finishing a collective (that
    aborts the late rank with "terminate called without an active exception"); skipped after
    an error, when the other ranks may never arrive."""
    if ctx.distributed and dist.is_initialized():
        if synchronize:
            dist.barrier()
        dist.destroy_process_group()


@contextmanager
def distributed_session(device: str = "auto") -> Iterator[DistContext]:
    """``with distributed_session(args.device) as ctx:`` :func:`init_distributed`, then
    :func:`shutdown` (synchronised on success, immediate on an error)."""
    ctx = init_distributed(device)
    try:
        yield ctx
    except BaseException:
        shutdown(ctx, synchronize=False)
        raise
    shutdown(ctx)


def wrap_model(model: nn.Module, ctx: DistContext) -> nn.Module:
    """``model`` on ``ctx.device``, wrapped in DistributedDataParallel when distributed."""
    model = model.to(ctx.device)
    if not ctx.distributed:
        return model
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()


def all_reduce_sum(values: Sequence[float], ctx: DistContext) -> list[float]:
    """Element-wise sum over ranks (float64)."""
    t = torch.tensor(list(values), dtype=torch.float64)
    if ctx.distributed:
        if ctx.device.type == "cuda":
            t = t.to(ctx.device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu().tolist()


def any_rank(flag: bool, ctx: DistContext) -> bool:
    """True on every rank when ``flag`` is true on some rank (so all ranks stop together)."""
    return all_reduce_sum([float(flag)], ctx)[0] > 0


def gather_objects(obj: T, ctx: DistContext) -> list[T]:
    """Every rank's ``obj`` in rank order (picklable plain data), on every rank."""
    if not ctx.distributed:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def shard(items: Sequence[T], ctx: DistContext) -> list[T]:
    """This rank's share ``items[rank::world_size]`` (no padding, no repeats)."""
    return list(items)[ctx.rank :: ctx.world_size]
