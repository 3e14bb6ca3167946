"""Torch dataset of grounding queries over precomputed clip features (docs/design.md, "The
paper's model", feature path).

One item per query of a :class:`~grounding.data.annotations.QuerySet`:

- ``clips`` ``(N, D)`` float32: the video's features resampled to ``N`` clips
  (:func:`grounding.data.features.resample_features`, 2D-TAN's ``average_to_fixed_length``;
  the feature rows are taken to cover ``[0, duration]`` uniformly);
- ``sentence`` ``(D_s,)`` float32: its sentence embedding (one row of ``sentences``, e.g. from
  :class:`grounding.models.text.SentenceCache`);
- ``iou`` ``(N, N)`` float32: the IoU of every candidate moment ``[i/N, (j+1)/N]`` with the
  ground truth (the best over the query's GT windows), the target of the scaled-IoU loss;
- ``span`` ``(2,)``: the first GT window normalised by the duration; ``duration``; ``index``;
- with ``words`` given (one ``(L_k, D_w)`` token-state array per query, e.g. from
  :class:`grounding.models.text.TokenCache`): ``words`` ``(L, D_w)`` float32 zero-padded to the
  longest query of the dataset and ``word_mask`` ``(L,)`` bool, True for real tokens.

Queries whose video has no features are skipped and counted in ``log`` (reason
``missing features``), never dropped silently; evaluation still scores them as misses because
it runs over the full query set. A store missing every video is an error.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from grounding.data.annotations import Query, QuerySet, SkipLog
from grounding.data.features import FeatureStore, resample_features
from grounding.models.localization import moment_iou_targets

__all__ = ["GroundingDataset", "normalized_windows"]


def normalized_windows(windows: Sequence[tuple[float, float]], duration: float) -> np.ndarray:
    """``(K, 2)`` windows divided by ``duration`` and clipped to ``[0, 1]``."""
    w = np.asarray(windows, dtype=np.float64).reshape(-1, 2) / float(duration)
    return np.clip(w, 0.0, 1.0)


class GroundingDataset(Dataset):
    """Queries + features + sentence embeddings (see the module docstring).

    Args:
        queries: the split.
        features: ``vid -> (T, D)`` store.
        sentences: ``(len(queries), D_s)`` embeddings in query order.
        num_clips: ``N``.
        words: optional token states, one ``(L_k, D_w)`` array per query in query order.
    """

    def __init__(
        self,
        queries: QuerySet,
        features: FeatureStore,
        sentences: np.ndarray,
        *,
        num_clips: int,
        words: Sequence[np.ndarray] | None = None,
    ) -> None:
        if num_clips < 1:
            raise ValueError(f"num_clips must be >= 1, got {num_clips}")
        sentences = np.asarray(sentences, dtype=np.float32)
        if sentences.ndim != 2 or len(sentences) != len(queries.queries):
            raise ValueError(
                f"need one sentence embedding per query: {len(queries.queries)} queries, "
                f"embeddings of shape {sentences.shape}"
            )
        if not np.isfinite(sentences).all():
            row = int(np.flatnonzero(~np.isfinite(sentences).all(axis=1))[0])
            raise ValueError(f"sentence embedding of qid {queries.queries[row].qid} is not finite")
        self.words = None if words is None else self._check_words(queries, words)
        self.max_words = max((len(w) for w in self.words), default=0) if self.words else 0
        self.queries = queries
        self.num_clips = num_clips
        self.log = SkipLog()
        self._clips: dict[str, np.ndarray] = {}
        self.items: list[int] = []
        for k, q in enumerate(queries.queries):
            if q.vid not in self._clips and q.vid not in features:
                self.log.skip("missing features", f"qid {q.qid} (video {q.vid})")
                continue
            if q.vid not in self._clips:
                self._clips[q.vid] = resample_features(features[q.vid], num_clips)
            self.items.append(k)
        if queries.queries and not self.items:
            raise ValueError(
                f"{features.source}: none of the {len(queries.queries)} queries of "
                f"{queries.dataset}/{queries.split} has features (e.g. video "
                f"{queries.queries[0].vid!r})"
            )
        self.sentences = sentences
        self.dim = next(iter(self._clips.values())).shape[1] if self._clips else 0

    @staticmethod
    def _check_words(queries: QuerySet, words: Sequence[np.ndarray]) -> list[np.ndarray]:
        if len(words) != len(queries.queries):
            raise ValueError(
                f"need one token-state array per query: {len(queries.queries)} queries, "
                f"{len(words)} arrays"
            )
        out = []
        dims = set()
        for q, w in zip(queries.queries, words, strict=True):
            w = np.asarray(w, dtype=np.float32)
            if w.ndim != 2 or len(w) == 0:
                raise ValueError(f"token states of qid {q.qid} must be (L >= 1, D), got {w.shape}")
            if not np.isfinite(w).all():
                raise ValueError(f"token states of qid {q.qid} are not finite")
            dims.add(w.shape[1])
            out.append(w)
        if len(dims) > 1:
            raise ValueError(f"token states of different widths {sorted(dims)}")
        return out

    def __len__(self) -> int:
        return len(self.items)

    def query(self, index: int) -> Query:
        """The :class:`~grounding.data.annotations.Query` of item ``index``."""
        return self.queries.queries[self.items[index]]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | float | int]:
        k = self.items[index]
        q = self.queries.queries[k]
        windows = torch.from_numpy(normalized_windows(q.windows, q.duration))
        valid = windows[:, 1] > windows[:, 0]
        if not bool(valid.any()):
            raise ValueError(f"qid {q.qid}: no ground-truth window of positive length")
        iou = moment_iou_targets(windows[valid], self.num_clips).amax(dim=0)
        item: dict[str, torch.Tensor | float | int] = {
            "clips": torch.from_numpy(self._clips[q.vid]),
            "sentence": torch.from_numpy(self.sentences[k]),
            "iou": iou.float(),
            "span": windows[valid][0].float(),
            "duration": float(q.duration),
            "index": index,
        }
        if self.words is not None:
            w = self.words[k]
            padded = torch.zeros(self.max_words, w.shape[1])
            padded[: len(w)] = torch.from_numpy(w)
            mask = torch.zeros(self.max_words, dtype=torch.bool)
            mask[: len(w)] = True
            item["words"], item["word_mask"] = padded, mask
        return item
