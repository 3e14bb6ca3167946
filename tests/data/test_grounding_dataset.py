"""Grounding dataset: resampled features, sentence rows, IoU targets, counted skips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grounding.data.annotations import Query, QuerySet, SkipLog
from grounding.data.features import FeatureError, NpyFolderFeatures
from grounding.data.grounding_dataset import GroundingDataset, normalized_windows
from grounding.models.localization import moment_iou_targets


def _queries(*rows: tuple[str, str, tuple[tuple[float, float], ...], float]) -> QuerySet:
    queries = [Query(qid, vid, f"sentence {qid}", w, d) for qid, vid, w, d in rows]
    return QuerySet("charades", "test", queries, SkipLog(), "inline")


@pytest.fixture
def store(tmp_path) -> NpyFolderFeatures:
    rng = np.random.default_rng(0)
    np.save(tmp_path / "v1.npy", rng.standard_normal((40, 6)).astype(np.float32))
    np.save(tmp_path / "v2.npy", rng.standard_normal((5, 6)).astype(np.float32))
    return NpyFolderFeatures(tmp_path)


def test_items(store):
    qs = _queries(
        ("a", "v1", ((2.0, 6.0),), 20.0),
        ("b", "v2", ((0.0, 5.0), (15.0, 20.0)), 20.0),
    )
    emb = np.random.default_rng(1).standard_normal((2, 8)).astype(np.float32)
    ds = GroundingDataset(qs, store, emb, num_clips=8)
    assert len(ds) == 2 and ds.dim == 6 and not ds.log.skipped
    item = ds[0]
    assert item["clips"].shape == (8, 6) and item["clips"].dtype == torch.float32
    np.testing.assert_allclose(
        item["clips"][0].numpy(), np.load(store.root / "v1.npy")[:5].mean(0), rtol=1e-5
    )
    np.testing.assert_array_equal(item["sentence"].numpy(), emb[0])
    np.testing.assert_allclose(item["span"].numpy(), [0.1, 0.3])
    expected = moment_iou_targets(torch.tensor([[0.1, 0.3]]), 8)[0]
    torch.testing.assert_close(item["iou"], expected.float())
    assert item["duration"] == 20.0 and ds.query(1).qid == "b"
    two = ds[1]["iou"]  # the best over both GT windows: each window's own cell has IoU 1
    assert float(two[0, 1]) == pytest.approx(1.0) and float(two[6, 7]) == pytest.approx(1.0)


def test_missing_features_are_counted(store):
    qs = _queries(("a", "v1", ((1.0, 2.0),), 10.0), ("b", "nope", ((1.0, 2.0),), 10.0))
    ds = GroundingDataset(qs, store, np.zeros((2, 4), np.float32), num_clips=4)
    assert len(ds) == 1 and ds.log.skipped["missing features"] == 1
    assert "qid b" in ds.log.examples["missing features"][0]
    only_missing = _queries(("b", "nope", ((1.0, 2.0),), 10.0))
    with pytest.raises(ValueError, match="none of the 1 queries"):
        GroundingDataset(only_missing, store, np.zeros((1, 4), np.float32), num_clips=4)


def test_bad_inputs(store, tmp_path):
    qs = _queries(("a", "v1", ((1.0, 2.0),), 10.0))
    with pytest.raises(ValueError, match="one sentence embedding per query"):
        GroundingDataset(qs, store, np.zeros((3, 4), np.float32), num_clips=4)
    with pytest.raises(ValueError, match="qid a"):
        GroundingDataset(qs, store, np.full((1, 4), np.nan, np.float32), num_clips=4)
    arr = np.zeros((4, 6), np.float32)
    arr[2, 1] = np.nan
    np.save(tmp_path / "v1.npy", arr)
    with pytest.raises(FeatureError, match=r"v1.*non-finite"):
        GroundingDataset(qs, store, np.zeros((1, 4), np.float32), num_clips=4)


def test_normalized_windows_clip():
    np.testing.assert_allclose(
        normalized_windows([(-1.0, 5.0), (8.0, 12.0)], 10.0), [[0.0, 0.5], [0.8, 1.0]]
    )


def test_token_states_are_padded_to_the_longest_query_with_a_mask(store):
    qs = _queries(("a", "v1", ((1.0, 2.0),), 10.0), ("b", "v2", ((1.0, 2.0),), 10.0))
    words = [np.ones((2, 3), np.float32), np.full((5, 3), 2.0, np.float32)]
    ds = GroundingDataset(qs, store, np.zeros((2, 4), np.float32), num_clips=4, words=words)
    a, b = ds[0], ds[1]
    assert a["words"].shape == b["words"].shape == (5, 3)
    assert a["word_mask"].tolist() == [True, True, False, False, False]
    assert b["word_mask"].all() and torch.all(a["words"][2:] == 0)
    torch.testing.assert_close(a["words"][:2], torch.ones(2, 3))
    assert "words" not in GroundingDataset(qs, store, np.zeros((2, 4)), num_clips=4)[0]


@pytest.mark.parametrize(
    ("words", "match"),
    [
        ([np.ones((2, 3))], "one token-state array per query"),
        ([np.ones((0, 3)), np.ones((2, 3))], "qid a must be"),
        ([np.ones((2, 3)), np.full((2, 3), np.nan)], "qid b are not finite"),
        ([np.ones((2, 3)), np.ones((2, 4))], "different widths"),
    ],
)
def test_bad_token_states(store, words, match):
    qs = _queries(("a", "v1", ((1.0, 2.0),), 10.0), ("b", "v2", ((1.0, 2.0),), 10.0))
    with pytest.raises(ValueError, match=match):
        GroundingDataset(qs, store, np.zeros((2, 4)), num_clips=4, words=words)
