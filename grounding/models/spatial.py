"""Spatial attention pooling of a backbone map (paper sec. 2.2, Figs. 7-8, eqs. 15-16).

The last backbone map ``(B, C, H, W)`` (7x7x1024 for BN-Inception at 224x224) is read as
``H*W`` tokens ``X`` of shape ``(B, H*W, C)``. A two-layer MLP gives one attention value per
token; ``sigmoid`` (the paper) or ``softmax`` over the tokens (ablation). The reweighted map is
``f(x) = a * x`` and, with ``residual=True``, ``h(x) = f(x) + x`` (eq. 16). The tokens are then
pooled by average and max pooling, fused either by ``sum`` (``avg + max``) or by ``concat``
(``Linear([avg, max]) -> C``). Optionally a low-rank bilinear pooling (eq. 15,
``f(X) = a^T X^T (X b)``, Girdhar & Ramanan's attentional pooling) adds ``bilinear_rank``
second-order terms ``z_k = a_k^T X^T X b_k / (H*W)``; they are projected to ``C`` and added
(``sum``) or concatenated before the projection (``concat``). The output is always ``(B, C)``.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn


class LowRankBilinearPooling(nn.Module):
    """Eq. 15 with ``rank`` pairs ``(a_k, b_k)``: ``(B, N, C) -> (B, rank)``,
    ``z_k = a_k^T X^T (X b_k) / N``."""

    def __init__(self, dim: int, rank: int) -> None:
        super().__init__()
        if rank < 1:
            raise ValueError(f"bilinear_rank must be >= 1, got {rank}")
        self.a = nn.Linear(dim, rank, bias=False)
        self.b = nn.Linear(dim, rank, bias=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        # (X a_k)^T (X b_k) summed over tokens == a_k^T X^T X b_k
        return (self.a(tokens) * self.b(tokens)).mean(dim=1)


class SpatialAttentionPooling(nn.Module):
    """Residual sigmoid spatial attention + fused avg/max pooling: ``(B, C, H, W) -> (B, C)``.

    Args:
        dim: channels ``C`` of the map.
        hidden: width of the attention MLP (default ``C // 8``, at least 16).
        attention: ``"sigmoid"`` (per token, the paper) or ``"softmax"`` (over the H*W tokens).
        residual: ``h(x) = f(x) + x`` (eq. 16) instead of ``f(x)``.
        fusion: ``"sum"`` (``avg + max``) or ``"concat"`` (``Linear(2C [+ rank], C)``).
        bilinear_rank: add eq. 15's low-rank bilinear pooling with this many terms.
    """

    def __init__(
        self,
        dim: int,
        *,
        hidden: int | None = None,
        attention: Literal["sigmoid", "softmax"] = "sigmoid",
        residual: bool = True,
        fusion: Literal["sum", "concat"] = "sum",
        bilinear_rank: int | None = None,
    ) -> None:
        super().__init__()
        if attention not in ("sigmoid", "softmax"):
            raise ValueError(f"attention must be 'sigmoid' or 'softmax', got {attention!r}")
        if fusion not in ("sum", "concat"):
            raise ValueError(f"fusion must be 'sum' or 'concat', got {fusion!r}")
        hidden = hidden or max(16, dim // 8)
        self.dim = dim
        self.out_dim = dim
        self.attention = attention
        self.residual = residual
        self.fusion = fusion
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 1)
        )
        self.bilinear = LowRankBilinearPooling(dim, bilinear_rank) if bilinear_rank else None
        extra = bilinear_rank or 0
        if fusion == "concat":
            self.proj: nn.Module | None = nn.Linear(2 * dim + extra, dim)
            self.bilinear_proj: nn.Module | None = None
        else:
            self.proj = None
            self.bilinear_proj = nn.Linear(extra, dim) if extra else None

    @staticmethod
    def tokens(fmap: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W) -> (B, H*W, C)``."""
        return fmap.flatten(2).transpose(1, 2)

    def attention_weights(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, N, C) -> (B, N, 1)`` attention values (sigmoid, or softmax over the N tokens)."""
        logits = self.mlp(tokens)
        if self.attention == "sigmoid":
            return torch.sigmoid(logits)
        return torch.softmax(logits, dim=1)

    def attention_map(self, fmap: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W) -> (B, H, W)`` attention values, for inspection and figures."""
        b, _, h, w = fmap.shape
        return self.attention_weights(self.tokens(fmap)).reshape(b, h, w)

    def reweight(self, tokens: torch.Tensor) -> torch.Tensor:
        """``h(x) = a * x + x`` (eq. 16) or ``f(x) = a * x``: ``(B, N, C) -> (B, N, C)``."""
        attended = self.attention_weights(tokens) * tokens
        return attended + tokens if self.residual else attended

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        if fmap.ndim != 4 or fmap.shape[1] != self.dim:
            raise ValueError(f"expected a map (B, {self.dim}, H, W), got {tuple(fmap.shape)}")
        tokens = self.reweight(self.tokens(fmap))
        avg, mx = tokens.mean(dim=1), tokens.amax(dim=1)
        second = self.bilinear(tokens) if self.bilinear is not None else None
        if self.proj is not None:
            parts = [avg, mx] if second is None else [avg, mx, second]
            return self.proj(torch.cat(parts, dim=-1))
        out = avg + mx
        if self.bilinear_proj is not None:
            out = out + self.bilinear_proj(second)
        return out


class GlobalAvgPooling(nn.Module):
    """TSN's plain global average pooling ``(B, C, H, W) -> (B, C)`` (the no-attention baseline)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.out_dim = dim

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        return fmap.mean(dim=(2, 3))
