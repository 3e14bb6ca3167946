from __future__ import annotations

import pytest
import torch

from baselines.graph import COCO17, temporal_chain_graph
from baselines.gtn import GraphTransformerUnit, TemporalKernelAttention, build_gtn


def test_kernel_attention_weights_are_positive_and_sum_to_one_over_kernels() -> None:
    torch.manual_seed(0)
    unit = TemporalKernelAttention(channels=6, stride=1, kernel_sizes=(3, 5, 7))
    x = 3 * torch.randn(4, 6, 10, 5)
    a = unit.kernel_weights(x)
    assert a.shape == (4, 3, 6)
    assert (a > 0).all()
    torch.testing.assert_close(a.sum(dim=1), torch.ones(4, 6))
    # the weights depend on the input (data-dependent selection)
    assert not torch.allclose(a[0], a[1])


def test_kernel_attention_output_is_the_weighted_sum_of_branches() -> None:
    torch.manual_seed(0)
    unit = TemporalKernelAttention(channels=4, stride=2, kernel_sizes=(3, 5)).eval()
    x = torch.randn(2, 4, 9, 3)
    y = unit(x)
    assert y.shape == (2, 4, 5, 3)  # ceil(9 / 2)
    a = unit.kernel_weights(x)
    branches = [b(x) for b in unit.branches]
    expected = a[:, 0, :, None, None] * branches[0] + a[:, 1, :, None, None] * branches[1]
    torch.testing.assert_close(y, expected)


def test_kernel_attention_rejects_even_kernels() -> None:
    with pytest.raises(ValueError, match="odd"):
        TemporalKernelAttention(channels=4, stride=1, kernel_sizes=(3, 4))


def test_graph_transformer_attention_is_softmax_plus_adaptive_adjacency() -> None:
    torch.manual_seed(0)
    unit = GraphTransformerUnit(graph=COCO17, in_channels=3, out_channels=8, heads=2)
    with torch.no_grad():
        unit.learned.normal_()
    x = torch.randn(2, 3, 4, 17)
    p = unit.attention(x)
    assert p.shape == (2, 2, 4, 17, 17)
    data_dependent = p - unit.skeleton - unit.learned[:, None]
    assert (data_dependent > 0).all()
    torch.testing.assert_close(data_dependent.sum(-1), torch.ones(2, 2, 4, 17))
    # fixed part: rows are the nodes that read, so the transposed ST-GCN partitions
    stack = torch.as_tensor(COCO17.adjacency_stack(), dtype=torch.float32)
    torch.testing.assert_close(unit.skeleton, stack.mean(0).T)
    assert unit.skeleton[7, 5] > 0  # the left elbow reads from its shoulder
    assert unit(x).shape == (2, 8, 4, 17)


def test_graph_transformer_values_flow_only_through_attention() -> None:
    # with uniform attention and no adjacency bias, every node gets the mean over nodes
    torch.manual_seed(0)
    graph = temporal_chain_graph(4)
    unit = GraphTransformerUnit(graph=graph, in_channels=2, out_channels=2, heads=1).eval()
    with torch.no_grad():
        unit.query_key.weight.zero_()
        unit.query_key.bias.zero_()
        unit.skeleton.zero_()
    x = torch.randn(1, 2, 3, 4)
    values = unit.value(x)
    expected = unit.relu(unit.bn(unit.project(values.mean(-1, keepdim=True).expand_as(values))))
    torch.testing.assert_close(unit(x), expected)


def test_heads_must_divide_widths() -> None:
    with pytest.raises(ValueError, match="divisible by heads 3"):
        build_gtn(num_classes=2, channels=(8,), strides=(1,), heads=3)
