from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from grounding.data.annotations import AnnotationError, Query, QuerySet
from grounding.data.moment_detr import (
    read_moment_detr_gt,
    read_predictions,
    write_moment_detr_gt,
    write_predictions,
)

# First lines of Lighthouse's charades_test_release.jsonl and activitynet_val_release.jsonl.
GT = """{"qid": 12404, "query": "person turn a light on.", "duration": 30.96, "vid": "3MSZA", \
"relevant_windows": [[24.3, 30.4]]}
{"qid":37422,"query":"  The coach helps the guy in red.","duration":55.15,"vid":"v_uqiMw7tQ1Cc",\
"relevant_windows":[[13.79,54.32]]}
"""


def write(tmp_path: Path, text: str, name: str = "gt.jsonl") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def gt_line(**kw) -> str:
    rec = {"qid": 1, "query": "q", "vid": "v", "duration": 10.0, "relevant_windows": [[1, 2]]}
    rec.update(kw)
    return json.dumps(rec)


def pred_line(**kw) -> str:
    rec = {"qid": 1, "pred_relevant_windows": [[1, 2, 0.9]]}
    rec.update(kw)
    return json.dumps(rec)


def test_reads_gt(tmp_path):
    qs = read_moment_detr_gt(write(tmp_path, GT), split="test")
    assert qs.dataset == "moment_detr" and qs.split == "test"
    assert [q.qid for q in qs.queries] == ["12404", "37422"]
    q = qs.queries[1]
    assert (q.vid, q.sentence, q.windows, q.duration) == (
        "v_uqiMw7tQ1Cc",
        "The coach helps the guy in red.",
        ((13.79, 54.32),),
        55.15,
    )


def test_gt_multiple_windows_clip_and_drop(tmp_path):
    text = "\n".join(
        [
            gt_line(qid="a", relevant_windows=[[0, 4], [6, 12]]),
            gt_line(qid="b", relevant_windows=[[3, 3], [5, 6]]),
            gt_line(qid="c", relevant_windows=[[4, 3]]),
            gt_line(qid="d", relevant_windows=[]),
            gt_line(qid="e", query="  "),
        ]
    )
    path = write(tmp_path, text)
    qs = read_moment_detr_gt(path)
    assert [q.qid for q in qs.queries] == ["a", "b"]
    assert qs.queries[0].windows == ((0.0, 4.0), (6.0, 10.0))
    assert qs.queries[1].windows == ((5.0, 6.0),)
    assert qs.log.repaired == {"end past video": 1, "dropped window: start >= end": 1}
    assert qs.log.skipped == {
        "start >= end": 1,
        "no ground-truth window": 1,
        "empty sentence": 1,
    }
    assert qs.log.examples["no ground-truth window"] == [f"{path}:4"]
    unclipped = read_moment_detr_gt(path, clip=False)
    assert unclipped.queries[0].windows == ((0.0, 4.0), (6.0, 12.0))


@pytest.mark.parametrize(
    ("line2", "fragment"),
    [
        ('{"qid": 2, "query": "q", "vid": "v", "duration": 10', "invalid JSON at column"),
        ('{"qid": 2, "query": "q", "vid": "v", "relevant_windows": []}', "missing key 'duration'"),
        (gt_line(qid=1), "duplicate qid 1 (first on line 1)"),
        (gt_line(qid=2.5), "qid must be an int or a string"),
        (gt_line(qid=2, duration=float("nan")), "qid 2: duration must be a number > 0"),
        (gt_line(qid=2, relevant_windows=[[1, float("inf")]]), "qid 2: relevant_windows"),
        (gt_line(qid=2, relevant_windows=[[1, 2, 3]]), "qid 2: relevant_windows"),
        (gt_line(qid=2, relevant_windows=[["1", 2]]), "qid 2: relevant_windows"),
        (gt_line(qid=2, query=None), "qid 2: query must be a string"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_gt_errors_name_file_and_line(tmp_path, line2, fragment):
    path = write(tmp_path, gt_line() + "\n" + line2 + "\n")
    with pytest.raises(AnnotationError, match=re.escape(fragment)) as e:
        read_moment_detr_gt(path)
    assert str(e.value).startswith(f"{path}:2: ")


def test_reads_predictions_in_submitted_order(tmp_path):
    text = "\n".join(
        [
            pred_line(qid=7, pred_relevant_windows=[[1, 2, 0.1], [0, 5, 0.9]], vid="x"),
            pred_line(qid="v_a#0", pred_relevant_windows=[[3.5, 3.5, 1]]),
        ]
    )
    preds = read_predictions(write(tmp_path, text, "pred.jsonl"))
    assert list(preds.windows) == ["7", "v_a#0"]
    np.testing.assert_array_equal(preds.windows["7"], [[1, 2, 0.1], [0, 5, 0.9]])
    assert preds.windows["7"].dtype == np.float64
    assert preds.windows["v_a#0"].shape == (1, 3)
    assert not preds.log.skipped


def test_empty_prediction_list_is_counted_and_kept(tmp_path):
    path = write(tmp_path, pred_line() + "\n" + pred_line(qid=2, pred_relevant_windows=[]) + "\n")
    preds = read_predictions(path)
    assert preds.windows["2"].shape == (0, 3)
    assert preds.log.skipped == {"empty prediction list": 1}
    assert preds.log.examples["empty prediction list"] == [f"{path}:2"]


@pytest.mark.parametrize(
    ("line2", "fragment"),
    [
        (pred_line(qid=2, pred_relevant_windows=[[1, 2, float("nan")]]), "qid 2: window 0"),
        (pred_line(qid=2, pred_relevant_windows=[[0, 1, 1], [1, float("inf"), 1]]), "window 1"),
        (pred_line(qid=2, pred_relevant_windows=[[3, 2, 0.5]]), "qid 2: window 0 has start > end"),
        (pred_line(qid=2, pred_relevant_windows=[[1, 2]]), "qid 2: window 0 is [1, 2]"),
        (pred_line(qid=2, pred_relevant_windows=[[0, 1, 1], [1, 2]]), "window 1 is [1, 2]"),
        (pred_line(qid=2, pred_relevant_windows=[[1, 2, "0.5"]]), "expected [start, end, score]"),
        (pred_line(qid=2, pred_relevant_windows=[[1, 2, None]]), "expected [start, end, score]"),
        (pred_line(qid=2, pred_relevant_windows=[1, 2, 3]), "expected [start, end, score]"),
        (pred_line(qid=2, pred_relevant_windows={"a": 1}), "qid 2: pred_relevant_windows must"),
        (pred_line(qid=1), "duplicate qid 1 (first on line 1)"),
        ('{"qid": 2, "windows": [[1, 2, 3]]}', "missing key 'pred_relevant_windows'"),
        ('{"query_id": 2, "pred_relevant_windows": []}', "missing key 'qid'"),
        ('{"qid": 2, "pred_relevant_windows": [[1, 2, 0.', "invalid JSON at column"),
    ],
)
def test_prediction_errors_name_file_line_and_qid(tmp_path, line2, fragment):
    path = write(tmp_path, pred_line() + "\n" + line2 + "\n", "pred.jsonl")
    with pytest.raises(AnnotationError, match=re.escape(fragment)) as e:
        read_predictions(path)
    assert str(e.value).startswith(f"{path}:2: ")


def test_missing_and_non_utf8_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape("pred.jsonl")):
        read_predictions(tmp_path / "pred.jsonl")
    with pytest.raises(IsADirectoryError):
        read_moment_detr_gt(tmp_path)
    path = write(tmp_path, "", "bad.jsonl")
    path.write_bytes(b'{"qid": 1, "query": "caf\xe9"}\n')
    with pytest.raises(AnnotationError, match="not UTF-8"):
        read_moment_detr_gt(path)


def test_write_read_predictions_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    starts = rng.uniform(0, 20, size=(4, 1))
    windows = {
        "12404": np.hstack([starts, starts + rng.uniform(0, 5, (4, 1)), rng.random((4, 1))]),
        "v_a#3": np.array([[0.1, 0.30000000000000004, 1e-12]]),
        "007": np.zeros((0, 3)),
    }
    path = write_predictions(tmp_path / "out" / "pred.jsonl", windows)
    raw = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["qid"] for r in raw] == [12404, "v_a#3", "007"]
    back = read_predictions(path)
    assert list(back.windows) == list(windows)
    for qid, arr in windows.items():
        np.testing.assert_array_equal(back.windows[qid], arr)
    assert back.log.skipped == {"empty prediction list": 1}
    assert [p.name for p in path.parent.iterdir()] == ["pred.jsonl"]


@pytest.mark.parametrize(
    "bad", [np.array([[1.0, 2.0]]), np.array([[1.0, np.nan, 0.1]]), np.array([[2.0, 1.0, 0.1]])]
)
def test_write_predictions_rejects_bad_arrays(tmp_path, bad):
    target = tmp_path / "pred.jsonl"
    with pytest.raises(ValueError, match="qid q9"):
        write_predictions(target, {"q1": np.array([[0.0, 1.0, 0.5]]), "q9": bad})
    assert not target.exists() and not list(tmp_path.iterdir())


def test_write_read_gt_roundtrip(tmp_path):
    qs = QuerySet(
        "charades",
        "test",
        [
            Query("0", "3MSZA", "person turn a light on.", ((24.3, 30.4),), 30.96),
            Query("v#1", "v", "two windows", ((0.0, 1.5), (3.0, 4.0)), 5.0),
        ],
    )
    path = write_moment_detr_gt(tmp_path / "gt.jsonl", qs)
    assert json.loads(path.read_text().splitlines()[0])["qid"] == 0
    back = read_moment_detr_gt(path, split="test")
    assert back.queries == qs.queries


def _many_predictions(tmp_path: Path, n: int = 60, extra: str = "") -> Path:
    lines = [
        pred_line(qid=i, pred_relevant_windows=[[i, i + 1, 0.5], [0, i + 2, 0.1]]) for i in range(n)
    ]
    return write(tmp_path, "\n".join(lines) + "\n" + extra, "pred.jsonl")


def _shared_blocks() -> set[str]:
    shm = Path("/dev/shm")
    return set(p.name for p in shm.iterdir()) if shm.is_dir() else set()


def test_two_process_read_equals_one(tmp_path):
    path = _many_predictions(tmp_path)
    before = _shared_blocks()
    one, two = read_predictions(path, workers=1), read_predictions(path, workers=2)
    assert _shared_blocks() == before  # the worker's shared windows were freed
    assert list(one.windows) == list(two.windows) == [str(i) for i in range(60)]
    for q in one.windows:
        np.testing.assert_array_equal(one.windows[q], two.windows[q])


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (pred_line(qid=3), "duplicate qid 3 (first on line 4)"),  # repeats a qid of part one
        (pred_line(qid=99, pred_relevant_windows=[[3, 2, 1]]), "window 0 has start > end"),
        ('{"qid": 99, "pred_relevant_windows": [[1, 2, true]]}', "window 0 is [1, 2, True]"),
    ],
)
def test_two_process_read_names_the_right_line(tmp_path, extra, fragment):
    path = _many_predictions(tmp_path, extra=extra + "\n")
    before = _shared_blocks()
    for workers in (1, 2):
        with pytest.raises(AnnotationError, match=re.escape(fragment)) as e:
            read_predictions(path, workers=workers)
        assert str(e.value).startswith(f"{path}:61: ")
    assert _shared_blocks() == before


@pytest.mark.parametrize(
    "line",
    [
        '{"qid": 5, "pred_relevant_windows": [[0, 1, 1]], "pred_relevant_windows": [[1, 2, true]]}',
        '{"qid": 5, "pred_relevant_windows": [[false, 2, 1]]}',
        '{"qid": 5, "pred_relevant_windows": [[1, 2, null]]}',
        '{"qid": 5, "pred_relevant_windows": [[1, "2", 1]]}',
        '{"qid": 5, "pred_relevant_windows": [[1, 2, 1], [1, 2]]}',
        '{"qid": 5, "pred_relevant_windows": [[1, 2, 1, 4], [1, 2]]}',
    ],
)
def test_non_numbers_never_slip_through_the_fast_path(tmp_path, line):
    path = write(tmp_path, pred_line() + "\n" + line + "\n", "pred.jsonl")
    with pytest.raises(AnnotationError, match="qid 5: window") as e:
        read_predictions(path)
    assert str(e.value).startswith(f"{path}:2: ")


def test_two_process_read_leaves_no_shared_memory_behind(tmp_path):
    """In a fresh interpreter (where no resource tracker runs yet), a two-process read frees
    the worker's shared block itself: nothing leaks, nothing is reported at exit."""
    import subprocess
    import sys

    path = _many_predictions(tmp_path, n=400)
    code = (
        "from grounding.data.moment_detr import read_predictions\n"
        f"p = read_predictions({str(path)!r}, workers=2, meanwhile=lambda: None)\n"
        "assert len(p.windows) == 400\n"
    )
    before = _shared_blocks()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "leaked" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert _shared_blocks() == before
