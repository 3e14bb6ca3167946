from __future__ import annotations

from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from grounding.data import flow as flow_mod
from grounding.data.flow import (
    FlowCache,
    FlowParams,
    compute_flow,
    extract_flow_cache,
    flow_stacks,
    flow_to_uint8,
    has_tvl1,
    uint8_to_flow,
)
from grounding.data.video import VideoError


def texture(size: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (size, size)).astype(np.uint8)
    return cv2.GaussianBlur(img, (0, 0), 1.5)


def make_video(path: Path, n: int = 12, size: int = 48, step: int = 2) -> Path:
    """A textured image translating ``step`` pixels right per frame."""
    base = texture(size + step * n, seed=1)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (size, size))
    for i in range(n):
        crop = base[:size, (n - i) * step : (n - i) * step + size]
        w.write(cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_GRAY2BGR))
    w.release()
    return path


def test_flow_to_uint8_is_paper_eq4_with_truncation():
    f = np.array([-25.0, -20.0, -10.0, 0.0, 10.0, 20.0, 30.0, np.nan], np.float32)
    u = flow_to_uint8(f, bound=20.0)
    assert u.dtype == np.uint8
    assert u.tolist() == [0, 0, 64, 128, 191, 255, 255, 128]
    back = uint8_to_flow(flow_to_uint8(np.linspace(-20, 20, 101), 20.0), 20.0)
    assert np.abs(back - np.linspace(-20, 20, 101)).max() <= 40 / 255 / 2 + 1e-5
    assert flow_to_uint8(np.array([5.0]), bound=5.0)[0] == 255
    with pytest.raises(ValueError, match="bound"):
        flow_to_uint8(f, bound=0)


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_compute_flow_recovers_a_translation(method):
    a = texture()
    b = np.roll(a, 3, axis=1)
    f = compute_flow(a, b, method=method)
    assert f.shape == (64, 64, 2) and f.dtype == np.float32
    inner = f[16:48, 16:48]
    assert abs(float(np.median(inner[..., 0])) - 3.0) < 0.5
    assert abs(float(np.median(inner[..., 1]))) < 0.5
    rgb = np.repeat(a[..., None], 3, axis=2)
    assert compute_flow(rgb, np.repeat(b[..., None], 3, axis=2), method=method).shape == (64, 64, 2)


def test_tvl1_needs_contrib_or_works():
    a = texture()
    if has_tvl1():
        f = compute_flow(a, np.roll(a, 2, axis=1), method="tvl1")
        assert abs(float(np.median(f[16:48, 16:48, 0])) - 2.0) < 0.5
    else:
        with pytest.raises(RuntimeError, match="opencv-contrib"):
            compute_flow(a, a, method="tvl1")


def test_compute_flow_bad_input():
    a = texture()
    with pytest.raises(ValueError, match="unknown flow method"):
        compute_flow(a, a, method="lucas")
    with pytest.raises(ValueError, match="differ in size"):
        compute_flow(a, a[:32])
    with pytest.raises(ValueError, match="uint8 grayscale"):
        compute_flow(a.astype(np.float32), a)


def test_flow_stacks_interleave_x_and_y(tmp_path):
    video = make_video(tmp_path / "v.mp4", n=12, step=2)
    stacks = flow_stacks(video, [0, 4, 6], length=5, method="dis")
    assert stacks.shape == (3, 10, 48, 48) and stacks.dtype == np.uint8
    x = uint8_to_flow(stacks[:, 0::2, 12:36, 12:36])
    y = uint8_to_flow(stacks[:, 1::2, 12:36, 12:36])
    assert abs(float(np.median(x)) - 2.0) < 0.6 and abs(float(np.median(y))) < 0.6
    # overlapping stacks share flows: stack at 4 and 6 agree where they overlap
    np.testing.assert_array_equal(stacks[1, 4:], stacks[2, :6])


def test_flow_stacks_bad_videos(tmp_path):
    short = make_video(tmp_path / "short.mp4", n=5)
    with pytest.raises(VideoError, match=r"short\.mp4.*fewer than one flow stack"):
        flow_stacks(short, [0], length=5)
    ok = make_video(tmp_path / "ok.mp4", n=8)
    with pytest.raises(VideoError, match=r"ok\.mp4.*starts must be in \[0, 2\]"):
        flow_stacks(ok, [3], length=5)
    with pytest.raises(FileNotFoundError, match=r"missing\.mp4"):
        flow_stacks(tmp_path / "missing.mp4", [0])
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"garbage" * 50)
    with pytest.raises(VideoError, match=r"bad\.mp4"):
        flow_stacks(bad, [0])


@pytest.fixture
def videos(tmp_path) -> list[Path]:
    return [make_video(tmp_path / f"vid{i}.mp4", n=10 + 3 * i) for i in range(3)]


def test_cache_stores_stacks_keyed_by_video_and_params(tmp_path, videos):
    cache_path = tmp_path / "flow.h5"
    cache = extract_flow_cache(videos, cache_path, n_segments=3, length=4, progress=False)
    params = FlowParams(n_segments=3, length=4)
    assert cache.vids(params) == ["vid0", "vid1", "vid2"]
    stacks, starts = cache.get("vid1", params)
    assert stacks.shape == (3, 8, 48, 48) and stacks.dtype == np.uint8
    np.testing.assert_array_equal(starts, params.starts("vid1", 13))
    np.testing.assert_array_equal(stacks, flow_stacks(videos[1], starts, length=4))
    with h5py.File(cache_path) as f:
        d = f[f"{params.key()}/vid1"]
        assert d.compression == "gzip"
    with pytest.raises(KeyError, match="vid9"):
        cache.get("vid9", params)
    assert not (tmp_path / ".flow.h5.parts").exists() or not any(
        (tmp_path / ".flow.h5.parts").rglob("*.npz")
    )


def test_cache_is_reused_and_changed_params_recompute(tmp_path, videos, monkeypatch):
    cache_path = tmp_path / "flow.h5"
    extract_flow_cache(videos, cache_path, n_segments=2, length=3, progress=False)
    calls = []
    real = flow_mod.flow_stacks
    monkeypatch.setattr(
        flow_mod, "flow_stacks", lambda *a, **k: (calls.append(a[0]), real(*a, **k))[1]
    )
    extract_flow_cache(videos, cache_path, n_segments=2, length=3, progress=False)
    assert calls == []
    cache = extract_flow_cache(
        videos, cache_path, n_segments=2, length=3, bound=10.0, progress=False
    )
    assert len(calls) == 3
    old, new = FlowParams(n_segments=2, length=3), FlowParams(n_segments=2, length=3, bound=10.0)
    assert old.key() != new.key()
    assert cache.vids(old) == cache.vids(new) == ["vid0", "vid1", "vid2"]
    a, _ = cache.get("vid0", old)
    b, _ = cache.get("vid0", new)
    assert not np.array_equal(a, b)  # the mapping range changed
    t1 = FlowParams(n_segments=2, length=3, train=True, seed=1)
    assert t1.key() != FlowParams(n_segments=2, length=3, train=True, seed=2).key()
    np.testing.assert_array_equal(t1.starts("vid0", 50), t1.starts("vid0", 50))


def test_interrupted_extraction_resumes(tmp_path, videos, monkeypatch):
    cache_path = tmp_path / "flow.h5"
    real = flow_mod.flow_stacks
    calls: list[str] = []

    def flaky(path, *a, **k):
        if len(calls) == 1:
            raise KeyboardInterrupt
        calls.append(Path(path).stem)
        return real(path, *a, **k)

    monkeypatch.setattr(flow_mod, "flow_stacks", flaky)
    with pytest.raises(KeyboardInterrupt):
        extract_flow_cache(videos, cache_path, n_segments=2, progress=False)
    assert not cache_path.exists()  # nothing that looks like a finished cache
    params = FlowParams(n_segments=2)
    cache = FlowCache(cache_path)
    assert [p.stem for p in cache.parts(params)] == ["vid0"]
    (cache.parts_dir(params) / ".vid1.x.tmp.npz").write_bytes(b"half")  # a killed writer
    calls.clear()
    monkeypatch.setattr(
        flow_mod,
        "flow_stacks",
        lambda p, *a, **k: (calls.append(Path(p).stem), real(p, *a, **k))[1],
    )
    extract_flow_cache(videos, cache_path, n_segments=2, progress=False)
    assert calls == ["vid1", "vid2"]
    assert cache.vids(params) == ["vid0", "vid1", "vid2"]
    assert not cache.parts_dir(params).exists()


def test_cache_bad_input(tmp_path, videos):
    with pytest.raises(ValueError, match="unique"):
        extract_flow_cache([videos[0], videos[0]], tmp_path / "f.h5", n_segments=2, progress=False)
    with pytest.raises(ValueError, match="no videos"):
        extract_flow_cache([], tmp_path / "f.h5", n_segments=2, progress=False)
    short = make_video(tmp_path / "tiny.mp4", n=4)
    with pytest.raises(VideoError, match=r"tiny\.mp4.*fewer than one flow stack"):
        extract_flow_cache([short], tmp_path / "f.h5", n_segments=2, progress=False)
    broken = tmp_path / "broken.h5"
    broken.write_bytes(b"not hdf5")
    with pytest.raises(OSError, match=r"broken\.h5.*not a readable HDF5 flow cache"):
        extract_flow_cache(videos[:1], broken, n_segments=2, progress=False)
