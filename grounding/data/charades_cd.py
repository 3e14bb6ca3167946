"""Charades-CD and ActivityNet-CD annotations (Yuan et al., "A Closer Look at Temporal Sentence
Grounding in Videos: Dataset and Metric", 2021): the same videos re-split so that the
``test_ood`` moments are distributed differently from training.

Charades-CD (``charades_{train,val,test_iid,test_ood}.json``)::

    {"N14BK": {"timestamps": [[39.3, 45.0]], "sentences": ["person put a notebook in a bag"],
               "video_duration": 47.625, "framestamps": [[628, 720]], "decode_fps": 16.0,
               "encoded_sentences": [...], "video_fps": -1.0}}

Only ``timestamps``, ``sentences`` and ``video_duration`` are used (the others are ignored).
ActivityNet-CD (``anet_{val,test_iid,test_ood}.json``; its train file is not published) has
ActivityNet Captions' layout (``duration``, ``timestamps``, ``sentences``) and is read by
:func:`grounding.data.activitynet.read_activitynet`, renamed ``activitynet-cd``.

Each ``(timestamp, sentence)`` pair is one query, id ``f"{vid}#{i}"``. The rules are those of the
other readers (:func:`grounding.data.charades.clip_window`), counted in the
:class:`~grounding.data.annotations.SkipLog`: an end past the video is clipped (348 of the 3,375
Charades-CD test_ood queries), ``start >= end``, a start at or after the video end, negative
times and empty sentences are skipped. Structural errors (invalid JSON, a missing key, lists of
different lengths, a time that is not a finite number) raise
:class:`~grounding.data.annotations.AnnotationError` naming the file and the video id (or qid).
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from grounding.data.activitynet import load_json, read_activitynet
from grounding.data.annotations import AnnotationError, Query, QuerySet, SkipLog
from grounding.data.charades import clip_window

__all__ = ["CHARADES_CD_KEYS", "read_activitynet_cd", "read_charades_cd"]

CHARADES_CD_KEYS = ("video_duration", "timestamps", "sentences")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def read_charades_cd(path: Path, *, split: str) -> QuerySet:
    """Read one Charades-CD split file.

    Args:
        path: ``charades_{train,val,test_iid,test_ood}.json`` (any name works).
        split: split name recorded in the result.

    Returns:
        A :class:`QuerySet` (dataset ``charades-cd``) in file order, skips and repairs counted
        in its ``log`` (examples given as ``file:vid#i``).
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
        for key in CHARADES_CD_KEYS:
            if key not in entry:
                hint = " (an ActivityNet-CD file? it has 'duration')" if "duration" in entry else ""
                raise AnnotationError(path, vid, f"missing key {key!r}{hint}")
        duration, stamps, sentences = (entry[k] for k in CHARADES_CD_KEYS)
        if not _number(duration) or duration <= 0:
            raise AnnotationError(
                path, vid, f"video_duration must be a number > 0, got {duration!r}"
            )
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
    return QuerySet(dataset="charades-cd", split=split, queries=queries, log=log, source=str(path))


def read_activitynet_cd(path: Path, *, split: str) -> QuerySet:
    """Read one ActivityNet-CD split file (ActivityNet Captions' layout): a :class:`QuerySet`
    of dataset ``activitynet-cd``. A Charades-CD file (``video_duration``) is refused by name."""
    path = Path(path)
    try:
        qs = read_activitynet(path, split=split)
    except AnnotationError as e:
        if "missing key 'duration'" in str(e):
            raise AnnotationError(
                path,
                e.where,
                "missing key 'duration' (a Charades-CD file? it has "
                "'video_duration'; ActivityNet-CD files have ActivityNet Captions' layout)",
            ) from None
        raise
    return replace(qs, dataset="activitynet-cd")
