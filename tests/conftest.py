"""Shared test fixtures. Tests build their own tiny files in tmp dirs; real-data tests read the
folder named by ``GROUNDING_REAL_DATA`` (the layout of ``shared/data``) and skip without it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# idle OpenMP threads sleep instead of spinning: spinning threads thrash a shared 2-core machine
# (the CLIs set the same); set before any test module imports torch
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(scope="session")
def real_data() -> Path:
    root = os.environ.get("GROUNDING_REAL_DATA")
    if not root or not Path(root).is_dir():
        pytest.skip("GROUNDING_REAL_DATA is not set to a folder with the real annotation files")
    return Path(root)
