"""HMDB51-style action recognition splits: class folders of videos + ``<class>_test_split<k>.txt``.

Layout (Kuehne et al., HMDB51, ICCV 2011; UCF101-style readers in mmaction2/pytorchvideo)::

    video_root/<class>/<name>.avi
    split_dir/<class>_test_split<k>.txt     lines "<name>.avi <1|2|0>"

where ``1`` = train, ``2`` = test, ``0`` = unused in split ``k``. Classes are the folders of
``video_root`` (hidden folders and ``split_dir`` itself, when it lives inside ``video_root``, are
not classes); the label of a class is its index in the sorted class names.

Bad input: a class folder without its split file, or a split file for a class without a
folder, raises ``FileNotFoundError`` naming the expected path; a malformed or duplicate line
raises :class:`~grounding.data.annotations.AnnotationError` with ``file:line``; a listed video
that is not on disk is skipped and counted (``missing video``), and if no listed video exists at
all the split is unusable and ``FileNotFoundError`` is raised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from grounding.data.annotations import AnnotationError, SkipLog
from grounding.io import check_input_dir

__all__ = ["ActionClip", "ActionSplit", "read_hmdb51_split"]

_SUBSETS = {"1": "train", "2": "test", "0": None}


@dataclass(frozen=True)
class ActionClip:
    """One trimmed action video.

    Attributes:
        path: the video file.
        label: class index (position of ``class_name`` in the sorted class names).
        class_name: the class folder name.
        subset: ``train`` or ``test``.
    """

    path: Path
    label: int
    class_name: str
    subset: str


@dataclass
class ActionSplit:
    """Train and test clips of one HMDB51-style split.

    Attributes:
        train: training clips, in class order then split-file order.
        test: test clips, same order.
        classes: sorted class names; ``classes[label]`` is a clip's class.
        log: skipped lines (``missing video``).
        n_unused: lines marked ``0`` (not in this split), for the record.
    """

    train: list[ActionClip] = field(default_factory=list)
    test: list[ActionClip] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    log: SkipLog = field(default_factory=SkipLog)
    n_unused: int = 0


def _class_dirs(video_root: Path, split_dir: Path, exclude: Sequence[Path] = ()) -> list[str]:
    skip = {split_dir.resolve(), *(Path(p).resolve() for p in exclude)}
    return sorted(
        d.name
        for d in video_root.iterdir()
        if d.is_dir() and not d.name.startswith(".") and d.resolve() not in skip
    )


def _read_split_file(path: Path) -> list[tuple[int, str, str]]:
    """``(line, name, code)`` per non-blank line of one split file."""
    rows: list[tuple[int, str, str]] = []
    seen: dict[str, int] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise AnnotationError(path, None, f"not UTF-8 text (byte {e.start})") from None
    for line, raw in enumerate(text.splitlines(), start=1):
        fields = raw.split()
        if not fields:
            continue
        if len(fields) != 2 or fields[1] not in _SUBSETS:
            raise AnnotationError(path, line, f"expected '<video file> <0|1|2>', got {raw!r}")
        name = fields[0]
        if "/" in name or "\\" in name or name in (".", ".."):
            raise AnnotationError(path, line, f"video name must be a file name, got {name!r}")
        if name in seen:
            raise AnnotationError(
                path, line, f"duplicate video {name} (first on line {seen[name]})"
            )
        seen[name] = line
        rows.append((line, name, fields[1]))
    return rows


def read_hmdb51_split(
    video_root: Path, split_dir: Path, *, split: int = 1, exclude: Sequence[Path] = ()
) -> ActionSplit:
    """Read split ``split`` (1, 2 or 3 for HMDB51) of an HMDB51-style dataset.

    Args:
        video_root: folder with one sub-folder of videos per class.
        split_dir: folder with ``<class>_test_split<split>.txt`` for every class.
        split: split number ``k``.
        exclude: further folders inside ``video_root`` that are not classes (the synthetic
            dataset keeps its clip skeletons in ``actions/skeletons``).

    Returns:
        An :class:`ActionSplit` with train/test clips and the class list.
    """
    video_root = check_input_dir(video_root, "video root")
    split_dir = check_input_dir(split_dir, "split folder")
    classes = _class_dirs(video_root, split_dir, exclude)
    if not classes:
        raise FileNotFoundError(f"no class folders in {video_root} (expected <class>/<video>)")
    suffix = f"_test_split{split}.txt"
    orphans = sorted(
        p.name[: -len(suffix)]
        for p in split_dir.glob(f"*{suffix}")
        if p.name[: -len(suffix)] not in classes
    )
    if orphans:
        raise FileNotFoundError(
            f"split files in {split_dir} for classes without a folder in {video_root}: {orphans}"
        )
    out = ActionSplit(classes=classes)
    n_listed = 0
    for label, name in enumerate(classes):
        split_file = split_dir / f"{name}{suffix}"
        if not split_file.is_file():
            raise FileNotFoundError(
                f"missing split file {split_file} for class folder {video_root / name}"
            )
        for line, video, code in _read_split_file(split_file):
            subset = _SUBSETS[code]
            if subset is None:
                out.n_unused += 1
                continue
            n_listed += 1
            path = video_root / name / video
            if not path.is_file():
                out.log.skip("missing video", f"{split_file}:{line}")
                continue
            getattr(out, subset).append(ActionClip(path, label, name, subset))
    if n_listed and not (out.train or out.test):
        raise FileNotFoundError(
            f"none of the {n_listed} videos listed in {split_dir}/*{suffix} exist under "
            f"{video_root} (e.g. {out.log.examples['missing video'][0]})"
        )
    return out
