"""Wide-shot crops of the synthetic training clips (grounding.research.wide_clips)."""

from __future__ import annotations

import numpy as np
import pytest

from grounding.data.action_dataset import load_skeleton
from grounding.data.hmdb import read_hmdb51_split
from grounding.data.synthetic import generate_dataset
from grounding.data.video import video_info
from grounding.research.wide_clips import SMOOTH_FRAMES, crop_track, main, write_wide_clips

pytestmark = pytest.mark.research


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("wide") / "data"
    generate_dataset(root, n_videos=4, seed=3, size=64, fps=8, workers=1, progress=False)
    return root


def _split(root):
    actions = root / "actions"
    return read_hmdb51_split(actions, actions / "splits", exclude=[actions / "skeletons"])


def test_crop_track_follows_the_player_at_the_pose_framing():
    t, joints = 20, np.zeros((20, 2, 17, 3), np.float32)
    joints[:, 0, :, 0] = np.arange(t)[:, None] + np.linspace(0, 4, 17)[None, :]  # x: 1 px/frame
    joints[:, 0, :, 1] = np.linspace(10, 30, 17)[None, :]  # 20 px tall
    joints[2:, 0, :, 2] = 1.0  # frames 0, 1 without the player
    joints[:, 1, :, :2], joints[:, 1, :, 2] = 50.0, 1.0  # someone else, standing still
    centre, side = crop_track(joints, 0, 0, t, scale=2.5)
    assert centre.shape == (t, 2) and side == pytest.approx(50.0)
    assert np.allclose(centre[:, 1], 20.0)
    inner = np.arange(2 + SMOOTH_FRAMES, t - SMOOTH_FRAMES)
    assert np.allclose(centre[inner, 0], inner + 2.0)  # a moving average keeps a straight path
    # frames without the player take frame 2's centre (x 4), then the smoothing
    assert np.all(np.abs(centre[:2, 0] - 4.0) < 0.5)
    with pytest.raises(ValueError, match="player 0 is visible in none of frames"):
        crop_track(joints, 0, 0, 2)


@pytest.mark.slow
def test_wide_clips_add_crops_of_the_training_clips_only(data, tmp_path):
    out = tmp_path / "wide"
    counts = write_wide_clips(data, out, progress=False)
    before, after = _split(data), _split(out)
    assert after.classes == before.classes
    assert counts["linked"] == len(before.train) + len(before.test)
    assert counts["wide"] + counts["unseen"] == len(before.train) and counts["wide"] > 0
    assert sorted(c.path.name for c in after.test) == sorted(c.path.name for c in before.test)
    wide = [c for c in after.train if c.path.stem.endswith("_wide")]
    assert len(wide) == counts["wide"] and len(after.train) == len(before.train) + len(wide)
    by_name = {c.path.stem: c for c in before.train}
    for clip in wide:
        close = by_name[clip.path.stem.removesuffix("_wide")]
        assert clip.label == close.label
        info, ref = video_info(clip.path), video_info(close.path)
        assert (info.n_frames, info.width, info.height) == (ref.n_frames, ref.width, ref.height)
        skeletons = out / "actions" / "skeletons" / clip.class_name
        joints = load_skeleton(skeletons / f"{clip.path.stem}.npz")
        assert joints.shape[:2] == (info.n_frames, 1)
        seen = joints[..., 2] > 0
        assert seen.any() and (joints[..., :2][seen] >= 0).all()
        assert (joints[..., :2][seen] < info.width).all()
    stamp = wide[0].path.stat().st_mtime_ns
    assert write_wide_clips(data, out, progress=False) == counts  # rerun: nothing redone
    assert wide[0].path.stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_cli_refuses_writing_into_the_source(data, tmp_path, capsys):
    assert main(["--data", str(data), "--out", str(data)]) == 2
    assert "--out must differ" in capsys.readouterr().err
    assert main(["--data", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    assert "manifest" in capsys.readouterr().err
