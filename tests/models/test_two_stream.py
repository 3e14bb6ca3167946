from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from grounding.models.bninception import build_bninception
from grounding.models.two_stream import (
    TwoStreamConfig,
    build_two_stream,
    cross_modality_init,
    make_flow_backbone,
    set_partial_bn,
)

SMALL = TwoStreamConfig(num_classes=4, width_mult=0.25, heads=2)


def _inputs(b=2, s=3, size=64):
    gen = torch.Generator().manual_seed(0)
    rgb = torch.randint(0, 256, (b, s, 3, size, size), generator=gen, dtype=torch.uint8)
    flow = torch.randint(0, 256, (b, s, 10, size, size), generator=gen, dtype=torch.uint8)
    return rgb, flow


def test_cross_modality_init_is_channel_mean():
    torch.manual_seed(0)
    rgb = nn.Conv2d(3, 8, 7)
    flow = nn.Conv2d(10, 8, 7)
    cross_modality_init(rgb, flow)
    mean = (rgb.weight[:, 0] + rgb.weight[:, 1] + rgb.weight[:, 2]) / 3
    for c in range(10):
        torch.testing.assert_close(flow.weight[:, c], mean)
    torch.testing.assert_close(flow.bias, rgb.bias)
    with pytest.raises(ValueError, match="incompatible"):
        cross_modality_init(rgb, nn.Conv2d(10, 8, 3))


def test_flow_backbone_copies_everything_but_conv1():
    torch.manual_seed(0)
    rgb = build_bninception(width_mult=0.25)
    flow = make_flow_backbone(rgb, in_channels=10)
    assert flow.conv1.weight.shape[1] == 10 and flow.in_channels == 10
    torch.testing.assert_close(flow.conv1.weight[:, 7], rgb.conv1.weight.mean(dim=1))
    rs, fs = rgb.state_dict(), flow.state_dict()
    for key in rs:
        if key != "conv1_7x7_s2.conv.weight":
            assert torch.equal(rs[key], fs[key]), key
    with torch.no_grad():
        flow.inception_5b.pool_proj.conv.weight.add_(1.0)
    assert not torch.equal(
        flow.inception_5b.pool_proj.conv.weight, rgb.inception_5b.pool_proj.conv.weight
    )
    assert flow(torch.randn(1, 10, 64, 64)).shape == (1, rgb.out_dim)


def _bns(module):
    return [(n, m) for n, m in module.named_modules() if isinstance(m, nn.BatchNorm2d)]


def test_partial_bn_freezes_exactly_the_bns_after_the_first():
    torch.manual_seed(0)
    backbone = build_bninception(width_mult=0.25)
    bns = _bns(backbone)
    frozen = set_partial_bn(backbone)
    assert frozen == [n for n, _ in bns[1:]]
    assert bns[0][0] == "conv1_7x7_s2.bn"


def test_partial_bn_survives_train_and_keeps_running_stats():
    torch.manual_seed(0)
    net = build_two_stream(config=dataclasses.replace(SMALL, partial_bn=True))
    net.train()
    for stream in (net.rgb, net.flow):
        bns = _bns(stream.backbone)
        first, rest = bns[0][1], [m for _, m in bns[1:]]
        assert first.training and first.weight.requires_grad
        assert all(not m.training for m in rest)
        assert all(not p.requires_grad for m in rest for p in m.parameters())
    before = {n: m.running_mean.clone() for n, m in _bns(net.rgb.backbone)}
    net(*_inputs())
    after = dict(_bns(net.rgb.backbone))
    assert not torch.equal(before["conv1_7x7_s2.bn"], after["conv1_7x7_s2.bn"].running_mean)
    for name in list(before)[1:]:
        assert torch.equal(before[name], after[name].running_mean), name
    # other modules still train (e.g. dropout, spatial attention MLP)
    assert net.rgb.dropout.training and net.rgb.spatial.mlp[0].weight.requires_grad


def test_partial_bn_off_by_default_from_scratch():
    net = build_two_stream(config=SMALL).train()
    assert all(m.training for _, m in _bns(net))


def test_forward_shapes_fusion_and_consensus():
    torch.manual_seed(0)
    net = build_two_stream(config=SMALL).eval()
    rgb, flow = _inputs()
    with torch.no_grad():
        out = net(rgb, flow)
        assert out.rgb.shape == out.flow.shape == out.fused.shape == (2, 4)
        torch.testing.assert_close(out.fused, 1.0 * out.rgb + 1.5 * out.flow)
        torch.testing.assert_close(out.rgb, net.rgb.segment_scores(rgb).mean(dim=1))
        feats = net.segment_features(rgb, flow)
    assert feats.shape == (2, 3, net.feature_dim) and net.feature_dim == 2 * 256
    torch.manual_seed(0)
    weighted = build_two_stream(config=dataclasses.replace(SMALL, fusion_weights=(2.0, 0.5)))
    with torch.no_grad():
        o = weighted.eval()(rgb, flow)
    torch.testing.assert_close(o.fused, 2.0 * o.rgb + 0.5 * o.flow)


@pytest.mark.parametrize("temporal", ["none", "gru", "softmax"])
def test_stream_variants(temporal):
    cfg = dataclasses.replace(SMALL, temporal=temporal, spatial="avg")
    net = build_two_stream(config=cfg)
    rgb, flow = _inputs(b=1, s=2)
    assert net(rgb, flow).fused.shape == (1, 4)


def test_bad_inputs():
    net = build_two_stream(config=SMALL)
    rgb, flow = _inputs()
    with pytest.raises(ValueError, match=r"10 channels \(5 stacked x,y flow fields\), got 6"):
        net(rgb, flow[:, :, :6])
    with pytest.raises(ValueError, match="must share B and S"):
        net(rgb, flow[:, :2])
    with pytest.raises(ValueError, match=r"stream input must be \(B, S, 3, H, W\)"):
        net.rgb(rgb[:, 0])
    with pytest.raises(ValueError, match="fusion_weights"):
        build_two_stream(config=dataclasses.replace(SMALL, fusion_weights=(-1.0, 1.0)))
    with pytest.raises(ValueError, match="num_classes"):
        build_two_stream(config=dataclasses.replace(SMALL, num_classes=1))


def test_caffe_weights_see_the_same_image_through_the_rgb_normalisation(tmp_path):
    """TSN's flat-named (Caffe) weights expect BGR minus (104, 117, 128); loaded into the RGB
    stream, conv1 on the normalised RGB frame gives Caffe's response (away from the border)."""
    from grounding.models.bninception import tsn_key_map
    from grounding.models.two_stream import CAFFE_BGR_MEAN

    torch.manual_seed(3)
    caffe = build_bninception(width_mult=0.25)
    for p in caffe.parameters():
        nn.init.normal_(p, std=0.05)
    flat = {v: k for k, v in tsn_key_map(caffe).items()}
    state = {flat[k]: v for k, v in caffe.state_dict().items() if k in flat}
    torch.save(state, tmp_path / "bn_inception.pth")
    net = build_two_stream(config=SMALL, rgb_weights=tmp_path / "bn_inception.pth")

    rgb, _ = _inputs(b=1, s=1)
    x = rgb[0].float()  # (1, 3, H, W) RGB 0..255
    bgr = x.flip(1) - torch.tensor(CAFFE_BGR_MEAN)[None, :, None, None]
    with torch.no_grad():
        want = caffe.conv1_7x7_s2.conv(bgr)
        got = net.rgb.backbone.conv1_7x7_s2.conv(net.rgb.norm(x))
    inner = (slice(None), slice(None), slice(2, -2), slice(2, -2))  # 7x7, stride 2, pad 3
    torch.testing.assert_close(got[inner], want[inner], rtol=1e-4, atol=1e-3)
    assert not torch.allclose(got, want, atol=1e-3)  # only the padded border differs
    # own-key weights (this package's export) load unchanged
    torch.save(caffe.state_dict(), tmp_path / "own.pth")
    own = build_two_stream(config=SMALL, rgb_weights=tmp_path / "own.pth")
    assert torch.equal(own.rgb.backbone.conv1.weight, caffe.conv1.weight)


def _channels_last(module: nn.Module) -> bool:
    convs = [m.weight for m in module.modules() if isinstance(m, nn.Conv2d)]
    return all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)


def _loss_grads(model: nn.Module, rgb: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """All parameter gradients of one training loss, flattened."""
    model.train()
    torch.manual_seed(1)  # the same dropout masks for every model
    out = model(rgb, flow)
    y = torch.tensor([0, 3])
    (nn.functional.cross_entropy(out.rgb, y) + nn.functional.cross_entropy(out.flow, y)).backward()
    return torch.cat([p.grad.flatten() for p in model.parameters()])


def test_built_channels_last_and_equal_to_the_contiguous_network():
    torch.manual_seed(0)
    net = build_two_stream(config=SMALL)
    assert _channels_last(net)
    assert net.rgb.backbone.memory_format == torch.channels_last
    ref = build_two_stream(config=SMALL).to(memory_format=torch.contiguous_format)
    ref.load_state_dict(net.state_dict())  # loading keeps each model's own layout
    assert ref.rgb.backbone.memory_format == torch.contiguous_format
    assert _channels_last(net) and not _channels_last(ref)
    rgb, flow = _inputs()

    net.eval(), ref.eval()
    with torch.inference_mode():
        fmap = net.flow.backbone.forward_features(torch.randn(2, 10, 64, 64))
        assert fmap.is_contiguous(memory_format=torch.channels_last)
        for a, b in zip(net(rgb, flow), ref(rgb, flow), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(
            net.segment_features(rgb, flow), ref.segment_features(rgb, flow), rtol=1e-4, atol=1e-4
        )

    # training-mode gradients through BN over 2x2 maps of 6 frames amplify float32 rounding
    # to about 2% (either layout, against float64), so the layouts are compared in float64
    net64, ref64 = net.double(), ref.double()
    assert net64.rgb.backbone.memory_format == torch.channels_last
    grads = [_loss_grads(m, rgb.double(), flow.double()) for m in (net64, ref64)]
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-9, atol=1e-9)


def test_registry_recognizers_layouts():
    """The pixel recognizer is built channels_last (training, evaluation, extraction and the
    speed suite all build it this way); the skeleton baselines keep their layout."""
    from grounding.models.recognizer import RecognitionConfig, build_recognizer

    classes = ("a", "b", "c")
    ours = build_recognizer(RecognitionConfig(model="ours", classes=classes, width_mult=0.25))
    assert _channels_last(ours)
    gtn = build_recognizer(RecognitionConfig(model="gtn", classes=classes))
    weights = [p for p in gtn.parameters() if p.ndim == 4]
    assert weights and all(p.is_contiguous() for p in weights)
