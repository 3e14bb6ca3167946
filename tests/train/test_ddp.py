"""Two processes under ``torchrun`` (DDP, gloo on CPU) reach the metrics of one process.

Slow: it starts ``torchrun`` and loads the real sentence encoder. Tiny grounding config
without dropout: DDP averages the gradients of the two half batches, which equals the
one-process gradient of the whole batch, so both runs agree up to float rounding (and the
DistributedSampler's padding of an odd last batch).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from grounding.data.synthetic import generate_dataset

pytestmark = pytest.mark.slow

GROUNDING = [
    "--epochs",
    "3",
    "--batch-size",
    "8",
    "--hidden-dim",
    "32",
    "--map-dim",
    "16",
    "--head-layers",
    "1",
    "--head-kernel",
    "3",
    "--heads",
    "2",
    "--num-clips",
    "8",
    "--dropout",
    "0",
    "--lr",
    "3e-3",
]
RECOGNITION = ["--model", "gtn", "--epochs", "2", "--batch-size", "4", "--workers", "0"]


def _run(args: list[str], nproc: int) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if nproc == 1:
        cmd = [sys.executable, "-m", "grounding.train", *args]
    else:
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={nproc}",
            "-m",
            "grounding.train",
            *args,
        ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn") / "data"
    generate_dataset(root, n_videos=4, seed=3, size=64, fps=8, workers=1, progress=False)
    rng = np.random.default_rng(0)
    feats = root.parent / "feats"
    feats.mkdir()
    for p in sorted((root / "videos").glob("*.mp4")):
        np.save(feats / f"{p.stem}.npy", rng.standard_normal((20, 16)).astype(np.float32))
    return root


def test_grounding_two_processes_match_one(data, tmp_path):
    runs = {}
    for n in (1, 2):
        out = tmp_path / f"np{n}"
        _run(
            [
                "grounding",
                "--data",
                str(data),
                "--features",
                str(data.parent / "feats"),
                "--out",
                str(out),
                "--cache-dir",
                str(tmp_path / "cache"),
                *GROUNDING,
            ],
            n,
        )
        runs[n] = json.loads((out / "metrics.json").read_text())
    one, two = runs[1], runs[2]
    assert one["world_size"] == 1 and two["world_size"] == 2
    losses = [[h["loss"] for h in r["history"]] for r in (one, two)]
    np.testing.assert_allclose(losses[0], losses[1], rtol=0.02)
    for key in ("R1@0.5", "R5@0.5", "mIoU"):  # within one query of the tiny test split
        assert abs(one["metrics"][key] - two["metrics"][key]) <= 100 / one["n_test"] + 1e-6
    assert one["prior_only"] == two["prior_only"] and one["n_test"] == two["n_test"]


def test_recognition_runs_under_torchrun(data, tmp_path):
    out = tmp_path / "rec"
    _run(["recognition", "--data", str(data), "--out", str(out), *RECOGNITION], 2)
    m = json.loads((out / "metrics.json").read_text())
    assert m["world_size"] == 2 and m["finished"] and len(m["peak_memory_mb"]) == 2
    assert m["n_test"] > 0 and (out / "checkpoint.pt").is_file()
