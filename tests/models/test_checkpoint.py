from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from grounding.models.checkpoint import (
    export_safetensors,
    load_checkpoint,
    save_checkpoint,
)
from grounding.models.grounding_model import GroundingModelConfig, build_grounding_model
from grounding.models.localization import moment_iou_targets, scaled_iou_loss

CFG = GroundingModelConfig(
    in_dim=8,
    num_clips=6,
    text_dim=5,
    hidden_dim=16,
    heads=2,
    map_dim=8,
    head_layers=1,
    head_kernel=3,
    dropout=0.1,
)


def _batch(seed: int):
    gen = torch.Generator().manual_seed(seed)
    clips, sent = torch.randn(4, 6, 8, generator=gen), torch.randn(4, 5, generator=gen)
    gt = torch.tensor([[0.0, 0.5], [0.2, 0.9], [0.5, 1.0], [0.1, 0.3]])
    return clips, sent, gt


def _step(model, opt, seed: int) -> None:
    clips, sent, gt = _batch(seed)
    loss = scaled_iou_loss(model(clips, sent), moment_iou_targets(gt, 6))
    opt.zero_grad()
    loss.backward()
    opt.step()


def _fresh(seed: int):
    torch.manual_seed(seed)
    model = build_grounding_model(config=CFG)
    return model, torch.optim.AdamW(model.parameters(), lr=1e-3)


def test_save_resume_equality(tmp_path):
    model, opt = _fresh(0)
    for s in range(3):
        _step(model, opt, s)
    path = save_checkpoint(
        tmp_path / "ckpt.pt",
        model=model,
        optimizer=opt,
        step=3,
        epoch=1,
        config=CFG,
        extra={"best_r1": 0.5},
    )
    assert not list(tmp_path.glob(".*tmp*"))
    other, other_opt = _fresh(1)
    ck = load_checkpoint(
        path, model=other, optimizer=other_opt, expected_config=CFG, restore_rng=True
    )
    assert (ck.step, ck.epoch, ck.extra) == (3, 1, {"best_r1": 0.5})
    assert ck.config["heads"] == 2
    # same outputs
    model.eval(), other.eval()
    clips, sent, _ = _batch(9)
    torch.testing.assert_close(model(clips, sent), other(clips, sent), rtol=0, atol=0)
    # same optimizer state
    a, b = opt.state_dict(), other_opt.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for k in a["state"]:
        for name in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(a["state"][k][name], b["state"][k][name])
    # continued training stays identical
    model.train(), other.train()
    torch.manual_seed(7)
    _step(model, opt, 5)
    torch.manual_seed(7)
    _step(other, other_opt, 5)
    for p, q in zip(model.parameters(), other.parameters(), strict=True):
        assert torch.equal(p, q)


def test_rng_restore_reproduces_draws(tmp_path):
    # the legacy NumPy global generator is part of the saved state on purpose
    model, _ = _fresh(0)
    torch.manual_seed(5)
    random.seed(5)
    np.random.seed(5)  # noqa: NPY002
    path = save_checkpoint(tmp_path / "c.pt", model=model, step=0, epoch=0, config=CFG)
    draws = (torch.rand(2), random.random(), np.random.rand())  # noqa: NPY002
    torch.manual_seed(99)
    random.seed(99)
    np.random.seed(99)  # noqa: NPY002
    load_checkpoint(path, model=model, expected_config=CFG, restore_rng=True)
    again = (torch.rand(2), random.random(), np.random.rand())  # noqa: NPY002
    assert torch.equal(draws[0], again[0]) and draws[1:] == again[1:]


def test_mismatched_config_names_fields(tmp_path):
    model, opt = _fresh(0)
    path = save_checkpoint(
        tmp_path / "c.pt", model=model, optimizer=opt, step=1, epoch=0, config=CFG
    )
    other_cfg = dataclasses.replace(CFG, heads=4, temporal="gru")
    with pytest.raises(
        ValueError,
        match=r"heads: checkpoint 2, expected 4; temporal: checkpoint 'mhssa', expected 'gru'",
    ):
        load_checkpoint(path, model=model, expected_config=other_cfg)
    # ignoring a harmless field works
    load_checkpoint(
        path,
        model=model,
        expected_config=dataclasses.replace(CFG, dropout=0.3),
        ignore_fields=["dropout"],
    )


def test_bad_checkpoint_files(tmp_path):
    model, _ = _fresh(0)
    with pytest.raises(FileNotFoundError, match="checkpoint"):
        load_checkpoint(tmp_path / "missing.pt", model=model, expected_config=CFG)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match=r"junk\.pt: not a readable checkpoint"):
        load_checkpoint(junk, model=model, expected_config=CFG)
    plain = tmp_path / "plain.pt"
    torch.save(model.state_dict(), plain)
    with pytest.raises(ValueError, match="not a grounding checkpoint"):
        load_checkpoint(plain, model=model, expected_config=CFG)
    path = save_checkpoint(
        tmp_path / "c.pt", model=model, step=0, epoch=0, config=CFG, save_rng=False
    )
    with pytest.raises(ValueError, match="no optimizer state"):
        load_checkpoint(
            path,
            model=model,
            expected_config=CFG,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        )
    with pytest.raises(ValueError, match="without RNG state"):
        load_checkpoint(path, model=model, expected_config=CFG, restore_rng=True)
    with pytest.raises(TypeError, match="dataclass"):
        save_checkpoint(tmp_path / "d.pt", model=model, step=0, epoch=0, config={"a": 1})


def test_export_safetensors(tmp_path):
    model, _ = _fresh(0)
    path = export_safetensors(model, tmp_path / "model.safetensors", config=CFG)
    tensors = load_file(str(path))
    state = model.state_dict()
    assert set(tensors) == set(state)
    for k, v in state.items():
        assert torch.equal(tensors[k], v)
    with safe_open(str(path), framework="pt") as f:
        assert '"num_clips": 6' in f.metadata()["config"]
    with pytest.raises(ValueError, match=r"\.safetensors"):
        export_safetensors(model, tmp_path / "model.bin")


def test_config_field_added_later_at_its_off_default_is_no_difference():
    from grounding.models.checkpoint import config_differences

    stored = {"lr": 0.001}
    assert config_differences(stored, {"lr": 0.001, "rgb_weights_sha": None}) == []
    assert config_differences(stored, {"lr": 0.001, "rgb_weights_sha": "ab12"}) == [
        "rgb_weights_sha: missing from the checkpoint, expected 'ab12'"
    ]
