"""Reliability corpus: every command line tool on broken input files (issue 22).

Each case builds its own tiny broken input under ``tmp_path`` and runs one CLI (in-process through
its ``main(argv)``, or as ``python -m`` where the real entry point matters). Every case must end
in a clear message, never a Python traceback: a non-zero exit, or (cases marked ``skip``) exit 0
with a counted, reported skip; and the message must name the broken file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from grounding.data.synthetic import generate_dataset

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------
# shared tiny inputs (built once per module)


@dataclass
class Env:
    """A tiny synthetic dataset and a GTN recognition checkpoint trained on it."""

    data: Path
    gtn: Path


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    from grounding.train.__main__ import main as train_main

    root = tmp_path_factory.mktemp("reliability")
    data = root / "data"
    generate_dataset(data, n_videos=3, seed=3, size=64, fps=8, workers=1, progress=False)
    argv = ["recognition", "--data", str(data), "--out", str(root / "gtn"), "--model", "gtn"]
    argv += ["--epochs", "1", "--batch-size", "4", "--workers", "0", "--width", "0.25"]
    assert train_main(argv) == 0
    return Env(data=data, gtn=root / "gtn" / "checkpoint.pt")


def _copy_data(env: Env, tmp: Path) -> Path:
    out = tmp / "data"
    shutil.copytree(env.data, out)
    return out


CSV = "id,length\nAAAAA,30.0\nBBBBB,20.0\n"
STA = "AAAAA 1.0 5.0##a person opens a door.\nBBBBB 2.0 6.0##a person sits down.\n"
PRED = '{"qid": "0", "pred_relevant_windows": [[1.0, 5.0, 0.9]]}\n'


def _charades(tmp: Path, sta: str | bytes = STA, csv: str | bytes = CSV) -> tuple[Path, Path]:
    ann, dur = tmp / "charades_sta_test.txt", tmp / "Charades_v1_test.csv"
    for path, text in ((ann, sta), (dur, csv)):
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    (tmp / "charades_sta_train.txt").write_text(STA)
    (tmp / "Charades_v1_train.csv").write_text(CSV)
    return ann, dur


def _pred(tmp: Path, text: str | bytes = PRED, name: str = "pred.jsonl") -> Path:
    path = tmp / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def _results_doc() -> dict:
    seeds = {str(s): {"R1@0.5": 50.0 + s, "R1@0.7": 30.0, "mIoU": 40.0} for s in range(2)}
    rec = {str(s): {"accuracy": 80.0 + s, "recall": 79.0, "f1": 78.0} for s in range(2)}
    return {
        "dataset": "synthetic",
        "split": "test",
        "seeds": [0, 1],
        "grounding": {"ours": {"per_seed": seeds}, "gtn": {"per_seed": seeds}},
        "recognition": {"ours": {"per_seed": rec, "params": 1000, "gflops": 0.5}},
    }


def _json_file(tmp: Path, obj: object, name: str = "results.json") -> Path:
    path = tmp / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


class HashEncoder:
    """Stand-in sentence encoder (no transformer download in a reliability test)."""

    dim = 384
    identity = "reliability-hash-encoder"

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def encode(self, sentences, *, ids=None, batch_size=64, progress=False) -> torch.Tensor:
        rows = []
        for s in sentences:
            seed = int(hashlib.sha256(s.encode()).hexdigest()[:8], 16)
            v = np.random.default_rng(seed).standard_normal(self.dim)
            rows.append(v / np.linalg.norm(v))
        return torch.tensor(np.stack(rows), dtype=torch.float32)


def _vids(data: Path) -> list[str]:
    return sorted(p.stem for p in (data / "videos").glob("*.mp4"))


def _npy_features(tmp: Path, data: Path, widths: dict[str, int] | None = None) -> Path:
    folder = tmp / "feats"
    folder.mkdir()
    for vid in _vids(data):
        width = (widths or {}).get(vid, 12)
        np.save(folder / f"{vid}.npy", np.ones((10, width), np.float32))
    return folder


GROUNDING_TINY = ["--epochs", "1", "--batch-size", "8", "--hidden-dim", "32", "--map-dim", "16"]
GROUNDING_TINY += ["--head-layers", "1", "--head-kernel", "3", "--heads", "2", "--num-clips", "8"]


def _train_grounding(env: Env, tmp: Path, features: Path, *extra: str) -> list[str]:
    return [
        "grounding",
        "--data",
        str(env.data),
        "--features",
        str(features),
        "--out",
        str(tmp / "run"),
        "--cache-dir",
        str(tmp / "cache"),
        *GROUNDING_TINY,
        *extra,
    ]


def _action_skeleton(data: Path) -> Path:
    return sorted((data / "actions" / "skeletons").glob("*/*.npz"))[0]


# --------------------------------------------------------------------------------------------
# the cases


@dataclass
class Run:
    """One CLI run: ``cli`` (a key of :func:`_clis`), its argv, and the text the message must
    contain (the broken file's name). ``skip``: exit 0 is right when the output reports the
    skip (matches the regex ``report``, case-insensitive). ``subprocess``: run as
    ``python -m`` instead of in-process. ``check``: a further check after the run (e.g. a user
    file still there)."""

    cli: str
    argv: list[str]
    name: str
    skip: bool = False
    report: str = r"skip"
    subprocess: bool = False
    check: Callable[[], None] | None = None


CASES: dict[str, Callable[[Path, Env], Run]] = {}
#: cases whose fix another agent is making (issue 22): {case: owner}
XFAIL: dict[str, str] = {}


def case(name: str) -> Callable:
    def register(fn: Callable[[Path, Env], Run]) -> Callable[[Path, Env], Run]:
        assert name not in CASES, name
        CASES[name] = fn
        return fn

    return register


# ---- grounding.evaluate


@case("evaluate-gt-missing")
def _(tmp: Path, env: Env) -> Run:
    return Run(
        "evaluate",
        ["--gt", str(tmp / "charades_sta_test.txt"), "--pred", str(_pred(tmp))],
        "charades_sta_test.txt",
    )


@case("evaluate-gt-line-without-separator")
def _(tmp: Path, env: Env) -> Run:
    ann, _ = _charades(tmp, sta="AAAAA 1.0 5.0 a person opens a door.\n")
    return Run("evaluate", ["--gt", str(ann), "--pred", str(_pred(tmp))], f"{ann}:1")


@case("evaluate-gt-time-not-a-number")
def _(tmp: Path, env: Env) -> Run:
    ann, _ = _charades(tmp, sta="AAAAA 1.0 five##a person opens a door.\n")
    return Run("evaluate", ["--gt", str(ann), "--pred", str(_pred(tmp))], f"{ann}:1")


@case("evaluate-charades-csv-not-utf8")
def _(tmp: Path, env: Env) -> Run:
    ann, dur = _charades(tmp, csv=b"id,length\nAAAAA,30.0\nBB\xa5BB,20.0\n")
    return Run("evaluate", ["--gt", str(ann), "--pred", str(_pred(tmp))], f"{dur}:3")


@case("evaluate-charades-txt-not-utf8")
def _(tmp: Path, env: Env) -> Run:
    ann, _ = _charades(tmp, sta=b"AAAAA 1.0 5.0##caf\xe9\n")
    return Run("evaluate", ["--gt", str(ann), "--pred", str(_pred(tmp))], f"{ann}:1")


@case("evaluate-charades-csv-no-length-column")
def _(tmp: Path, env: Env) -> Run:
    ann, dur = _charades(tmp, csv="id,duration\nAAAAA,30.0\n")
    return Run("evaluate", ["--gt", str(ann), "--pred", str(_pred(tmp))], str(dur))


@case("evaluate-activitynet-truncated-json")
def _(tmp: Path, env: Env) -> Run:
    gt = _json_file(tmp, '{"v_a": {"duration": 10, "timestamps": [[1, 2]], "sent', "val_1.json")
    return Run("evaluate", ["--gt", str(gt), "--pred", str(_pred(tmp))], str(gt))


@case("evaluate-activitynet-not-utf8")
def _(tmp: Path, env: Env) -> Run:
    gt = tmp / "val_1.json"
    gt.write_bytes(b'{"v_a": {"duration": 10, "timestamps": [[1, 2]], "sentences": ["\xa5"]}}')
    return Run("evaluate", ["--gt", str(gt), "--pred", str(_pred(tmp))], str(gt))


@case("evaluate-activitynet-wrong-shape")
def _(tmp: Path, env: Env) -> Run:
    gt = _json_file(
        tmp, {"v_a": {"duration": 10, "timestamps": [1, 2], "sentences": ["x"]}}, "val_1.json"
    )
    return Run("evaluate", ["--gt", str(gt), "--pred", str(_pred(tmp))], str(gt))


@case("evaluate-pred-truncated-jsonl")
def _(tmp: Path, env: Env) -> Run:
    ann, _ = _charades(tmp)
    pred = _pred(tmp, '{"qid": "0", "pred_relevant_windows": [[1.0, 5.0')
    return Run("evaluate", ["--gt", str(ann), "--pred", str(pred)], str(pred))


@case("evaluate-pred-missing-key")
def _(tmp: Path, env: Env) -> Run:
    ann, _ = _charades(tmp)
    pred = _pred(tmp, '{"qid": "0", "windows": [[1.0, 5.0, 0.9]]}\n')
    return Run("evaluate", ["--gt", str(ann), "--pred", str(pred)], f"{pred}:1")


@case("evaluate-pred-start-after-end")
def _(tmp: Path, env: Env) -> Run:
    ann, _ = _charades(tmp)
    pred = _pred(tmp, '{"qid": "0", "pred_relevant_windows": [[5.0, 1.0, 0.9]]}\n')
    return Run("evaluate", ["--gt", str(ann), "--pred", str(pred)], f"{pred}:1")


@case("evaluate-moment-detr-gt-duplicate-qid")
def _(tmp: Path, env: Env) -> Run:
    row = {"qid": 0, "query": "x", "vid": "AAAAA", "duration": 30, "relevant_windows": [[1, 5]]}
    gt = tmp / "gt.jsonl"
    gt.write_text(json.dumps(row) + "\n" + json.dumps(row) + "\n")
    return Run("evaluate", ["--gt", str(gt), "--pred", str(_pred(tmp))], f"{gt}:2")


@case("evaluate-empty-gt")
def _(tmp: Path, env: Env) -> Run:
    ann, _ = _charades(tmp, sta="")
    return Run("evaluate", ["--gt", str(ann), "--pred", str(_pred(tmp))], str(ann))


@case("evaluate-negative-prediction-times")
def _(tmp: Path, env: Env) -> Run:
    ann, _ = _charades(tmp)
    pred = _pred(tmp, '{"qid": "0", "pred_relevant_windows": [[-3.0, -1.0, 1.0]]}\n')
    argv = ["--gt", str(ann), "--pred", str(pred)]
    return Run("evaluate", argv, str(pred), skip=True, report=r"skip|repair|clip|before 0")


@case("evaluate-boolean-window")
def _(tmp: Path, env: Env) -> Run:
    ann, _ = _charades(tmp)
    pred = _pred(tmp, '{"qid": "0", "pred_relevant_windows": [[true, 2.0, 1.0]]}\n')
    return Run("evaluate", ["--gt", str(ann), "--pred", str(pred)], f"{pred}:1")


@case("evaluate-json-to-a-directory")
def _(tmp: Path, env: Env) -> Run:
    ann, _ = _charades(tmp)
    out = tmp / "metrics_dir"
    out.mkdir()
    argv = ["--gt", str(ann), "--pred", str(_pred(tmp)), "--json", str(out)]
    return Run("evaluate", argv, str(out))


@case("evaluate-subprocess-csv-not-utf8")
def _(tmp: Path, env: Env) -> Run:
    ann, dur = _charades(tmp, csv=b"id,length\n\xa5,30.0\n")
    argv = ["--gt", str(ann), "--pred", str(_pred(tmp))]
    return Run("evaluate", argv, f"{dur}:2", subprocess=True)


# ---- grounding.tables


def _tables(tmp: Path, obj: object) -> Run:
    path = _json_file(tmp, obj)
    return Run("tables", [str(path)], str(path))


def _broken_results(mutate: Callable[[dict], None]) -> dict:
    doc = _results_doc()
    mutate(doc)
    return doc


@case("tables-other-schema")
def _(tmp: Path, env: Env) -> Run:
    return _tables(tmp, {"a": 1})


@case("tables-evaluate-output")
def _(tmp: Path, env: Env) -> Run:
    return _tables(tmp, {"metrics": {"R1@0.5": 10.0}, "counts": {}, "gt": "x", "pred": "y"})


@case("tables-top-level-list")
def _(tmp: Path, env: Env) -> Run:
    return _tables(tmp, [_results_doc()])


@case("tables-grounding-a-list")
def _(tmp: Path, env: Env) -> Run:
    return _tables(tmp, _broken_results(lambda d: d.update(grounding=[1, 2])))


@case("tables-per-seed-value-string")
def _(tmp: Path, env: Env) -> Run:
    return _tables(
        tmp, _broken_results(lambda d: d["grounding"]["ours"]["per_seed"]["0"].update(mIoU="abc"))
    )


@case("tables-seed-key-not-int")
def _(tmp: Path, env: Env) -> Run:
    return _tables(
        tmp, _broken_results(lambda d: d["grounding"]["gtn"]["per_seed"].update(x={"mIoU": 1}))
    )


@case("tables-model-null")
def _(tmp: Path, env: Env) -> Run:
    return _tables(tmp, _broken_results(lambda d: d["grounding"].update(gtn=None)))


@case("tables-recognition-string")
def _(tmp: Path, env: Env) -> Run:
    return _tables(tmp, _broken_results(lambda d: d.update(recognition="oops")))


@case("tables-truncated-json")
def _(tmp: Path, env: Env) -> Run:
    return _tables(tmp, json.dumps(_results_doc())[:50])


@case("tables-not-utf8")
def _(tmp: Path, env: Env) -> Run:
    path = tmp / "results.json"
    path.write_bytes(b'{"dataset": "caf\xa5"}')
    return Run("tables", [str(path)], str(path))


@case("tables-out-is-a-file")
def _(tmp: Path, env: Env) -> Run:
    path = _json_file(tmp, _results_doc())
    out = tmp / "notes.txt"
    out.write_text("user notes")

    def unchanged() -> None:
        assert out.read_text() == "user notes"

    return Run("tables", [str(path), "--out", str(out)], str(out), check=unchanged)


@case("tables-subprocess-seed-key")
def _(tmp: Path, env: Env) -> Run:
    run = _tables(tmp, _broken_results(lambda d: d["recognition"]["ours"]["per_seed"].update(x={})))
    run.subprocess = True
    return run


# ---- grounding.extract


def _extract(env: Env, data: Path, tmp: Path, checkpoint: Path | None = None) -> list[str]:
    ckpt = checkpoint or env.gtn
    return ["--data", str(data), "--checkpoint", str(ckpt), "--out", str(tmp / "feats.h5")]


@case("extract-skeleton-missing")
def _(tmp: Path, env: Env) -> Run:
    data = _copy_data(env, tmp)
    gone = data / "skeletons" / f"{_vids(data)[-1]}.npz"
    gone.unlink()
    return Run("extract", _extract(env, data, tmp), str(gone), skip=True)


@case("extract-skeleton-garbage")
def _(tmp: Path, env: Env) -> Run:
    data = _copy_data(env, tmp)
    bad = data / "skeletons" / f"{_vids(data)[0]}.npz"
    bad.write_bytes(b"this is not an npz file" * 4)
    return Run("extract", _extract(env, data, tmp), str(bad))


@case("extract-skeleton-nan")
def _(tmp: Path, env: Env) -> Run:
    data = _copy_data(env, tmp)
    bad = data / "skeletons" / f"{_vids(data)[0]}.npz"
    joints = np.load(bad)["joints"]
    joints[1, 0, 0, 0] = np.nan
    np.savez(bad, joints=joints, fps=8.0)
    return Run("extract", _extract(env, data, tmp), str(bad))


@case("extract-skeleton-object-array")
def _(tmp: Path, env: Env) -> Run:
    data = _copy_data(env, tmp)
    bad = data / "skeletons" / f"{_vids(data)[0]}.npz"
    np.savez(bad, joints=np.array([{"evil": 1}], dtype=object))
    return Run("extract", _extract(env, data, tmp), str(bad))


@case("extract-checkpoint-garbage")
def _(tmp: Path, env: Env) -> Run:
    ckpt = tmp / "checkpoint.pt"
    ckpt.write_bytes(b"not a checkpoint")
    return Run("extract", _extract(env, env.data, tmp, ckpt), str(ckpt))


@case("extract-existing-out-not-hdf5")
def _(tmp: Path, env: Env) -> Run:
    out = tmp / "feats.h5"
    out.write_text("user data")
    return Run("extract", _extract(env, env.data, tmp), str(out))


# ---- grounding.train recognition


def _train_recognition(data: Path, tmp: Path, model: str = "gtn") -> list[str]:
    argv = ["recognition", "--data", str(data), "--out", str(tmp / "run"), "--model", model]
    return [*argv, "--epochs", "1", "--batch-size", "4", "--workers", "0", "--width", "0.25"]


@case("train-recognition-skeleton-garbage")
def _(tmp: Path, env: Env) -> Run:
    data = _copy_data(env, tmp)
    bad = _action_skeleton(data)
    bad.write_bytes(b"garbage" * 20)
    return Run("train", _train_recognition(data, tmp), str(bad))


@case("train-recognition-skeleton-nan")
def _(tmp: Path, env: Env) -> Run:
    data = _copy_data(env, tmp)
    bad = _action_skeleton(data)
    joints = np.load(bad)["joints"]
    joints[0, 0, 5, 1] = np.inf
    np.savez(bad, joints=joints)
    return Run("train", _train_recognition(data, tmp, "dgcn"), str(bad))


@case("train-recognition-split-file-bad-line")
def _(tmp: Path, env: Env) -> Run:
    data = _copy_data(env, tmp)
    split = sorted((data / "actions" / "splits").glob("*_test_split1.txt"))[0]
    split.write_text(split.read_text() + "clip.mp4 7\n")
    return Run("train", _train_recognition(data, tmp), str(split))


@case("train-recognition-split-file-not-utf8")
def _(tmp: Path, env: Env) -> Run:
    data = _copy_data(env, tmp)
    split = sorted((data / "actions" / "splits").glob("*_test_split1.txt"))[0]
    split.write_bytes(split.read_bytes() + b"caf\xe9.mp4 1\n")
    return Run("train", _train_recognition(data, tmp), str(split))


@case("train-recognition-clip-missing")
def _(tmp: Path, env: Env) -> Run:
    data = _copy_data(env, tmp)
    split = sorted((data / "actions" / "splits").glob("*_test_split1.txt"))[0]
    split.write_text(split.read_text() + "not_there.mp4 1\n")
    return Run("train", _train_recognition(data, tmp), f"{split}:", skip=True)


# ---- grounding.train grounding


@case("train-grounding-npy-wrong-width")
def _(tmp: Path, env: Env) -> Run:
    vid = _vids(env.data)[1]
    feats = _npy_features(tmp, env.data, {vid: 7})
    return Run("train", _train_grounding(env, tmp, feats), str(feats / f"{vid}.npy"))


@case("train-grounding-hdf5-wrong-width")
def _(tmp: Path, env: Env) -> Run:
    path = tmp / "feats.h5"
    vids = _vids(env.data)
    with h5py.File(path, "w") as f:
        for i, vid in enumerate(vids):
            f.create_dataset(vid, data=np.ones((10, 9 if i == len(vids) - 1 else 12), np.float32))
    return Run("train", _train_grounding(env, tmp, path), f"{path} [{vids[-1]}]")


@case("train-grounding-npy-garbage")
def _(tmp: Path, env: Env) -> Run:
    feats = _npy_features(tmp, env.data)
    bad = feats / f"{_vids(env.data)[0]}.npy"
    bad.write_bytes(b"garbage bytes")
    return Run("train", _train_grounding(env, tmp, feats), str(bad))


@case("train-grounding-hdf5-garbage")
def _(tmp: Path, env: Env) -> Run:
    path = tmp / "feats.h5"
    path.write_bytes(b"not hdf5" * 64)
    return Run("train", _train_grounding(env, tmp, path), str(path))


@case("train-grounding-overwrites-user-metrics")
def _(tmp: Path, env: Env) -> Run:
    feats = _npy_features(tmp, env.data)
    run = tmp / "run"
    run.mkdir()
    metrics = run / "metrics.json"
    metrics.write_text('{"mine": true}')

    def kept() -> None:
        assert metrics.read_text() == '{"mine": true}'

    return Run("train", _train_grounding(env, tmp, feats), "metrics.json", check=kept)


# ---- grounding.bench (blind baselines only: no training)


def _bench(tmp: Path, root: Path, *extra: str) -> list[str]:
    argv = ["--dataset", "charades", "--data-root", str(root), "--blind-only", "--no-speed"]
    argv += ["--seeds", "1", "--models", "whole-video", "--out", str(tmp / "results")]
    return [*argv, "--runs", str(tmp / "runs"), "--device", "cpu", *extra]


@case("bench-charades-csv-not-utf8")
def _(tmp: Path, env: Env) -> Run:
    _, dur = _charades(tmp, csv=b"id,length\nAAAAA,30.0\nBB\xa5BB,20.0\n")
    return Run("bench", _bench(tmp, tmp), f"{dur}:3")


@case("bench-charades-txt-bad-line")
def _(tmp: Path, env: Env) -> Run:
    ann, _ = _charades(tmp, sta="AAAAA 1.0##no end time\n")
    return Run("bench", _bench(tmp, tmp), f"{ann}:1")


@case("bench-features-wrong-width")
def _(tmp: Path, env: Env) -> Run:
    _charades(tmp)
    feats = tmp / "feats"
    feats.mkdir()
    np.save(feats / "AAAAA.npy", np.ones((5, 8), np.float32))
    np.save(feats / "BBBBB.npy", np.ones((5, 8), np.float32))
    np.save(feats / "CCCCC.npy", np.ones((5, 3), np.float32))
    argv = _bench(tmp, tmp, "--features", str(feats))
    argv.remove("--blind-only")
    argv[argv.index("whole-video")] = "gtn,whole-video"  # a trained model opens the features
    return Run("bench", argv, str(feats / "CCCCC.npy"))


@case("bench-check-reference-garbage")
def _(tmp: Path, env: Env) -> Run:
    _charades(tmp)
    ref = _json_file(tmp, "{truncated", "reference.json")
    return Run("bench", _bench(tmp, tmp, "--check", str(ref)), str(ref))


@case("bench-check-reference-list")
def _(tmp: Path, env: Env) -> Run:
    _charades(tmp)
    ref = _json_file(tmp, [1], "reference.json")
    return Run("bench", _bench(tmp, tmp, "--check", str(ref)), str(ref))


@case("bench-check-reference-not-utf8")
def _(tmp: Path, env: Env) -> Run:
    _charades(tmp)
    ref = tmp / "reference.json"
    ref.write_bytes(b'{"grounding": "\xa5"}')
    return Run("bench", _bench(tmp, tmp, "--check", str(ref)), str(ref))


@case("bench-empty-test-split")
def _(tmp: Path, env: Env) -> Run:
    ann, _ = _charades(tmp, sta="")
    return Run("bench", _bench(tmp, tmp), str(ann))


# ---- grounding.data.synthetic


@case("synthetic-out-is-a-file")
def _(tmp: Path, env: Env) -> Run:
    out = tmp / "dataset"
    out.write_text("user file")
    return Run(
        "synthetic", ["--out", str(out), "--videos", "1", "--seed", "0", "--size", "64"], str(out)
    )


@case("synthetic-overwrite-user-files")
def _(tmp: Path, env: Env) -> Run:
    out = tmp / "dataset"
    (out / "videos").mkdir(parents=True)
    holiday = out / "videos" / "holiday.mp4"
    holiday.write_bytes(b"precious")
    (out / ".bashrc.tmpl").write_text("user")

    def kept() -> None:
        assert holiday.read_bytes() == b"precious" and (out / ".bashrc.tmpl").is_file()

    argv = ["--out", str(out), "--videos", "1", "--seed", "0", "--size", "64", "--fps", "8"]
    return Run("synthetic", [*argv, "--overwrite", "--workers", "1"], "holiday.mp4", check=kept)


# ---- grounding.speed


def _speed(data: Path) -> list[str]:
    argv = ["--data", str(data), "--no-text", "--device", "cpu", "--width-mult", "0.25"]
    return [*argv, "--input-size", "64", "--iters", "1", "--warmup", "0", "--videos", "1"]


@case("speed-data-annotations-not-utf8")
def _(tmp: Path, env: Env) -> Run:
    data = _copy_data(env, tmp)
    ann = data / "charades_sta_test.txt"
    ann.write_bytes(ann.read_bytes() + b"\xa5\n")
    return Run("speed", _speed(data), str(ann))


@case("speed-data-video-missing")
def _(tmp: Path, env: Env) -> Run:
    data = _copy_data(env, tmp)
    first = data.joinpath("charades_sta_test.txt").read_text().split()[0]
    gone = data / "videos" / f"{first}.mp4"
    gone.unlink()
    return Run("speed", _speed(data), str(gone))


@case("speed-data-is-a-file")
def _(tmp: Path, env: Env) -> Run:
    path = tmp / "data.txt"
    path.write_text("x")
    return Run("speed", _speed(path), str(path))


# --------------------------------------------------------------------------------------------
# the runner


def _clis() -> dict[str, tuple[str, Callable[[list[str]], int]]]:
    from grounding import bench, evaluate, extract, tables
    from grounding.data.synthetic import __main__ as synthetic
    from grounding.speed import __main__ as speed
    from grounding.train import __main__ as train

    return {
        "evaluate": ("grounding.evaluate", evaluate.main),
        "tables": ("grounding.tables", tables.main),
        "extract": ("grounding.extract", extract.main),
        "train": ("grounding.train", train.main),
        "bench": ("grounding.bench", bench.main),
        "synthetic": ("grounding.data.synthetic", synthetic.main),
        "speed": ("grounding.speed", speed.main),
    }


def _run(run: Run, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    module, main = _clis()[run.cli]
    if run.subprocess:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
        proc = subprocess.run(
            [sys.executable, "-m", module, *run.argv],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            cwd=Path.cwd(),  # the test's tmp_path
        )
        return proc.returncode, proc.stdout + proc.stderr
    try:
        code = main(run.argv)
    except SystemExit as e:  # argparse
        code = e.code if isinstance(e.code, int) else 1
    except Exception as e:  # escaped main(): python -m would print a traceback
        captured = capsys.readouterr()
        text = f"Traceback (uncaught in main): {type(e).__name__}: {e}"
        return 1, captured.out + captured.err + text
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _params() -> list:
    out = []
    for name in CASES:
        marks = []
        if name in XFAIL:
            marks.append(
                pytest.mark.xfail(strict=True, reason=f"owned by {XFAIL[name]}, in progress")
            )
        out.append(pytest.param(name, id=name, marks=marks))
    return out


@pytest.mark.parametrize("name", _params())
def test_broken_input(
    name: str,
    tmp_path: Path,
    env: Env,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("grounding.models.text.SentenceEncoder", HashEncoder)
    monkeypatch.chdir(tmp_path)  # nothing a CLI writes by default lands in the repository
    run = CASES[name](tmp_path, env)
    code, output = _run(run, capsys)
    assert "Traceback" not in output, output[-3000:]
    if code == 0:
        assert run.skip, f"exit 0 on a broken input:\n{output[-2000:]}"
        assert re.search(run.report, output, re.IGNORECASE), (
            f"exit 0 without a reported skip:\n{output[-2000:]}"
        )
    assert run.name in output, f"the message does not name {run.name}:\n{output[-2000:]}"
    if run.check is not None:
        run.check()


def test_corpus_size() -> None:
    """Issue 22 asks for at least the 36 broken inputs it lists."""
    assert len(CASES) >= 36
