"""The one in-memory form every grounding reader returns.

A :class:`QuerySet` holds :class:`Query` objects (video id, sentence, ground-truth windows in
seconds, video duration) plus a :class:`SkipLog` that counts every line a reader could not use
and why. Readers never drop data silently: a line is either a ``Query`` or an entry in the log
(or, for malformed input the reader cannot interpret at all, an :class:`AnnotationError` that
names the file and line).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class AnnotationError(ValueError):
    """Malformed annotation input. The message names the file and the line (or qid)."""

    def __init__(self, path: str | Path, where: int | str | None, message: str) -> None:
        loc = f"{path}" if where is None else f"{path}:{where}"
        super().__init__(f"{loc}: {message}")
        self.path = str(path)
        self.where = where
        self.message = message

    def __reduce__(self) -> tuple:  # pickles across processes (parallel readers)
        return (type(self), (self.path, self.where, self.message))


@dataclass(frozen=True)
class Query:
    """One sentence grounded in one video.

    Attributes:
        qid: unique query id within its split (string; numeric ids are kept as their text).
        vid: video id.
        sentence: the query text, stripped of surrounding whitespace.
        windows: ground-truth moments ``((start, end), ...)`` in seconds, already clipped to
            ``[0, duration]`` and with ``start < end``.
        duration: video length in seconds.
    """

    qid: str
    vid: str
    sentence: str
    windows: tuple[tuple[float, float], ...]
    duration: float


@dataclass
class SkipLog:
    """Counts of unusable or repaired annotation entries, with a few examples per reason.

    ``skipped`` reasons are entries that were dropped; ``repaired`` reasons are entries that were
    kept after a documented fix (e.g. an end past the video clipped to the duration).
    """

    skipped: Counter[str] = field(default_factory=Counter)
    repaired: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    max_examples: int = 3

    def skip(self, reason: str, where: str) -> None:
        self.skipped[reason] += 1
        self._example(reason, where)

    def repair(self, reason: str, where: str) -> None:
        self.repaired[reason] += 1
        self._example(reason, where)

    def _example(self, reason: str, where: str) -> None:
        ex = self.examples.setdefault(reason, [])
        if len(ex) < self.max_examples:
            ex.append(where)

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())

    def merge(self, other: SkipLog) -> None:
        self.skipped.update(other.skipped)
        self.repaired.update(other.repaired)
        for reason, ex in other.examples.items():
            for w in ex:
                self._example(reason, w)

    def to_dict(self) -> dict:
        return {
            "skipped": dict(self.skipped),
            "repaired": dict(self.repaired),
            "examples": {k: list(v) for k, v in self.examples.items()},
        }

    def summary(self) -> str:
        """One human-readable line per reason, e.g. ``skipped 4 start>=end (file:12, ...)``."""
        lines = []
        for kind, counter in (("skipped", self.skipped), ("repaired", self.repaired)):
            for reason, n in sorted(counter.items()):
                ex = ", ".join(self.examples.get(reason, []))
                lines.append(f"{kind} {n} {reason}" + (f" (e.g. {ex})" if ex else ""))
        return "\n".join(lines)


@dataclass
class QuerySet:
    """All usable queries of one split of one dataset, plus what was skipped.

    Attributes:
        dataset: dataset name (``charades``, ``activitynet``, ``moment_detr``, ``synthetic``).
        split: split name as the dataset calls it (``train``, ``test``, ``val_1``, ``val_2``...).
        queries: usable queries in file order.
        log: skipped / repaired entries.
        source: the file(s) read.
    """

    dataset: str
    split: str
    queries: list[Query]
    log: SkipLog = field(default_factory=SkipLog)
    source: str = ""

    def __len__(self) -> int:
        return len(self.queries)

    @property
    def vids(self) -> list[str]:
        """Distinct video ids in first-seen order."""
        return list(dict.fromkeys(q.vid for q in self.queries))

    def by_qid(self) -> dict[str, Query]:
        return {q.qid: q for q in self.queries}

    def gt_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Padded ground truth for vectorised evaluation.

        Returns:
            windows: ``(Q, G, 2)`` float64, padded with NaN where a query has fewer than G windows.
            n_windows: ``(Q,)`` int64 count of real windows per query.
            durations: ``(Q,)`` float64.
        """
        q = len(self.queries)
        n = np.array([len(x.windows) for x in self.queries], dtype=np.int64)
        dur = np.array([x.duration for x in self.queries], dtype=np.float64)
        if q and (n == 1).all():  # the common case, one window per query: no loop
            return np.array([x.windows for x in self.queries], dtype=np.float64), n, dur
        g = int(n.max()) if q else 1
        win = np.full((q, max(g, 1), 2), np.nan)
        for i, x in enumerate(self.queries):
            if n[i]:
                win[i, : n[i]] = x.windows
        return win, n, dur


class RaggedWindows(Mapping[str, np.ndarray]):
    """Ranked windows of many queries in one array: a read-only mapping ``qid -> (K_i, 3)``
    ``[start, end, score]`` view, kept flat so the evaluator can pad every query at once.

    Attributes:
        flat: ``(N, 3)`` float64 rows of all queries, query after query.
        counts: ``(Q,)`` int64 rows per query.
        qids: the queries in order.
    """

    def __init__(self, flat: np.ndarray, counts: np.ndarray, qids: list[str]) -> None:
        if len(counts) != len(qids) or int(np.sum(counts)) != len(flat):
            raise ValueError(f"{len(qids)} qids, {len(counts)} counts, {len(flat)} rows")
        self.flat = flat.reshape(-1, 3)
        self.counts = np.asarray(counts, dtype=np.int64)
        self.qids = list(qids)
        self.offsets = np.concatenate([[0], np.cumsum(self.counts)])
        self.index = {q: i for i, q in enumerate(self.qids)}
        if len(self.index) != len(self.qids):
            raise ValueError("duplicate qids")

    def __getitem__(self, qid: str) -> np.ndarray:
        i = self.index[qid]
        return self.flat[self.offsets[i] : self.offsets[i + 1]]

    def __iter__(self) -> Iterator[str]:
        return iter(self.qids)

    def __len__(self) -> int:
        return len(self.qids)

    def __contains__(self, qid: object) -> bool:
        return qid in self.index
