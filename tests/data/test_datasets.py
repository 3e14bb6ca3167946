from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from grounding.data.datasets import (
    DatasetNotFound,
    UnknownSplit,
    data_files,
    default_test_split,
    guess_gt,
    load_split,
    split_files,
    valid_splits,
)

CSV = "id,length\n3MSZA,30.96\nAMT7R,30.08\n"
STA = "3MSZA 24.3 30.4##person turn a light on.\nAMT7R 4.3 12.5##a person puts a picture up.\n"
ANET = {"v_a": {"duration": 20.0, "timestamps": [[1, 2], [3, 25]], "sentences": ["a", " b"]}}
MDETR = '{"qid": 5, "query": "q", "vid": "v", "duration": 9.0, "relevant_windows": [[1, 2]]}\n'


def synthetic_layout(root: Path) -> Path:
    """The layout the synthetic generator writes (charades files at the top, activitynet/)."""
    root.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        (root / f"charades_sta_{split}.txt").write_text(STA)
        (root / f"Charades_v1_{split}.csv").write_text(CSV)
    (root / "activitynet").mkdir()
    for split in ("train", "val_1"):
        (root / "activitynet" / f"{split}.json").write_text(json.dumps(ANET))
    return root


def test_load_split_on_synthetic_layout(tmp_path):
    root = synthetic_layout(tmp_path / "synth")
    qs = load_split("charades", root, "test")
    assert (qs.dataset, qs.split, len(qs)) == ("charades", "test", 2)
    an = load_split("activitynet", root, "val_1")
    assert (an.dataset, an.split, len(an)) == ("activitynet", "val_1", 2)
    assert an.log.repaired == {"end past video": 1}


@pytest.mark.parametrize("sub", ["charades_sta", "charades"])
def test_load_split_charades_subfolder(tmp_path, sub):
    folder = tmp_path / sub
    folder.mkdir()
    (folder / "charades_sta_test.txt").write_text(STA)
    (folder / "Charades_v1_test.csv").write_text(CSV)
    assert len(load_split("charades", tmp_path, "test")) == 2


@pytest.mark.parametrize("sub", ["activitynet_captions", "activitynet", ""])
def test_load_split_activitynet_folders(tmp_path, sub):
    folder = tmp_path / sub
    folder.mkdir(exist_ok=True)
    (folder / "val_2.json").write_text(json.dumps(ANET))
    assert load_split("activitynet", tmp_path, "val_2").source == str(folder / "val_2.json")


def test_load_split_moment_detr(tmp_path):
    path = tmp_path / "charades_test_release.jsonl"
    path.write_text(MDETR)
    assert [q.qid for q in load_split("moment_detr", path, "test").queries] == ["5"]
    (tmp_path / "val.jsonl").write_text(MDETR)
    assert load_split("moment_detr", tmp_path, "val").split == "val"


def test_dataset_not_found_names_files_layout_and_source(tmp_path):
    (tmp_path / "charades_sta_test.txt").write_text(STA)  # CSV missing
    with pytest.raises(DatasetNotFound) as e:
        load_split("charades", tmp_path, "test")
    msg = str(e.value)
    assert isinstance(e.value, FileNotFoundError)
    for part in (
        "charades_sta_test.txt + Charades_v1_test.csv",
        str(tmp_path / "charades_sta"),
        "prior.allenai.org/projects/charades",
    ):
        assert part in msg
    with pytest.raises(DatasetNotFound, match=re.escape("val_2.json")) as e:
        load_split("activitynet", tmp_path, "val_2")
    assert str(tmp_path / "activitynet_captions") in str(e.value)
    with pytest.raises(DatasetNotFound, match=re.escape("x.jsonl")):
        load_split("moment_detr", tmp_path / "x.jsonl", "test")


def test_bad_dataset_and_split_names(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'tacos'"):
        load_split("tacos", tmp_path, "test")
    with pytest.raises(UnknownSplit, match=r"valid splits .*: train, val_1, val_2"):
        load_split("activitynet", tmp_path, "test")


def test_default_test_split():
    assert default_test_split("charades") == "test"
    assert default_test_split("activitynet") == "val_2"
    assert default_test_split("charades-cd") == "test_ood"
    assert default_test_split("activitynet-cd") == "test_ood"
    with pytest.raises(ValueError):
        default_test_split("qvhighlights")


def test_guess_gt(tmp_path):
    root = synthetic_layout(tmp_path / "d")
    qs = guess_gt(root / "charades_sta_test.txt")
    assert (qs.dataset, qs.split, len(qs)) == ("charades", "test", 2)
    an = guess_gt(root / "activitynet" / "val_1.json")
    assert (an.dataset, an.split) == ("activitynet", "val_1")
    (tmp_path / "gt.jsonl").write_text(MDETR)
    assert guess_gt(tmp_path / "gt.jsonl").dataset == "moment_detr"


def test_guess_gt_charades_uses_any_csv_beside_it(tmp_path):
    (tmp_path / "charades_sta_val.txt").write_text(STA)
    with pytest.raises(DatasetNotFound, match=re.escape("Charades_v1_val.csv")):
        guess_gt(tmp_path / "charades_sta_val.txt")
    (tmp_path / "Charades_v1_all.csv").write_text(CSV)
    assert len(guess_gt(tmp_path / "charades_sta_val.txt")) == 2


def test_guess_gt_errors(tmp_path):
    with pytest.raises(IsADirectoryError, match="pass the ground-truth file itself"):
        guess_gt(tmp_path)
    with pytest.raises(FileNotFoundError, match="ground-truth file not found"):
        guess_gt(tmp_path / "gt.jsonl")
    (tmp_path / "gt.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match="cannot tell the format"):
        guess_gt(tmp_path / "gt.csv")


CCD = {
    "VID01": {
        "timestamps": [[1.0, 4.0], [2.0, 30.0]],
        "sentences": ["person opens a door", "person sits"],
        "video_duration": 20.0,
        "framestamps": [[16, 64], [32, 480]],
        "decode_fps": 16.0,
    }
}


@pytest.mark.parametrize("sub", ["", "charades_cd", "Charades-CD"])
def test_load_split_charades_cd_folders(tmp_path, sub):
    folder = tmp_path / sub
    folder.mkdir(exist_ok=True)
    (folder / "charades_test_ood.json").write_text(json.dumps(CCD))
    qs = load_split("charades-cd", tmp_path, "test_ood")
    assert (qs.dataset, qs.split, len(qs)) == ("charades-cd", "test_ood", 2)
    assert qs.log.repaired == {"end past video": 1}
    assert split_files("charades-cd", tmp_path, "test_ood") == [folder / "charades_test_ood.json"]


@pytest.mark.parametrize("sub", ["", "activitynet_cd", "ActivityNet-CD"])
def test_load_split_activitynet_cd_folders(tmp_path, sub):
    folder = tmp_path / sub
    folder.mkdir(exist_ok=True)
    (folder / "anet_test_iid.json").write_text(json.dumps(ANET))
    qs = load_split("activitynet-cd", tmp_path, "test_iid")
    assert (qs.dataset, qs.split, len(qs)) == ("activitynet-cd", "test_iid", 2)


def test_cd_split_names_are_checked(tmp_path):
    with pytest.raises(UnknownSplit) as e:
        load_split("activitynet-cd", tmp_path, "train")
    msg = str(e.value)
    assert "train file is not published" in msg and "val, test_iid, test_ood" in msg
    assert "\n" not in msg
    with pytest.raises(UnknownSplit, match="train, val, test_iid, test_ood"):
        load_split("charades-cd", None, "test")
    with pytest.raises(DatasetNotFound, match=re.escape("charades_val.json")):
        load_split("charades-cd", tmp_path, "val")


def test_valid_splits():
    assert valid_splits("charades") == ("train", "test")
    assert valid_splits("charades", Path(".")) is None  # a folder may hold any split name
    assert valid_splits("activitynet-cd") == ("val", "test_iid", "test_ood")
    assert valid_splits("charades-cd", Path(".")) == ("train", "val", "test_iid", "test_ood")


def test_data_files_records_paths_and_sha256(tmp_path):
    import hashlib

    synthetic_layout(tmp_path)
    files = data_files("charades", tmp_path, "test")
    assert [f["path"] for f in files] == [
        str(tmp_path / "charades_sta_test.txt"),
        str(tmp_path / "Charades_v1_test.csv"),
    ]
    assert files[0]["sha256"] == hashlib.sha256(STA.encode()).hexdigest()
    shipped = data_files("charades-cd", None, "test_ood")
    assert shipped[0]["path"] == "bundled:charades_cd/charades_test_ood.json"
    assert len(shipped[0]["sha256"]) == 64


def test_guess_gt_cd_names_and_shipped_splits(tmp_path):
    (tmp_path / "charades_val.json").write_text(json.dumps(CCD))
    qs = guess_gt(tmp_path / "charades_val.json")
    assert (qs.dataset, qs.split) == ("charades-cd", "val")
    (tmp_path / "anet_test_ood.json").write_text(json.dumps(ANET))
    assert guess_gt(tmp_path / "anet_test_ood.json").dataset == "activitynet-cd"
    shipped = guess_gt(Path("charades-cd:test_iid"))
    assert (shipped.dataset, shipped.split, len(shipped)) == ("charades-cd", "test_iid", 823)
    assert guess_gt(Path("charades")).split == "test"
    with pytest.raises(UnknownSplit, match="valid splits"):
        guess_gt(Path("charades:val"))
