"""Fixtures shared by the data tests."""

from __future__ import annotations

import pytest

from grounding.data.hmdb import ActionSplit, read_hmdb51_split
from grounding.data.synthetic import generate_dataset


@pytest.fixture(scope="session")
def split(tmp_path_factory) -> ActionSplit:
    """The action clips of a 4-video synthetic dataset (64 px, 8 fps), HMDB51 split 1."""
    root = tmp_path_factory.mktemp("syn") / "data"
    generate_dataset(root, n_videos=4, seed=3, size=64, fps=8, workers=1, progress=False)
    actions = root / "actions"
    return read_hmdb51_split(actions, actions / "splits", exclude=[actions / "skeletons"])
