from __future__ import annotations

import pickle
import re
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from grounding.data.features import (
    FeatureError,
    FeatureStore,
    HDF5Features,
    MissingFeatures,
    NpyFolderFeatures,
    open_features,
    resample_features,
)


def npy_folder(tmp_path: Path, arrays: dict[str, np.ndarray]) -> Path:
    root = tmp_path / "i3d"
    root.mkdir()
    for vid, arr in arrays.items():
        np.save(root / f"{vid}.npy", arr)
    return root


def h5_file(tmp_path: Path, arrays: dict[str, np.ndarray], key: str | None = None) -> Path:
    path = tmp_path / "feats.hdf5"
    with h5py.File(path, "w") as f:
        for vid, arr in arrays.items():
            if key is None:
                f.create_dataset(vid, data=arr)
            else:
                f.create_group(vid).create_dataset(key, data=arr)
    return path


RNG = np.random.default_rng(0)
A = RNG.standard_normal((5, 8)).astype(np.float32)
B = RNG.standard_normal((3, 8))  # float64 on disk


def test_npy_folder(tmp_path):
    store = NpyFolderFeatures(npy_folder(tmp_path, {"3MSZA": A, "AMT7R": B}))
    assert isinstance(store, FeatureStore)
    assert store.keys() == ["3MSZA", "AMT7R"] and len(store) == 2
    assert "3MSZA" in store and "XXXXX" not in store and "../i3d/3MSZA" not in store
    assert store.dim == 8
    np.testing.assert_array_equal(store["3MSZA"], A)
    assert store["AMT7R"].dtype == np.float32 and store["AMT7R"].shape == (3, 8)


@pytest.mark.parametrize("key", [None, "c3d_features"])
def test_hdf5(tmp_path, key):
    path = h5_file(tmp_path, {"v_a": A, "v_b": B}, key)
    with HDF5Features(path, dataset_key=key) as store:
        assert store.keys() == ["v_a", "v_b"] and store.dim == 8
        assert "v_a" in store and "v_c" not in store
        np.testing.assert_array_equal(store["v_a"], A)
        clone = pickle.loads(pickle.dumps(store))
        np.testing.assert_array_equal(clone["v_b"], B.astype(np.float32))
        clone.close()


def test_missing_vid_names_file_and_vid(tmp_path):
    store = NpyFolderFeatures(npy_folder(tmp_path, {"a": A}))
    with pytest.raises(
        MissingFeatures, match=re.escape(f"{store.root}: no features for video 'b'")
    ):
        store["b"]
    with pytest.raises(KeyError):
        HDF5Features(h5_file(tmp_path, {"a": A}))["b"]


@pytest.mark.parametrize(
    ("arr", "fragment"),
    [
        (np.array([[0.0, np.nan], [1.0, 2.0]]), "1 non-finite values (NaN/inf, or too large"),
        (np.array([[0.0, 1.0], [np.inf, 2.0]]), "first at frame 1"),
        (np.array([[1e300, 0.0]]), "too large for float32"),
        (np.zeros(4), "expected (T, D) features"),
        (np.zeros((2, 3, 4)), "expected (T, D) features"),
        (np.zeros((0, 4)), "expected (T, D) features with T, D >= 1"),
        (np.array([[b"a", b"b"]]), "must be numeric"),
    ],
)
def test_bad_arrays_name_file_and_vid(tmp_path, arr, fragment):
    store = NpyFolderFeatures(npy_folder(tmp_path, {"vid1": arr}))
    with pytest.raises(FeatureError, match=re.escape(fragment)) as e:
        store["vid1"]
    assert str(e.value).startswith(f"{store.root} [vid1]: ")
    h5 = HDF5Features(h5_file(tmp_path, {"vid1": arr}))
    with pytest.raises(FeatureError, match=re.escape(fragment)):
        h5["vid1"]


def test_corrupt_and_pickled_npy(tmp_path):
    root = npy_folder(tmp_path, {"ok": A})
    (root / "garbage.npy").write_bytes(b"not an npy file at all")
    full = (root / "ok.npy").read_bytes()
    (root / "cut.npy").write_bytes(full[: len(full) - 17])
    np.save(root / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    store = NpyFolderFeatures(root)
    for vid in ("garbage", "cut", "obj"):
        with pytest.raises(FeatureError, match=re.escape("not a readable .npy array")) as e:
            store[vid]
        assert f"{vid}.npy [{vid}]" in str(e.value)


def test_corrupt_and_truncated_hdf5(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"garbage" * 100)
    with pytest.raises(FeatureError, match=re.escape(f"{bad}: not a readable HDF5 file")):
        HDF5Features(bad)
    good = h5_file(tmp_path, {"a": RNG.standard_normal((200, 64))})
    cut = tmp_path / "cut.h5"
    cut.write_bytes(good.read_bytes()[:4000])
    with pytest.raises(FeatureError, match=re.escape(str(cut))):
        HDF5Features(cut)["a"]


def test_hdf5_layout_errors(tmp_path):
    grouped = h5_file(tmp_path, {"v_a": A}, "c3d_features")
    with pytest.raises(FeatureError, match=re.escape("[v_a]: f[vid] is a group with")):
        HDF5Features(grouped)["v_a"]
    with pytest.raises(FeatureError, match=re.escape("no 'rgb' in f[vid]")):
        HDF5Features(grouped, dataset_key="rgb")["v_a"]
    assert HDF5Features(grouped, dataset_key="c3d_features")["v_a"].shape == (5, 8)


def test_empty_store_dim(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FeatureError, match="empty"):
        _ = NpyFolderFeatures(tmp_path / "empty").dim


def test_open_features(tmp_path):
    folder = npy_folder(tmp_path, {"a": A})
    assert isinstance(open_features(folder, feature_type="i3d"), NpyFolderFeatures)
    c3d = h5_file(tmp_path, {"v_a": A}, "c3d_features")
    store = open_features(c3d, feature_type="C3D")
    assert isinstance(store, HDF5Features) and store["v_a"].shape == (5, 8)
    with pytest.raises(ValueError, match="unknown feature_type 'clip'"):
        open_features(folder, feature_type="clip")
    with pytest.raises(FileNotFoundError, match=re.escape("sub_activitynet_v1-3.c3d.hdf5")):
        open_features(tmp_path / "missing.pt", feature_type="c3d")
    with pytest.raises(FileNotFoundError, match="feature file not found"):
        open_features(tmp_path / "missing.h5", feature_type="vgg")
    (tmp_path / "x.pt").write_bytes(b"")
    with pytest.raises(
        ValueError, match=re.escape("expected a folder of <vid>.npy or <vid>.npz, or an HDF5 file")
    ):
        open_features(tmp_path / "x.pt", feature_type="vgg")


@pytest.mark.parametrize("layout", ["npy", "hdf5"])
def test_open_checks_every_videos_width(tmp_path, layout):
    arrays = {"a": A, "b": B, "c": RNG.standard_normal((4, 7)), "d": A}
    if layout == "npy":
        path, where = npy_folder(tmp_path, arrays), f"{tmp_path / 'i3d' / 'c.npy'} [c]"
    else:
        path, where = h5_file(tmp_path, arrays), f"{tmp_path / 'feats.hdf5'} [c]"
    with pytest.raises(FeatureError, match=re.escape(f"{where}: feature width 7, but 3 of the 4")):
        open_features(path, feature_type="i3d")
    store = open_features(path, feature_type="i3d", check=False)  # lazily, as before
    assert store["a"].shape == (5, 8)


def test_open_checks_every_videos_shape(tmp_path):
    root = npy_folder(tmp_path, {"a": A, "flat": np.zeros(6, np.float32)})
    with pytest.raises(FeatureError, match=re.escape("flat.npy [flat]: expected (T, D)")):
        open_features(root, feature_type="i3d")
    (root / "flat.npy").write_bytes(b"garbage")
    with pytest.raises(FeatureError, match=re.escape("flat.npy [flat]: not a readable .npy")):
        open_features(root, feature_type="i3d")
    (root / "flat.npy").unlink()
    store = open_features(root, feature_type="i3d")
    assert store.dim == 8 and store.check_shapes() == 8
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as f:
        f.create_dataset("z", data=np.zeros((0, 8), np.float32))
    with pytest.raises(FeatureError, match=re.escape(f"{empty} [z]: expected (T, D)")):
        open_features(empty, feature_type="vgg")
    (tmp_path / "none").mkdir()
    with pytest.raises(FeatureError, match="empty"):
        open_features(tmp_path / "none", feature_type="i3d")


def average_to_fixed_length(visual_input: torch.Tensor, num_sample_clips: int) -> torch.Tensor:
    """2D-TAN lib/datasets/__init__.py, verbatim logic (reference for the vectorised version)."""
    num_clips = visual_input.shape[0]
    idxs = torch.arange(0, num_sample_clips + 1, 1.0) / num_sample_clips * num_clips
    idxs = torch.min(torch.round(idxs).long(), torch.tensor(num_clips - 1))
    out = []
    for i in range(num_sample_clips):
        s_idx, e_idx = idxs[i].item(), idxs[i + 1].item()
        if s_idx < e_idx:
            out.append(torch.mean(visual_input[s_idx:e_idx], dim=0))
        else:
            out.append(visual_input[s_idx])
    return torch.stack(out, dim=0)


@pytest.mark.parametrize(("t", "n"), [(1, 16), (5, 16), (16, 16), (17, 16), (100, 16), (37, 64)])
def test_resample_matches_2dtan(t, n):
    x = np.random.default_rng(t).standard_normal((t, 6)).astype(np.float32)
    got = resample_features(x, n)
    want = average_to_fixed_length(torch.from_numpy(x), n).numpy()
    assert got.shape == (n, 6) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_resample_by_hand():
    x = np.arange(4, dtype=np.float32)[:, None]
    # bounds [0, 2, 4->3]: spans [0, 1] and [2]; frame 3 is dropped (2D-TAN's cap at T-1).
    np.testing.assert_array_equal(resample_features(x, 2), [[0.5], [2.0]])
    # T < n: empty spans repeat their start frame.
    np.testing.assert_array_equal(resample_features(x[:2], 4), [[0.0], [0.0], [1.0], [1.0]])
    with pytest.raises(ValueError, match="expected"):
        resample_features(np.zeros(3), 2)
    with pytest.raises(ValueError, match="n must be >= 1"):
        resample_features(x, 0)


def test_npz_folder_moment_detr_layout(tmp_path):
    from grounding.data.features import NpzFolderFeatures

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "a.npz", features=rng.random((5, 8)).astype(np.float32))
    np.savez(tmp_path / "b.npz", rng.random((3, 8)))  # the only array, saved as arr_0
    store = open_features(tmp_path, feature_type="i3d")
    assert isinstance(store, NpzFolderFeatures)
    assert store.keys() == ["a", "b"] and store.dim == 8
    assert store["a"].shape == (5, 8) and store["b"].dtype == np.float32


def test_npz_folder_errors_name_the_file(tmp_path):
    np.savez(tmp_path / "a.npz", features=np.ones((5, 8)))
    np.savez(tmp_path / "b.npz", x=np.ones((5, 8)), y=np.ones((5, 8)))
    with pytest.raises(FeatureError, match=r"b\.npz \[b\]: holds \['x', 'y'\]"):
        open_features(tmp_path, feature_type="i3d")
    (tmp_path / "b.npz").write_bytes(b"not a zip")
    with pytest.raises(FeatureError, match=r"b\.npz \[b\]: not a readable \.npz"):
        open_features(tmp_path, feature_type="i3d")
    (tmp_path / "b.npz").unlink()
    np.savez(tmp_path / "b.npz", features=np.ones((5, 7)))
    np.savez(tmp_path / "c.npz", features=np.ones((2, 8)))
    with pytest.raises(FeatureError, match=r"b\.npz \[b\]: feature width 7"):
        open_features(tmp_path, feature_type="i3d")
    np.save(tmp_path / "d.npy", np.ones((5, 8)))
    with pytest.raises(ValueError, match="both"):
        open_features(tmp_path, feature_type="i3d")
