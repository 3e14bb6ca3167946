"""Optical-flow throughput on synthetic 128x128 basketball frames, in frame pairs per second.

Speed: ``pytest benchmarks/test_flow_speed.py`` (pytest-benchmark; one round = 20 frame pairs).
Table: ``python benchmarks/test_flow_speed.py [--size 128] [--pairs 200]``, which also times
:func:`~grounding.data.flow.flow_stacks` end to end (sparse decoding + flow + eq. 4 mapping).
Methods: DIS (fast / medium presets), Farneback, and TV-L1 where opencv-contrib is installed.
OpenCV runs single-threaded here (one flow process per core is how extraction scales).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from tabulate import tabulate

from grounding.data.flow import flow_stacks, has_tvl1, make_flow_fn
from grounding.data.synthetic.generate import render_video
from grounding.data.synthetic.script import make_script
from grounding.data.video import read_frames, video_info

METHODS = {
    "dis-fast": ("dis", "fast"),
    "dis-medium": ("dis", "medium"),
    "farneback": ("farneback", "medium"),
    "tvl1": ("tvl1", "medium"),
}
PAIRS_PER_ROUND = 20


def synthetic_video(root: Path, size: int = 128) -> Path:
    script = make_script(0, seed=0, size=size)
    render_video(script, root)
    return root / "videos" / f"{script.vid}.mp4"


def gray_frames(video: Path, n: int) -> np.ndarray:
    return read_frames(video, np.arange(n + 1), gray=True)


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> np.ndarray:
    cv2.setNumThreads(1)
    return gray_frames(synthetic_video(tmp_path_factory.mktemp("flow")), PAIRS_PER_ROUND)


@pytest.mark.parametrize("name", list(METHODS))
def test_flow_pairs_per_second(benchmark, frames, name):
    method, preset = METHODS[name]
    if method == "tvl1" and not has_tvl1():
        pytest.skip("TV-L1 needs opencv-contrib (cv2.optflow)")
    fn = make_flow_fn(method, dis_preset=preset)

    def run() -> None:
        for i in range(PAIRS_PER_ROUND):
            fn(frames[i], frames[i + 1])

    benchmark.pedantic(run, rounds=3, warmup_rounds=1)
    benchmark.extra_info["pairs_per_round"] = PAIRS_PER_ROUND
    benchmark.extra_info["pairs_per_s"] = PAIRS_PER_ROUND / benchmark.stats.stats.mean


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--pairs", type=int, default=200)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        video = synthetic_video(Path(tmp), args.size)
        n = min(args.pairs, video_info(video).n_frames - 1)
        frames = gray_frames(video, n)
        rows = []
        for name, (method, preset) in METHODS.items():
            if method == "tvl1" and not has_tvl1():
                rows.append([name, "n/a (needs opencv-contrib)", "", ""])
                continue
            fn = make_flow_fn(method, dis_preset=preset)
            fn(frames[0], frames[1])  # warm-up
            t0 = time.perf_counter()
            for i in range(n):
                fn(frames[i], frames[i + 1])
            flow_s = time.perf_counter() - t0
            starts = np.arange(0, n - 5, 6)  # disjoint 5-flow stacks
            t0 = time.perf_counter()
            flow_stacks(video, starts, length=5, method=method, dis_preset=preset)
            stack_s = time.perf_counter() - t0
            rows.append(
                [
                    name,
                    f"{n / flow_s:.0f}",
                    f"{1e3 * flow_s / n:.2f}",
                    f"{5 * len(starts) / stack_s:.0f}",
                ]
            )
    print(
        tabulate(
            rows,
            headers=[
                f"flow method ({args.size}x{args.size}, 1 thread)",
                "pairs/s (flow only)",
                "ms/pair",
                "pairs/s (flow_stacks: decode+flow+uint8)",
            ],
        )
    )


if __name__ == "__main__":
    main()
