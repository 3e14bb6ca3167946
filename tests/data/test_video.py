from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from grounding.data.video import (
    VideoError,
    read_frames,
    segment_indices,
    snippet_indices,
    video_info,
)


def make_video(path: Path, n: int = 20, size: int = 32, fps: int = 10) -> Path:
    """Frame i is a flat grey of value 10 * i with a moving white square."""
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (size, size))
    for i in range(n):
        f = np.full((size, size, 3), 10 * i, np.uint8)
        f[4:12, i % (size - 8) : i % (size - 8) + 8] = 255
        w.write(f)
    w.release()
    return path


def decode_all(path: Path) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        out.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    return np.stack(out)


@pytest.fixture
def video(tmp_path) -> Path:
    return make_video(tmp_path / "v.mp4")


def test_video_info(video):
    info = video_info(video)
    assert (info.n_frames, info.width, info.height) == (20, 32, 32)
    assert info.fps == pytest.approx(10) and info.duration == pytest.approx(2.0)


def test_sparse_read_matches_full_decode_in_any_order(video):
    full = decode_all(video)
    idx = [7, 0, 19, 7, 3]
    got = read_frames(video, idx)
    assert got.shape == (5, 32, 32, 3) and got.dtype == np.uint8
    np.testing.assert_array_equal(got, full[idx])
    gray = read_frames(video, [2, 5], gray=True)
    assert gray.shape == (2, 32, 32)
    assert abs(float(gray[1, 20:, :].mean()) - 50) < 4
    assert read_frames(video, []).shape == (0, 32, 32, 3)


def test_out_of_range_index_names_the_file(video):
    with pytest.raises(VideoError, match=r"v\.mp4.*out of range"):
        read_frames(video, [20])
    with pytest.raises(VideoError, match="out of range"):
        read_frames(video, [-1])


def test_missing_corrupt_and_truncated_videos(tmp_path, video):
    with pytest.raises(FileNotFoundError, match=r"nope\.mp4"):
        video_info(tmp_path / "nope.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00not a video" * 100)
    with pytest.raises(VideoError, match=r"junk\.mp4"):
        video_info(junk)
    with pytest.raises(VideoError, match=r"junk\.mp4"):
        read_frames(junk, [0])
    cut = tmp_path / "cut.mp4"
    data = video.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match=r"cut\.mp4"):
        read_frames(cut, [19])


def test_truncated_stream_reports_where_it_ended(tmp_path, monkeypatch, video):
    """A container that claims more frames than its stream holds."""
    real = cv2.VideoCapture

    class Short:
        def __init__(self, p):
            self.cap = real(p)
            self.left = 5

        def __getattr__(self, name):
            return getattr(self.cap, name)

        def grab(self):
            self.left -= 1
            return self.left >= 0 and self.cap.grab()

    monkeypatch.setattr(cv2, "VideoCapture", Short)
    with pytest.raises(VideoError, match=r"v\.mp4: truncated.*ended at frame 5"):
        read_frames(video, [2, 9])


def test_segment_indices_test_mode_is_the_middle():
    np.testing.assert_array_equal(segment_indices(100, 4, train=False), [12, 37, 62, 87])
    s = segment_indices(100, 4, train=False, new_length=5)
    assert s.max() + 5 <= 100


def test_segment_indices_train_is_random_inside_each_segment():
    rng = np.random.default_rng(0)
    draws = np.stack(
        [segment_indices(100, 4, train=True, rng=rng, new_length=5) for _ in range(300)]
    )
    valid = 100 - 5 + 1
    edges = np.linspace(0, valid, 5)
    for k in range(4):
        assert draws[:, k].min() >= np.floor(edges[k]) and draws[:, k].max() < edges[k + 1]
        assert len(np.unique(draws[:, k])) > 10
    a = segment_indices(100, 4, train=True, rng=np.random.default_rng(1))
    b = segment_indices(100, 4, train=True, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="needs an rng"):
        segment_indices(100, 4, train=True)


@pytest.mark.parametrize("train", [False, True])
@pytest.mark.parametrize(("n", "segments", "length"), [(3, 8, 1), (7, 8, 5), (5, 3, 5), (6, 6, 1)])
def test_segment_indices_valid_for_short_videos_and_edges(n, segments, length, train):
    s = segment_indices(n, segments, train=train, rng=np.random.default_rng(0), new_length=length)
    assert s.shape == (segments,) and s.dtype == np.int64
    assert s.min() >= 0 and s.max() + length <= n
    assert (np.diff(s) >= 0).all()
    frames = snippet_indices(s, length)
    assert frames.shape == (segments, length) and frames.max() < n


def test_segment_indices_bad_arguments():
    with pytest.raises(ValueError, match="shorter than one snippet"):
        segment_indices(4, 3, train=False, new_length=5)
    with pytest.raises(ValueError, match="n_segments"):
        segment_indices(10, 0, train=False)
