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

from dataclasses import replace
from pathlib import Path

from grounding.data.activitynet import read_activitynet, read_video_json
from grounding.data.annotations import AnnotationError, QuerySet

__all__ = ["CHARADES_CD_KEYS", "read_activitynet_cd", "read_charades_cd"]

CHARADES_CD_KEYS = ("video_duration", "timestamps", "sentences")


def read_charades_cd(path: Path, *, split: str) -> QuerySet:
    """Read one Charades-CD split file.

    Args:
        path: ``charades_{train,val,test_iid,test_ood}.json`` (any name works).
        split: split name recorded in the result.

    Returns:
        A :class:`QuerySet` (dataset ``charades-cd``) in file order, skips and repairs counted
        in its ``log`` (examples given as ``file:vid#i``).
    """
    return read_video_json(
        path,
        split=split,
        dataset="charades-cd",
        keys=CHARADES_CD_KEYS,
        missing_hint=lambda entry: (
            " (an ActivityNet-CD file? it has 'duration')" if "duration" in entry else ""
        ),
    )


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
