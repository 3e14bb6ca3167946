"""Generation speed of the synthetic dataset, and how guessable its moments are.

Run: ``python benchmarks/bench_synthetic.py [--videos 200] [--workers 2] [--out DIR]``.

Generates ``--videos`` videos (10-40 s, 128x128, 24 fps, plus two trimmed action clips each)
into a fresh directory (a temporary one unless ``--out``) and prints the wall time; the target
is under 90 s for 200 videos with 2 workers on a 2-core CPU (other processes on the machine
inflate it). Then it measures the blind prior-only baseline on the test split, twice:

* ``prior KDE, 5 samples, top-1``: a KDE of normalised (start, length) fit on train, 5 moments
  sampled per test query, the first one scored (R1@0.5);
* ``baselines.blind.PriorOnly``: the package's blind baseline through the evaluator
  (default protocol: IoU >= m, NMS 0.5).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.stats import gaussian_kde
from tabulate import tabulate

from baselines.blind import PriorOnly
from grounding.data.datasets import load_split
from grounding.data.synthetic import generate_dataset
from grounding.data.synthetic.script import make_script
from grounding.eval import evaluate, get_protocol

TARGET_S = 90.0


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    inter = np.clip(np.minimum(a[..., 1], b[..., 1]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    union = np.maximum(a[..., 1], b[..., 1]) - np.minimum(a[..., 0], b[..., 0])
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def prior_top1(root: Path, seed: int = 0, n_samples: int = 5) -> tuple[float, float]:
    """R1@0.5 and R5@0.5 (%) of moments sampled from the train KDE of (start, length)."""
    train, test = load_split("charades", root, "train"), load_split("charades", root, "test")
    pts = np.array(
        [
            (q.windows[0][0] / q.duration, (q.windows[0][1] - q.windows[0][0]) / q.duration)
            for q in train.queries
        ]
    )
    kde = gaussian_kde(pts.T)
    rng = np.random.default_rng(seed)
    r1, r5 = [], []
    for q in test.queries:
        s = kde.resample(n_samples, seed=rng).T
        start = np.clip(s[:, 0], 0, 1)
        end = np.clip(start + np.clip(s[:, 1], 0.01, 1), 0, 1)
        pred = np.stack([start, end], 1) * q.duration
        iou = _iou(pred, np.array(q.windows[0])[None])
        r1.append(iou[0] >= 0.5)
        r5.append((iou >= 0.5).any())
    return 100 * float(np.mean(r1)), 100 * float(np.mean(r5))


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--videos", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--fps", type=int, default=24)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None, help="keep the dataset here (must be new)")
    args = ap.parse_args()
    tmp = None
    if args.out is None:
        tmp = Path(tempfile.mkdtemp(prefix="bench_synthetic_"))
        out = tmp / "data"
    else:
        out = args.out
        if out.exists() and any(out.iterdir()):
            print(
                f"error: {out} is not empty; the benchmark times a fresh generation",
                file=sys.stderr,
            )
            return 2
    try:
        t0 = time.perf_counter()
        manifest = generate_dataset(
            out,
            n_videos=args.videos,
            seed=args.seed,
            size=args.size,
            fps=args.fps,
            workers=args.workers,
        )
        wall = time.perf_counter() - t0
        m = json.loads(manifest.read_text())
        scripts = [
            make_script(i, seed=args.seed, fps=args.fps, size=args.size) for i in range(args.videos)
        ]
        video_frames = sum(s.n_frames for s in scripts)
        clip_frames = sum(c.end - c.start for s in scripts for c in s.clips)
        size_mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
        lengths = np.array([s.duration for s in scripts])
        rows = [
            ["videos", args.videos],
            [
                "video length (s) min / mean / max",
                f"{lengths.min():.1f} / {lengths.mean():.1f} / {lengths.max():.1f}",
            ],
            ["frames rendered (videos + clips)", f"{video_frames} + {clip_frames}"],
            ["workers", args.workers],
            ["wall time (s)", f"{wall:.1f}"],
            ["frames / s", f"{(video_frames + clip_frames) / wall:.0f}"],
            ["dataset size (MiB)", f"{size_mb:.0f}"],
            [f"target < {TARGET_S:.0f} s", "PASS" if wall < TARGET_S else "FAIL (shared CPU?)"],
        ]
        print(
            tabulate(
                rows, headers=["synthetic generation", f"{args.size}x{args.size} @ {args.fps} fps"]
            )
        )
        print()
        r1, r5 = prior_top1(out, seed=args.seed)
        train, test = load_split("charades", out, "train"), load_split("charades", out, "test")
        preds = PriorOnly().fit(train).predict(test, seed=args.seed)
        res = evaluate(test, preds, get_protocol("default"))
        c = m["counts"]
        rows = [
            ["train / test queries", f"{c['charades_train']} / {c['charades_test']}"],
            ["mean moment / video length", m["mean_moment_ratio"]],
            ["prior KDE, 5 samples, top-1: R1@0.5", f"{r1:.2f}"],
            ["prior KDE, 5 samples: R5@0.5", f"{r5:.2f}"],
            ["PriorOnly (evaluator): R1@0.5", f"{res.metrics['R1@0.5']:.2f}"],
            ["PriorOnly (evaluator): R5@0.5", f"{res.metrics['R5@0.5']:.2f}"],
            ["PriorOnly (evaluator): mIoU", f"{res.metrics.get('mIoU', float('nan')):.2f}"],
        ]
        print(tabulate(rows, headers=["blind baseline on the synthetic test split", "%"]))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
