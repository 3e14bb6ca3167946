"""Blind baselines after Otani et al., "Uncovering Hidden Challenges in Query-Based Video Moment
Retrieval", BMVC 2020: what a grounding benchmark gives to a model that sees neither the video
nor the sentence. Every table shows them so a reader can tell learning from guessing.

- :class:`WholeVideo`: predicts ``[0, duration]`` for every query.
- :class:`PriorOnly`: a Gaussian KDE over the normalised (start, length) of the training moments;
  each test query gets ``n_samples`` moments sampled from that prior (seeded), scored by their
  prior density, suppressed with NMS and ranked. It uses only the video duration.

Implementation notes (assumed, not fixed by the paper): the KDE (scipy, Scott's bandwidth) is
evaluated on a ``grid x grid`` lattice over ``start, length`` in ``[0, 1]``, restricted to valid
moments (``start + length <= 1``); samples pick a cell with probability proportional to its
density and a uniform position inside it, so no sample falls outside the video.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import gaussian_kde

from grounding.data.annotations import QuerySet
from grounding.eval.nms import first_survivors


def normalized_moments(queries: QuerySet) -> np.ndarray:
    """``(N, 2)`` normalised (start, length) of every GT window of every query."""
    rows = [
        (s / q.duration, (e - s) / q.duration)
        for q in queries.queries
        for s, e in q.windows
        if q.duration > 0
    ]
    return np.asarray(rows, dtype=np.float64).reshape(-1, 2)


@dataclass
class WholeVideo:
    """Predict the whole video as the moment."""

    name: str = "whole-video"

    def fit(self, train: QuerySet) -> WholeVideo:
        return self

    def predict(self, queries: QuerySet, *, seed: int = 0) -> dict[str, np.ndarray]:
        return {q.qid: np.array([[0.0, q.duration, 1.0]]) for q in queries.queries}


@dataclass
class PriorOnly:
    """Sample moments from a KDE of training (start, length), rank by prior density.

    Attributes:
        n_samples: moments sampled per query before NMS.
        top_k: moments kept per query after NMS.
        nms_thresh: NMS IoU threshold.
        grid: lattice size on which the density is evaluated.
    """

    n_samples: int = 100
    top_k: int = 10
    nms_thresh: float = 0.5
    grid: int = 100
    name: str = "prior-only"

    def __post_init__(self) -> None:
        self._density: np.ndarray | None = None

    def fit(self, train: QuerySet) -> PriorOnly:
        pts = normalized_moments(train)
        if len(pts) < 3:
            raise ValueError(f"prior-only needs at least 3 training moments, got {len(pts)}")
        kde = gaussian_kde(pts.T)
        centers = (np.arange(self.grid) + 0.5) / self.grid
        s, ln = np.meshgrid(centers, centers, indexing="ij")
        dens = kde(np.stack([s.ravel(), ln.ravel()])).reshape(self.grid, self.grid)
        # a cell is valid if some moment inside it fits in the video: start + length <= 1
        lo = np.arange(self.grid) / self.grid
        dens[(lo[:, None] + lo[None, :]) >= 1.0] = 0.0
        if not dens.sum() > 0:
            raise ValueError("prior-only: the KDE has no mass on valid moments")
        self._density = dens
        return self

    def predict(self, queries: QuerySet, *, seed: int = 0) -> dict[str, np.ndarray]:
        if self._density is None:
            raise RuntimeError("PriorOnly.predict called before fit")
        g = self.grid
        rng = np.random.default_rng(seed)
        q, n = len(queries), self.n_samples
        flat = self._density.ravel()
        cells = rng.choice(flat.size, size=(q, n), p=flat / flat.sum())
        ci, cj = np.divmod(cells, g)
        start = (ci + rng.random((q, n))) / g
        length = (cj + rng.random((q, n))) / g
        end = np.minimum(start + np.maximum(length, 1e-6), 1.0)
        start = np.minimum(start, end - 1e-6)
        score = flat[cells]
        dur = np.array([x.duration for x in queries.queries])[:, None]
        windows = np.stack([start * dur, end * dur], axis=-1)
        keep = first_survivors(
            windows,
            np.ones((q, n), bool),
            thresh=self.nms_thresh,
            n_keep=self.top_k,
            priority=score,
        )
        out: dict[str, np.ndarray] = {}
        for i, x in enumerate(queries.queries):
            k = keep[i][keep[i] >= 0]
            out[x.qid] = np.column_stack([windows[i, k], score[i, k]])
        return out


BLIND_BASELINES = {"whole-video": WholeVideo, "prior-only": PriorOnly}
