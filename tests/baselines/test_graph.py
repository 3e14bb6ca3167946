from __future__ import annotations

import numpy as np
import pytest
import torch

from baselines.graph import (
    COCO17,
    NTU25,
    Graph,
    bone_vectors,
    fourier_basis,
    normalized_laplacian,
    temporal_chain_graph,
)


@pytest.mark.parametrize("graph", [COCO17, NTU25, temporal_chain_graph(6, k=2)])
def test_graph_is_a_tree_with_one_root(graph: Graph) -> None:
    # every node reaches the root by following parents, without cycles
    for node in range(graph.num_nodes):
        seen = set()
        while node != graph.center:
            assert node not in seen
            seen.add(node)
            node = graph.parents[node]
    assert graph.adjacency().sum() == 2 * len(graph.inward)


def test_coco_names_and_parents() -> None:
    assert COCO17.num_nodes == 17 and COCO17.center == 0
    names = COCO17.node_names
    parent_name = {names[v]: names[p] for v, p in enumerate(COCO17.parents) if p >= 0}
    assert parent_name["left_wrist"] == "left_elbow"
    assert parent_name["right_ankle"] == "right_knee"
    assert parent_name["left_hip"] == "left_shoulder"
    assert NTU25.center == 20 and NTU25.node_names[20] == "spine_shoulder"
    assert NTU25.parents[0] == 1 and NTU25.parents[21] == 22  # base->mid, hand tip->thumb


@pytest.mark.parametrize("graph", [COCO17, NTU25, temporal_chain_graph(5, k=2)])
def test_adjacency_stack_columns_sum_to_one_where_nonzero(graph: Graph) -> None:
    stack = graph.adjacency_stack()
    assert stack.shape == (3, graph.num_nodes, graph.num_nodes)
    np.testing.assert_array_equal(stack[0], np.eye(graph.num_nodes))
    for a in stack:
        col = a.sum(axis=0)
        nonzero = (a != 0).any(axis=0)
        np.testing.assert_allclose(col[nonzero], 1.0)
        assert (col[~nonzero] == 0).all()
    # inward and outward are transposes in support, and together give the undirected graph
    np.testing.assert_array_equal((stack[1] > 0).T, stack[2] > 0)
    np.testing.assert_array_equal((stack[1] + stack[2]) > 0, graph.adjacency() > 0)


def test_inward_reads_from_parent_side_by_hand() -> None:
    # left elbow (7) has parent left shoulder (5); the shoulder has children elbow 7 and hip 11
    inward, outward = COCO17.adjacency_stack()[1:]
    # aggregation y[w] = sum_v x[v] A[v, w]: in the inward part a joint reads from its parent
    assert inward[5, 7] == 1.0 and inward[7, 5] == 0.0
    # in the outward part a joint takes the mean of its children
    assert outward[7, 5] == pytest.approx(0.5) and outward[11, 5] == pytest.approx(0.5)
    assert outward[5, 7] == 0.0


def test_bone_vectors_hand_example() -> None:
    parents = (-1, 0, 1)  # a 3-node chain
    joints = torch.tensor([[0.0, 0.0], [1.0, 2.0], [4.0, 6.0]])  # (V, C)
    x = joints.T.reshape(1, 2, 1, 3, 1).repeat(2, 1, 4, 1, 2)  # (N, C, T, V, M)
    bones = bone_vectors(x, parents)
    assert bones.shape == x.shape
    expected = torch.tensor([[0.0, 0.0], [1.0, 2.0], [3.0, 4.0]]).T
    for n, t, m in [(0, 0, 0), (1, 3, 1)]:
        torch.testing.assert_close(bones[n, :, t, :, m], expected)


def test_bone_vectors_root_is_zero_and_coco_left_forearm() -> None:
    x = torch.randn(2, 3, 4, 17, 2)
    bones = bone_vectors(x, COCO17.parents)
    assert (bones[:, :, :, 0] == 0).all()
    torch.testing.assert_close(bones[:, :, :, 9], x[:, :, :, 9] - x[:, :, :, 7])


def test_bone_vectors_other_dim_for_clip_chains() -> None:
    clips = torch.arange(12.0).reshape(1, 4, 3) ** 2  # (B, T, D)
    diff = bone_vectors(clips, temporal_chain_graph(4).parents, dim=1)
    torch.testing.assert_close(diff[:, 1:], clips[:, 1:] - clips[:, :-1])
    assert (diff[:, 0] == 0).all()


def test_bone_vectors_wrong_node_count() -> None:
    with pytest.raises(ValueError, match="expected 17 nodes"):
        bone_vectors(torch.zeros(1, 3, 2, 25, 1), COCO17.parents)


@pytest.mark.parametrize("graph", [COCO17, NTU25, temporal_chain_graph(7)])
def test_fourier_basis_is_orthonormal_and_diagonalises_laplacian(graph: Graph) -> None:
    eigvals, u = graph.fourier_basis()
    v = graph.num_nodes
    np.testing.assert_allclose(u.T @ u, np.eye(v), atol=1e-10)
    lap = normalized_laplacian(graph.adjacency())
    np.testing.assert_allclose(u @ np.diag(eigvals) @ u.T, lap, atol=1e-10)
    assert np.all(np.diff(eigvals) >= -1e-12)
    assert eigvals[0] == pytest.approx(0.0, abs=1e-10)  # connected graph
    assert eigvals[-1] <= 2.0 + 1e-10


def test_normalized_laplacian_by_hand() -> None:
    a = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float)  # path 0-1-2
    s = 1 / np.sqrt(2)
    expected = np.array([[1, -s, 0], [-s, 1, -s], [0, -s, 1]])
    np.testing.assert_allclose(normalized_laplacian(a), expected)
    eigvals, _ = fourier_basis(a)
    np.testing.assert_allclose(eigvals, [0.0, 1.0, 2.0], atol=1e-12)


@pytest.mark.parametrize(
    ("a", "message"),
    [
        (np.zeros((2, 3)), "square"),
        (np.array([[0, 1], [0, 0]], dtype=float), "symmetric"),
        (np.array([[0, np.nan], [np.nan, 0]]), "NaN"),
        (np.array([[0, -1], [-1, 0]], dtype=float), "non-negative"),
    ],
)
def test_normalized_laplacian_rejects_bad_adjacency(a: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalized_laplacian(a)


def test_temporal_chain_graph_neighbours() -> None:
    g = temporal_chain_graph(5, k=2)
    a = g.adjacency()
    expected = np.array([[1.0 if 0 < abs(i - j) <= 2 else 0.0 for j in range(5)] for i in range(5)])
    np.testing.assert_array_equal(a, expected)
    assert g.parents == (-1, 0, 1, 2, 3)
    past = g.adjacency_stack()[1]
    # the inward part reads from the past: clip 2 takes the mean of clips 0 and 1
    assert past[0, 2] == pytest.approx(0.5) and past[1, 2] == pytest.approx(0.5)
    assert past[3, 2] == 0.0
    with pytest.raises(ValueError, match="n_clips"):
        temporal_chain_graph(0)
    with pytest.raises(ValueError, match="k must"):
        temporal_chain_graph(4, k=0)


def test_graph_validation() -> None:
    with pytest.raises(ValueError, match="expected 3 parents"):
        Graph("g", 3, (), (-1, 0))
    with pytest.raises(ValueError, match="bad edge"):
        Graph("g", 2, ((0, 5),), (-1, 0))
    with pytest.raises(ValueError, match="one root"):
        Graph("g", 2, (), (-1, -1))
