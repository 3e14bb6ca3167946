"""Writing the synthetic dataset: formats, counts, determinism, resume and bad input."""

from __future__ import annotations

import csv
import gc
import json
import os
import re
import shutil
import weakref
from pathlib import Path

import cv2
import numpy as np
import pytest

from grounding.data.datasets import load_split
from grounding.data.synthetic import generate as gen
from grounding.data.synthetic import writers
from grounding.data.synthetic.__main__ import main as cli_main
from grounding.data.synthetic.generate import generate_dataset, split_videos

TINY = {"n_videos": 3, "seed": 11, "size": 64, "fps": 8}
LINE = re.compile(r"^(?P<vid>\S+) (?P<s>\d+\.\d{2}) (?P<e>\d+\.\d{2})##(?P<sentence>\S.*)$")


def _decode(path: Path) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    return np.stack(frames)


def _annotation_bytes(root: Path) -> dict[str, bytes]:
    m = json.loads((root / "manifest.json").read_text())
    return {rel: (root / rel).read_bytes() for rel in m["sha256"]}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("syn") / "data"
    generate_dataset(root, workers=1, progress=False, **TINY)
    return root


def test_charades_format_and_durations(tiny):
    lengths = {}
    for split in ("train", "test"):
        with open(tiny / f"Charades_v1_{split}.csv", newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        assert {"id", "length"} <= set(rows[0])
        lengths.update({r["id"]: float(r["length"]) for r in rows})
    n = 0
    for split in ("train", "test"):
        for raw in (tiny / f"charades_sta_{split}.txt").read_text(encoding="utf-8").splitlines():
            m = LINE.match(raw)
            assert m, raw
            s, e = float(m["s"]), float(m["e"])
            assert 0 <= s < e <= lengths[m["vid"]]
            assert m["sentence"].endswith(".")
            assert (tiny / "videos" / f"{m['vid']}.mp4").is_file()
            n += 1
    assert n > 0
    assert all(10.0 <= v <= 40.0 + 1e-6 for v in lengths.values())


def test_activitynet_format(tiny):
    train = json.loads((tiny / "activitynet" / "train.json").read_text())
    val = json.loads((tiny / "activitynet" / "val_1.json").read_text())
    assert not set(train) & set(val)
    for d in (train, val):
        for v in d.values():
            assert set(v) == {"duration", "timestamps", "sentences"}
            assert len(v["timestamps"]) == len(v["sentences"]) > 0
            for s, e in v["timestamps"]:
                assert 0 <= s < e <= v["duration"]


def test_counts_match_manifest_and_readers(tiny):
    m = json.loads((tiny / "manifest.json").read_text())
    c = m["counts"]
    assert m["generator"] == "grounding.synthetic" and m["seed"] == TINY["seed"]
    assert c["videos"] == TINY["n_videos"] == len(list((tiny / "videos").glob("*.mp4")))
    assert len(load_split("charades", tiny, "train")) == c["charades_train"]
    assert len(load_split("charades", tiny, "test")) == c["charades_test"]
    assert len(load_split("activitynet", tiny, "train")) == c["activitynet_train"]
    assert len(load_split("activitynet", tiny, "val_1")) == c["activitynet_val_1"]
    for qs in (load_split("charades", tiny, "test"), load_split("activitynet", tiny, "val_1")):
        assert qs.log.n_skipped == 0 and not qs.log.repaired
    train, test = split_videos(TINY["n_videos"], TINY["seed"])
    assert len(m["splits"]["train"]) == len(train) and len(m["splits"]["test"]) == len(test)
    for rel, digest in m["sha256"].items():
        assert (tiny / rel).is_file(), rel
        assert len(digest) == 64


def test_action_clips_and_split_files(tiny):
    m = json.loads((tiny / "manifest.json").read_text())
    names = []
    for split_file in sorted((tiny / "actions" / "splits").glob("*_test_split1.txt")):
        cls = split_file.name[: -len("_test_split1.txt")]
        for raw in split_file.read_text().splitlines():
            assert re.fullmatch(r"\S+\.mp4 [12]", raw), raw
            name = raw.split()[0]
            assert (tiny / "actions" / cls / name).is_file()
            sk_path = tiny / "actions" / "skeletons" / cls / f"{name[:-4]}.npz"
            sk = np.load(sk_path, allow_pickle=False)
            assert sk["joints"].shape[1:] == (1, 17, 3)
            names.append(name)
    assert len(names) == m["counts"]["action_clips"] > 0
    assert len(list((tiny / "actions" / "splits").iterdir())) == m["counts"]["action_classes"]


def test_skeletons_match_videos(tiny):
    for video in sorted((tiny / "videos").glob("*.mp4")):
        sk = np.load(tiny / "skeletons" / f"{video.stem}.npz", allow_pickle=False)
        j = sk["joints"]
        assert j.dtype == np.float32 and j.ndim == 4 and j.shape[2:] == (17, 3)
        assert int(sk["fps"]) == TINY["fps"]
        frames = _decode(video)
        assert frames.shape[1:] == (TINY["size"], TINY["size"], 3)
        assert len(frames) == len(j)
        assert set(np.unique(j[..., 2])) <= {0.0, 1.0} and j[..., 2].mean() > 0.5


def test_same_seed_same_bytes_and_frames_any_workers(tiny, tmp_path):
    again = tmp_path / "again"
    generate_dataset(again, workers=2, progress=False, **TINY)
    assert _annotation_bytes(again) == _annotation_bytes(tiny)
    vid = sorted((tiny / "videos").glob("*.mp4"))[0].name
    np.testing.assert_array_equal(_decode(again / "videos" / vid), _decode(tiny / "videos" / vid))
    other = tmp_path / "other"
    generate_dataset(other, workers=1, progress=False, **{**TINY, "seed": 12})
    assert _annotation_bytes(other) != _annotation_bytes(tiny)


def test_complete_dataset_is_reused(tiny):
    mtime = (tiny / "manifest.json").stat().st_mtime_ns
    assert generate_dataset(tiny, workers=1, progress=False, **TINY) == tiny / "manifest.json"
    assert (tiny / "manifest.json").stat().st_mtime_ns == mtime


def test_interrupted_run_resumes_without_redoing_videos(tmp_path, monkeypatch):
    root = tmp_path / "data"
    real = gen.render_video
    calls: list[str] = []

    def flaky(script, out):
        if len(calls) == 1:
            raise KeyboardInterrupt
        calls.append(script.vid)
        real(script, out)

    monkeypatch.setattr(gen, "render_video", flaky)
    with pytest.raises(KeyboardInterrupt):
        generate_dataset(root, workers=1, progress=False, **TINY)
    assert not (root / "manifest.json").exists()
    records = {p.stem: json.loads(p.read_text()) for p in (root / ".progress").glob("*.json")}
    assert len(records) == 2 and records[calls[0]].get("complete", True) is True
    (interrupted,) = set(records) - {calls[0]}
    assert records[interrupted]["complete"] is False  # on record before its first file
    assert not [p for p in root.rglob("*") if ".tmp" in p.name]
    done = root / "videos" / f"{calls[0]}.mp4"
    mtime = done.stat().st_mtime_ns
    (root / "videos" / f".{interrupted}.k2j4_x9a.tmp.mp4").write_bytes(b"half a video")
    (root / "actions" / "splits").mkdir(parents=True)
    (root / "actions" / "splits" / ".run_test_split1.txt.a1b2c3d4.tmp").write_text("half")
    calls.clear()
    monkeypatch.setattr(gen, "render_video", lambda s, o: (calls.append(s.vid), real(s, o)))
    generate_dataset(root, workers=1, progress=False, **TINY)
    assert len(calls) == TINY["n_videos"] - 1 and done.stat().st_mtime_ns == mtime
    assert not [p for p in root.rglob("*") if ".tmp" in p.name]
    clean = tmp_path / "clean"
    generate_dataset(clean, workers=1, progress=False, **TINY)
    assert _annotation_bytes(root) == _annotation_bytes(clean)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_refuses_foreign_or_different_directories(tiny, tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"not empty.*notes\.txt"):
        generate_dataset(foreign, workers=1, progress=False, **TINY)
    with pytest.raises(FileExistsError, match="another configuration"):
        generate_dataset(tiny, workers=1, progress=False, **{**TINY, "seed": 99})
    with pytest.raises(FileExistsError, match=r"did not write.*notes\.txt"):
        generate_dataset(foreign, workers=1, progress=False, overwrite=True, **TINY)
    assert _tree(foreign) == {"notes.txt": b"mine"}


def test_overwrite_removes_only_the_generators_files(tmp_path, capsys):
    """Issue 22 #1: --overwrite never deletes a user's file; with one present it refuses,
    naming it, and removes nothing; without, it replaces exactly the recorded dataset."""
    root = tmp_path / "data"
    generate_dataset(root, workers=1, progress=False, preview=True, **{**TINY, "n_videos": 2})
    (root / "videos" / "holiday.mp4").write_bytes(b"my holiday")
    (root / ".bashrc.tmpl").write_text("export A=1")
    (root / "videos" / ".holiday.abcdefgh.tmp.mp4").write_bytes(b"not the generator's")
    before = _tree(root)
    args = ["--out", str(root), "--videos", "1", "--seed", "4", "--size", "48", "--fps", "6"]
    assert cli_main([*args, "--workers", "1", "--overwrite"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    for name in ("videos/holiday.mp4", ".bashrc.tmpl", "videos/.holiday.abcdefgh.tmp.mp4"):
        assert name in err
    assert _tree(root) == before  # nothing removed or changed
    # resuming the same configuration cleans only the generator's own stale temporaries
    (root / "videos" / ".syn00001.q1w2e3r4.tmp.mp4").write_bytes(b"half")
    (root / "manifest.json").unlink()  # an unfinished run (the manifest is written last)
    generate_dataset(root, workers=1, progress=False, **{**TINY, "n_videos": 2})
    assert _tree(root) == before
    for name in ("videos/holiday.mp4", ".bashrc.tmpl", "videos/.holiday.abcdefgh.tmp.mp4"):
        moved = tmp_path / "moved" / name
        moved.parent.mkdir(parents=True, exist_ok=True)
        (root / name).rename(moved)
    assert cli_main([*args, "--workers", "1", "--overwrite"]) == 0
    m = json.loads((root / "manifest.json").read_text())
    assert m["seed"] == 4 and m["videos"] == ["syn00000"]
    assert not (root / "preview.png").exists() and not (root / "videos" / "syn00001.mp4").exists()
    assert {p.name for p in (root / "videos").iterdir()} == {"syn00000.mp4"}


def test_overwrite_after_an_interrupted_video_removes_its_files(tmp_path, monkeypatch):
    """A video killed half-way is on record (its progress record is written first), so an
    overwrite removes its files rather than refusing them as foreign."""
    root = tmp_path / "data"
    real = gen.render_video

    def killed(script, out):
        real(script, out)
        raise KeyboardInterrupt  # after the files, before the record is marked complete

    monkeypatch.setattr(gen, "render_video", killed)
    with pytest.raises(KeyboardInterrupt):
        generate_dataset(root, workers=1, progress=False, **TINY)
    monkeypatch.setattr(gen, "render_video", real)
    generate_dataset(root, workers=1, progress=False, overwrite=True, **{**TINY, "n_videos": 1})
    m = json.loads((root / "manifest.json").read_text())
    assert m["seed"] == TINY["seed"] and m["n_videos"] == 1
    expected = {".synthetic.json", "manifest.json", ".progress/syn00000.json"} | set(m["sha256"])
    rec = json.loads((root / ".progress" / "syn00000.json").read_text())
    assert set(_tree(root)) == expected | set(rec["files"])


def test_scripts_are_drawn_one_video_at_a_time(tmp_path, monkeypatch):
    """Issue 22 #15: no list of every script: at most two are alive at any time, and the
    first video is rendered before the second script is drawn."""
    alive: list[weakref.ref] = []
    events: list[str] = []
    real_make, real_render = gen.make_script, gen.render_video

    def make(index, **kw):
        gc.collect()
        assert sum(r() is not None for r in alive) <= 1
        script = real_make(index, **kw)
        alive.append(weakref.ref(script))
        events.append("script")
        return script

    def render(script, out):
        events.append("render")
        real_render(script, out)

    monkeypatch.setattr(gen, "make_script", make)
    monkeypatch.setattr(gen, "render_video", render)
    root = tmp_path / "data"
    generate_dataset(root, workers=1, progress=False, **{**TINY, "n_videos": 4})
    assert events[:4] == ["script", "render", "script", "render"]
    assert events.count("script") == 8  # rendering, then the streamed annotations


def test_streamed_annotations_equal_the_in_memory_writers(tiny, tmp_path):
    cfg = gen.GeneratorConfig(**{k: TINY[k] for k in ("seed", "n_videos", "size", "fps")})
    scripts, queries = gen.build_scripts(cfg)
    train_idx, test_idx = split_videos(cfg.n_videos, cfg.seed)
    train, test = [scripts[i] for i in train_idx], [scripts[i] for i in test_idx]
    ref = tmp_path / "ref"
    files = writers.write_charades(ref, "train", train, queries)
    files += writers.write_charades(ref, "test", test, queries)
    files.append(writers.write_activitynet(ref / "activitynet" / "train.json", train, queries))
    files.append(writers.write_activitynet(ref / "activitynet" / "val_1.json", test, queries))
    files += writers.write_hmdb_splits(ref, train, test)
    expected = {p.relative_to(ref).as_posix(): p.read_bytes() for p in files}
    assert _annotation_bytes(tiny) == expected


def test_free_disk_space_is_checked_before_anything_is_written(tmp_path, monkeypatch, capsys):
    root = tmp_path / "big"
    monkeypatch.setattr(gen.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(1, 1, 10**6))
    args = ["--out", str(root), "--videos", "1000000", "--seed", "1", "--workers", "1"]
    assert cli_main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not enough free disk space" in err
    need = gen.estimate_bytes(gen.GeneratorConfig(seed=1, n_videos=10**6), 10**6)
    assert f"{need / 2**30:.2f} GiB" in err and "1000000 video(s)" in err
    assert not root.exists()


def test_disk_estimate_is_close_to_the_real_size(tiny):
    real = sum(p.stat().st_size for p in tiny.rglob("*") if p.is_file())
    est = gen.estimate_bytes(gen.GeneratorConfig(**{**TINY}), TINY["n_videos"])
    assert 0.3 < est / real < 3.0


@pytest.mark.parametrize("n", [0, -2])
def test_zero_videos_is_an_error(tmp_path, n):
    with pytest.raises(ValueError, match="n_videos must be at least 1"):
        generate_dataset(tmp_path / "x", n_videos=n, seed=0, workers=1, progress=False)
    assert not (tmp_path / "x").exists()


def test_unwritable_output_is_a_clear_error(tmp_path):
    f = tmp_path / "a_file"
    f.write_text("x")
    with pytest.raises(NotADirectoryError, match="a_file"):
        generate_dataset(f, workers=1, progress=False, **TINY)
    with pytest.raises(PermissionError, match="cannot create output directory"):
        generate_dataset(f / "sub", workers=1, progress=False, **TINY)
    if os.geteuid() != 0:  # root ignores permission bits
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(PermissionError, match="not writable"):
            generate_dataset(ro, workers=1, progress=False, **TINY)


def test_cli_errors_and_success(tmp_path, capsys):
    assert cli_main(["--out", str(tmp_path / "z"), "--videos", "0", "--seed", "1"]) == 2
    assert "n_videos must be at least 1" in capsys.readouterr().err
    out = tmp_path / "ok"
    args = ["--out", str(out), "--videos", "1", "--seed", "1", "--size", "48", "--fps", "6"]
    assert cli_main([*args, "--workers", "1"]) == 0
    assert "charades_train" in capsys.readouterr().out
    assert (out / "manifest.json").is_file()


def test_preview_contact_sheet(tiny):
    from grounding.data.synthetic.preview import make_preview

    out = make_preview(tiny, n_videos=1, n_frames=3)
    img = cv2.imread(str(out))
    assert out == tiny / "preview.png" and img is not None
    assert img.shape[1] > 3 * TINY["size"] and img.shape[0] > 3 * TINY["size"]
