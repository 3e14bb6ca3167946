"""Graphs for the GTN and DGCN baselines: skeletons, clip chains, adjacency, Fourier basis, bones.

Two kinds of graph share one :class:`Graph` type:

- **Skeletons** (skeleton mode, input ``(N, C, T, V, M)``): :data:`COCO17` (the 17 COCO
  keypoints drawn by the synthetic basketball data) and :data:`NTU25` (the 25 Kinect joints
  of NTU RGB+D, the datasets both papers report on).
- **Clip chains** (clip-graph mode, input ``(B, T, D)``): :func:`temporal_chain_graph`, whose
  nodes are the clips of one video, linked to their temporal neighbours.

Conventions (those of ST-GCN / 2s-AGCN, ``graph/tools.py``):

- ``inward`` edges are directed ``(child, parent)`` pairs that point towards the centre (the
  root of the tree); ``outward`` edges are the same pairs reversed.
- An adjacency ``A`` aggregates as ``y[..., w] = sum_v x[..., v] * A[v, w]`` (``einsum
  "nctv,vw->nctw"``), so column ``w`` lists the nodes ``w`` reads from. In the inward part
  a joint reads from its parent; in the outward part from its children.
- :meth:`Graph.adjacency_stack` is the ST-GCN "spatial" partition ``(self, inward, outward)``,
  each matrix column-normalised (``A D^-1`` with ``D`` the column sums): every nonzero column
  sums to 1, i.e. a node takes the *mean* of its neighbours in that partition.

COCO centre and parents (a choice; COCO has no neck or pelvis joint): the root is the nose
(joint 0), as in the ``coco`` layout of PYSKL (Duan et al., 2022). Eyes hang from the nose,
ears from the eyes, shoulders from the nose, elbows from shoulders, wrists from elbows, hips
from the shoulders on the same side, knees from hips, ankles from knees.

NTU parents are the 2s-AGCN bone pairs (``data_gen/gen_bone_data.py``) with the spine joint
21 (index 20) as root.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from grounding.data.keypoints import COCO17_JOINTS, COCO17_PARENTS

NTU25_JOINTS: tuple[str, ...] = (
    "spine_base",
    "spine_mid",
    "neck",
    "head",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "left_hand",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
    "right_hand",
    "left_hip",
    "left_knee",
    "left_ankle",
    "left_foot",
    "right_hip",
    "right_knee",
    "right_ankle",
    "right_foot",
    "spine_shoulder",
    "left_hand_tip",
    "left_thumb",
    "right_hand_tip",
    "right_thumb",
)
# 1-based (joint, parent) pairs of 2s-AGCN's gen_bone_data.py, converted to 0-based parents.
_NTU25_BONES_1BASED = (
    (1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9),
    (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18),
    (20, 19), (22, 23), (23, 8), (24, 25), (25, 12),
)  # fmt: skip
NTU25_PARENTS: tuple[int, ...] = tuple(
    dict((j - 1, p - 1) for j, p in _NTU25_BONES_1BASED).get(v, -1) for v in range(25)
)


@dataclass(frozen=True)
class Graph:
    """A graph over ``num_nodes`` nodes with directed ``inward`` edges and a bone tree.

    Attributes:
        name: short id used in error messages (``"coco17"``, ``"ntu25"``, ``"chain16_k1"``).
        num_nodes: ``V``.
        inward: directed ``(source, target)`` edges pointing towards the centre; for a
            skeleton these are the ``(joint, parent)`` bones.
        parents: ``parents[v]`` is the node bone ``v`` starts from (``-1`` for the root);
            used by :func:`bone_vectors`.
        node_names: optional names, one per node.
    """

    name: str
    num_nodes: int
    inward: tuple[tuple[int, int], ...]
    parents: tuple[int, ...]
    node_names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        v = self.num_nodes
        if v < 1:
            raise ValueError(f"graph {self.name!r}: num_nodes must be >= 1, got {v}")
        if len(self.parents) != v:
            raise ValueError(f"graph {self.name!r}: expected {v} parents, got {len(self.parents)}")
        if self.node_names and len(self.node_names) != v:
            raise ValueError(
                f"graph {self.name!r}: expected {v} node names, got {len(self.node_names)}"
            )
        for i, j in self.inward:
            if not (0 <= i < v and 0 <= j < v) or i == j:
                raise ValueError(f"graph {self.name!r}: bad edge ({i}, {j}) for {v} nodes")
        for node, parent in enumerate(self.parents):
            if parent == node or not -1 <= parent < v:
                raise ValueError(f"graph {self.name!r}: bad parent {parent} of node {node}")
        if sum(p < 0 for p in self.parents) != 1:
            raise ValueError(f"graph {self.name!r}: exactly one root (parent -1) is required")

    @property
    def center(self) -> int:
        """The root node (the one whose parent is ``-1``)."""
        return self.parents.index(-1)

    @property
    def outward(self) -> tuple[tuple[int, int], ...]:
        return tuple((j, i) for i, j in self.inward)

    def adjacency(self) -> np.ndarray:
        """Binary symmetric adjacency ``(V, V)`` without self-loops."""
        a = _edges_to_matrix(self.inward, self.num_nodes)
        return np.maximum(a, a.T)

    def adjacency_stack(self) -> np.ndarray:
        """``(3, V, V)`` float64: identity, inward, outward; each column-normalised.

        ``A_k[v, w] != 0`` means node ``w`` reads from node ``v``; every column with a nonzero
        entry sums to 1 (ST-GCN ``normalize_digraph``: ``A D^-1``, ``D`` = column sums).
        """
        v = self.num_nodes
        parts = (
            np.eye(v),
            _edges_to_matrix(self.inward, v),
            _edges_to_matrix(self.outward, v),
        )
        return np.stack([column_normalize(p) for p in parts])

    def fourier_basis(self) -> tuple[np.ndarray, np.ndarray]:
        """Graph Fourier basis of the undirected graph; see :func:`fourier_basis`."""
        return fourier_basis(self.adjacency())


def _edges_to_matrix(edges: Sequence[tuple[int, int]], num_nodes: int) -> np.ndarray:
    """``A[target, source] = 1`` for each ``(source, target)`` edge (ST-GCN ``edge2mat``)."""
    a = np.zeros((num_nodes, num_nodes))
    for i, j in edges:
        a[j, i] = 1.0
    return a


def column_normalize(a: np.ndarray) -> np.ndarray:
    """``A D^-1`` with ``D`` the column sums; all-zero columns stay zero."""
    col = a.sum(axis=0)
    inv = np.divide(1.0, col, out=np.zeros_like(col, dtype=np.float64), where=col > 0)
    return a * inv[None, :]


def _check_adjacency(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"adjacency must be a square (V, V) matrix, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("adjacency contains NaN or inf")
    if (a < 0).any():
        raise ValueError("adjacency must be non-negative")
    if not np.allclose(a, a.T):
        raise ValueError("adjacency must be symmetric (undirected) for the Laplacian")
    return a


def normalized_laplacian(a: np.ndarray) -> np.ndarray:
    """Symmetric normalised Laplacian ``L = I - D^-1/2 A D^-1/2`` of an undirected graph.

    ``A`` is ``(V, V)``, symmetric, non-negative; ``D = diag(A 1)``. Isolated nodes get
    ``D^-1/2 = 0`` (their row of ``L`` is the identity row). Eigenvalues lie in ``[0, 2]``.
    """
    a = _check_adjacency(a)
    deg = a.sum(axis=1)
    inv_sqrt = np.divide(1.0, np.sqrt(deg), out=np.zeros_like(deg), where=deg > 0)
    return np.eye(a.shape[0]) - inv_sqrt[:, None] * a * inv_sqrt[None, :]


def fourier_basis(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Graph Fourier basis: ``L = U diag(eigvals) U^T`` for ``L`` = :func:`normalized_laplacian`.

    Returns ``(eigvals (V,), U (V, V))``, eigenvalues ascending (graph frequencies), ``U``
    orthonormal with eigenvectors in columns. The graph Fourier transform of a signal
    ``x (.., V)`` is ``x U``; the inverse is ``x_hat U^T``.
    """
    eigvals, u = np.linalg.eigh(normalized_laplacian(a))
    return eigvals, u


def bone_vectors(x: torch.Tensor, parents: Sequence[int], *, dim: int = 3) -> torch.Tensor:
    """Bones: each node minus its parent along ``dim``; the root's bone is zero.

    Args:
        x: joints ``(N, C, T, V, M)`` (``dim=3``, the default), or any tensor whose ``dim``
            axis indexes the ``len(parents)`` nodes.
        parents: ``parents[v]`` (``-1`` for the root).
    Returns:
        a tensor of the same shape as ``x``.
    """
    if not -x.ndim <= dim < x.ndim:
        raise ValueError(f"bone_vectors: dim {dim} is out of range for a {x.ndim}-d input")
    if x.shape[dim] != len(parents):
        raise ValueError(
            f"bone_vectors: expected {len(parents)} nodes on dim {dim}, got shape {tuple(x.shape)}"
        )
    parent_index = torch.tensor([max(p, 0) for p in parents], device=x.device)
    is_root = torch.tensor([p < 0 for p in parents], device=x.device)
    bones = x - x.index_select(dim, parent_index)
    shape = [1] * x.ndim
    shape[dim] = len(parents)
    return bones.masked_fill(is_root.view(shape), 0.0)


def _tree_inward(parents: Sequence[int]) -> tuple[tuple[int, int], ...]:
    return tuple((v, p) for v, p in enumerate(parents) if p >= 0)


COCO17 = Graph("coco17", 17, _tree_inward(COCO17_PARENTS), COCO17_PARENTS, COCO17_JOINTS)
NTU25 = Graph("ntu25", 25, _tree_inward(NTU25_PARENTS), NTU25_PARENTS, NTU25_JOINTS)


def temporal_chain_graph(n_clips: int, k: int = 1) -> Graph:
    """Graph over the ``n_clips`` clips of a video; clip ``i`` is linked to clips ``i±1..i±k``.

    ``inward`` edges point to the past (``(later, earlier)``), so in
    :meth:`Graph.adjacency_stack` the "inward" matrix reads from past neighbours and the
    "outward" one from future neighbours. ``parents[i] = i - 1`` (clip 0 is the root), so
    :func:`bone_vectors` gives the difference to the previous clip.
    """
    if n_clips < 1:
        raise ValueError(f"temporal_chain_graph: n_clips must be >= 1, got {n_clips}")
    if k < 1:
        raise ValueError(f"temporal_chain_graph: k must be >= 1, got {k}")
    inward = tuple((j, i) for j in range(n_clips) for i in range(max(0, j - k), j))
    parents = tuple(range(-1, n_clips - 1))
    return Graph(f"chain{n_clips}_k{k}", n_clips, inward, parents)
