"""The bench on the real annotation files: the files shipped with the package (always) and a
user's folder of them (``GROUNDING_REAL_DATA``; skips without it)."""

import json
import time
from pathlib import Path

import pytest

from grounding.bench import BenchConfig, feature_data_root, main
from grounding.data import bundled
from grounding.data.datasets import load_split


def run_bench(tmp_path, *args: str) -> tuple[int, dict | None]:
    rc = main([*args, "--out", str(tmp_path)])
    dataset = args[args.index("--dataset") + 1]
    files = list((tmp_path / dataset).glob("*.json"))
    return rc, json.loads(files[0].read_text()) if len(files) == 1 else None


def test_bench_charades_runs_on_the_shipped_files_by_default(tmp_path, capsys):
    t0 = time.perf_counter()
    rc, doc = run_bench(tmp_path, "--dataset", "charades")
    seconds = time.perf_counter() - t0
    assert rc == 0 and seconds < 60
    out = capsys.readouterr().out
    assert doc["split"] == "test" and doc["n_queries"] == 3720 and doc["seeds"] == [0, 1, 2]
    # the published-files run: prior-only R1@0.5 22.96
    assert abs(doc["grounding"]["prior-only"]["mean"]["R1@0.5"] - 22.96) <= 1.0
    assert doc["data"]["root"] == "bundled"
    assert doc["data"]["files"]["test"] == [
        {"path": f"bundled:{n}", "sha256": bundled.sha256(n)}
        for n in bundled.SPLITS["charades"]["test"]
    ]
    assert doc["skipped"]["test"]["repaired"] == {"end past video": 562}
    assert doc["skipped"]["train"]["skipped"] == {"start >= end": 4}
    table, after = out.split("| prior-only", 1)
    assert "whole-video" in table and "--features" in after  # how to add features, after it


@pytest.mark.parametrize(("split", "n"), [("test_ood", 3372), ("test_iid", 823)])
def test_bench_charades_cd_splits(tmp_path, capsys, split, n):
    rc, doc = run_bench(tmp_path, "--dataset", "charades-cd", "--split", split, "--seeds", "1")
    assert rc == 0
    assert (doc["split"], doc["train_split"], doc["n_queries"]) == (split, "train", n)
    assert doc["n_train_queries"] == 11071 and "train_note" not in doc["data"]
    assert doc["data"]["files"]["train"][0]["path"] == "bundled:charades_cd/charades_train.json"
    prior = doc["grounding"]["prior-only"]["mean"]
    assert 0 < prior["R1@0.5"] < 40
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("| model"))
    for key in (k for k in prior if k.startswith("dR")):  # the evaluator's discounted recall
        assert key in header


def test_bench_charades_cd_defaults_to_test_ood(tmp_path):
    rc, doc = run_bench(tmp_path, "--dataset", "charades-cd", "--seeds", "1")
    assert rc == 0 and doc["split"] == "test_ood"


def test_bench_activitynet_cd_says_where_prior_only_is_fitted(tmp_path, capsys):
    rc, doc = run_bench(
        tmp_path, "--dataset", "activitynet-cd", "--split", "test_iid", "--seeds", "1"
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert out.count("ActivityNet-CD has no public train split") == 2  # before and after table
    assert doc["train_split"] == "val" and doc["n_train_queries"] == 3521
    assert "no public train split" in doc["data"]["train_note"]
    assert doc["data"]["train_source"] == "bundled:activitynet_cd/anet_val.json"


def test_bench_activitynet_cd_refuses_to_fit_on_the_test_split(tmp_path, capsys):
    rc = main(["--dataset", "activitynet-cd", "--split", "val", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err and "--train-split" in err
    argv = ["--dataset", "activitynet-cd", "--split", "val", "--models", "whole-video"]
    assert main([*argv, "--seeds", "1", "--out", str(tmp_path)]) == 0  # no prior to fit
    capsys.readouterr()
    rc = main(["--dataset", "activitynet-cd", "--train-split", "train", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "train file is not published" in err and "\n" not in err


@pytest.mark.parametrize(
    ("dataset", "split", "valid"),
    [
        ("charades", "val", "train, test"),
        ("charades-cd", "test", "train, val, test_iid, test_ood"),
        ("activitynet", "test", "train, val_1, val_2"),
    ],
)
def test_bench_unknown_split_lists_the_valid_ones(tmp_path, capsys, dataset, split, valid):
    rc = main(["--dataset", dataset, "--split", split, "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error: ") and "\n" not in err
    assert f"no split {split!r}" in err and valid in err
    assert not (tmp_path / dataset).exists()  # no table of zeros written


def test_bench_features_on_a_cd_dataset_is_refused(tmp_path, capsys):
    rc = main(["--dataset", "charades-cd", "--features", str(tmp_path)])
    assert rc == 2 and "charades|activitynet" in capsys.readouterr().err


def test_feature_stages_read_the_shipped_files_from_one_folder(tmp_path):
    config = BenchConfig(dataset="charades", data_root=None, split="test", runs=tmp_path)
    root = feature_data_root(config)
    assert root == tmp_path / "bundled"
    assert len(load_split("charades", root, "test")) == 3720
    assert len(load_split("charades", root, "train")) == 12404
    given = BenchConfig(dataset="charades", data_root=Path("x"), split="test", runs=tmp_path)
    assert feature_data_root(given) == Path("x")


@pytest.mark.realdata
def test_bench_real_charades_and_activitynet(real_data, tmp_path, capsys):
    for dataset, split, n in (("charades", "test", 3720), ("activitynet", "val_2", 17031)):
        rc = main(
            [
                "--dataset",
                dataset,
                "--data-root",
                str(real_data),
                "--seeds",
                "1",
                "--out",
                str(tmp_path),
            ]
        )
        assert rc == 0
        doc = json.loads((tmp_path / dataset / f"{split}.json").read_text())
        assert doc["n_queries"] == n and doc["split"] == split
        whole = doc["grounding"]["whole-video"]["mean"]
        prior = doc["grounding"]["prior-only"]["mean"]
        assert 0 < prior["R1@0.5"] < 40 and 0 <= whole["R1@0.7"] < 20
        assert prior["R5@0.5"] >= prior["R1@0.5"]
        assert doc["data"]["root"] == str(real_data)
        shipped = bundled.SPLITS[dataset][split]
        for record, name in zip(doc["data"]["files"]["test"], shipped, strict=True):
            assert record["path"].startswith(str(real_data))
            if not bundled.FILES[name].reduced:  # the shipped copy is the published file
                assert record["sha256"] == bundled.sha256(name)
    assert "prior-only" in capsys.readouterr().out
