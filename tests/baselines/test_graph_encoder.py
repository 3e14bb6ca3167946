"""Behaviour shared by GTN and DGCN (both modes), run on tiny configurations of each."""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest
import torch
from torch import nn

from baselines.dgcn import build_dgcn, build_dgcn_clip_encoder
from baselines.graph import COCO17, NTU25, bone_vectors
from baselines.graph_encoder import AlongNodes, TemporalConv2d
from baselines.gtn import build_gtn, build_gtn_clip_encoder
from baselines.skeleton_stream import TwoStream
from grounding.models.complexity import count_macs, count_parameters

SKELETON = {
    "gtn": functools.partial(
        build_gtn, channels=(8, 16), strides=(1, 2), heads=2, kernel_sizes=(3, 5)
    ),
    "dgcn": functools.partial(build_dgcn, channels=(8, 16), strides=(1, 2), temporal_kernel=3),
}
CLIPS = {
    "gtn": functools.partial(build_gtn_clip_encoder, channels=(16, 16), heads=2, kernel_sizes=(3,)),
    "dgcn": functools.partial(build_dgcn_clip_encoder, channels=(16, 16), temporal_kernel=3),
}
MODELS = sorted(SKELETON)


def _seeded(build: Callable[..., nn.Module], seed: int = 0, **kwargs: object) -> nn.Module:
    torch.manual_seed(seed)
    return build(**kwargs)


@pytest.mark.parametrize("model", MODELS)
def test_skeleton_mode_shapes(model: str) -> None:
    x = torch.randn(2, 3, 9, 17, 2)
    two = _seeded(SKELETON[model], num_classes=5)
    assert isinstance(two, TwoStream)
    assert two(x).shape == (2, 5)
    assert two.feature_dim == 32 and two.temporal_stride == 2
    assert two.features(x).shape == (2, 32)
    assert two.clip_features(x).shape == (2, 5, 32)  # T' = ceil(9 / 2)
    one = _seeded(SKELETON[model], num_classes=5, two_stream=False, num_persons=1)
    x1 = x[..., :1]
    assert one(x1).shape == (2, 5) and one.clip_features(x1).shape == (2, 5, 16)
    headless = _seeded(SKELETON[model], num_classes=None)
    assert headless(x).shape == (2, 32)


@pytest.mark.parametrize("model", MODELS)
def test_skeleton_mode_on_ntu_graph(model: str) -> None:
    net = _seeded(SKELETON[model], num_classes=4, graph=NTU25, num_persons=1)
    assert net(torch.randn(1, 3, 4, 25, 1)).shape == (1, 4)


@pytest.mark.parametrize("model", MODELS)
def test_clip_graph_mode_shapes(model: str) -> None:
    enc = _seeded(CLIPS[model], num_clips=6, in_dim=12, neighbours=2)
    x = torch.randn(3, 6, 12)
    assert enc(x).shape == (3, 6, 16)
    assert enc.clip_features(x).shape == (3, 6, 16)
    assert enc.features(x).shape == (3, 16)
    assert enc.feature_dim == 16 and enc.temporal_stride == 1


def test_along_nodes_runs_the_unit_over_the_node_axis() -> None:
    unit = nn.Conv2d(1, 1, kernel_size=(3, 1), padding=(1, 0), bias=False)
    nn.init.ones_(unit.weight)
    x = torch.arange(5.0).view(1, 1, 1, 5)  # one frame, five clip nodes
    y = AlongNodes(unit)(x)
    torch.testing.assert_close(y, torch.tensor([[[[1.0, 3.0, 6.0, 9.0, 7.0]]]]))


def _fit(net: nn.Module, x: torch.Tensor, loss_of: Callable[[torch.Tensor], torch.Tensor]):
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        loss = loss_of(net(x))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("model", MODELS)
def test_adam_steps_lower_the_recognition_loss(model: str) -> None:
    torch.manual_seed(1)
    x = torch.randn(6, 3, 8, 17, 1)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    net = _seeded(SKELETON[model], num_classes=3, num_persons=1)
    losses = _fit(net, x, lambda logits: nn.functional.cross_entropy(logits, y))
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("model", MODELS)
def test_adam_steps_lower_a_per_clip_loss_in_clip_graph_mode(model: str) -> None:
    torch.manual_seed(2)
    x = torch.randn(4, 6, 10)
    y = torch.randint(0, 2, (4, 6))
    enc = _seeded(CLIPS[model], num_clips=6, in_dim=10)
    net = nn.Sequential(enc, nn.Linear(enc.feature_dim, 2))
    losses = _fit(net, x, lambda out: nn.functional.cross_entropy(out.flatten(0, 1), y.flatten()))
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("model", MODELS)
def test_same_seed_same_output(model: str) -> None:
    x = torch.randn(2, 3, 6, 17, 2)
    outs = [_seeded(SKELETON[model], seed=s, num_classes=3)(x) for s in (7, 7, 8)]
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)
    assert not torch.allclose(outs[0], outs[2])
    c = torch.randn(2, 5, 4)
    clips = [_seeded(CLIPS[model], seed=s, num_clips=5, in_dim=4)(c) for s in (3, 3)]
    torch.testing.assert_close(clips[0], clips[1], rtol=0, atol=0)


def test_two_stream_fuses_logits_and_scores() -> None:
    net = _seeded(SKELETON["dgcn"], num_classes=4, fusion_weights=(1.0, 1.5)).eval()
    x = torch.randn(3, 3, 6, 17, 2)
    joint, bone = net.joint(x), net.bone(bone_vectors(x, COCO17.parents))
    torch.testing.assert_close(net(x), joint + 1.5 * bone)
    scores = net.fused_scores(x)
    torch.testing.assert_close(scores, joint.softmax(-1) + 1.5 * bone.softmax(-1))
    torch.testing.assert_close(scores.sum(-1), torch.full((3,), 2.5))
    feats = net.features(x)
    torch.testing.assert_close(feats[:, :16], net.joint.features(x))
    with pytest.raises(ValueError, match="weights"):
        TwoStream(net.joint, net.bone, parents=COCO17.parents, weights=(1.0, -1.0))


@pytest.mark.parametrize("model", MODELS)
def test_two_stream_costs_twice_one_stream(model: str) -> None:
    x = torch.randn(1, 3, 8, 17, 2)
    one = _seeded(SKELETON[model], num_classes=3, two_stream=False)
    two = _seeded(SKELETON[model], num_classes=3)
    assert count_parameters(two) == 2 * count_parameters(one)
    macs = count_macs(one, x)
    assert macs > 0 and count_macs(two, x) == 2 * macs


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((2, 4, 8, 17, 2), r"C=4 \(expected 3\)"),
        ((2, 3, 8, 25, 2), r"V=25 \(expected 17\)"),
        ((2, 3, 8, 17, 1), r"M=1 \(expected 2\)"),
        ((2, 3, 8, 17), "got 4-d"),
        ((2, 3, 0, 17, 2), "empty"),
    ],
)
def test_skeleton_mode_rejects_bad_shapes(model: str, shape: tuple, message: str) -> None:
    net = _seeded(SKELETON[model], num_classes=3)
    with pytest.raises(ValueError, match=rf"{model.upper()}.*expected input .*coco17.*{message}"):
        net(torch.zeros(shape))
    with pytest.raises(ValueError, match=message):
        net.clip_features(torch.zeros(shape))


@pytest.mark.parametrize("model", MODELS)
def test_nan_input_is_rejected(model: str) -> None:
    x = torch.randn(1, 3, 4, 17, 2)
    x[0, 1, 2, 3, 0] = float("nan")
    with pytest.raises(ValueError, match="1 NaN/inf"):
        _seeded(SKELETON[model], num_classes=3)(x)
    with pytest.raises(ValueError, match=r"expected a torch\.float32 input, got torch\.float64"):
        _seeded(SKELETON[model], num_classes=3)(x.double())
    c = torch.randn(1, 5, 4)
    c[0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="NaN/inf"):
        _seeded(CLIPS[model], num_clips=5, in_dim=4)(c)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize(
    ("shape", "message"),
    [((1, 7, 4), r"T=5, D=4\), got \(1, 7, 4\)"), ((1, 5, 3), "got"), ((5, 4), "got 2-d")],
)
def test_clip_graph_mode_rejects_bad_shapes(model: str, shape: tuple, message: str) -> None:
    enc = _seeded(CLIPS[model], num_clips=5, in_dim=4)
    with pytest.raises(ValueError, match=message):
        enc(torch.zeros(shape))


def test_bad_stack_configs() -> None:
    with pytest.raises(ValueError, match="strides"):
        build_dgcn(num_classes=2, channels=(8, 16), strides=(1,))
    with pytest.raises(ValueError, match="at least one"):
        build_dgcn(num_classes=2, channels=(), strides=())
    with pytest.raises(ValueError, match="num_classes"):
        build_dgcn(num_classes=0)


@pytest.mark.parametrize("width", [1, 5])
def test_temporal_conv2d_equals_conv2d(width: int) -> None:
    torch.manual_seed(0)
    conv = TemporalConv2d(6, 4, kernel_size=(5, 1), stride=(2, 1), padding=(2, 0)).double()
    x = torch.randn(3, 6, 11, width, dtype=torch.float64, requires_grad=True)
    ref = torch.nn.functional.conv2d(x, conv.weight, conv.bias, conv.stride, conv.padding)
    out = conv(x)
    assert out.shape == ref.shape == (3, 4, 6, width)
    torch.testing.assert_close(out, ref)
    (g_out,) = torch.autograd.grad(out.sum(), conv.weight)
    (g_ref,) = torch.autograd.grad(ref.sum(), conv.weight)
    torch.testing.assert_close(g_out, g_ref)
