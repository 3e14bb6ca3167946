"""Charades-STA annotations: ``charades_sta_{train,test}.txt`` + ``Charades_v1_*.csv`` durations.

Format (Gao et al., TALL, ICCV 2017; the files 2D-TAN, MMN and Lighthouse ship)::

    3MSZA 24.3 30.4##person turn a light on.

one query per line: video id, start and end in seconds, ``##``, the sentence. Video durations
come from the Charades annotation CSVs (``Charades_v1_train.csv`` / ``Charades_v1_test.csv``),
columns ``id`` and ``length`` (seconds).

Rules (counted in the returned :class:`~grounding.data.annotations.SkipLog`, never silent):

- an end past the video is clipped to the duration (``repaired: end past video``; 562 of the
  3,720 test lines), as 2D-TAN's loader does (``min(end, duration)``);
- ``start >= end`` is skipped (4 train lines); so is a start at or after the video end;
- a negative time is skipped (``negative time``): it is not a clipping matter but a broken line;
- an unknown video id (no duration in the CSVs) and an empty sentence are skipped;
- a line that cannot be parsed at all (no ``##``, not three fields before it, a time that is not a
  finite number) raises :class:`~grounding.data.annotations.AnnotationError` with ``file:line``.

Duplicate ``(vid, start, end, sentence)`` lines occur in the real files and are kept: each line
is a query. The query id is the 0-based line index in the file (as text), so ids stay stable
whatever is skipped.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

from grounding.data.annotations import AnnotationError, Query, QuerySet, SkipLog
from grounding.io import check_input_file

__all__ = [
    "clip_window",
    "parse_time",
    "read_charades_durations",
    "read_charades_sta",
    "read_utf8_text",
]


def read_utf8_text(path: Path, what: str = "file") -> str:
    """The text of a UTF-8 file (a leading BOM dropped); bytes that are not UTF-8 raise
    :class:`AnnotationError` naming the file, the line and the byte."""
    path = check_input_file(path, what)
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise AnnotationError(
            path, line, f"not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start})"
        ) from None


def parse_time(text: str, *, path: Path | str, where: int | str, what: str = "time") -> float:
    """Parse a finite float, or raise :class:`AnnotationError` naming ``path:where``."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise AnnotationError(path, where, f"{what} is not a number: {text!r}") from None
    if not math.isfinite(value):
        raise AnnotationError(path, where, f"{what} is not finite: {text!r}")
    return value


def clip_window(
    start: float, end: float, duration: float
) -> tuple[tuple[float, float] | None, str | None]:
    """Apply the ground-truth rules shared by all readers to one window.

    Returns ``(window, note)``: ``window`` is the usable ``(start, end)`` clipped to
    ``[0, duration]`` or ``None`` when the window is unusable; ``note`` is the skip reason when
    ``window`` is ``None``, the repair reason when the window was changed, else ``None``.
    """
    if start < 0 or end < 0:
        return None, "negative time"
    if start >= end:
        return None, "start >= end"
    if start >= duration:
        return None, "starts after video end"
    if end > duration:
        return (start, duration), "end past video"
    return (start, end), None


def _csv_rows(path: Path, reader: csv.DictReader) -> Iterator[tuple[int, dict]]:
    """``(line, row)`` of a CSV with ``id`` and ``length`` columns; CSV errors (a NUL byte, a
    field over the size limit) raise :class:`AnnotationError` naming the file and line."""
    try:
        columns = reader.fieldnames or []
        for col in ("id", "length"):
            if col not in columns:
                raise AnnotationError(path, 1, f"missing column {col!r} (columns: {columns})")
        for row in reader:
            yield reader.line_num, row
    except csv.Error as e:
        raise AnnotationError(path, reader.line_num, f"not a readable CSV ({e})") from None


def read_charades_durations(paths: Path | Sequence[Path]) -> dict[str, float]:
    """Video durations ``{id: length}`` from one or more ``Charades_v1_*.csv`` files.

    Columns are found by name (``id``, ``length``). A missing column, a non-finite or
    non-positive length, or one id given two different lengths raises :class:`AnnotationError`.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    durations: dict[str, float] = {}
    origin: dict[str, str] = {}
    for path in map(Path, paths):
        text = read_utf8_text(path, "Charades durations CSV")
        reader = csv.DictReader(io.StringIO(text, newline=""))
        for line, row in _csv_rows(path, reader):
            vid = (row["id"] or "").strip()
            if not vid:
                raise AnnotationError(path, line, "empty video id")
            length = parse_time(row["length"], path=path, where=line, what="length")
            if length <= 0:
                raise AnnotationError(path, line, f"length must be > 0, got {length}")
            if vid in durations and durations[vid] != length:
                raise AnnotationError(
                    path,
                    line,
                    f"video {vid} has length {length} here but {durations[vid]} in {origin[vid]}",
                )
            durations[vid] = length
            origin[vid] = f"{path}:{line}"
    return durations


def _read_lines(path: Path) -> list[str]:
    return read_utf8_text(path, "Charades-STA annotation file").splitlines()


def read_charades_sta(
    annotations: Path, durations: Path | Sequence[Path], *, split: str
) -> QuerySet:
    """Read a Charades-STA split.

    Args:
        annotations: ``charades_sta_{split}.txt``.
        durations: one or more ``Charades_v1_*.csv`` with ``id`` and ``length`` columns.
        split: split name recorded in the result (``train`` / ``test``).

    Returns:
        A :class:`QuerySet` (dataset ``charades``) with one query per usable line, qid = the
        0-based line index; skipped and repaired lines are counted in its ``log``.
    """
    annotations = Path(annotations)
    lengths = read_charades_durations(durations)
    log = SkipLog()
    queries: list[Query] = []
    for index, raw in enumerate(_read_lines(annotations)):
        line = index + 1
        where = f"{annotations}:{line}"
        if not raw.strip():
            log.skip("blank line", where)
            continue
        head, sep, sentence = raw.partition("##")
        if not sep:
            raise AnnotationError(annotations, line, f"missing '##' in {raw!r}")
        fields = head.split()
        if len(fields) != 3:
            raise AnnotationError(
                annotations, line, f"expected 'VID START END##sentence', got {raw!r}"
            )
        vid = fields[0]
        start = parse_time(fields[1], path=annotations, where=line, what="start")
        end = parse_time(fields[2], path=annotations, where=line, what="end")
        sentence = sentence.strip()
        if not sentence:
            log.skip("empty sentence", where)
            continue
        if vid not in lengths:
            log.skip("unknown video id", where)
            continue
        window, note = clip_window(start, end, lengths[vid])
        if window is None:
            log.skip(note, where)
            continue
        if note:
            log.repair(note, where)
        queries.append(Query(str(index), vid, sentence, (window,), lengths[vid]))
    sources = [durations] if isinstance(durations, str | Path) else list(durations)
    return QuerySet(
        dataset="charades",
        split=split,
        queries=queries,
        log=log,
        source=", ".join(str(p) for p in [annotations, *sources]),
    )
