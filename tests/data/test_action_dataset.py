"""Action clip datasets: TSN snippets of RGB + flow, the flow cache, skeleton windows."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from grounding.data.action_dataset import (
    COCO17_MIRROR,
    ActionClipDataset,
    ClipFlowCache,
    SkeletonClipDataset,
    crop_box,
    flip_flow,
    load_skeleton,
    mirror_skeleton,
    normalize_skeleton,
    snippet_frames,
    snippet_rgb,
    subtract_camera_motion,
)
from grounding.data.hmdb import ActionClip
from grounding.data.video import VideoError, read_frames


@pytest.fixture
def cache(tmp_path) -> ClipFlowCache:
    return ClipFlowCache(tmp_path / "flow")


def test_snippets_stay_inside_the_clip():
    rng = np.random.default_rng(0)
    for n_fields in (5, 6, 13, 40):
        for train in (True, False):
            starts, frames = snippet_frames(n_fields, 3, length=5, train=train, rng=rng)
            assert starts.shape == (3,) and (starts >= 0).all() and (starts + 5 <= n_fields).all()
            np.testing.assert_array_equal(frames, starts + 2)


def test_pixel_items_shapes_and_determinism(split, cache):
    ds = ActionClipDataset(
        split.train, flow_cache=cache, segments=3, train=True, seed=1, input_size=64
    )
    item = ds[0]
    assert item["rgb"].shape == (3, 3, 64, 64) and item["rgb"].dtype == torch.uint8
    assert item["flow"].shape == (3, 10, 64, 64) and item["flow"].dtype == torch.uint8
    assert item["label"] == split.train[0].label and item["index"] == 0
    again = ds[0]  # same seed, epoch and index: the same sample (from the cache now)
    assert torch.equal(item["rgb"], again["rgb"]) and torch.equal(item["flow"], again["flow"])
    samples = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        samples.add(ds[0]["flow"].numpy().tobytes())
    assert len(samples) > 1  # new offsets / flips per epoch
    test = ActionClipDataset(split.test, flow_cache=cache, train=False, input_size=32)
    a, b = test[0], test[0]
    assert a["rgb"].shape == (3, 3, 32, 32) and torch.equal(a["flow"], b["flow"])


def test_flow_cache_stores_every_field(split, cache):
    clip = split.train[0].path
    assert cache.prepare([clip], progress=False) == 1
    assert cache.path_for(clip).is_file()
    fields = cache.get(clip)
    n = cv2.VideoCapture(str(clip)).get(cv2.CAP_PROP_FRAME_COUNT)
    assert fields.shape == (int(n) - 1, 2, 64, 64) and fields.dtype == np.uint8
    np.testing.assert_array_equal(fields, cache.compute(clip))
    assert cache.prepare([clip], progress=False) == 0


def test_clip_shorter_than_a_flow_stack_is_an_error(tmp_path, cache):
    path = tmp_path / "run" / "short.mp4"
    path.parent.mkdir()
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 8, (32, 32))
    for i in range(4):
        w.write(np.full((32, 32, 3), 40 * i, np.uint8))
    w.release()
    ds = ActionClipDataset([ActionClip(path, 0, "run", "train")], flow_cache=cache, train=True)
    with pytest.raises(VideoError, match=r"short\.mp4.*fewer than one flow stack"):
        ds[0]


def _ramp_video(path: Path, n: int = 8, side: int = 32) -> Path:
    """Frames of one flat grey level each, 20 * i (lossy codec: compare with a tolerance)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 8, (side, side))
    for i in range(n):
        w.write(np.full((side, side, 3), 20 * i + 30, np.uint8))
    w.release()
    return path


def test_rgb_difference_is_the_frame_minus_two_frames_before(tmp_path):
    video = _ramp_video(tmp_path / "ramp.mp4")
    frames = np.array([2, 5, 7, 1])
    plain = snippet_rgb(video, frames)
    assert plain.shape == (4, 3, 32, 32) and plain.dtype == np.uint8
    np.testing.assert_array_equal(plain, read_frames(video, frames).transpose(0, 3, 1, 2))
    diff = snippet_rgb(video, frames, kind="diff")
    assert diff.shape == plain.shape and diff.dtype == np.uint8
    before = read_frames(video, [0, 3, 5, 0]).transpose(0, 3, 1, 2)  # t - 2, clamped at 0
    np.testing.assert_array_equal(diff, 128 + plain.astype(int) - before)
    # flat frames 20 t + 30 apart: about 168 for t >= 2, 128 + 20 at t = 1 (codec noise)
    np.testing.assert_allclose(diff.mean(axis=(1, 2, 3)), [168, 168, 168, 148], atol=6)
    with pytest.raises(ValueError, match="unknown RGB input 'flow'"):
        snippet_rgb(video, frames, kind="flow")


def test_static_background_vanishes_in_the_difference_input(split, cache):
    ds = ActionClipDataset(
        split.test, flow_cache=cache, train=False, input_size=64, rgb_input="diff"
    )
    rgb = ds[0]["rgb"].numpy().astype(int)
    plain = ActionClipDataset(split.test, flow_cache=cache, train=False, input_size=64)[0]
    # most of the frame is the court, which barely changes in two frames: near 128
    assert 4 * np.median(np.abs(rgb - 128)) < np.median(np.abs(plain["rgb"].numpy() - 128.0))
    assert torch.equal(ds[0]["flow"], plain["flow"])  # the flow stream is unchanged
    train = ActionClipDataset(
        split.train, flow_cache=cache, train=True, seed=0, input_size=64, rgb_input="diff"
    )
    assert train[0]["rgb"].shape == (3, 3, 64, 64)  # augmentation (contrast only) runs
    with pytest.raises(ValueError, match="unknown RGB input"):
        ActionClipDataset(split.test, flow_cache=cache, train=False, rgb_input="grey")


def test_flip_flow_negates_x_only():
    flow = np.random.default_rng(0).integers(0, 256, (2, 10, 4, 6), dtype=np.uint8)
    out = flip_flow(flow)
    np.testing.assert_array_equal(out[:, 0::2], 255 - flow[:, 0::2, :, ::-1])
    np.testing.assert_array_equal(out[:, 1::2], flow[:, 1::2, :, ::-1])


def test_skeleton_items(split):
    root = Path(split.train[0].path).parents[1] / "skeletons"
    ds = SkeletonClipDataset(split.train, skeleton_root=root, frames=16, train=True, seed=0)
    x = ds[1]["skeleton"]
    assert x.shape == (3, 16, 17, 1) and x.dtype == torch.float32
    assert torch.equal(ds[1]["skeleton"], x)
    two = SkeletonClipDataset(split.test, skeleton_root=root, frames=8, num_persons=2, train=False)
    y = two[0]["skeleton"]
    assert y.shape == (3, 8, 17, 2) and float(y[..., 1].abs().sum()) == 0.0  # zero padding


def test_normalization_centres_and_scales():
    rng = np.random.default_rng(0)
    joints = np.concatenate([rng.random((10, 2, 17, 2)) * 20 + 50, np.ones((10, 2, 17, 1))], -1)
    out = normalize_skeleton(joints.astype(np.float32))
    np.testing.assert_allclose(out[..., :2].mean(axis=(0, 2)), 0.0, atol=1e-5)
    scaled = joints.copy()
    scaled[..., :2] = scaled[..., :2] * 3 + 7  # a camera farther away / shifted: same input
    np.testing.assert_allclose(normalize_skeleton(scaled.astype(np.float32)), out, atol=1e-4)
    np.testing.assert_array_equal(out[..., 2], 1.0)


def test_mirror_swaps_left_and_right():
    x = np.random.default_rng(1).standard_normal((3, 4, 17, 1)).astype(np.float32)
    m = mirror_skeleton(x, COCO17_MIRROR)
    np.testing.assert_allclose(m[0, :, 1], -x[0, :, 2])  # left eye <- mirrored right eye
    np.testing.assert_allclose(m[1, :, 5], x[1, :, 6])
    np.testing.assert_allclose(mirror_skeleton(m, COCO17_MIRROR), x)


def test_bad_skeleton_files_name_the_file(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, joints=np.zeros((5, 1, 12, 3), np.float32))
    with pytest.raises(ValueError, match=r"bad\.npz.*\(T, M, 17, 3\)"):
        load_skeleton(bad)
    nan = tmp_path / "nan.npz"
    arr = np.zeros((5, 1, 17, 3), np.float32)
    arr[3, 0, 2, 0] = np.nan
    np.savez(nan, joints=arr)
    with pytest.raises(ValueError, match=r"nan\.npz.*frames \[3\]"):
        load_skeleton(nan)
    np.savez(tmp_path / "nokey.npz", other=arr)
    with pytest.raises(ValueError, match="no 'joints'"):
        load_skeleton(tmp_path / "nokey.npz")
    clip = ActionClip(tmp_path / "run" / "x.mp4", 0, "run", "train")
    with pytest.raises(FileNotFoundError, match=r"x\.npz"):
        SkeletonClipDataset([clip], skeleton_root=tmp_path, train=True)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"garbage" * 10, "pickled"),  # neither zip nor npy: numpy would try pickle
        (b"PK\x03\x04 truncated", "BadZipFile"),
        (b"", "EOFError"),
    ],
)
def test_garbage_skeleton_files_name_the_file(tmp_path, content, reason):
    path = tmp_path / "v1.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"v1\.npz: not a readable \.npz skeleton.*{reason}"):
        load_skeleton(path)


def test_object_and_plain_npy_skeletons_are_refused(tmp_path):
    obj = tmp_path / "obj.npz"
    np.savez(obj, joints=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match=r"obj\.npz: unreadable 'joints'.*pickled"):
        load_skeleton(obj)
    text = tmp_path / "text.npz"
    np.savez(text, joints=np.array(["a", "b"]))
    with pytest.raises(ValueError, match=r"text\.npz: joints must be numbers"):
        load_skeleton(text)
    plain = tmp_path / "plain.npz"
    with open(plain, "wb") as f:
        np.save(f, np.zeros((5, 1, 17, 3), np.float32))
    with pytest.raises(ValueError, match=r"plain\.npz: not an \.npz archive"):
        load_skeleton(plain)


def test_skeleton_dataset_checks_every_file_up_front(tmp_path):
    clips = [ActionClip(tmp_path / "run" / f"c{i}.mp4", 0, "run", "train") for i in range(3)]
    (tmp_path / "run").mkdir()
    good = np.zeros((6, 1, 17, 3), np.float32)
    for i in range(3):
        np.savez(tmp_path / "run" / f"c{i}.npz", joints=good)
    SkeletonClipDataset(clips, skeleton_root=tmp_path, train=False)
    bad = good.copy()
    bad[2, 0, 0, 1] = np.inf
    np.savez(tmp_path / "run" / "c2.npz", joints=bad)
    with pytest.raises(ValueError, match=r"c2\.npz: non-finite"):
        SkeletonClipDataset(clips, skeleton_root=tmp_path, train=False)


def test_truncated_flow_cache_entry_names_the_file(tmp_path, cache):
    video = tmp_path / "clip.mp4"
    entry = cache.path_for(video)
    entry.parent.mkdir(parents=True)
    entry.write_bytes(b"PK\x03\x04 cut")
    with pytest.raises(ValueError, match=r"clip-.*\.npz: unreadable flow cache entry"):
        cache.get(video)


def test_camera_motion_is_removed():
    flow = np.full((2, 10, 8, 8), 150, np.uint8)  # the camera pans: every pixel moves alike
    flow[0, 0, 2:4, 2:4] = 200  # an actor moving against it
    out = subtract_camera_motion(flow)
    assert out[0, 0, 0, 0] == 128 and out[0, 0, 2, 2] == 178 and (out[1] == 128).all()


def test_crop_box_scales_and_bounds():
    rng = np.random.default_rng(0)
    for _ in range(50):
        y, x, h, w = crop_box(64, 80, (1.0, 0.875, 0.75, 0.66), rng)
        assert h in (64, 56, 48, 42) and w in (64, 56, 48, 42)
        assert 0 <= y <= 64 - h and 0 <= x <= 80 - w
