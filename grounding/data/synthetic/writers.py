"""Writing the synthetic dataset in the community formats.

* Charades-STA: ``charades_sta_{train,test}.txt`` lines ``VID START END##sentence`` and
  ``Charades_v1_{train,test}.csv`` (the Charades metadata header; ``id`` and ``length`` used).
* ActivityNet Captions: ``activitynet/{train,val_1}.json``
  ``{vid: {"duration", "timestamps", "sentences"}}``.
* HMDB51-style: ``actions/splits/<class>_test_split1.txt`` lines ``<clip>.mp4 1|2``.
* Media: ``videos/<vid>.mp4`` (mp4v) and ``skeletons/<vid>.npz`` (``joints (T, M, 17, 3)``,
  ``fps``).

Every file is written atomically (:mod:`grounding.io`); :class:`SplitWriter` writes a split's
annotation files one video at a time.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
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


def charades_lines(s: VideoScript, queries: Sequence[GroundingQuery]) -> str:
    """The Charades-STA lines of one video."""
    return "".join(
        f"{s.vid} {fmt_time(q.start)} {fmt_time(q.end)}##{q.sentence}\n" for q in queries
    )


def charades_row(s: VideoScript, queries: Sequence[GroundingQuery]) -> tuple:
    """The ``Charades_v1_<split>.csv`` row of one video."""
    colours = ", ".join(p.colour for p in s.players)
    acts = ";".join(
        f"c{ACTIONS.index(g.action):03d} {fmt_time(g.start / s.fps)} {fmt_time(g.end / s.fps)}"
        for g in s.segments
    )
    return (
        s.vid,
        "SYN",
        "Basketball court",
        7,
        7,
        "Yes",
        f"Basketball practice with {len(s.players)} player(s) in {colours}.",
        "ball;basket",
        ";".join(q.sentence for q in queries),
        acts,
        fmt_time(s.duration),
    )


def activitynet_entry(s: VideoScript, queries: Sequence[GroundingQuery]) -> dict:
    """The ActivityNet Captions entry of one video."""
    return {
        "duration": round(s.duration, 2),
        "timestamps": [[round(q.start, 2), round(q.end, 2)] for q in queries],
        "sentences": [q.sentence for q in queries],
    }


class SplitWriter:
    """The Charades-STA (``charades_sta_<split>.txt``, ``Charades_v1_<split>.csv``) and
    ActivityNet Captions (``activitynet_path``) files of one split, written one video at a time
    (:meth:`add`), each atomically: the bytes are those of :func:`write_charades` and
    :func:`write_activitynet` on the whole split, without holding it in memory. Use as a
    context manager; the files appear when it exits without an error."""

    def __init__(self, root: Path, split: str, activitynet_path: Path) -> None:
        self.paths = [
            root / f"charades_sta_{split}.txt",
            root / f"Charades_v1_{split}.csv",
            activitynet_path,
        ]
        self._stack = contextlib.ExitStack()
        self._n = 0

    def __enter__(self) -> SplitWriter:
        txt, csv_path, anet = self.paths
        with contextlib.ExitStack() as stack:
            self._txt = stack.enter_context(atomic_write(txt, "w", encoding="utf-8", newline="\n"))
            self._csv_file = stack.enter_context(
                atomic_write(csv_path, "w", encoding="utf-8", newline="")
            )
            self._anet = stack.enter_context(
                atomic_write(anet, "w", encoding="utf-8", newline="\n")
            )
            self._stack = stack.pop_all()
        self._csv = csv.writer(self._csv_file, lineterminator="\n")
        self._csv.writerow(CHARADES_HEADER)
        self._anet.write("{")
        return self

    def add(self, s: VideoScript, queries: Sequence[GroundingQuery]) -> None:
        self._txt.write(charades_lines(s, queries))
        self._csv.writerow(charades_row(s, queries))
        sep = ", " if self._n else ""
        self._anet.write(f"{sep}{json.dumps(s.vid)}: {json.dumps(activitynet_entry(s, queries))}")
        self._n += 1

    def __exit__(self, *exc: object) -> bool | None:
        if exc[0] is None:
            self._anet.write("}")
        return self._stack.__exit__(*exc)


def write_charades(
    root: Path, split: str, scripts: Sequence[VideoScript], queries: dict[str, list[GroundingQuery]]
) -> list[Path]:
    """``charades_sta_<split>.txt`` and ``Charades_v1_<split>.csv``; returns the paths."""
    txt = root / f"charades_sta_{split}.txt"
    with atomic_write(txt, "w", encoding="utf-8", newline="\n") as f:
        for s in scripts:
            f.write(charades_lines(s, queries[s.vid]))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CHARADES_HEADER)
    for s in scripts:
        w.writerow(charades_row(s, queries[s.vid]))
    csv_path = root / f"Charades_v1_{split}.csv"
    with atomic_write(csv_path, "w", encoding="utf-8", newline="") as f:
        f.write(buf.getvalue())
    return [txt, csv_path]


def write_activitynet(
    path: Path, scripts: Sequence[VideoScript], queries: dict[str, list[GroundingQuery]]
) -> Path:
    """One ActivityNet Captions JSON file for ``scripts``."""
    obj = {s.vid: activitynet_entry(s, queries[s.vid]) for s in scripts}
    with atomic_write(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(obj, f)
    return path


def clip_rows(s: VideoScript, label: int) -> Iterator[tuple[str, str, int]]:
    """``(action, clip name, split label)`` of every trimmed clip of one video."""
    for c in s.clips:
        yield s.segments[c.segment].action, c.name, label


def write_hmdb_rows(root: Path, by_class: dict[str, list[tuple[str, int]]]) -> list[Path]:
    """``actions/splits/<class>_test_split1.txt`` from ``{class: [(clip name, 1|2)]}`` for
    every class that has clips."""
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


def write_hmdb_splits(
    root: Path, train: Sequence[VideoScript], test: Sequence[VideoScript]
) -> list[Path]:
    """``actions/splits/<class>_test_split1.txt`` for every class that has clips."""
    by_class: dict[str, list[tuple[str, int]]] = {}
    for label, scripts in ((1, train), (2, test)):
        for s in scripts:
            for action, name, lab in clip_rows(s, label):
                by_class.setdefault(action, []).append((name, lab))
    return write_hmdb_rows(root, by_class)
