"""Readers against the real published annotation files (folder named by GROUNDING_REAL_DATA,
laid out like shared/data: charades_sta/, activitynet_captions/, moment_detr_jsonl/).

Run: ``GROUNDING_REAL_DATA=/path/to/data pytest -q tests/data/test_real_data.py``
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from grounding.data.datasets import guess_gt, load_split
from grounding.data.moment_detr import read_moment_detr_gt, read_predictions, write_predictions

pytestmark = pytest.mark.realdata


def test_charades_sta_test(real_data):
    qs = load_split("charades", real_data, "test")
    assert len(qs) == 3720
    assert len(qs.vids) == 1334
    assert qs.log.repaired == {"end past video": 562}
    assert not qs.log.skipped
    assert all(0 <= s < e <= q.duration for q in qs.queries for s, e in q.windows)
    assert [q.qid for q in qs.queries] == [str(i) for i in range(3720)]


def test_charades_sta_train(real_data):
    qs = load_split("charades", real_data, "train")
    path = real_data / "charades_sta" / "charades_sta_train.txt"
    assert len(path.read_text().splitlines()) == 12408
    assert len(qs) == 12404
    assert qs.log.skipped == {"start >= end": 4}
    assert qs.log.repaired == {"end past video": 1802}
    skipped = {"8251", "8439", "9622", "9623"}  # 0-based line index = qid
    assert skipped.isdisjoint(q.qid for q in qs.queries)
    assert qs.log.examples["start >= end"] == [f"{path}:{int(i) + 1}" for i in sorted(skipped)][:3]


@pytest.mark.parametrize(
    ("split", "pairs", "usable", "videos", "skipped", "repaired"),
    [
        ("train", 37421, 37417, 10009, {"start >= end": 4}, 261),
        ("val_1", 17505, 17505, 4917, {}, 134),
        ("val_2", 17031, 17031, 4885, {}, 111),
    ],
)
def test_activitynet(real_data, split, pairs, usable, videos, skipped, repaired):
    qs = load_split("activitynet", real_data, split)
    raw = json.loads((real_data / "activitynet_captions" / f"{split}.json").read_text())
    assert sum(len(v["sentences"]) for v in raw.values()) == pairs
    assert len(qs) == usable
    assert len(qs.vids) == videos
    assert dict(qs.log.skipped) == skipped
    assert qs.log.repaired == {"end past video": repaired}
    assert not any(q.sentence != q.sentence.strip() for q in qs.queries)


def test_lighthouse_charades_jsonl_matches_charades_sta(real_data):
    path = real_data / "moment_detr_jsonl" / "charades_test_release.jsonl"
    md = guess_gt(path)
    assert len(md) == 3720  # `wc -l` says 3719: the last line has no newline
    assert [q.qid for q in md.queries] == [str(i) for i in range(12404, 12404 + 3720)]
    sta = load_split("charades", real_data, "test")
    for a, b in zip(md.queries, sta.queries, strict=True):
        assert (a.vid, a.sentence, a.duration) == (b.vid, b.sentence, b.duration)
        np.testing.assert_allclose(a.windows, b.windows, atol=1e-9)


def test_lighthouse_activitynet_jsonl_is_val_1(real_data):
    path = real_data / "moment_detr_jsonl" / "activitynet_val_release.jsonl"
    md = read_moment_detr_gt(path, split="val_1")
    assert len(md) == 17505
    assert md.log.repaired == {"end past video": 5}
    assert len(read_moment_detr_gt(path, clip=False).log.repaired) == 0
    val1 = load_split("activitynet", real_data, "val_1")
    assert [(q.vid, q.sentence) for q in md.queries] == [(q.vid, q.sentence) for q in val1.queries]


def test_predictions_roundtrip_on_real_qids(real_data, tmp_path: Path):
    gt = guess_gt(real_data / "moment_detr_jsonl" / "charades_test_release.jsonl")
    windows = {q.qid: np.array([[0.0, q.duration, 1.0], [*q.windows[0], 0.5]]) for q in gt.queries}
    path = write_predictions(tmp_path / "pred.jsonl", windows)
    first = json.loads(path.read_text().splitlines()[0])
    assert first["qid"] == 12404  # ints, as Moment-DETR's standalone_eval expects
    back = read_predictions(path)
    assert list(back.windows) == list(windows)
    assert all(np.array_equal(back.windows[k], v) for k, v in windows.items())
