"""``python -m grounding.extract``: per-clip features of full videos into one HDF5 file."""

from __future__ import annotations

import json
import math
import re
import shutil
from dataclasses import replace
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import torch

from grounding.data.action_dataset import resize_frames, snippet_rgb
from grounding.data.features import HDF5Features
from grounding.data.synthetic import generate_dataset
from grounding.data.video import VideoError, VideoInfo, video_info
from grounding.extract import (
    clip_snippet_starts,
    clip_windows,
    extract_features,
    load_recognizer,
    main,
    pixel_clip_inputs,
    read_recognition_config,
    snippet_starts,
)
from grounding.person_features import person_feature_dim
from grounding.train.__main__ import main as train_main

TINY = [
    "--width",
    "0.25",
    "--input-size",
    "64",
    "--batch-size",
    "4",
    "--workers",
    "0",
    "--epochs",
    "1",
    "--segments",
    "2",
]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn") / "data"
    generate_dataset(root, n_videos=4, seed=3, size=64, fps=8, workers=1, progress=False)
    return root


@pytest.fixture(scope="module")
def checkpoints(data, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    for model in ("ours", "gtn"):
        code = train_main(
            [
                "recognition",
                "--data",
                str(data),
                "--out",
                str(runs / model),
                "--model",
                model,
                *TINY,
            ]
        )
        assert code == 0
    return {m: runs / m / "checkpoint.pt" for m in ("ours", "gtn")}


def _vids(data) -> list[str]:
    return sorted(p.stem for p in (data / "videos").glob("*.mp4"))


def test_clip_windows_cover_the_video():
    w = clip_windows(50, 8.0, 1.0)
    assert w.tolist()[0] == [0, 8] and w[-1].tolist() == [48, 50] and len(w) == math.ceil(50 / 8)
    assert clip_windows(8, 8.0, 0.5).tolist() == [[0, 4], [4, 8]]
    with pytest.raises(ValueError, match="clip_seconds"):
        clip_windows(10, 8.0, 0.0)


def test_snippet_starts_stay_inside_each_window_and_the_video():
    w = clip_windows(50, 8.0, 1.0)
    s = snippet_starts(w, 50, segments=3, length=5)
    assert s.shape == (len(w), 3) and (s >= 0).all() and (s + 5 <= 49).all()
    assert (s[:-1] >= w[:-1, :1]).all() and (s[:-1] < w[:-1, 1:]).all()


def test_clip_snippet_starts_widen_each_clip_by_the_context():
    info = VideoInfo(path=Path("v.mp4"), n_frames=80, fps=8.0, width=32, height=32)
    plain = clip_snippet_starts(info, clip_seconds=1.0, segments=3, length=5)
    w = clip_windows(80, 8.0, 1.0)
    np.testing.assert_array_equal(plain, snippet_starts(w, 80, segments=3, length=5))
    wide = clip_snippet_starts(info, clip_seconds=1.0, segments=3, length=5, context_seconds=1.0)
    assert wide.shape == plain.shape and (wide >= 0).all() and (wide + 5 <= 79).all()
    assert wide[5, 0] < plain[5, 0] and wide[5, -1] > plain[5, -1]  # 8 more frames each side


def test_pixel_features_into_one_hdf5(data, checkpoints, tmp_path):
    out = tmp_path / "feats.h5"
    summary = extract_features(
        kind="frame", data=data, checkpoint=checkpoints["ours"], out=out, progress=False
    )
    vids = _vids(data)
    assert summary["extracted"] == len(vids) and summary["model"] == "ours"
    with h5py.File(out, "r") as f:
        assert sorted(f.keys()) == vids and f.attrs["generator"] == "grounding.extract"
        for vid in vids:
            info = video_info(data / "videos" / f"{vid}.mp4")
            t = math.ceil(info.n_frames / round(info.fps))
            assert f[vid].shape == (t, summary["feature dim"]) and f[vid].dtype == np.float32
    store = HDF5Features(out)  # the layout the Charades readers accept
    assert store.dim == 2 * 256 and np.isfinite(store[vids[0]]).all()
    store.close()
    again = extract_features(
        kind="frame", data=data, checkpoint=checkpoints["ours"], out=out, progress=False
    )
    assert again["extracted"] == 0 and again["skipped (already done)"] == len(vids)
    with pytest.raises(ValueError, match="clip_seconds differ"):
        extract_features(
            kind="frame",
            data=data,
            checkpoint=checkpoints["ours"],
            out=out,
            clip_seconds=2.0,
            progress=False,
        )


def test_resume_adds_only_the_missing_videos(data, checkpoints, tmp_path):
    some = tmp_path / "some"
    some.mkdir()
    vids = _vids(data)
    for vid in vids[:2]:
        (some / f"{vid}.mp4").symlink_to(data / "videos" / f"{vid}.mp4")
    out = tmp_path / "feats.h5"
    first = extract_features(
        kind="frame",
        data=data,
        checkpoint=checkpoints["ours"],
        out=out,
        videos_dir=some,
        progress=False,
    )
    assert first["extracted"] == 2
    with h5py.File(out, "r") as f:
        kept = f[vids[0]][()]
    rest = extract_features(
        kind="frame", data=data, checkpoint=checkpoints["ours"], out=out, progress=False
    )
    assert rest["extracted"] == len(vids) - 2 and rest["skipped (already done)"] == 2
    with h5py.File(out, "r") as f:
        assert sorted(f.keys()) == vids
        np.testing.assert_array_equal(f[vids[0]][()], kept)
    assert not (tmp_path / ".feats.h5.parts").exists()


def test_skeleton_features_for_graph_baselines(data, checkpoints, tmp_path, capsys):
    out = tmp_path / "gtn.h5"
    code = main(
        [
            "--data",
            str(data),
            "--checkpoint",
            str(checkpoints["gtn"]),
            "--out",
            str(out),
            "--clip-seconds",
            "2",
        ]
    )
    assert code == 0 and "extract" in capsys.readouterr().out
    with h5py.File(out, "r") as f:
        vid = _vids(data)[0]
        joints = np.load(data / "skeletons" / f"{vid}.npz")["joints"]
        assert f[vid].shape == (math.ceil(len(joints) / 16), 2 * 2 * 128)  # mean + max, 2 streams


def test_bad_inputs(data, checkpoints, tmp_path, capsys):
    junk = tmp_path / "junk.pt"
    torch.save({"weights": torch.zeros(2)}, junk)
    with pytest.raises(ValueError, match="not a recognition checkpoint"):
        read_recognition_config(junk)
    assert (
        main(["--data", str(data), "--checkpoint", str(junk), "--out", str(tmp_path / "x.h5")]) == 2
    )
    assert "not a recognition checkpoint" in capsys.readouterr().err
    short = tmp_path / "short.mp4"
    w = cv2.VideoWriter(str(short), cv2.VideoWriter_fourcc(*"mp4v"), 8, (64, 64))
    for i in range(4):
        w.write(np.full((64, 64, 3), 30 * i, np.uint8))
    w.release()
    config = read_recognition_config(checkpoints["ours"])
    with pytest.raises((VideoError, ValueError), match="fewer than one flow stack"):
        pixel_clip_inputs(short, config, 1.0)
    with pytest.raises(ValueError, match=r"\.h5"):
        extract_features(
            kind="frame", data=data, checkpoint=checkpoints["ours"], out=tmp_path / "f.npy"
        )


def test_rgb_difference_checkpoints_extract_differences(data, checkpoints):
    config = read_recognition_config(checkpoints["ours"])
    assert config.rgb_input == "frames"
    video = data / "videos" / f"{_vids(data)[0]}.mp4"
    rgb, flow = pixel_clip_inputs(video, config, 1.0)
    rgb_d, flow_d = pixel_clip_inputs(video, replace(config, rgb_input="diff"), 1.0)
    np.testing.assert_array_equal(flow, flow_d)
    info = video_info(video)
    windows = clip_windows(info.n_frames, info.fps, 1.0)
    starts = snippet_starts(
        windows, info.n_frames, segments=rgb.shape[1], length=config.flow_length
    ).reshape(-1)
    want = snippet_rgb(video, starts + config.flow_length // 2, kind="diff")
    want = resize_frames(want, config.input_size).reshape(rgb_d.shape)
    np.testing.assert_array_equal(rgb_d, want)
    assert not np.array_equal(rgb, rgb_d)


def test_input_size_override_feeds_another_side(data, checkpoints, tmp_path):
    base = tmp_path / "base.h5"
    big = tmp_path / "big.h5"
    extract_features(
        kind="frame", data=data, checkpoint=checkpoints["ours"], out=base, progress=False
    )
    extract_features(
        kind="frame",
        data=data,
        checkpoint=checkpoints["ours"],
        out=big,
        input_size=128,
        progress=False,
    )
    vid = _vids(data)[0]
    with h5py.File(base, "r") as a, h5py.File(big, "r") as b:
        assert a[vid].shape == b[vid].shape  # global pooling: same feature size
        assert not np.allclose(a[vid][()], b[vid][()])
        assert json.loads(b.attrs["recognition_config"])["input_size"] == 128
    more = tmp_path / "more.h5"
    extract_features(
        kind="frame",
        data=data,
        checkpoint=checkpoints["ours"],
        out=more,
        segments=5,
        progress=False,
    )
    with h5py.File(base, "r") as a, h5py.File(more, "r") as b:
        assert a[vid].shape == b[vid].shape and not np.allclose(a[vid][()], b[vid][()])
        assert json.loads(b.attrs["recognition_config"])["segments"] == 5
    with pytest.raises(ValueError, match="multiple of 32"):
        extract_features(
            kind="frame",
            data=data,
            checkpoint=checkpoints["ours"],
            out=tmp_path / "x.h5",
            input_size=100,
        )


def test_one_stream_features_are_that_half_of_the_fused(data, checkpoints, tmp_path, capsys):
    fused, flow, rgb = (tmp_path / f"{s}.h5" for s in ("fused", "flow", "rgb"))
    ckpt = checkpoints["ours"]
    extract_features(kind="frame", data=data, checkpoint=ckpt, out=fused, progress=False)
    for out, stream in ((flow, "flow"), (rgb, "rgb")):
        summary = extract_features(
            kind="frame", data=data, checkpoint=ckpt, out=out, stream=stream, progress=False
        )
        assert summary["stream"] == stream and summary["feature dim"] == 256
    vid = _vids(data)[0]
    with h5py.File(fused, "r") as a, h5py.File(flow, "r") as b, h5py.File(rgb, "r") as c:
        np.testing.assert_allclose(b[vid][()], a[vid][:, 256:], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(c[vid][()], a[vid][:, :256], rtol=1e-5, atol=1e-6)
        assert b.attrs["stream"] == "flow" and "stream" not in a.attrs
    for out, stream in ((fused, "flow"), (flow, "fused")):  # another stream into a file
        with pytest.raises(ValueError, match=r"\(stream differ\)"):
            extract_features(
                kind="frame", data=data, checkpoint=ckpt, out=out, stream=stream, progress=False
            )
    argv = ["--data", str(data), "--out", str(tmp_path / "g.h5"), "--stream", "flow"]
    assert main([*argv, "--checkpoint", str(checkpoints["gtn"])]) == 2
    assert "frame-level features, not skeleton" in capsys.readouterr().err


def test_person_features_bind_each_persons_action_to_its_appearance(data, checkpoints, tmp_path):
    ckpt = checkpoints["ours"]
    config = read_recognition_config(ckpt)
    out = tmp_path / "persons.h5"
    summary = extract_features(data=data, checkpoint=ckpt, out=out, kind="person", progress=False)
    n_classes = len(config.classes)
    assert summary["kind"] == "person"
    model, _ = load_recognizer(ckpt, device=torch.device("cpu"))
    assert summary["feature dim"] == person_feature_dim(n_classes, model.feature_dim)
    vid = _vids(data)[0]
    joints = np.load(data / "skeletons" / f"{vid}.npz")["joints"]
    with h5py.File(out, "r") as f:
        x = f[vid][()]
        assert f.attrs["persons"] == "0.0"
    info = video_info(data / "videos" / f"{vid}.mp4")
    assert len(x) == len(clip_windows(info.n_frames, info.fps, 1.0))
    posterior_sum = x[:, -n_classes:].sum(axis=1)  # one posterior per present person
    assert np.all(np.isclose(posterior_sum, np.round(posterior_sum), atol=1e-4))
    assert 0.5 < posterior_sum.max() < joints.shape[1] + 0.5
    dim = model.feature_dim
    assert np.all(x[:, dim : 2 * dim] >= x[:, :dim] - 1e-5)  # max over persons >= mean
    pairs = x[:, 2 * dim : -n_classes].reshape(len(x), n_classes, -1)
    np.testing.assert_allclose(pairs[..., -2:].sum(axis=(1, 2)), posterior_sum, atol=1e-4)
    # the people's order in the pose file does not matter
    swapped = tmp_path / "swapped"
    shutil.copytree(data, swapped)
    np.savez(swapped / "skeletons" / f"{vid}.npz", joints=joints[:, ::-1], fps=info.fps)
    summary = extract_features(
        data=swapped, checkpoint=ckpt, out=tmp_path / "s.h5", kind="person", progress=False
    )
    with h5py.File(tmp_path / "s.h5", "r") as f:
        np.testing.assert_allclose(f[vid][()], x, rtol=1e-4, atol=1e-5)
    hidden = joints.copy()
    hidden[..., 2] = 0  # nobody visible: all-zero features, not an error
    np.savez(swapped / "skeletons" / f"{vid}.npz", joints=hidden, fps=info.fps)
    extract_features(
        data=swapped, checkpoint=ckpt, out=tmp_path / "h.h5", kind="person", progress=False
    )
    with h5py.File(tmp_path / "h.h5", "r") as f:
        assert f[vid].shape == x.shape and not f[vid][()].any()
    np.savez(swapped / "skeletons" / f"{vid}.npz", joints=joints[:-3], fps=info.fps)
    with pytest.raises(ValueError, match=r"pose frames for the \d+ frames"):
        extract_features(
            data=swapped, checkpoint=ckpt, out=tmp_path / "t.h5", kind="person", progress=False
        )
    (swapped / "skeletons" / f"{vid}.npz").unlink()  # counted, reported, not extracted
    summary = extract_features(
        data=swapped, checkpoint=ckpt, out=tmp_path / "u.h5", kind="person", progress=False
    )
    assert summary["skipped (no skeleton file)"] == 1 and summary["videos"] == len(_vids(data))
    with h5py.File(tmp_path / "u.h5", "r") as f:
        assert vid not in f and len(f) == len(_vids(data)) - 1
    with pytest.raises(ValueError, match=r"\(persons differ\)"):
        extract_features(kind="frame", data=data, checkpoint=ckpt, out=out, progress=False)
    with pytest.raises(ValueError, match="gtn makes skeleton features"):
        extract_features(
            data=data, checkpoint=checkpoints["gtn"], out=tmp_path / "g.h5", kind="person"
        )


def test_person_input_cache_gives_the_same_features_without_the_crops(
    data, checkpoints, tmp_path, monkeypatch
):
    """``input_cache``: the first extraction writes each video's crops and flow stacks, a
    later one with the same input settings reads them (no crop, no flow) and writes the same
    features; other settings key other entries; a damaged entry is an error naming it."""
    import grounding.extract as extract

    ckpt, cache = checkpoints["ours"], tmp_path / "cache"
    common = {"data": data, "checkpoint": ckpt, "kind": "person", "progress": False}
    extract_features(out=tmp_path / "plain.h5", **common)
    summary = extract_features(out=tmp_path / "first.h5", input_cache=cache, **common)
    entries = sorted(cache.glob("*.npz"))
    assert len(entries) == len(_vids(data)) and summary["input cache MiB"] > 0

    def no_crops(*args, **kwargs):
        raise AssertionError("the cached inputs were recomputed")

    monkeypatch.setattr(extract, "person_clip_inputs", no_crops)
    extract_features(out=tmp_path / "again.h5", input_cache=cache, **common)
    with h5py.File(tmp_path / "plain.h5") as a, h5py.File(tmp_path / "again.h5") as b:
        for vid in _vids(data):
            np.testing.assert_array_equal(a[vid][()], b[vid][()])
    monkeypatch.undo()
    extract_features(out=tmp_path / "wide.h5", input_cache=cache, person_context=0.5, **common)
    assert len(list(cache.glob("*.npz"))) == 2 * len(entries)  # wider snippets: new entries
    entries[0].write_bytes(b"PK cut")
    with pytest.raises(ValueError, match=re.escape(f"{entries[0].name}: unreadable person")):
        extract_features(out=tmp_path / "bad.h5", input_cache=cache, **common)


def test_input_cache_of_a_kind_without_crops_is_reported_unused(
    data, checkpoints, tmp_path, capsys
):
    cache = tmp_path / "cache"
    argv = ["--data", str(data), "--checkpoint", str(checkpoints["gtn"])]
    assert main([*argv, "--out", str(tmp_path / "g.h5"), "--input-cache", str(cache)]) == 0
    err = capsys.readouterr().err
    assert f"--input-cache {cache} was not used" in err and "skeleton features" in err
    assert not cache.exists() or not any(cache.iterdir())


def test_person_input_cache_key_follows_the_inputs_not_the_training(data, checkpoints):
    from grounding.person_features import PersonInputCache

    config = read_recognition_config(checkpoints["ours"])
    vid = _vids(data)[0]
    video, skeleton = data / "videos" / f"{vid}.mp4", data / "skeletons" / f"{vid}.npz"
    starts = clip_snippet_starts(
        video_info(video), clip_seconds=1.0, segments=config.segments, length=config.flow_length
    )
    cache = PersonInputCache(data / "unused")
    key = cache.path_for(video, skeleton, config, starts)
    # another recognizer of the same inputs (longer training, another seed): the same entry
    assert cache.path_for(video, skeleton, replace(config, epochs=9, seed=4), starts) == key
    assert cache.path_for(video, skeleton, config, starts, scale=2.5) == key  # the default
    for other in (
        cache.path_for(video, skeleton, replace(config, input_size=32), starts),
        cache.path_for(video, skeleton, replace(config, rgb_input="diff"), starts),
        cache.path_for(video, skeleton, config, starts + 1),
        cache.path_for(video, skeleton, config, starts, scale=3.0),
    ):
        assert other != key


def test_person_inputs_of_chosen_persons_are_those_rows_of_all(data, checkpoints):
    from grounding.person_features import person_clip_inputs

    config = read_recognition_config(checkpoints["ours"])
    vid = _vids(data)[0]
    video, skeleton = data / "videos" / f"{vid}.mp4", data / "skeletons" / f"{vid}.npz"
    info = video_info(video)
    starts = clip_snippet_starts(
        info, clip_seconds=1.0, segments=config.segments, length=config.flow_length
    )
    every = person_clip_inputs(video, skeleton, config, starts)
    one = person_clip_inputs(video, skeleton, config, starts, persons=[0])
    rows = every.person == 0
    assert rows.any() and (one.person == 0).all()
    np.testing.assert_array_equal(one.clip, every.clip[rows])
    np.testing.assert_array_equal(one.rgb, every.rgb[rows])
    np.testing.assert_array_equal(one.flow, every.flow[rows])
    np.testing.assert_array_equal(one.descriptor, every.descriptor[rows])


def test_skeleton_model_counts_and_reports_a_video_without_skeleton(
    data, checkpoints, tmp_path, capsys
):
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    vids = _vids(data)
    gone = copy / "skeletons" / f"{vids[-1]}.npz"
    gone.unlink()
    out = tmp_path / "gtn.h5"
    argv = ["--data", str(copy), "--checkpoint", str(checkpoints["gtn"]), "--out", str(out)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert f"skipped 1 video(s) without a skeleton file: {gone}" in captured.err
    assert "skipped (no skeleton file)" in captured.out
    with h5py.File(out, "r") as f:
        assert sorted(f) == vids[:-1]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"garbage" * 10, "not a readable .npz skeleton file"),
        ("nan", "non-finite joint values"),
        ("fps", "'fps' must be a positive number"),
    ],
)
def test_bad_skeleton_file_is_an_error_naming_it(
    data, checkpoints, tmp_path, capsys, content, message
):
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    bad = copy / "skeletons" / f"{_vids(data)[1]}.npz"
    if content == "nan":
        joints = np.load(bad)["joints"]
        joints[2, 0, 3, 0] = np.nan
        np.savez(bad, joints=joints, fps=8.0)
    elif content == "fps":
        np.savez(bad, joints=np.load(bad)["joints"], fps=-1.0)
    else:
        bad.write_bytes(content)
    argv = ["--data", str(copy), "--checkpoint", str(checkpoints["gtn"])]
    assert main([*argv, "--out", str(tmp_path / "g.h5")]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: " in err and message in err and "pickle.load" not in err


def test_checkpoint_without_config_json_is_an_error(data, tmp_path, capsys):
    ckpt = tmp_path / "c.pt"
    torch.save({"config_type": "RecognitionConfig", "config_json": "{not json"}, ckpt)
    assert (
        main(["--data", str(data), "--checkpoint", str(ckpt), "--out", str(tmp_path / "x.h5")]) == 2
    )
    assert f"{ckpt}: unreadable recognizer config" in capsys.readouterr().err
