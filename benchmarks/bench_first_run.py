"""Measure the first run: the bench's stage scheduler against the same stages one after another,
from empty caches, and the training throughput of each stage kind against this machine's peak.

    python benchmarks/bench_first_run.py [--profile smoke] [--jobs N] [--keep DIR]

1. the kernels (``benchmarks/bench_training.py``): the machine's 1-thread fp32 matmul peak,
   and the recognizer's and the grounding network's training throughput as a ratio to it;
2. ``python -m grounding.bench --profile PROFILE --no-speed`` twice, each from empty data and
   stage caches in a temporary folder: ``--jobs 1`` (every stage in turn, in one process) and
   ``--jobs N`` (the scheduler, default: the cores); prints both stage-time tables, the wall
   times and their ratio, and checks that both runs give the same metrics (same seeds,
   settings and thread counts).

Every number is measured in this run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grounding.scheduler import default_jobs  # noqa: E402


def bench_run(profile: str, jobs: int, folder: Path) -> tuple[float, dict]:
    """One bench run from empty caches under ``folder``: ``(wall seconds, results document)``."""
    cmd = [
        sys.executable, "-m", "grounding.bench", "--profile", profile, "--no-speed",
        "--jobs", str(jobs), "--runs", str(folder / "runs"), "--data-root",
        str(folder / "data"), "--out", str(folder / "results"),
    ]  # fmt: skip
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if out.returncode:
        sys.exit(f"bench --jobs {jobs} failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    doc = json.loads((folder / "results" / "synthetic" / f"{profile}.json").read_text())
    return wall, doc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="smoke")
    ap.add_argument("--jobs", type=int, default=default_jobs(), help="the scheduler's jobs")
    ap.add_argument("--keep", type=Path, default=None, help="keep the runs in this folder")
    ap.add_argument("--skip-kernels", action="store_true", help="only the scheduler part")
    args = ap.parse_args()

    if not args.skip_kernels:
        kernels = ROOT / "benchmarks" / "bench_training.py"
        subprocess.run([sys.executable, str(kernels)], cwd=ROOT, check=True)

    from grounding.scheduler import StageTime, stage_table

    base = args.keep or Path(tempfile.mkdtemp(prefix="first-run-"))
    walls, docs = {}, {}
    for jobs in (1, args.jobs):
        folder = base / f"jobs{jobs}"
        if folder.exists() and any(folder.iterdir()):
            sys.exit(f"{folder} is not empty: the runs must start from empty caches")
        print(f"\nbench --profile {args.profile} --jobs {jobs} (empty caches in {folder}) ...",
              flush=True)  # fmt: skip
        walls[jobs], docs[jobs] = bench_run(args.profile, jobs, folder)
        times = [
            StageTime(s["name"], s["wall_s"], s["cpu_s"], s["threads"], s["cached"], s["start_s"])
            for s in docs[jobs]["stages"]
        ]
        print(stage_table(times, total_wall=docs[jobs]["seconds"]["models"]))
        print(f"whole command: {walls[jobs]:.1f} s")
    one, many = walls[1], walls[args.jobs]
    stages_one = docs[1]["seconds"]["models"]
    stages_many = docs[args.jobs]["seconds"]["models"]
    print(
        f"\nscheduler speedup, profile {args.profile}: stages {stages_one:.1f} s -> "
        f"{stages_many:.1f} s ({stages_one / stages_many:.2f}x); whole command {one:.1f} s -> "
        f"{many:.1f} s ({one / many:.2f}x), {args.jobs} jobs"
    )
    same = all(
        docs[1][section][m]["per_seed"] == docs[args.jobs][section][m]["per_seed"]
        for section in ("grounding", "recognition")
        for m in docs[1][section]
    )
    print(f"same metrics with --jobs 1 and --jobs {args.jobs}: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
