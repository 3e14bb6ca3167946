"""Shared test fixtures. Tests build their own tiny files in tmp dirs; real-data tests read the
folder named by ``GROUNDING_REAL_DATA`` (the layout of ``shared/data``) and skip without it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def real_data() -> Path:
    root = os.environ.get("GROUNDING_REAL_DATA")
    if not root or not Path(root).is_dir():
        pytest.skip("GROUNDING_REAL_DATA is not set to a folder with the real annotation files")
    return Path(root)
