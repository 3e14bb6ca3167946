"""The annotation files shipped with the package: present, intact, read by the readers, counts
as published (shared/data/README.md's facts)."""

import hashlib
import json
import lzma
from importlib import resources

import pytest

from grounding.data import bundled
from grounding.data.datasets import load_split

#: (dataset, split) -> (queries read, videos, skipped, repaired) of the published files
COUNTS = {
    ("charades", "test"): (3720, 1334, {}, {"end past video": 562}),
    ("charades", "train"): (12404, 5336, {"start >= end": 4}, {"end past video": 1802}),
    ("charades-cd", "train"): (11071, 4564, {}, {"end past video": 1652}),
    ("charades-cd", "val"): (859, 333, {}, {"end past video": 135}),
    ("charades-cd", "test_iid"): (823, 333, {}, {"end past video": 151}),
    (
        "charades-cd",
        "test_ood",
    ): (3372, 1440, {"starts after video end": 3}, {"end past video": 345}),
    ("activitynet-cd", "val"): (3521, 746, {}, {"end past video": 17}),
    ("activitynet-cd", "test_iid"): (3443, 746, {}, {"end past video": 27}),
    ("activitynet-cd", "test_ood"): (13574, 2450, {"start >= end": 4}, {"end past video": 55}),
}


def test_every_split_file_is_shipped_and_listed():
    names = {n for splits in bundled.SPLITS.values() for files in splits.values() for n in files}
    assert names == set(bundled.FILES) == set(bundled.manifest())
    root = resources.files("grounding.data.bundled")
    for name in names:
        assert root.joinpath(*f"{name}.xz".split("/")).is_file(), name


def test_notice_names_source_commit_and_licence_of_every_file():
    notice = resources.files("grounding.data.bundled").joinpath("NOTICE").read_text("utf-8")
    assert "non-commercial research use" in notice.lower()
    assert "ActivityNet Captions" in notice and "research use" in notice
    for f in bundled.FILES.values():
        block = notice.split(f"\n{f.name}\n", 1)[1].split("\n\n", 1)[0]
        assert f.repo in block and f.path in block and f.commit in block
        assert f.licence in block and bundled.sha256(f.name) in block
    assert "reduced: columns id and length" in notice


@pytest.mark.slow
def test_shipped_files_match_their_digests():
    for name in bundled.FILES:
        data = bundled.read_bytes(name)  # checks the SHA-256 itself
        assert hashlib.sha256(data).hexdigest() == bundled.sha256(name)
        assert len(data) == bundled.manifest()[name]["bytes"]


def test_reduced_charades_csv_keeps_only_id_and_length():
    head = bundled.read_bytes("charades_sta/Charades_v1_test.csv").decode().splitlines()
    assert head[0] == "id,length" and len(head) > 1000
    assert all(len(line.split(",")) == 2 for line in head[:50])


def test_package_data_stays_small():
    total = sum(int(m["xz_bytes"]) for m in bundled.manifest().values())
    assert total < 3.5e6


@pytest.mark.parametrize(("dataset", "split"), sorted(COUNTS))
def test_shipped_splits_read_as_published(dataset, split):
    n, n_vids, skipped, repaired = COUNTS[dataset, split]
    qs = load_split(dataset, None, split)
    assert (qs.dataset, qs.split, len(qs), len(qs.vids)) == (dataset, split, n, n_vids)
    assert dict(qs.log.skipped) == skipped and dict(qs.log.repaired) == repaired
    assert qs.source.startswith("bundled:")
    for examples in qs.log.examples.values():
        assert all(w.startswith("bundled:") for w in examples)


@pytest.mark.slow
@pytest.mark.parametrize(("split", "n"), [("train", 37417), ("val_1", 17505), ("val_2", 17031)])
def test_shipped_activitynet(split, n):
    assert len(load_split("activitynet", None, split)) == n


def test_damaged_file_is_refused(tmp_path, monkeypatch):
    name = "charades_cd/charades_val.json"
    monkeypatch.setitem(bundled.manifest(), name, {**bundled.manifest()[name], "sha256": "0" * 64})
    with pytest.raises(bundled.BundledDataError, match="does not match"):
        bundled.read_bytes(name)


def test_materialize_writes_the_reader_layout_once(tmp_path):
    names = bundled.SPLITS["charades-cd"]["val"]
    bundled.materialize(names, tmp_path)
    path = tmp_path / names[0]
    assert json.loads(path.read_text())  # a JSON object of videos
    mtime = path.stat().st_mtime_ns
    bundled.materialize(names, tmp_path)
    assert path.stat().st_mtime_ns == mtime
    assert len(load_split("charades-cd", tmp_path, "val")) == 859


def test_build_reduces_and_compresses(tmp_path):
    from grounding.data.bundled.build import reduce_charades_csv

    raw = b'id,subject,length,x\nAAAAA,s,30.5,"a, b"\nBBBBB,t,12,y\n'
    assert reduce_charades_csv(raw) == b"id,length\nAAAAA,30.5\nBBBBB,12\n"
    assert lzma.decompress(lzma.compress(raw)) == raw
