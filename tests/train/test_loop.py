"""The shared training loop: determinism, checkpoint/resume equality, config check, NaN guard."""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from grounding.models.device import resolve_device
from grounding.train.distributed import (
    DistContext,
    distributed_session,
    gather_objects,
    shard,
)
from grounding.train.loop import (
    NonFiniteError,
    build_optimizer,
    build_scheduler,
    epoch_seed,
    fit,
    fused_supported,
    make_loader,
)
from grounding.train.paths import RunPaths, default_cache_dir


@dataclass(frozen=True)
class TinyConfig:
    hidden: int = 8
    epochs: int = 3


class Points(Dataset):
    """Random points with labels; an epoch-dependent jitter exercises ``set_epoch``."""

    def __init__(self, n: int = 24, *, bad_index: int | None = None) -> None:
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal((n, 4)).astype(np.float32)
        self.y = (self.x[:, 0] > 0).astype(np.int64)
        self.bad_index = bad_index
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        jitter = np.random.default_rng([self.epoch, i]).standard_normal(4).astype(np.float32)
        x = self.x[i] + 0.1 * jitter
        if i == self.bad_index:
            x = x * np.nan
        return {"x": torch.from_numpy(x), "y": int(self.y[i]), "index": i}


def make_model(config: TinyConfig) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(4, config.hidden), nn.ReLU(), nn.Dropout(0.3), nn.Linear(config.hidden, 2)
    )


def step(model: nn.Module, batch: dict) -> torch.Tensor:
    return F.cross_entropy(model(batch["x"]), batch["y"])


def train(
    out: Path,
    config: TinyConfig,
    *,
    resume: bool = False,
    stop_after: int | None = None,
    data: Dataset | None = None,
) -> tuple[nn.Module, object]:
    ctx = DistContext()
    model = make_model(config)
    loader = make_loader(data or Points(), batch_size=5, ctx=ctx, shuffle=True, seed=7)
    opt = build_optimizer(model, lr=1e-2, weight_decay=1e-4)
    sched = build_scheduler(opt, total_steps=config.epochs * len(loader), warmup_steps=2)
    result = fit(
        model=model,
        optimizer=opt,
        scheduler=sched,
        loader=loader,
        step=step,
        epochs=config.epochs,
        ctx=ctx,
        checkpoint=out / "checkpoint.pt",
        config=config,
        seed=7,
        resume=resume,
        stop_after=stop_after,
        desc="tiny",
    )
    return model, result


def _same(a: nn.Module, b: nn.Module) -> bool:
    return all(
        torch.equal(x, y)
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def test_same_seed_same_weights(tmp_path):
    a, ra = train(tmp_path / "a", TinyConfig())
    b, rb = train(tmp_path / "b", TinyConfig())
    assert _same(a, b) and [h["loss"] for h in ra.history] == [h["loss"] for h in rb.history]
    assert ra.epochs_done == 3 and len(ra.history) == 3 and ra.history[-1]["loss"] < 0.7


def test_resume_reaches_the_uninterrupted_weights(tmp_path):
    full, _ = train(tmp_path / "full", TinyConfig())
    _, part = train(tmp_path / "cut", TinyConfig(), stop_after=1)
    assert part.epochs_done == 1 and (tmp_path / "cut" / "checkpoint.pt").is_file()
    resumed, r = train(tmp_path / "cut", TinyConfig(), resume=True)
    assert r.resumed_from_epoch == 1 and r.epochs_done == 3 and len(r.history) == 3
    assert _same(full, resumed)


def test_existing_checkpoint_needs_resume_and_the_same_config(tmp_path):
    train(tmp_path, TinyConfig(epochs=1))
    with pytest.raises(FileExistsError, match="--resume"):
        train(tmp_path, TinyConfig(epochs=1))
    with pytest.raises(ValueError, match=r"epochs: checkpoint 1, expected 2"):
        train(tmp_path, TinyConfig(epochs=2), resume=True)
    with pytest.raises(ValueError, match="hidden"):
        train(tmp_path, TinyConfig(hidden=4, epochs=1), resume=True)


def test_nan_stops_naming_batch_and_step(tmp_path):
    with pytest.raises(
        NonFiniteError,
        match=r"non-finite loss nan at epoch 1, step \d+, batch \d+ "
        r"\(items \[.*\b13\b.*\]\)",
    ):
        train(tmp_path, TinyConfig(), data=Points(bad_index=13))
    assert not (tmp_path / "checkpoint.pt").exists()


def test_scheduler_warms_up_then_decays():
    opt = torch.optim.AdamW([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = build_scheduler(opt, total_steps=10, warmup_steps=2)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] < lrs[1] < lrs[2] == pytest.approx(1.0)
    assert all(x >= y for x, y in itertools.pairwise(lrs[2:])) and lrs[-1] < 0.1


def test_single_process_helpers(tmp_path):
    ctx = DistContext()
    assert gather_objects({"a": 1}, ctx) == [{"a": 1}] and shard(range(5), ctx) == list(range(5))
    assert DistContext(rank=1, world_size=2).is_main is False
    assert shard(range(5), DistContext(rank=1, world_size=2)) == [1, 3]
    assert resolve_device("cpu").type == "cpu" and resolve_device("auto").type in ("cpu", "cuda")
    assert epoch_seed(1, 2) == epoch_seed(1, 2) != epoch_seed(1, 3)
    paths = RunPaths(tmp_path)
    assert paths.checkpoint.name == "checkpoint.pt" and paths.metrics.name == "metrics.json"
    assert default_cache_dir(tmp_path, tmp_path / "run") == tmp_path / ".cache"
    with pytest.raises(ValueError, match="smaller than the number of processes"):
        make_loader(Points(), batch_size=1, ctx=DistContext(world_size=2), shuffle=False, seed=0)


def test_distributed_session_single_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with distributed_session("cpu") as ctx:
        assert ctx.world_size == 1 and ctx.is_main and not ctx.distributed
    with pytest.raises(RuntimeError, match="boom"), distributed_session("cpu"):
        raise RuntimeError("boom")


def _conv_steps(model: nn.Module, opt: torch.optim.Optimizer, n: int) -> None:
    for k in range(n):
        x = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(k))
        opt.zero_grad(set_to_none=True)
        model(x).square().mean().backward()
        opt.step()


def _conv_model(memory_format: torch.memory_format) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 3))
    return model.to(memory_format=memory_format)


def test_optimizer_is_fused_on_cpu_and_matches_foreach():
    fused_model, plain_model = _conv_model(torch.channels_last), _conv_model(torch.channels_last)
    fused = build_optimizer(fused_model, lr=1e-2, weight_decay=1e-4)
    plain = build_optimizer(plain_model, lr=1e-2, weight_decay=1e-4, fused=False)
    assert fused_supported(fused_model.parameters())
    assert fused.param_groups[0]["fused"] and not plain.param_groups[0]["fused"]
    _conv_steps(fused_model, fused, 3)
    _conv_steps(plain_model, plain, 3)
    for a, b in zip(fused_model.parameters(), plain_model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "saved, loaded",
    [
        (torch.contiguous_format, torch.channels_last),
        (torch.channels_last, torch.contiguous_format),
    ],
)
def test_optimizer_state_resumes_across_layouts_and_implementations(saved, loaded):
    """State saved by a non-fused optimiser of one layout resumes in a fused optimiser of the
    other layout and continues as the uninterrupted run (the moments realigned)."""
    full = _conv_model(saved)
    opt = build_optimizer(full, lr=1e-2, weight_decay=1e-4, fused=False)
    _conv_steps(full, opt, 1)
    state = copy.deepcopy(opt.state_dict())  # the live moments change in later steps
    model_state = {k: v.clone() for k, v in full.state_dict().items()}
    _conv_steps(full, opt, 3)

    resumed = _conv_model(loaded)
    resumed.load_state_dict(model_state)
    opt2 = build_optimizer(resumed, lr=1e-2, weight_decay=1e-4, fused=True)
    opt2.load_state_dict(state)
    assert opt2.param_groups[0]["fused"]
    assert state["param_groups"][0]["fused"] is not True  # the caller's dict is left alone
    for p in resumed.parameters():
        for value in opt2.state[p].values():
            assert value.shape != p.shape or value.stride() == p.stride()
    _conv_steps(resumed, opt2, 3)
    for a, b in zip(resumed.parameters(), full.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
