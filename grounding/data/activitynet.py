"""ActivityNet-Captions annotations: ``train.json``, ``val_1.json``, ``val_2.json``.

Format (Krishna et al., Dense-Captioning Events in Videos, ICCV 2017)::

    {"v_uqiMw7tQ1Cc": {"duration": 55.15,
                       "timestamps": [[0.28, 55.15], [13.79, 54.32]],
                       "sentences": ["A weight lifting tutorial is given.", "  The coach ..."]}}

Each ``(timestamp, sentence)`` pair is one query, id ``f"{vid}#{i}"`` with ``i`` its index in the
video's lists. Sentences lose their leading/trailing spaces. Windows follow the shared rules of
:func:`grounding.data.charades.clip_window`: ends past the video are clipped and counted (134 in
val_1, 111 in val_2), ``start >= end`` is skipped and counted (4 train pairs), as are negative
times and empty sentences. Structural errors (invalid JSON, a missing key, lists of different
lengths, a time that is not a finite number) raise
:class:`~grounding.data.annotations.AnnotationError` naming the file and the video id (or the
JSON line:column).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grounding.data.annotations import AnnotationError, Query, QuerySet, SkipLog
from grounding.data.charades import clip_window, read_utf8_text

__all__ = ["load_json", "read_activitynet", "read_video_json"]

_KEYS = ("duration", "timestamps", "sentences")


def load_json(path: Path) -> Any:
    """``json.load`` with errors that name the file and the JSON line:column."""
    text = read_utf8_text(path, "annotation file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise AnnotationError(path, f"{e.lineno}:{e.colno}", f"invalid JSON: {e.msg}") from None
    except RecursionError:
        raise AnnotationError(path, None, "invalid JSON: nested too deeply") from None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def read_activitynet(path: Path, *, split: str) -> QuerySet:
    """Read one ActivityNet-Captions split file.

    Args:
        path: ``train.json``, ``val_1.json`` or ``val_2.json`` (any name works).
        split: split name recorded in the result.

    Returns:
        A :class:`QuerySet` (dataset ``activitynet``) in file order, with skips and repairs
        counted in its ``log`` (examples given as ``file:vid#i``).
    """
    return read_video_json(path, split=split, dataset="activitynet", keys=_KEYS)


def read_video_json(
    path: Path,
    *,
    split: str,
    dataset: str,
    keys: tuple[str, str, str],
    missing_hint: Callable[[dict], str] | None = None,
) -> QuerySet:
    """Read ``{vid: {DURATION: ..., "timestamps": [...], "sentences": [...]}}`` (ActivityNet
    Captions and the CD splits).

    Args:
        path: the JSON file.
        split: split name recorded in the result.
        dataset: dataset name recorded in the result.
        keys: the names of the duration, timestamps and sentences entries.
        missing_hint: text added to a missing-key error, given the video's entry (e.g. "an
            ActivityNet-CD file?").
    """
    path = Path(path)
    data = load_json(path)
    if not isinstance(data, dict):
        raise AnnotationError(
            path, None, f"expected a JSON object {{vid: ...}}, got {type(data).__name__}"
        )
    log = SkipLog()
    queries: list[Query] = []
    for vid, entry in data.items():
        if not isinstance(entry, dict):
            raise AnnotationError(path, vid, f"expected an object, got {type(entry).__name__}")
        for key in keys:
            if key not in entry:
                hint = missing_hint(entry) if missing_hint else ""
                raise AnnotationError(path, vid, f"missing key {key!r}{hint}")
        duration, stamps, sentences = (entry[k] for k in keys)
        if not _number(duration) or duration <= 0:
            raise AnnotationError(path, vid, f"{keys[0]} must be a number > 0, got {duration!r}")
        if not isinstance(stamps, list) or not isinstance(sentences, list):
            raise AnnotationError(path, vid, "timestamps and sentences must be lists")
        if len(stamps) != len(sentences):
            raise AnnotationError(
                path, vid, f"{len(stamps)} timestamps but {len(sentences)} sentences"
            )
        for i, (stamp, sentence) in enumerate(zip(stamps, sentences, strict=True)):
            qid = f"{vid}#{i}"
            if not (isinstance(stamp, list) and len(stamp) == 2 and all(map(_number, stamp))):
                raise AnnotationError(
                    path, qid, f"timestamp must be [start, end] numbers, got {stamp!r}"
                )
            if not isinstance(sentence, str):
                raise AnnotationError(path, qid, f"sentence must be a string, got {sentence!r}")
            where = f"{path}:{qid}"
            sentence = sentence.strip()
            if not sentence:
                log.skip("empty sentence", where)
                continue
            window, note = clip_window(float(stamp[0]), float(stamp[1]), float(duration))
            if window is None:
                log.skip(note, where)
                continue
            if note:
                log.repair(note, where)
            queries.append(Query(qid, vid, sentence, (window,), float(duration)))
    return QuerySet(dataset=dataset, split=split, queries=queries, log=log, source=str(path))
