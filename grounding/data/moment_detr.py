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
numbers (a JSON ``true`` is not a number), predicted ``start > end``. Predicted windows outside
``[0, duration]`` are read as given; the evaluator counts them. Unusable GT windows follow
:func:`grounding.data.charades.clip_window` and are counted; an empty prediction list is
counted (``empty prediction list``) and kept as a ``(0, 3)`` array so the evaluator counts a miss.

Large files are read fast: orjson parses each line, and a line whose windows are plain numbers
(checked on its bytes) goes straight to numpy; the checks then run once, vectorised, over every
window of the file. Any other line takes the per-window path with its precise message. Lines that
only Python's ``json`` accepts (``NaN``, ``Infinity``) are parsed by it, so they get the same
``not finite`` message as before.
"""

from __future__ import annotations

import contextlib
import gc
import io
import itertools
import json
import math
import multiprocessing
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from multiprocessing import resource_tracker, shared_memory
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from grounding.data.annotations import AnnotationError, Query, QuerySet, RaggedWindows, SkipLog
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

    windows: Mapping[str, np.ndarray] = field(default_factory=dict)
    log: SkipLog = field(default_factory=SkipLog)
    source: str = ""

    def __len__(self) -> int:
        return len(self.windows)


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: parsing allocates millions of short-lived lists with
    no cycles, and collections triggered by them cost a third of the read time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _loads(raw: bytes, path: Path, line_no: int) -> Any:
    """One JSON line; errors name the file, the line and the column."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as u:
            raise AnnotationError(path, line_no, f"not UTF-8 text (byte {u.start})") from None
        try:  # NaN / Infinity: valid for Python's json, reported later as not finite
            return json.loads(text)
        except json.JSONDecodeError:
            pass
        raise AnnotationError(path, line_no, f"invalid JSON at column {e.colno}: {e.msg}") from None


def _iter_jsonl(
    path: Path, keys: tuple[str, ...], byte_range: tuple[int, int, int] | None = None
) -> Iterator[tuple[int, dict[str, Any], bytes]]:
    """Yield ``(line_number, object, raw_line)`` for each non-blank line, checking JSON and
    keys; ``byte_range`` ``(start, end, first_line_number)`` reads only that part."""
    check_input_file(path, "jsonl file")
    start, end, first = byte_range or (0, -1, 1)
    with open(path, "rb") as f:
        f.seek(start)
        lines = iter(f) if end < 0 else io.BytesIO(f.read(end - start))
        for line_no, raw in enumerate(lines, start=first):
            if raw.isspace() or not raw:  # (no copy, unlike strip: lines are long)
                continue
            obj = _loads(raw, path, line_no)
            if not isinstance(obj, dict):
                raise AnnotationError(path, line_no, "expected a JSON object per line")
            for key in keys:
                if key not in obj:
                    raise AnnotationError(
                        path, line_no, f"missing key {key!r} (keys: {sorted(obj)})"
                    )
            yield line_no, obj, raw


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
    with _no_gc():
        _read_gt_lines(path, clip, log, queries, seen)
    return QuerySet(dataset="moment_detr", split=split, queries=queries, log=log, source=str(path))


def _read_gt_lines(
    path: Path, clip: bool, log: SkipLog, queries: list[Query], seen: dict[str, int]
) -> None:
    for line, obj, _ in _iter_jsonl(path, _GT_KEYS):
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


def _check_rows(rows: Any, path: Path, line: int, qid: str) -> np.ndarray:
    """``[[s, e, score], ...]`` -> float64 ``(K, 3)``, or AnnotationError naming the row (the
    per-window path: booleans and strings are not numbers)."""
    if not isinstance(rows, list):
        raise AnnotationError(path, line, f"qid {qid}: pred_relevant_windows must be a list")
    for i, r in enumerate(rows):
        if not (isinstance(r, list) and len(r) == 3 and all(map(_is_number, r))):
            raise AnnotationError(
                path, line, f"qid {qid}: window {i} is {r!r}, expected [start, end, score]"
            )
    return np.array(rows, dtype=np.float64).reshape(-1, 3)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_windows(
    flat: np.ndarray, counts: np.ndarray, path: Path, lines: list[int], qids: list[str]
) -> None:
    """Vectorised checks of every line's windows at once (``flat`` ``(N, 3)``, ``counts``
    windows per line); the first bad window raises, naming its line, its qid and its position
    in the line's list."""
    bad_value = ~np.isfinite(flat).all(axis=1)
    inverted = flat[:, 0] > flat[:, 1]
    for bad, what in ((bad_value, "is not finite"), (inverted, "has start > end")):
        if bad.any():
            i = int(np.argmax(bad))
            ends = np.cumsum(counts)
            c = int(np.searchsorted(ends, i, side="right"))
            pos = i - (int(ends[c - 1]) if c else 0)
            raise AnnotationError(
                path, lines[c], f"qid {qids[c]}: window {pos} {what}: {flat[i].tolist()}"
            )


_WINDOWS_KEY = b'"pred_relevant_windows"'


def _plain_numbers(raw: bytes) -> bool:
    """Whether the ``pred_relevant_windows`` value of a raw line holds only numbers, so numpy
    may convert it without losing a type error (``true`` would silently become 1.0, ``"2"``
    2.0): no quote, and neither ``l`` nor ``r`` (``true``, ``false``, ``null`` each hold one)."""
    key = raw.find(_WINDOWS_KEY)
    if key < 0:
        return False
    start = raw.find(b"[", key + len(_WINDOWS_KEY))
    end = raw.find(b"]]", start)
    return (
        0 <= start < end
        and raw.find(_WINDOWS_KEY, end) < 0  # a repeated key: its last value is the one parsed
        and raw.find(b'"', start, end) < 0
        and raw.find(b"l", start, end) < 0
        and raw.find(b"r", start, end) < 0
    )


#: prediction files at least this large are parsed by two processes (each part is plain Python
#: work under the GIL: orjson, then numpy per line)
PARALLEL_MIN_BYTES = 32 << 20


@dataclass
class _Part:
    """What one byte range of a prediction file held, checked."""

    qids: list[str]
    lines: list[int]
    counts: np.ndarray  # (L,) windows per line
    flat: np.ndarray | None  # (sum(counts), 3) float64; None while it is in ``shared``
    log: SkipLog
    shared: str | None = None  # a worker's shared-memory block holding ``flat``


def _read_part_shared(path: Path, start: int, end: int, first_line: int) -> _Part:
    """:func:`_read_part` in a worker process: the windows come back through shared memory
    (a pool's pipe carries ~100 MB/s; 100k x 100 windows are 240 MB)."""
    part = _read_part(path, start, end, first_line)
    if part.flat is not None and part.flat.nbytes:
        block = shared_memory.SharedMemory(create=True, size=part.flat.nbytes)
        np.ndarray(part.flat.shape, np.float64, buffer=block.buf)[:] = part.flat
        part.shared, part.flat = block.name, None
        block.close()
    return part


@contextlib.contextmanager
def _attached(parts: list[_Part]) -> Iterator[None]:
    """Map the workers' shared windows into ``part.flat`` for the block's duration, then free
    them (the caller copies what it keeps)."""
    blocks = []
    try:
        for part in parts:
            if part.shared is not None:
                block = shared_memory.SharedMemory(name=part.shared)
                blocks.append(block)
                n = int(part.counts.sum())
                part.flat = np.ndarray((n, 3), np.float64, buffer=block.buf)
        yield
    finally:
        for part in parts:
            if part.shared is not None:
                part.flat = None
        for block in blocks:
            block.close()
            block.unlink()


def _line_ranges(
    path: Path, parts: int, first_share: float | None = None
) -> list[tuple[int, int, int]]:
    """``parts`` byte ranges ``(start, end, first_line_number)`` cut at line ends: equal, or the
    first one ``first_share`` of the file and the rest equal."""
    size = path.stat().st_size
    if first_share is None or parts < 2:
        bounds = [size * i // parts for i in range(1, parts)]
    else:
        head = int(size * first_share)
        bounds = [head + (size - head) * i // (parts - 1) for i in range(parts - 1)]
    cuts = [0]
    with open(path, "rb") as f:
        for bound in bounds:
            f.seek(max(bound, cuts[-1]))
            f.readline()  # to the end of the line the cut fell in
            cuts.append(min(f.tell(), size))
        cuts.append(size)
        ranges, line = [], 1
        for start, end in itertools.pairwise(cuts):
            if end > start:
                ranges.append((start, end, line))
            if end < size:  # the next range's first line number (the last one needs none)
                f.seek(start)
                line += f.read(end - start).count(b"\n")
    return ranges or [(0, 0, 1)]


def _read_part(path: Path, start: int, end: int, first_line: int) -> _Part:
    qids: list[str] = []
    lines: list[int] = []
    chunks: list[np.ndarray] = []
    log = SkipLog()
    seen: dict[str, int] = {}
    with _no_gc():
        for line, obj, raw in _iter_jsonl(path, _PRED_KEYS, (start, end, first_line)):
            qid = _qid(obj["qid"], path, line, seen)
            rows = obj["pred_relevant_windows"]
            arr = None
            if type(rows) is list and rows and _plain_numbers(raw):
                try:
                    if set(map(len, rows)) == {3}:
                        flat = itertools.chain.from_iterable(rows)
                        arr = np.fromiter(flat, np.float64, count=3 * len(rows)).reshape(-1, 3)
                except (TypeError, ValueError):
                    arr = None
            if arr is None:
                arr = _check_rows(rows, path, line, qid)
            if len(arr) == 0:
                log.skip("empty prediction list", f"{path}:{line}")
            chunks.append(arr)
            lines.append(line)
            qids.append(qid)
    counts = np.array([len(c) for c in chunks], dtype=np.int64)
    flat = np.concatenate(chunks) if chunks else np.zeros((0, 3))
    _check_windows(flat, counts, path, lines, qids)
    return _Part(qids, lines, counts, flat, log)


def read_predictions(
    path: Path,
    *,
    workers: int | None = None,
    meanwhile: Callable[[], object] | None = None,
    share: float = 0.4,
) -> Predictions:
    """Read Moment-DETR prediction jsonl (``qid``, ``pred_relevant_windows``).

    Rows keep their submitted order (the ranking); scores are not re-sorted here.

    Args:
        path: the jsonl file.
        workers: processes that parse it (``None``: 2 for files of at least
            :data:`PARALLEL_MIN_BYTES` on a machine with 2 or more cores, else 1). The result
            does not depend on it; with several, each part reports its own first error.
        meanwhile: work for this process while the other processes parse (e.g. reading the
            ground truth); it runs first, and this process then parses a smaller part. Its
            exception, if any, is raised before any of the file's.
        share: the fraction of the file this process parses after ``meanwhile`` (the rest is
            split between the others): smaller for longer ``meanwhile`` work.
    """
    path = Path(path)
    check_input_file(path, "jsonl file")
    if workers is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        big = path.stat().st_size >= PARALLEL_MIN_BYTES
        workers = 2 if big and cores >= 2 else 1
    ranges = _line_ranges(path, max(1, workers), share if meanwhile is not None else None)
    if len(ranges) == 1:
        if meanwhile is not None:
            meanwhile()
        parts = [_read_part(path, *ranges[0])]
    else:
        # the workers' shared blocks are tracked by this process's resource tracker: one a
        # worker started itself would unlink them when the pool is closed
        resource_tracker.ensure_running()
        pool = multiprocessing.get_context("fork").Pool(len(ranges) - 1)
        pending: list = []
        try:
            pending = [pool.apply_async(_read_part_shared, (path, *r)) for r in ranges[1:]]
            if meanwhile is not None:
                meanwhile()
            first = _read_part(path, *ranges[0])  # the first part here, the rest meanwhile
            parts = [first, *(p.get() for p in pending)]
        except BaseException:
            for p in pending:  # free the shared windows of the parts that did come back
                if p.ready() and p.successful():
                    with _attached([p.get()]):
                        pass
            raise
        finally:
            pool.terminate()  # at once on an error; the parts are back otherwise
            pool.join()
    preds = Predictions(source=str(path))
    seen: dict[str, int] = {}
    with _attached(parts):  # the shared windows are freed whatever happens here
        for part in parts:
            if len(parts) > 1:  # each part checked its own; a qid may repeat across parts
                for qid, line in zip(part.qids, part.lines, strict=True):
                    if qid in seen:
                        first = seen[qid]
                        raise AnnotationError(
                            path, line, f"duplicate qid {qid} (first on line {first})"
                        )
                    seen[qid] = line
            preds.log.merge(part.log)
        flats = [p.flat for p in parts]  # one copy of every part into one array
        flat = np.concatenate(flats) if len(flats) > 1 else flats[0]
    counts = np.concatenate([p.counts for p in parts])
    preds.windows = RaggedWindows(flat, counts, [q for p in parts for q in p.qids])
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
