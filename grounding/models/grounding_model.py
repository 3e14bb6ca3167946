"""The feature-path grounding model (docs/design.md, "The paper's model"): precomputed clip
features -> projection (+ learned clip positions) -> query conditioning -> temporal module
(MHSSA by default, eqs. 10-14) -> 2D moment-map head with the sentence.

Sentences enter standardised per dimension with the training split's statistics
(:class:`SentenceStandardizer`, fitted by :meth:`GroundingModel.fit_sentence_stats` before
training; the identity until then). Unit-norm MiniLM embeddings share a large common direction
(mean pairwise cosine 0.51 on the synthetic queries) and vary by about 0.05 per dimension, so
the sentence pathways (FiLM, the head's text projection) otherwise learn an order of magnitude
more slowly than the clip pathway, which has its own LayerNorm.

Query conditioning (``query_fusion``, on by default) scales and shifts each projected clip by
the sentence before the temporal module (FiLM: ``x * (1 + γ(s)) + β(s)``), so the attention
over clips is query-aware, as in the cross-modal encoders of MMN / Moment-DETR; without it the
sentence meets the clips only in the head's Hadamard fusion (2D-TAN). Learned positions
(``positional``) let an order-blind encoder such as self-attention tell "before" from "after".

``forward(clips (B, N, D_in), sentence (B, D_s)) -> logits (B, N, N)``, ``-inf`` where
``j < i``. Features must already be resampled to ``N = config.num_clips`` clips (the data
layer's 2D-TAN resampling); sentences are the normalised all-MiniLM-L6-v2 embeddings
(``grounding.models.text``). Train with ``scaled_iou_loss(logits, moment_iou_targets(gt, N))``;
:meth:`GroundingModel.predict` gives ranked ``[start_s, end_s, score]`` lists per query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from grounding.data.features import resample_features
from grounding.eval.nms import nms
from grounding.models.cross_attention import CrossAttentionBlock, WordProjection
from grounding.models.localization import MomentMapHead, predict_moments, rank_moments
from grounding.models.registry import create_encoder
from grounding.models.temporal import ResidualTemporal, build_temporal


@dataclass(frozen=True)
class GroundingModelConfig:
    """Dimensions and hyper-parameters of :class:`GroundingModel`.

    Attributes:
        in_dim: D_in of the clip features (1024 I3D, 500 C3D, 4096 VGG, ...).
        num_clips: N, clips per video after resampling (2D-TAN: 16 Charades, 64 ActivityNet).
        text_dim: sentence embedding size (384 for all-MiniLM-L6-v2).
        hidden_dim: width after the projection and in the temporal module.
        temporal: temporal module name for :func:`grounding.models.temporal.build_temporal`.
        heads: attention heads (Table 3 uses 1, 2, 4, 6).
        map_dim: channels of the 2D moment map.
        head_layers / head_kernel: masked 2D convs of the head.
        pooling: ``"max"`` or ``"avg"`` moment-map pooling.
        dropout: dropout after the projection, in the temporal block and in the head.
        query_fusion: FiLM-condition the clips on the sentence before the temporal module.
        positional: add a learned ``(N, hidden_dim)`` clip-position embedding.
        cell_prior: add a learned ``(N, N)`` bias to the map logits (:class:`MomentMapHead`).
        cross_layers: :class:`~grounding.models.cross_attention.CrossAttentionBlock` s in
            which the clips attend to the sentence's token states before the temporal
            module (0: the pooled sentence only; then ``forward`` needs no tokens).
        word_dim: token state size (384 for all-MiniLM-L6-v2).
    """

    in_dim: int
    num_clips: int = 16
    text_dim: int = 384
    hidden_dim: int = 256
    temporal: str = "mhssa"
    heads: int = 4
    map_dim: int = 256
    head_layers: int = 4
    head_kernel: int = 5
    pooling: Literal["max", "avg"] = "max"
    dropout: float = 0.1
    query_fusion: bool = True
    positional: bool = True
    cell_prior: bool = False
    cross_layers: int = 0
    word_dim: int = 384


class SentenceStandardizer(nn.Module):
    """``(B, D_s) -> (B, D_s)``: ``(s - mean) / std`` per dimension, with statistics fitted once
    on the training sentences (buffers, so they travel in checkpoints); identity until
    :meth:`fit`."""

    def __init__(self, dim: int, *, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    @torch.no_grad()
    def fit(self, sentences: torch.Tensor | np.ndarray) -> None:
        """Set the statistics from ``(Q, D_s)`` training embeddings (at least 2 rows)."""
        x = torch.as_tensor(np.asarray(sentences), dtype=torch.float64)
        if x.ndim != 2 or x.shape[1] != self.mean.numel() or len(x) < 2:
            raise ValueError(
                f"sentence statistics need (Q >= 2, {self.mean.numel()}) embeddings, "
                f"got {tuple(x.shape)}"
            )
        if not bool(torch.isfinite(x).all()):
            raise ValueError("sentence embeddings for the statistics contain NaN or inf")
        self.mean.copy_(x.mean(dim=0).to(self.mean.dtype))
        self.std.copy_(x.std(dim=0).to(self.std.dtype) + self.eps)

    def forward(self, sentence: torch.Tensor) -> torch.Tensor:
        return (sentence - self.mean) / self.std


class GroundingModel(nn.Module):
    """``clips (B, N, D_in), sentence (B, D_s) -> logits (B, N, N)`` (``-inf`` where j < i)."""

    def __init__(self, *, config: GroundingModelConfig, temporal: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.sentence_norm = SentenceStandardizer(config.text_dim)
        self.proj = nn.Sequential(
            nn.LayerNorm(config.in_dim),
            nn.Linear(config.in_dim, config.hidden_dim),
            nn.ReLU(inplace=True),
            nn.Dropout(config.dropout),
        )
        self.position = (
            nn.Parameter(torch.zeros(config.num_clips, config.hidden_dim))
            if config.positional
            else None
        )
        self.film = (
            nn.Linear(config.text_dim, 2 * config.hidden_dim) if config.query_fusion else None
        )
        if self.film is not None:  # start as the identity: x * (1 + 0) + 0
            nn.init.zeros_(self.film.weight)
            nn.init.zeros_(self.film.bias)
        if config.cross_layers < 0:
            raise ValueError(f"cross_layers must be >= 0, got {config.cross_layers}")
        self.words = (
            WordProjection(config.word_dim, config.hidden_dim) if config.cross_layers else None
        )
        self.cross = nn.ModuleList(
            CrossAttentionBlock(config.hidden_dim, heads=config.heads, dropout=config.dropout)
            for _ in range(config.cross_layers)
        )
        # a residual block (the paper's single MHSSA layer)
        self.temporal = ResidualTemporal(temporal, config.hidden_dim, dropout=config.dropout)
        self.head = MomentMapHead(
            clip_dim=config.hidden_dim,
            text_dim=config.text_dim,
            hidden=config.map_dim,
            num_layers=config.head_layers,
            kernel_size=config.head_kernel,
            pooling=config.pooling,
            dropout=config.dropout,
            cell_prior=config.num_clips if config.cell_prior else None,
        )

    def check_inputs(self, clips: torch.Tensor, sentence: torch.Tensor) -> None:
        """``ValueError`` naming the expected and received shapes, or the rows with NaN/inf."""
        c = self.config
        if clips.ndim != 3 or clips.shape[1:] != (c.num_clips, c.in_dim):
            raise ValueError(
                f"clip features must be (B, {c.num_clips}, {c.in_dim}) (N clips x D_in), "
                f"got {tuple(clips.shape)}"
            )
        if sentence.shape != (clips.shape[0], c.text_dim):
            raise ValueError(
                f"sentence embeddings must be ({clips.shape[0]}, {c.text_dim}), "
                f"got {tuple(sentence.shape)}"
            )
        for name, tensor in (("clip features", clips), ("sentence embeddings", sentence)):
            bad = ~torch.isfinite(tensor.flatten(1)).all(dim=1)
            if bool(bad.any()):
                rows = bad.nonzero().flatten().tolist()
                raise ValueError(f"{name} contain NaN or inf in batch rows {rows[:10]}")

    def fit_sentence_stats(self, sentences: torch.Tensor | np.ndarray) -> None:
        """Standardise sentences with the statistics of these ``(Q, D_s)`` training
        embeddings (call once, before training)."""
        self.sentence_norm.fit(sentences)

    def check_words(
        self, clips: torch.Tensor, words: torch.Tensor | None, word_mask: torch.Tensor | None
    ) -> None:
        """``ValueError`` when the token states a model with cross-attention needs are
        missing, of the wrong shape or not finite."""
        if self.words is None:
            return
        if words is None or word_mask is None:
            raise ValueError(
                f"this model attends to the sentence's tokens (cross_layers="
                f"{self.config.cross_layers}): pass words (B, L, {self.config.word_dim}) and "
                "word_mask (B, L)"
            )
        if (
            words.ndim != 3
            or words.shape[0] != clips.shape[0]
            or words.shape[2] != (self.config.word_dim)
        ):
            raise ValueError(
                f"token states must be ({clips.shape[0]}, L, {self.config.word_dim}), "
                f"got {tuple(words.shape)}"
            )
        bad = ~torch.isfinite(words.flatten(1)).all(dim=1)
        if bool(bad.any()):
            rows = bad.nonzero().flatten().tolist()
            raise ValueError(f"token states contain NaN or inf in batch rows {rows[:10]}")

    def forward(
        self,
        clips: torch.Tensor,
        sentence: torch.Tensor,
        words: torch.Tensor | None = None,
        word_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``clips (B, N, D_in), sentence (B, D_s)`` [, ``words (B, L, D_w)``, ``word_mask
        (B, L)`` bool, needed when ``config.cross_layers > 0``] ``-> (B, N, N)``."""
        self.check_inputs(clips, sentence)
        self.check_words(clips, words, word_mask)
        sentence = self.sentence_norm(sentence)
        x = self.proj(clips)
        if self.position is not None:
            x = x + self.position
        if self.film is not None:
            gamma, beta = self.film(sentence)[:, None, :].chunk(2, dim=-1)
            x = x * (1 + gamma) + beta
        if self.words is not None:
            w = self.words(words.to(x.dtype))
            for block in self.cross:
                x = block(x, w, word_mask)
        return self.head(self.temporal(x), sentence)

    @torch.no_grad()
    def predict(
        self,
        clips: torch.Tensor,
        sentence: torch.Tensor,
        durations: Sequence[float],
        *,
        nms_thresh: float | None = 0.5,
        top_k: int | None = None,
        words: torch.Tensor | None = None,
        word_mask: torch.Tensor | None = None,
    ) -> list[np.ndarray]:
        """Ranked moments per query, ``[(K, 3) [start_s, end_s, score], ...]`` (eval mode,
        restored afterwards); ``words`` / ``word_mask`` as in :meth:`forward`."""
        if len(durations) != clips.shape[0]:
            raise ValueError(f"{len(durations)} durations for a batch of {clips.shape[0]}")
        logits = _eval_logits(self, clips, sentence, words, word_mask)
        return [
            predict_moments(logits[b], float(d), nms_thresh=nms_thresh, top_k=top_k)
            for b, d in enumerate(durations)
        ]


def build_grounding_model(
    *, config: GroundingModelConfig, temporal: nn.Module | None = None
) -> GroundingModel:
    """Build the model; ``temporal`` overrides ``config.temporal`` (e.g. a baseline encoder
    with the ``(B, N, hidden_dim) [, mask] -> (B, N, hidden_dim)`` interface)."""
    if temporal is None:
        temporal = build_temporal(
            config.temporal, dim=config.hidden_dim, heads=config.heads, dropout=config.dropout
        )
    return GroundingModel(config=config, temporal=temporal)


def build_grounding_network(
    *, model: str, config: GroundingModelConfig, layers: int = 2
) -> GroundingModel:
    """Projection -> the clip encoder of registered model ``model``
    (:func:`grounding.models.registry.create_encoder`, ``layers`` its blocks where it has
    several) -> moment map head (the same head for every model)::

        clips (B, N, in_dim) -> proj (B, N, hidden) -> encoder (B, N, hidden) -> map (B, N, N)
    """
    encoder = create_encoder(
        model,
        dim=config.hidden_dim,
        num_clips=config.num_clips,
        heads=config.heads,
        layers=layers,
        dropout=config.dropout,
    )
    return build_grounding_model(config=config, temporal=encoder)


# --------------------------------------------------------------------------------------------
# long videos: overlapping windows at the trained clip count


def window_starts(n: int, *, window: int, stride: int) -> np.ndarray:
    """First rows of windows of ``window`` rows every ``stride`` rows over ``n`` rows, the last
    window ending at row ``n`` (so every row is in a window): ``[0]`` when ``n <= window``."""
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1, got {window} and {stride}")
    if n < 1:
        raise ValueError(f"need at least one feature row, got {n}")
    if n <= window:
        return np.zeros(1, np.int64)
    starts = list(range(0, n - window + 1, stride))
    if starts[-1] + window < n:
        starts.append(n - window)
    return np.asarray(starts, np.int64)


def video_windows(
    features: np.ndarray,
    duration: float,
    *,
    num_clips: int,
    window: int | None = None,
    stride: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The inputs of :meth:`GroundingModel.predict_windows` for one video.

    ``features`` ``(T, D)`` rows cover ``[0, duration]`` uniformly (the bench's reading).
    ``window`` rows (``None``: all ``T``, the fixed 2D-TAN / MMN resampling of the whole video)
    every ``stride`` rows (default ``window // 2``: every moment up to half a window long lies
    whole in some window), each window resampled to ``num_clips``
    (:func:`grounding.data.features.resample_features`).

    Returns:
        clips ``(W, num_clips, D)`` float32 and spans ``(W, 2)`` float64 ``[start_s, end_s]``
        of the ``W`` windows.
    """
    features = np.asarray(features)
    if features.ndim != 2 or len(features) < 1:
        raise ValueError(f"features must be (T >= 1, D), got shape {features.shape}")
    if not (np.isfinite(duration) and duration > 0):
        raise ValueError(f"duration must be a positive number of seconds, got {duration}")
    t = len(features)
    window = t if window is None else min(int(window), t)
    stride = max(1, window // 2) if stride is None else int(stride)
    starts = window_starts(t, window=window, stride=stride)
    clips = np.stack([resample_features(features[a : a + window], num_clips) for a in starts])
    row = duration / t
    spans = np.stack([starts * row, np.minimum((starts + window) * row, duration)], axis=1)
    return clips.astype(np.float32), spans.astype(np.float64)


@torch.no_grad()
def _eval_logits(
    model: nn.Module,
    clips: torch.Tensor,
    sentence: torch.Tensor,
    words: torch.Tensor | None,
    word_mask: torch.Tensor | None,
) -> torch.Tensor:
    """The model's map logits in eval mode (its training mode restored afterwards), on CPU."""
    was_training = model.training
    model.eval()
    try:
        return model(clips, sentence, words, word_mask).cpu()
    finally:
        model.train(was_training)


def predict_windows(
    model: GroundingModel,
    clips: torch.Tensor,
    spans: np.ndarray,
    sentence: torch.Tensor,
    *,
    nms_thresh: float | None = 0.5,
    top_k: int | None = None,
    words: torch.Tensor | None = None,
    word_mask: torch.Tensor | None = None,
) -> np.ndarray:
    """Ranked moments of one query over the windows of one video (:func:`video_windows`):
    every window's moments (:func:`~grounding.models.localization.rank_moments`) moved to
    video time, merged, ranked by score, NMS-ed (``nms_thresh``) and cut to ``top_k``:
    ``(K, 3) [start_s, end_s, score]``. One window gives exactly :meth:`GroundingModel.predict`.

    Args:
        clips: ``(W, N, D_in)``. spans: ``(W, 2)`` seconds. sentence: ``(D_s,)`` or
            ``(1, D_s)``; ``words`` ``(1, L, D_w)`` / ``word_mask`` ``(1, L)`` as in
            :meth:`GroundingModel.forward`.
    """
    w = clips.shape[0]
    if len(spans) != w:
        raise ValueError(f"{len(spans)} window spans for {w} windows")
    sentence = sentence.reshape(1, -1).expand(w, -1)
    if words is not None and word_mask is not None:
        words, word_mask = words.expand(w, -1, -1), word_mask.expand(w, -1)
    logits = _eval_logits(model, clips, sentence, words, word_mask)
    return _merge_windows(logits, spans, nms_thresh=nms_thresh, top_k=top_k)


def predict_windows_many(
    model: GroundingModel,
    clips: torch.Tensor,
    spans: np.ndarray,
    sentences: torch.Tensor,
    *,
    nms_thresh: float | None = 0.5,
    top_k: int | None = None,
    batch_rows: int = 512,
) -> list[np.ndarray]:
    """:func:`predict_windows` for ``Q`` sentences ``(Q, D_s)`` on the same windows, the
    network run on up to ``batch_rows`` (query, window) pairs at a time instead of once per
    query: one ``(K, 3)`` array per sentence, each equal to :func:`predict_windows`'s (the
    network's rows are computed independently in eval mode)."""
    w = clips.shape[0]
    if len(spans) != w:
        raise ValueError(f"{len(spans)} window spans for {w} windows")
    sentences = sentences.reshape(len(sentences), -1)
    per_batch = max(1, batch_rows // w)
    out: list[np.ndarray] = []
    for a in range(0, len(sentences), per_batch):
        chunk = sentences[a : a + per_batch]
        c = len(chunk)
        rows = clips.unsqueeze(0).expand(c, *clips.shape).reshape(c * w, *clips.shape[1:])
        logits = _eval_logits(model, rows, chunk.repeat_interleave(w, dim=0), None, None)
        for q in range(c):
            part = logits[q * w : (q + 1) * w]
            out.append(_merge_windows(part, spans, nms_thresh=nms_thresh, top_k=top_k))
    return out


def _merge_windows(
    logits: torch.Tensor, spans: np.ndarray, *, nms_thresh: float | None, top_k: int | None
) -> np.ndarray:
    """One query's ``(W, N, N)`` window logits -> its ranked ``(K, 3)`` moments in video
    time (the ranking of :func:`predict_windows`)."""
    w = logits.shape[0]
    ranked = []
    for k in range(w):
        r = rank_moments(logits[k], float(spans[k, 1] - spans[k, 0]))
        r[:, :2] += spans[k, 0]
        ranked.append(r)
    merged = np.concatenate(ranked)
    if w > 1:
        merged = merged[np.argsort(-merged[:, 2], kind="stable")]
    if nms_thresh is not None:
        merged = merged[nms(merged[:, :2], merged[:, 2], thresh=nms_thresh, max_keep=top_k)]
    return merged if top_k is None else merged[:top_k]
