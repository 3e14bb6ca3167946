"""Person-feature decoding against the synthetic scripts (grounding.research.decode)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from grounding.data.persons import COLOUR_BINS, descriptor_dim
from grounding.data.synthetic import generate_dataset
from grounding.data.synthetic.actions import ACTIONS
from grounding.data.synthetic.manifest import read_generator_settings
from grounding.data.synthetic.script import JERSEYS, make_script
from grounding.research.decode import colour_bin, decode_person_features, main
from grounding.research.oracle import COLOURS, oracle_features

#: a dataset is generated once per module
pytestmark = [pytest.mark.research, pytest.mark.slow]

A = len(ACTIONS)
C = descriptor_dim(COLOUR_BINS)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("dec") / "data"
    generate_dataset(root, n_videos=3, seed=5, size=64, fps=8, workers=1, progress=False)
    return root


def _write(path, data, *, perfect: bool, attrs: dict | None = None) -> None:
    """Person features that hold exactly the script (``perfect``) or a wrong action."""
    m = read_generator_settings(data)
    classes = sorted(ACTIONS)  # the recognizer's class order differs from ACTIONS'
    with h5py.File(path, "w") as f:
        for i, vid in enumerate(m["videos"]):
            script = make_script(i, seed=m["seed"], fps=m["fps"], size=m["size"])
            o = oracle_features(script, rate=1)
            x = np.zeros((len(o), 8 + A * C + A), np.float32)  # 8: pooled features in front
            pairs = x[:, 8:-A].reshape(len(o), A, C)
            for t in range(len(o)):
                for ci, colour in enumerate(COLOURS):
                    for a in np.flatnonzero(o[t, ci * A : (ci + 1) * A]):
                        k = classes.index(ACTIONS[a if perfect else (a + 1) % A])
                        pairs[t, k, colour_bin(JERSEYS[colour])] += 1.0
                        x[t, -A + k] += 1.0
            x[:, 8:-A] = pairs.reshape(len(o), -1)
            f.create_dataset(vid, data=x)
        defaults = {
            "persons": "0.5",
            "clip_seconds": "1.0",
            "recognition_config": json.dumps({"classes": classes}),
        }
        for k, v in {**defaults, **(attrs or {})}.items():
            f.attrs[k] = v


def test_features_that_hold_the_script_decode_fully(data, tmp_path, capsys):
    _write(tmp_path / "p.h5", data, perfect=True)
    report = decode_person_features(data, tmp_path / "p.h5")
    assert report.pairs > 0
    assert report.colour_found == report.colour_bound_action == 1.0
    assert 0 < report.any_player_action <= 1.0  # several players at once can tie or differ
    assert main(["--data", str(data), "--features", str(tmp_path / "p.h5")]) == 0
    assert "colour-bound action %" in capsys.readouterr().out
    _write(tmp_path / "w.h5", data, perfect=False)
    wrong = decode_person_features(data, tmp_path / "w.h5")
    assert wrong.colour_found == 1.0 and wrong.colour_bound_action == 0.0
    # the confusion matrix counts every found pair: on the diagonal for the script, one
    # action further for the shifted features
    assert report.confusion.sum() == report.pairs == wrong.confusion.sum()
    assert (report.confusion == np.diag(np.diag(report.confusion))).all()
    shifted = np.roll(np.diag(np.diag(report.confusion)), 1, axis=1)
    assert (wrong.confusion == shifted).all()
    assert main(["--data", str(data), "--features", str(tmp_path / "w.h5"), "--confusion"]) == 0
    out = capsys.readouterr().out
    assert "recall %" in out and "scripted" in out


def test_other_files_are_refused(data, tmp_path, capsys):
    _write(tmp_path / "f.h5", data, perfect=True, attrs={"clip_seconds": "2.0"})
    with pytest.raises(ValueError, match="one row per second"):
        decode_person_features(data, tmp_path / "f.h5")
    (tmp_path / "junk.h5").write_text("not hdf5")
    assert main(["--data", str(data), "--features", str(tmp_path / "junk.h5")]) == 2
    assert "not a readable HDF5 file" in capsys.readouterr().err
    with h5py.File(tmp_path / "frame.h5", "w") as f:
        f.attrs["clip_seconds"] = "1.0"
    with pytest.raises(ValueError, match="not person-centric"):
        decode_person_features(data, tmp_path / "frame.h5")
