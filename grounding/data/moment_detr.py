"""Moment-DETR / QVHighlights jsonl: ground truth and ranked predictions.

Ground truth (Lei et al., NeurIPS 2021; also the format of line/lighthouse), one JSON per line::

    {"qid": 12404, "query": "person turn a light on.", "duration": 30.96, "vid": "3MSZA",
     "relevant_windows": [[24.3, 30.4]]}

Predictions (the Moment-DETR submission format), one JSON per line, windows in ranked order::

    {"qid": 12404, "pred_relevant_windows": [[24.0, 30.1, 0.93], [0.0, 12.2, 0.41]]}

Query ids are kept as text (``str(qid)``); when written back, ids that are canonical decimal
integers are written as JSON ints so Moment-DETR's own ``standalone_eval`` matches them. Extra
keys (``pred_saliency_scores``, ``relevant_clip_ids``...) are allowed and ignored.

Bad input raises :class:`~grounding.data.annotations.AnnotationError` naming the file and the
1-based line (and the qid when known): invalid or truncated JSON, missing keys, duplicate qids,
windows that are not ``[start, end]`` (GT) or ``[start, end, score]`` (predictions) finite
numbers, predicted ``start > end``. Unusable GT windows follow
:func:`grounding.data.charades.clip_window` and are counted; an empty prediction list is
counted (``empty prediction list``) and kept as a ``(0, 3)`` array so the evaluator counts a miss.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grounding.data.annotations import AnnotationError, Query, QuerySet, SkipLog
from grounding.data.charades import clip_window
from grounding.io import atomic_write, check_input_file

__all__ = [
    "Predictions",
    "read_moment_detr_gt",
    "read_predictions",
    "write_moment_detr_gt",
    "write_predictions",
]

_GT_KEYS = ("qid", "query", "vid", "duration", "relevant_windows")
_PRED_KEYS = ("qid", "pred_relevant_windows")


@dataclass
class Predictions:
    """Ranked moment predictions per query.

    Attributes:
        windows: qid -> float64 array ``(K, 3)`` of ``[start, end, score]`` rows in submitted
            (ranked) order; ``K`` may be 0.
        log: counted oddities (``empty prediction list``).
        source: the file read.
    """

    windows: dict[str, np.ndarray] = field(default_factory=dict)
    log: SkipLog = field(default_factory=SkipLog)
    source: str = ""

    def __len__(self) -> int:
        return len(self.windows)


def _iter_jsonl(path: Path, keys: tuple[str, ...]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line, checking JSON and keys."""
    check_input_file(path, "jsonl file")
    try:
        with open(path, encoding="utf-8") as f:
            for line_no, text in enumerate(f, start=1):
                if not text.strip():
                    continue
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as e:
                    raise AnnotationError(
                        path, line_no, f"invalid JSON at column {e.colno}: {e.msg}"
                    ) from None
                if not isinstance(obj, dict):
                    raise AnnotationError(path, line_no, "expected a JSON object per line")
                for key in keys:
                    if key not in obj:
                        raise AnnotationError(
                            path, line_no, f"missing key {key!r} (keys: {sorted(obj)})"
                        )
                yield line_no, obj
    except UnicodeDecodeError as e:
        raise AnnotationError(path, None, f"not UTF-8 text (byte {e.start})") from None


def _qid(value: Any, path: Path, line: int, seen: dict[str, int]) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise AnnotationError(path, line, f"qid must be an int or a string, got {value!r}")
    qid = str(value)
    if qid in seen:
        raise AnnotationError(path, line, f"duplicate qid {qid} (first on line {seen[qid]})")
    seen[qid] = line
    return qid


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def read_moment_detr_gt(path: Path, *, split: str = "test", clip: bool = True) -> QuerySet:
    """Read Moment-DETR / Lighthouse ground-truth jsonl.

    Args:
        path: jsonl with ``qid``, ``query``, ``vid``, ``duration``, ``relevant_windows``.
        split: split name recorded in the result.
        clip: clip windows to ``[0, duration]`` (the project rule). ``False`` keeps ends past
            the video as written, which Moment-DETR's own evaluation does.

    Returns:
        A :class:`QuerySet` (dataset ``moment_detr``). A query whose windows are all unusable is
        skipped (counted under the first window's reason); a query that keeps some windows
        counts ``dropped window: <reason>`` as a repair.
    """
    path = Path(path)
    log = SkipLog()
    queries: list[Query] = []
    seen: dict[str, int] = {}
    for line, obj in _iter_jsonl(path, _GT_KEYS):
        qid = _qid(obj["qid"], path, line, seen)
        where = f"{path}:{line}"
        duration, raw = obj["duration"], obj["relevant_windows"]
        if not _finite(duration) or duration <= 0:
            raise AnnotationError(path, line, f"qid {qid}: duration must be a number > 0")
        if not isinstance(obj["query"], str):
            raise AnnotationError(path, line, f"qid {qid}: query must be a string")
        if not isinstance(raw, list) or not all(
            isinstance(w, list) and len(w) == 2 and all(map(_finite, w)) for w in raw
        ):
            raise AnnotationError(
                path, line, f"qid {qid}: relevant_windows must be [[start, end], ...] numbers"
            )
        sentence = obj["query"].strip()
        if not sentence:
            log.skip("empty sentence", where)
            continue
        if not raw:
            log.skip("no ground-truth window", where)
            continue
        windows, reasons = [], []
        for s, e in raw:
            window, note = clip_window(float(s), float(e), float(duration))
            if window is not None and not clip:
                window = (float(s), float(e))
                note = None
            if window is None:
                reasons.append(note)
                continue
            if note:
                log.repair(note, where)
            windows.append(window)
        if not windows:
            log.skip(reasons[0], where)
            continue
        for note in reasons:
            log.repair(f"dropped window: {note}", where)
        queries.append(Query(qid, str(obj["vid"]), sentence, tuple(windows), float(duration)))
    return QuerySet(dataset="moment_detr", split=split, queries=queries, log=log, source=str(path))


def _check_rows(rows: Any, path: Path, line: int, qid: str) -> np.ndarray:
    """``[[s, e, score], ...]`` -> float64 ``(K, 3)``, or AnnotationError naming the row."""
    if not isinstance(rows, list):
        raise AnnotationError(path, line, f"qid {qid}: pred_relevant_windows must be a list")
    if not rows:
        return np.zeros((0, 3), dtype=np.float64)
    try:
        arr = np.array(rows)
    except ValueError:
        arr = None
    if arr is None or arr.ndim != 2 or arr.shape[1] != 3 or arr.dtype.kind not in "iuf":
        bad = next(
            (
                i
                for i, r in enumerate(rows)
                if not (isinstance(r, list) and len(r) == 3 and all(map(_finite, r)))
            ),
            0,
        )
        raise AnnotationError(
            path, line, f"qid {qid}: window {bad} is {rows[bad]!r}, expected [start, end, score]"
        )
    arr = arr.astype(np.float64, copy=False)
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        bad = int(np.argmin(finite))
        raise AnnotationError(path, line, f"qid {qid}: window {bad} is not finite: {rows[bad]!r}")
    inverted = arr[:, 0] > arr[:, 1]
    if inverted.any():
        bad = int(np.argmax(inverted))
        raise AnnotationError(path, line, f"qid {qid}: window {bad} has start > end: {rows[bad]}")
    return arr


def read_predictions(path: Path) -> Predictions:
    """Read Moment-DETR prediction jsonl (``qid``, ``pred_relevant_windows``).

    Rows keep their submitted order (the ranking); scores are not re-sorted here.
    """
    path = Path(path)
    preds = Predictions(source=str(path))
    seen: dict[str, int] = {}
    for line, obj in _iter_jsonl(path, _PRED_KEYS):
        qid = _qid(obj["qid"], path, line, seen)
        arr = _check_rows(obj["pred_relevant_windows"], path, line, qid)
        if len(arr) == 0:
            preds.log.skip("empty prediction list", f"{path}:{line}")
        preds.windows[qid] = arr
    return preds


def _json_qid(qid: str) -> int | str:
    """Canonical decimal ids as ints (``"12404"`` -> 12404; ``"007"`` stays text)."""
    if qid.isascii() and qid.isdigit() and str(int(qid)) == qid:
        return int(qid)
    return qid


def write_predictions(path: Path, windows: Mapping[str, np.ndarray]) -> Path:
    """Write ranked windows ``{qid: (K, 3) [start, end, score]}`` as Moment-DETR jsonl, atomically.

    Raises ``ValueError`` naming the qid for arrays that are not ``(K, 3)`` finite numbers with
    ``start <= end``.
    """
    lines = []
    for qid, rows in windows.items():
        arr = np.asarray(rows, dtype=np.float64)
        if arr.size == 0:
            arr = arr.reshape(0, 3)
        if arr.ndim != 2 or arr.shape[1] != 3:
            raise ValueError(f"qid {qid}: windows must be (K, 3) [start, end, score], {arr.shape}")
        if not np.isfinite(arr).all() or (arr[:, 0] > arr[:, 1]).any():
            raise ValueError(f"qid {qid}: windows must be finite with start <= end")
        record = {"qid": _json_qid(str(qid)), "pred_relevant_windows": arr.tolist()}
        lines.append(json.dumps(record))
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))
    return Path(path)


def write_moment_detr_gt(path: Path, queries: QuerySet) -> Path:
    """Write a :class:`QuerySet` as Moment-DETR ground-truth jsonl, atomically."""
    with atomic_write(path, "w", encoding="utf-8") as f:
        for q in queries.queries:
            record = {
                "qid": _json_qid(q.qid),
                "query": q.sentence,
                "duration": q.duration,
                "vid": q.vid,
                "relevant_windows": [list(w) for w in q.windows],
            }
            f.write(json.dumps(record, allow_nan=False) + "\n")
    return Path(path)
