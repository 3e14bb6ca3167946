"""Word-level query conditioning: clips cross-attend to the sentence's token states.

A pooled sentence embedding blurs the words that tell one moment from another in a relational
query ("the crossover *before* the pass" and "the pass before the crossover" pool to nearly
the same vector). :class:`CrossAttentionBlock` lets every clip read the tokens it needs, as the
cross-modal layers of Moment-DETR's encoder and of MMN's / 2D-TAN's successors do
(pre-norm transformer decoder block without self-attention)::

    x = x + Dropout(MHA(LN(x), w, w, key_padding_mask))      # clips attend to words
    x = x + Dropout(FFN(LN(x)))                               # FFN: D -> 2D -> D, GELU

with ``w = LN(W_w words)`` the token states projected to the clip width. Standard softmax
attention over the words: each clip distributes one unit of attention over the query.

Shapes: ``x (B, N, D)``, ``words (B, L, D_w)``, ``word_mask (B, L)`` bool, True for real
tokens (at least one per row) -> ``(B, N, D)``.
"""

from __future__ import annotations

import torch
from torch import nn


class WordProjection(nn.Module):
    """``(B, L, D_w) -> (B, L, D)``: ``LN(Linear(words))``, shared by the cross-attention
    blocks of one model."""

    def __init__(self, word_dim: int, dim: int) -> None:
        super().__init__()
        self.word_dim = word_dim
        self.proj = nn.Sequential(nn.Linear(word_dim, dim), nn.LayerNorm(dim))

    def forward(self, words: torch.Tensor) -> torch.Tensor:
        return self.proj(words)


class CrossAttentionBlock(nn.Module):
    """Clips attend to projected word states (module docstring).

    Args:
        dim: D, clip and projected word width.
        heads: attention heads (D must be divisible by it).
        dropout: on the attention weights and on both residual branches.
    """

    def __init__(self, dim: int, *, heads: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        if heads < 1 or dim % heads:
            raise ValueError(f"dim={dim} must be divisible by heads={heads} (heads >= 1)")
        self.dim = dim
        self.norm_q = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm_ff = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(
            nn.Linear(dim, 2 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * dim, dim)
        )
        self.dropout = nn.Dropout(dropout)

    def check_inputs(self, x: torch.Tensor, words: torch.Tensor, word_mask: torch.Tensor) -> None:
        """``ValueError`` naming the expected and received shapes."""
        if x.ndim != 3 or x.shape[-1] != self.dim:
            raise ValueError(f"clips must be (B, N, {self.dim}), got {tuple(x.shape)}")
        if words.ndim != 3 or words.shape[0] != x.shape[0] or words.shape[-1] != self.dim:
            raise ValueError(
                f"projected words must be ({x.shape[0]}, L, {self.dim}), got {tuple(words.shape)}"
            )
        if word_mask.shape != words.shape[:2] or word_mask.dtype != torch.bool:
            raise ValueError(
                f"word mask must be a bool tensor of shape {tuple(words.shape[:2])}, "
                f"got {word_mask.dtype} {tuple(word_mask.shape)}"
            )
        empty = ~word_mask.any(dim=1)
        if bool(empty.any()):
            rows = empty.nonzero().flatten().tolist()
            raise ValueError(f"queries without any token in batch rows {rows[:10]}")

    def attention_weights(
        self, x: torch.Tensor, words: torch.Tensor, word_mask: torch.Tensor
    ) -> torch.Tensor:
        """``(B, N, L)`` attention of each clip over the words, averaged over heads."""
        self.check_inputs(x, words, word_mask)
        _, weights = self.attn(
            self.norm_q(x), words, words, key_padding_mask=~word_mask, need_weights=True
        )
        return weights

    def forward(
        self, x: torch.Tensor, words: torch.Tensor, word_mask: torch.Tensor
    ) -> torch.Tensor:
        self.check_inputs(x, words, word_mask)
        attended, _ = self.attn(
            self.norm_q(x), words, words, key_padding_mask=~word_mask, need_weights=False
        )
        x = x + self.dropout(attended)
        return x + self.dropout(self.ffn(self.norm_ff(x)))
