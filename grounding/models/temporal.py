"""Temporal modules over a sequence of clip/segment features, one interface
``(B, T, D) [, mask (B, T)] -> (B, T, D)``.

- :class:`MultiHeadSelfAttention` with ``activation="sigmoid"`` is the paper's MHSSA
  (eqs. 10-14): per head ``sigmoid(Q_i K_i^T / sqrt(d_k)) V_i``, heads concatenated and
  projected by ``W_o``. With ``activation="softmax"`` it is standard softmax self-attention
  (the ablation of Table 3). Sigmoid rows do not sum to 1: each query gates every clip
  independently, so the output grows with the number of valid clips.
- :class:`RecurrentTemporal`: RNN / LSTM / GRU (optionally bidirectional), projected back to D.
- :class:`ResidualTemporal` wraps any of them as ``LayerNorm(x + Dropout(module(x)))``.

Head size: ``d_k = D // heads`` unless ``head_dim`` is given, so the inner width
``heads * d_k`` may be smaller than D (D=1024 with 6 heads gives d_k=170, inner 1020);
``W_q, W_k, W_v: D -> heads*d_k`` and ``W_o: heads*d_k -> D`` keep the output at D.

Padding mask: ``mask[b, t]`` is True for valid steps. Padded keys get zero attention weight,
padded output steps are zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar, Literal

import torch
from torch import nn


def _check_input(x: torch.Tensor, dim: int, mask: torch.Tensor | None) -> None:
    if x.ndim != 3 or x.shape[-1] != dim:
        raise ValueError(f"expected (B, T, {dim}), got {tuple(x.shape)}")
    if mask is not None and (mask.shape != x.shape[:2] or mask.dtype != torch.bool):
        raise ValueError(
            f"mask must be a bool tensor of shape {tuple(x.shape[:2])}, "
            f"got {mask.dtype} {tuple(mask.shape)}"
        )


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention with a sigmoid (MHSSA, eqs. 10-14) or softmax activation.

    ``(B, T, D) -> (B, T, D)``.
    """

    def __init__(
        self,
        dim: int,
        *,
        heads: int = 4,
        activation: Literal["sigmoid", "softmax"] = "sigmoid",
        head_dim: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if heads < 1:
            raise ValueError(f"heads must be >= 1, got {heads}")
        if activation not in ("sigmoid", "softmax"):
            raise ValueError(f"activation must be 'sigmoid' or 'softmax', got {activation!r}")
        head_dim = head_dim if head_dim is not None else dim // heads
        if head_dim < 1:
            raise ValueError(f"dim={dim} is too small for {heads} heads (d_k = dim // heads = 0)")
        self.dim, self.heads, self.head_dim = dim, heads, head_dim
        self.activation = activation
        inner = heads * head_dim
        self.q = nn.Linear(dim, inner)
        self.k = nn.Linear(dim, inner)
        self.v = nn.Linear(dim, inner)
        self.out = nn.Linear(inner, dim)  # W_o, eqs. 12-14
        self.dropout = nn.Dropout(dropout)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.head_dim).transpose(1, 2)  # (B, h, T, d_k)

    def attention_weights(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, T, D) -> (B, heads, T, T)``: ``sigmoid`` or ``softmax`` of ``QK^T/sqrt(d_k)``."""
        _check_input(x, self.dim, mask)
        q, k = self._split(self.q(x)), self._split(self.k(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)
        if mask is not None:
            scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
        if self.activation == "sigmoid":
            return torch.sigmoid(scores)
        weights = torch.softmax(scores, dim=-1)
        return weights.nan_to_num(0.0)  # fully padded rows

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        weights = self.dropout(self.attention_weights(x, mask))
        heads = weights @ self._split(self.v(x))  # (B, h, T, d_k), eq. 10
        b, _, t, _ = heads.shape
        out = self.out(heads.transpose(1, 2).reshape(b, t, -1))  # Concat(head_i) W_o
        return out if mask is None else out * mask[..., None]


class RecurrentTemporal(nn.Module):
    """RNN / LSTM / GRU over T, projected back to D: ``(B, T, D) -> (B, T, D)``."""

    _CELLS: ClassVar[Mapping[str, type[nn.RNNBase]]] = MappingProxyType(
        {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
    )

    def __init__(
        self,
        dim: int,
        *,
        cell: Literal["rnn", "lstm", "gru"] = "lstm",
        hidden: int | None = None,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if cell not in self._CELLS:
            raise ValueError(f"cell must be one of {sorted(self._CELLS)}, got {cell!r}")
        hidden = hidden or dim
        self.dim = dim
        self.rnn = self._CELLS[cell](
            dim,
            hidden,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.proj = nn.Linear(hidden * (2 if bidirectional else 1), dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        _check_input(x, self.dim, mask)
        if mask is None:
            return self.proj(self.rnn(x)[0])
        lengths = mask.sum(dim=1)
        prefix = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]
        if not torch.equal(prefix, mask):
            raise ValueError("recurrent temporal modules need masks whose valid steps come first")
        if bool((lengths == 0).any()):
            raise ValueError("every sequence needs at least one valid step")
        packed = nn.utils.rnn.pack_padded_sequence(
            x, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        out, _ = self.rnn(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return self.proj(out) * mask[..., None]


class IdentityTemporal(nn.Module):
    """No temporal modelling (TSN's plain segment consensus): ``(B, T, D) -> (B, T, D)``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        _check_input(x, self.dim, mask)
        return x if mask is None else x * mask[..., None]


class ResidualTemporal(nn.Module):
    """``LayerNorm(x + Dropout(module(x, mask)))``: ``(B, T, D) -> (B, T, D)``."""

    def __init__(self, module: nn.Module, dim: int, *, dropout: float = 0.0) -> None:
        super().__init__()
        self.module = module
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        inner = self.module(x) if mask is None else self.module(x, mask)
        out = self.norm(x + self.dropout(inner))
        return out if mask is None else out * mask[..., None]


TEMPORAL_KINDS = ("mhssa", "softmax", "rnn", "lstm", "gru", "none")


def build_temporal(
    kind: str,
    *,
    dim: int,
    heads: int = 4,
    bidirectional: bool = False,
    dropout: float = 0.0,
) -> nn.Module:
    """Build a temporal module by its CLI name (one of :data:`TEMPORAL_KINDS`)."""
    builders = {
        "mhssa": lambda: MultiHeadSelfAttention(
            dim, heads=heads, activation="sigmoid", dropout=dropout
        ),
        "softmax": lambda: MultiHeadSelfAttention(
            dim, heads=heads, activation="softmax", dropout=dropout
        ),
        "rnn": lambda: RecurrentTemporal(dim, cell="rnn", bidirectional=bidirectional),
        "lstm": lambda: RecurrentTemporal(dim, cell="lstm", bidirectional=bidirectional),
        "gru": lambda: RecurrentTemporal(dim, cell="gru", bidirectional=bidirectional),
        "none": lambda: IdentityTemporal(dim),
    }
    if kind not in builders:
        raise ValueError(f"unknown temporal module {kind!r}; choose one of {TEMPORAL_KINDS}")
    return builders[kind]()
