"""Moment-localization head: a 2D temporal map of candidate moments (2D-TAN / MMN family).

Over N clips, candidate moment ``(i, j)`` with ``j >= i`` covers clips ``i..j``, i.e. the
normalised span ``[i / N, (j + 1) / N]`` (times ``[i * dur / N, (j + 1) * dur / N]``). The
head

1. builds the dense moment map ``(B, D, N, N)`` by max- (2D-TAN's default) or average-pooling
   the clip features ``i..j`` (:func:`build_moment_map`; cells ``j < i`` are zero);
2. fuses it with the sentence: ``normalize(W_m map ⊙ W_s sentence)`` per cell (2D-TAN);
3. runs ``num_layers`` 2D convolutions + ReLU, zeroing the invalid cells after each one, so a
   valid cell never sees an invalid one;
4. scores each cell with a 1x1 conv: logits ``(B, N, N)`` with invalid cells ``-inf``.

Training: :func:`moment_iou_targets` (IoU of every cell with the ground truth) and
:func:`scaled_iou_loss` (2D-TAN's scaled IoU, BCE with logits over the valid cells).
Inference: :func:`rank_moments` returns every valid moment ``[start_s, end_s, score]`` ranked by
score (``score`` is ``sigmoid(logit)``); :func:`predict_moments` adds greedy NMS and top-k.
The map is dense (no 2D-TAN sparse sampling): memory grows as ``B * D * N^2``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from grounding.eval.nms import nms


def valid_moment_mask(n: int, *, device: torch.device | str | None = None) -> torch.Tensor:
    """``(N, N)`` bool, True where ``j >= i``."""
    return torch.ones(n, n, dtype=torch.bool, device=device).triu()


def moment_spans(n: int) -> np.ndarray:
    """``(N, N, 2)`` normalised spans ``[i / N, (j + 1) / N]`` of every cell (valid or not)."""
    idx = np.arange(n, dtype=np.float64)
    starts = np.broadcast_to(idx[:, None] / n, (n, n))
    ends = np.broadcast_to((idx[None, :] + 1) / n, (n, n))
    return np.stack([starts, ends], axis=-1)


def build_moment_map(
    clips: torch.Tensor, *, pooling: Literal["max", "avg"] = "max"
) -> torch.Tensor:
    """Pool clips ``i..j`` into cell ``(i, j)``: ``(B, N, D) -> (B, D, N, N)``, zeros where
    ``j < i``. Max pooling runs N vectorised steps (one per span length); average pooling
    uses a cumulative sum."""
    b, n, d = clips.shape
    x = clips.transpose(1, 2)  # (B, D, N)
    mask = valid_moment_mask(n, device=clips.device)
    if pooling == "avg":
        cs = F.pad(x.cumsum(dim=-1), (1, 0))  # (B, D, N + 1)
        idx = torch.arange(n, device=clips.device)
        sums = cs[:, :, None, 1:] - cs[:, :, :-1, None]  # [i, j] = sum of clips i..j
        length = (idx[None, :] - idx[:, None] + 1).clamp(min=1).to(x.dtype)
        return sums / length * mask
    if pooling != "max":
        raise ValueError(f"pooling must be 'max' or 'avg', got {pooling!r}")
    # by_len[..., i, k] = max over clips i..i+k (zero-padded past the end), then one gather
    # moves cell (i, k) to (i, i + k): no per-length writes into the map, whose backward
    # would copy the whole (B, D, N, N) gradient N times
    runs = [x]
    for k in range(1, n):
        runs.append(torch.maximum(runs[-1][..., :-1], x[..., k:]))
    if not (torch.is_grad_enabled() and x.requires_grad):
        # no backward to keep cheap: write each span length's diagonal once into a zero map
        out = x.new_zeros(b, d, n, n)
        for k, r in enumerate(runs):
            out.diagonal(offset=k, dim1=-2, dim2=-1).copy_(r)
        return out
    by_len = torch.stack([F.pad(r, (0, k)) for k, r in enumerate(runs)], dim=-1)
    idx = torch.arange(n, device=clips.device)
    length = (idx[None, :] - idx[:, None]).clamp(min=0)  # [i, j] = j - i
    out = by_len.gather(-1, length.expand(b, d, n, n))
    return out * mask


class MomentMapHead(nn.Module):
    """2D-TAN-style head: ``clips (B, N, D), sentence (B, D_s) -> logits (B, N, N)``,
    ``-inf`` where ``j < i``.

    Args:
        clip_dim: D. text_dim: D_s. hidden: channels of the fused map.
        num_layers: masked 2D convs (2D-TAN: 8 with kernel 5 for Charades at N=16).
        kernel_size: odd kernel of the 2D convs. pooling: ``"max"`` or ``"avg"`` moment map.
        dropout: dropout on the fused map and between convs.
        cell_prior: ``N``: add a learned ``(N, N)`` bias to the logits, one per cell (the
            span's start and length prior, which a small training set otherwise teaches the
            convolutions slowly); ``None``: none (2D-TAN).
    """

    def __init__(
        self,
        *,
        clip_dim: int,
        text_dim: int,
        hidden: int = 256,
        num_layers: int = 4,
        kernel_size: int = 5,
        pooling: Literal["max", "avg"] = "max",
        dropout: float = 0.0,
        cell_prior: int | None = None,
    ) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        if pooling not in ("max", "avg"):
            raise ValueError(f"pooling must be 'max' or 'avg', got {pooling!r}")
        self.clip_dim, self.text_dim, self.pooling = clip_dim, text_dim, pooling
        self.map_proj = nn.Conv2d(clip_dim, hidden, 1)
        self.text_proj = nn.Linear(text_dim, hidden)
        self.convs = nn.ModuleList(
            nn.Conv2d(hidden, hidden, kernel_size, padding=kernel_size // 2)
            for _ in range(num_layers)
        )
        self.dropout = nn.Dropout(dropout)
        self.score = nn.Conv2d(hidden, 1, 1)
        self.cell_bias = (
            nn.Parameter(torch.zeros(cell_prior, cell_prior)) if cell_prior is not None else None
        )

    def forward(self, clips: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        if clips.ndim != 3 or clips.shape[-1] != self.clip_dim:
            raise ValueError(f"clips must be (B, N, {self.clip_dim}), got {tuple(clips.shape)}")
        if sentence.shape != (clips.shape[0], self.text_dim):
            raise ValueError(
                f"sentence must be ({clips.shape[0]}, {self.text_dim}), got {tuple(sentence.shape)}"
            )
        n = clips.shape[1]
        mask = valid_moment_mask(n, device=clips.device).to(clips.dtype)
        fmap = self.map_proj(build_moment_map(clips, pooling=self.pooling))
        fused = F.normalize(fmap * self.text_proj(sentence)[:, :, None, None], dim=1) * mask
        x = self.dropout(fused)
        for conv in self.convs:
            x = self.dropout(F.relu(conv(x)) * mask)
        logits = self.score(x).squeeze(1)
        if self.cell_bias is not None:
            if self.cell_bias.shape[0] != n:
                raise ValueError(f"cell prior of {self.cell_bias.shape[0]} clips, got {n} clips")
            logits = logits + self.cell_bias
        return logits.masked_fill(mask == 0, float("-inf"))


def moment_iou_targets(gt_windows: torch.Tensor, n: int) -> torch.Tensor:
    """IoU of every cell's span ``[i/N, (j+1)/N]`` with the ground truth.

    Args:
        gt_windows: ``(B, 2)`` normalised ``[start, end]`` in ``[0, 1]``, ``start < end``.
        n: number of clips N.

    Returns:
        ``(B, N, N)`` IoU, 0 at invalid cells ``j < i``.
    """
    if gt_windows.ndim != 2 or gt_windows.shape[1] != 2:
        raise ValueError(f"gt_windows must be (B, 2), got {tuple(gt_windows.shape)}")
    bad = ~torch.isfinite(gt_windows).all(dim=1) | ~(gt_windows[:, 0] < gt_windows[:, 1])
    bad |= (gt_windows[:, 0] < 0) | (gt_windows[:, 1] > 1)
    if bool(bad.any()):
        i = int(bad.nonzero()[0, 0])
        raise ValueError(
            f"gt_windows row {i} = {gt_windows[i].tolist()} is not a normalised span "
            "0 <= start < end <= 1"
        )
    spans = torch.as_tensor(moment_spans(n), dtype=gt_windows.dtype, device=gt_windows.device)
    s, e = spans[None, ..., 0], spans[None, ..., 1]
    gs, ge = gt_windows[:, 0, None, None], gt_windows[:, 1, None, None]
    inter = (torch.minimum(e, ge) - torch.maximum(s, gs)).clamp(min=0)
    iou = inter / ((e - s) + (ge - gs) - inter)
    return iou * valid_moment_mask(n, device=gt_windows.device)


def scale_iou(iou: torch.Tensor, *, t_min: float = 0.5, t_max: float = 1.0) -> torch.Tensor:
    """2D-TAN's target: 0 if ``iou <= t_min``, 1 if ``iou >= t_max``, else linear between."""
    if not 0.0 <= t_min < t_max <= 1.0:
        raise ValueError(f"need 0 <= t_min < t_max <= 1, got t_min={t_min}, t_max={t_max}")
    return ((iou - t_min) / (t_max - t_min)).clamp(0.0, 1.0)


def scaled_iou_loss(
    logits: torch.Tensor, iou: torch.Tensor, *, t_min: float = 0.5, t_max: float = 1.0
) -> torch.Tensor:
    """Binary cross-entropy with logits between ``logits`` and ``scale_iou(iou)`` averaged over
    the valid cells. ``logits``/``iou``: ``(B, N, N)``. Defaults are 2D-TAN's for Charades."""
    if logits.shape != iou.shape or logits.ndim != 3 or logits.shape[1] != logits.shape[2]:
        raise ValueError(
            f"logits and iou must both be (B, N, N), got {tuple(logits.shape)} and "
            f"{tuple(iou.shape)}"
        )
    mask = valid_moment_mask(logits.shape[1], device=logits.device).expand_as(logits)
    target = scale_iou(iou, t_min=t_min, t_max=t_max)
    return F.binary_cross_entropy_with_logits(logits[mask], target[mask])


def rank_moments(
    score_map: torch.Tensor | np.ndarray, duration: float, *, top_k: int | None = None
) -> np.ndarray:
    """Every valid moment of one query ranked by score.

    Args:
        score_map: ``(N, N)`` logits (e.g. one row of :class:`MomentMapHead`'s output); only
            cells ``j >= i`` are read.
        duration: video length in seconds.
        top_k: keep only the best ``top_k``.

    Returns:
        ``(K, 3)`` float64 ``[start_s, end_s, score]`` with ``score = sigmoid(logit)``, sorted by
        score descending; ties keep row-major cell order (stable). K = N(N+1)/2 or ``top_k``.
    """
    scores = torch.as_tensor(score_map).detach().to("cpu", torch.float64)
    if scores.ndim != 2 or scores.shape[0] != scores.shape[1]:
        raise ValueError(f"score_map must be (N, N), got {tuple(scores.shape)}")
    if not (np.isfinite(duration) and duration > 0):
        raise ValueError(f"duration must be a positive number, got {duration}")
    n = scores.shape[0]
    i, j = np.triu_indices(n)
    logits = scores.numpy()[i, j]
    if np.isnan(logits).any():
        raise ValueError("score_map has NaN scores at valid moments")
    order = np.argsort(-logits, kind="stable")
    if top_k is not None:
        order = order[:top_k]
    probs = 1.0 / (1.0 + np.exp(-logits[order]))
    return np.stack([i[order] * duration / n, (j[order] + 1) * duration / n, probs], axis=1)


def predict_moments(
    score_map: torch.Tensor | np.ndarray,
    duration: float,
    *,
    nms_thresh: float | None = 0.5,
    top_k: int | None = None,
) -> np.ndarray:
    """:func:`rank_moments` followed by greedy NMS (``grounding.eval.nms``, suppress IoU
    ``> nms_thresh``; ``None`` for no NMS) and top-k: ``(K, 3) [start_s, end_s, score]``."""
    ranked = rank_moments(score_map, duration)
    if nms_thresh is not None:
        ranked = ranked[nms(ranked[:, :2], ranked[:, 2], thresh=nms_thresh, max_keep=top_k)]
    return ranked if top_k is None else ranked[:top_k]
