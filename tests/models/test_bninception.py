from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from grounding.models.bninception import (
    CPU_PROFILE,
    BNInception,
    build_bninception,
    tsn_key_map,
)
from grounding.models.complexity import count_macs, count_parameters


def test_full_profile_counts_and_shapes():
    torch.manual_seed(0)
    model = build_bninception()
    params = count_parameters(model)
    assert 10.2e6 <= params <= 10.4e6
    x = torch.randn(1, 3, 224, 224)
    macs = count_macs(model, x)
    assert 1.9e9 <= macs <= 2.1e9
    model.eval()
    with torch.no_grad():
        fmap = model.forward_features(x)
        pooled = model(x)
    assert fmap.shape == (1, 1024, 7, 7)
    assert pooled.shape == (1, 1024)
    torch.testing.assert_close(pooled, fmap.mean(dim=(2, 3)))


def test_cpu_profile_counts_match_docstring():
    model = build_bninception(width_mult=CPU_PROFILE.width_mult)
    size = CPU_PROFILE.input_size
    assert count_parameters(model) == 2_577_424
    assert count_macs(model, torch.randn(1, 3, size, size)) == 175_476_736
    assert model.out_dim == 512
    assert model.forward_features(torch.randn(2, 3, size, size)).shape == (2, 512, 4, 4)


def test_caffe_conventions():
    model = BNInception()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(bn.eps == 1e-5 and bn.momentum == 0.1 for bn in bns)
    pools = [m for m in model.modules() if isinstance(m, nn.MaxPool2d | nn.AvgPool2d)]
    assert len(pools) == 12 and all(p.ceil_mode for p in pools)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.bias is not None for c in convs)


def test_bad_inputs():
    model = BNInception(width_mult=0.25)
    with pytest.raises(ValueError, match=r"multiples of 32.*100x100"):
        model.forward_features(torch.randn(1, 3, 100, 100))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\).*\(1, 10, 64, 64\)"):
        model(torch.randn(1, 10, 64, 64))
    with pytest.raises(ValueError, match="width_mult"):
        BNInception(width_mult=0.0)


def _pair(width=0.25):
    torch.manual_seed(1)
    src = build_bninception(width_mult=width)
    torch.manual_seed(2)
    return src, build_bninception(width_mult=width)


def _same_output(a: nn.Module, b: nn.Module) -> bool:
    x = torch.randn(2, 3, 64, 64)
    a.eval()
    b.eval()
    with torch.no_grad():
        return torch.equal(a(x), b(x))


def test_load_own_keys_torch_and_safetensors(tmp_path):
    src, _ = _pair()
    state = src.state_dict()
    pt = tmp_path / "w.pth"
    torch.save({**state, "fc.weight": torch.zeros(5, 256)}, pt)
    loaded = build_bninception(width_mult=0.25, weights=pt)
    assert _same_output(src, loaded)
    st = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(st))
    assert _same_output(src, build_bninception(width_mult=0.25, weights=st))


def test_load_tsn_flat_keys(tmp_path):
    src, _ = _pair()
    own = src.state_dict()
    flat = {tsn: own[ours] for tsn, ours in tsn_key_map(src).items()}
    flat = {k: v for k, v in flat.items() if not k.endswith("num_batches_tracked")}
    assert "inception_3a_double_3x3_1_bn.running_var" in flat
    path = tmp_path / "tsn.pth"
    torch.save({"state_dict": {f"module.base_model.{k}": v for k, v in flat.items()}}, path)
    assert _same_output(src, build_bninception(width_mult=0.25, weights=path))


def test_load_errors_name_keys_and_shapes(tmp_path):
    src, _ = _pair()
    state = dict(src.state_dict())
    del state["inception_5b.pool_proj.bn.weight"]
    state["bogus.weight"] = torch.zeros(1)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"missing keys \(1\): inception_5b.pool_proj.bn.weight"):
        build_bninception(width_mult=0.25, weights=path)
    with pytest.raises(ValueError, match=r"unexpected keys \(1\): bogus.weight"):
        build_bninception(width_mult=0.25, weights=path)
    # an RGB file into a 10-channel backbone: shape mismatch of conv1
    good = tmp_path / "good.pth"
    torch.save(src.state_dict(), good)
    with pytest.raises(ValueError, match=r"conv1_7x7_s2.conv.weight: file \(16, 3, 7, 7\)"):
        build_bninception(in_channels=10, width_mult=0.25, weights=good)
    with pytest.raises(FileNotFoundError, match="weights file"):
        build_bninception(weights=tmp_path / "none.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match=r"junk\.pth"):
        build_bninception(weights=junk)
