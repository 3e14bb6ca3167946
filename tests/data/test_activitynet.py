from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from grounding.data.activitynet import read_activitynet
from grounding.data.annotations import AnnotationError

# Excerpt of val_1.json (two videos, unchanged).
VAL1 = (
    '{"v_uqiMw7tQ1Cc": {"duration": 55.15, "timestamps": [[0.28, 55.15], [13.79, 54.32]], '
    '"sentences": ["A weight lifting tutorial is given.", "  The coach helps the guy in red '
    'with the proper body placement and lifting technique."]}, "v_bXdq2zI1Ms0": {"duration": '
    '73.1, "timestamps": [[0, 10.23], [10.6, 39.84], [38.01, 73.1]], "sentences": ["A man is '
    'seen speaking to the camera and pans out into more men standing behind him.", " The first '
    'man then begins performing martial arts moves while speaking to he camera.", " He '
    'continues moving around and looking to the camera."]}}'
)


def write(tmp_path: Path, text: str, name: str = "val_1.json") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def one_video(**entry) -> str:
    base = {"duration": 10.0, "timestamps": [[1, 2]], "sentences": ["ok"]}
    base.update(entry)
    return json.dumps({"v_a": base})


def test_reads_real_excerpt(tmp_path):
    qs = read_activitynet(write(tmp_path, VAL1), split="val_1")
    assert qs.dataset == "activitynet" and qs.split == "val_1"
    assert [q.qid for q in qs.queries] == [
        "v_uqiMw7tQ1Cc#0",
        "v_uqiMw7tQ1Cc#1",
        "v_bXdq2zI1Ms0#0",
        "v_bXdq2zI1Ms0#1",
        "v_bXdq2zI1Ms0#2",
    ]
    q = qs.queries[1]
    assert q.sentence.startswith("The coach helps")
    assert q.windows == ((13.79, 54.32),) and q.duration == 55.15
    assert qs.queries[2].windows == ((0.0, 10.23),)
    assert not qs.log.skipped and not qs.log.repaired


@pytest.mark.parametrize(
    ("stamp", "sentence", "kind", "reason"),
    [
        ([3, 12], "ok", "repaired", "end past video"),
        ([4.97, 4.97], "ok", "skipped", "start >= end"),
        ([5, 4], "ok", "skipped", "start >= end"),
        ([-1, 4], "ok", "skipped", "negative time"),
        ([10, 11], "ok", "skipped", "starts after video end"),
        ([1, 2], "   ", "skipped", "empty sentence"),
    ],
)
def test_counted_repairs_and_skips(tmp_path, stamp, sentence, kind, reason):
    text = one_video(timestamps=[[1, 2], stamp], sentences=["first", sentence])
    path = write(tmp_path, text)
    qs = read_activitynet(path, split="val_1")
    assert getattr(qs.log, kind) == {reason: 1}
    assert qs.log.examples[reason] == [f"{path}:v_a#1"]
    assert len(qs) == (2 if kind == "repaired" else 1)
    if kind == "repaired":
        assert qs.queries[1].windows == ((3.0, 10.0),)


@pytest.mark.parametrize(
    ("text", "where", "fragment"),
    [
        (one_video(sentences=["a", "b"]), "v_a", "1 timestamps but 2 sentences"),
        (json.dumps({"v_a": {"duration": 3, "timestamps": []}}), "v_a", "missing key 'sentences'"),
        (one_video(duration="x"), "v_a", "duration must be a number"),
        (one_video(duration=0), "v_a", "duration must be a number > 0"),
        (one_video(timestamps=[[1, "2"]]), "v_a#0", "timestamp must be [start, end] numbers"),
        (one_video(timestamps=[[1]]), "v_a#0", "timestamp must be [start, end] numbers"),
        (one_video(timestamps=[[1, float("nan")]]), "v_a#0", "timestamp must be"),
        (one_video(timestamps=[[1, float("inf")]]), "v_a#0", "timestamp must be"),
        (one_video(sentences=[3]), "v_a#0", "sentence must be a string"),
        (json.dumps({"v_a": [1, 2]}), "v_a", "expected an object"),
        ("[1, 2]", None, "expected a JSON object"),
    ],
)
def test_malformed_entries_name_file_and_vid(tmp_path, text, where, fragment):
    path = write(tmp_path, text)
    with pytest.raises(AnnotationError, match=re.escape(fragment)) as e:
        read_activitynet(path, split="val_1")
    loc = str(path) if where is None else f"{path}:{where}"
    assert str(e.value).startswith(f"{loc}: ")


def test_truncated_json_names_line_and_column(tmp_path):
    path = write(tmp_path, VAL1[:100])
    with pytest.raises(AnnotationError) as e:
        read_activitynet(path, split="val_1")
    assert str(e.value).startswith(f"{path}:1:100: invalid JSON: Unterminated string")
    path = write(tmp_path, '{\n"v_a": {"duration": 1,,}\n}')
    with pytest.raises(AnnotationError, match=re.escape(f"{path}:2:23: invalid JSON")):
        read_activitynet(path, split="val_1")


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape("val_2.json")):
        read_activitynet(tmp_path / "val_2.json", split="val_2")
    with pytest.raises(IsADirectoryError):
        read_activitynet(tmp_path, split="val_2")


def test_non_utf8_and_deeply_nested_json_name_the_file(tmp_path):
    path = tmp_path / "val_1.json"
    path.write_bytes(b'{"v_a": {"duration": 5,\n "sentences": ["caf\xa5"]}}')
    with pytest.raises(AnnotationError, match=re.escape(f"{path}:2: not UTF-8 text (byte 0xa5")):
        read_activitynet(path, split="val_1")
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(AnnotationError, match=re.escape(f"{path}: invalid JSON")):
        read_activitynet(path, split="val_1")
