"""Writing the synthetic dataset in the community formats.

* Charades-STA: ``charades_sta_{train,test}.txt`` lines ``VID START END##sentence`` and
  ``Charades_v1_{train,test}.csv`` (the Charades metadata header; ``id`` and ``length`` used).
* ActivityNet Captions: ``activitynet/{train,val_1}.json``
  ``{vid: {"duration", "timestamps", "sentences"}}``.
* HMDB51-style: ``actions/splits/<class>_test_split1.txt`` lines ``<clip>.mp4 1|2``.
* Media: ``videos/<vid>.mp4`` (mp4v) and ``skeletons/<vid>.npz`` (``joints (T, M, 17, 3)``,
  ``fps``).

Every file is written atomically (:mod:`grounding.io`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np

from grounding.data.synthetic.actions import ACTIONS
from grounding.data.synthetic.queries import GroundingQuery
from grounding.data.synthetic.script import VideoScript
from grounding.io import atomic_path, atomic_write

CHARADES_HEADER = (
    "id",
    "subject",
    "scene",
    "quality",
    "relevance",
    "verified",
    "script",
    "objects",
    "descriptions",
    "actions",
    "length",
)


def fmt_time(t: float) -> str:
    """Seconds with two decimals, as written in every annotation file."""
    return f"{t:.2f}"


def write_video(path: Path, frames: Iterable[np.ndarray], fps: int, size: int) -> int:
    """Encode BGR frames ``(S, S, 3)`` uint8 to an mp4 (mp4v) atomically; returns the count."""
    n = 0
    with atomic_path(path) as tmp:
        writer = cv2.VideoWriter(
            str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (size, size)
        )
        if not writer.isOpened():
            raise OSError(f"OpenCV cannot open a video writer (mp4v) for {path}")
        try:
            for frame in frames:
                writer.write(frame)
                n += 1
        finally:
            writer.release()
        if n == 0:
            raise ValueError(f"no frames to write to {path}")
    return n


def write_skeleton(path: Path, joints: np.ndarray, fps: int) -> None:
    """``joints (T, M, 17, 3)`` float32 and ``fps`` to a compressed npz, atomically."""
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, joints=joints.astype(np.float32), fps=np.int64(fps))


def write_charades(
    root: Path, split: str, scripts: Sequence[VideoScript], queries: dict[str, list[GroundingQuery]]
) -> list[Path]:
    """``charades_sta_<split>.txt`` and ``Charades_v1_<split>.csv``; returns the paths."""
    txt = root / f"charades_sta_{split}.txt"
    with atomic_write(txt, "w", encoding="utf-8", newline="\n") as f:
        for s in scripts:
            for q in queries[s.vid]:
                f.write(f"{s.vid} {fmt_time(q.start)} {fmt_time(q.end)}##{q.sentence}\n")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CHARADES_HEADER)
    for s in scripts:
        colours = ", ".join(p.colour for p in s.players)
        acts = ";".join(
            f"c{ACTIONS.index(g.action):03d} {fmt_time(g.start / s.fps)} {fmt_time(g.end / s.fps)}"
            for g in s.segments
        )
        w.writerow(
            (
                s.vid,
                "SYN",
                "Basketball court",
                7,
                7,
                "Yes",
                f"Basketball practice with {len(s.players)} player(s) in {colours}.",
                "ball;basket",
                ";".join(q.sentence for q in queries[s.vid]),
                acts,
                fmt_time(s.duration),
            )
        )
    csv_path = root / f"Charades_v1_{split}.csv"
    with atomic_write(csv_path, "w", encoding="utf-8", newline="") as f:
        f.write(buf.getvalue())
    return [txt, csv_path]


def write_activitynet(
    path: Path, scripts: Sequence[VideoScript], queries: dict[str, list[GroundingQuery]]
) -> Path:
    """One ActivityNet Captions JSON file for ``scripts``."""
    obj = {
        s.vid: {
            "duration": round(s.duration, 2),
            "timestamps": [[round(q.start, 2), round(q.end, 2)] for q in queries[s.vid]],
            "sentences": [q.sentence for q in queries[s.vid]],
        }
        for s in scripts
    }
    with atomic_write(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(obj, f)
    return path


def write_hmdb_splits(
    root: Path, train: Sequence[VideoScript], test: Sequence[VideoScript]
) -> list[Path]:
    """``actions/splits/<class>_test_split1.txt`` for every class that has clips."""
    by_class: dict[str, list[tuple[str, int]]] = {}
    for label, scripts in ((1, train), (2, test)):
        for s in scripts:
            for c in s.clips:
                by_class.setdefault(s.segments[c.segment].action, []).append((c.name, label))
    paths = []
    for action in ACTIONS:
        rows = sorted(by_class.get(action, []))
        if not rows:
            continue
        path = root / "actions" / "splits" / f"{action}_test_split1.txt"
        with atomic_write(path, "w", encoding="utf-8", newline="\n") as f:
            f.writelines(f"{name}.mp4 {label}\n" for name, label in rows)
        paths.append(path)
    return paths
