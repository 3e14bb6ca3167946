"""End-to-end speed of ``python -m grounding.evaluate`` beside its metrics core.

Writes 100,000 queries x 100 ranked candidates as Moment-DETR jsonl (GT and predictions, seeded;
times with two decimals, scores with four as Moment-DETR's inference writes them), then for
every protocol times, in one run:

- the CLI end to end in a fresh process (parse both files, all metrics with the protocol's NMS,
  the table, ``--json`` out), best of ``--repeats``;
- the metrics core alone (:func:`grounding.eval.evaluate_arrays` on the packed arrays);

and prints both with their ratio. The target is under 5 s end to end on a 2-core CPU.

Run: ``python benchmarks/bench_evaluate_cli.py [--queries 100000] [--candidates 100]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
from tabulate import tabulate

from grounding.data.moment_detr import read_moment_detr_gt, read_predictions
from grounding.eval import PRESETS, evaluate_arrays, get_protocol
from grounding.eval.evaluator import pack_predictions


def write_inputs(folder: Path, n_queries: int, n_cands: int, seed: int = 0) -> tuple[Path, Path]:
    """GT and prediction jsonl in ``folder`` (reused when already there)."""
    gt, pred = folder / f"gt_{n_queries}.jsonl", folder / f"pred_{n_queries}x{n_cands}_s4.jsonl"
    if gt.is_file() and pred.is_file():
        return gt, pred
    rng = np.random.default_rng(seed)
    dur = np.round(rng.uniform(20, 120, n_queries), 2)
    gs = np.round(rng.uniform(0, 0.7, n_queries) * dur, 2)
    ge = np.minimum(np.round(gs + rng.uniform(0.05, 0.3, n_queries) * dur, 2), dur)
    with open(gt, "wb") as f:
        for q in range(n_queries):
            rec = {
                "qid": q,
                "query": "a person opens a door.",
                "vid": f"v{q // 5}",
                "duration": float(dur[q]),
                "relevant_windows": [[float(gs[q]), float(ge[q])]],
            }
            f.write(orjson.dumps(rec) + b"\n")
    with open(pred, "wb") as f:
        for q in range(n_queries):
            s = rng.uniform(0, 0.9, n_cands) * dur[q]
            e = np.minimum(s + rng.uniform(0.02, 0.5, n_cands) * dur[q], dur[q])
            rows = np.stack([np.round(s, 2), np.round(e, 2), np.round(rng.random(n_cands), 4)], -1)
            rows = rows.tolist()
            f.write(orjson.dumps({"qid": q, "pred_relevant_windows": rows}) + b"\n")
    return gt, pred


def time_cli(gt: Path, pred: Path, protocol: str, out: Path, repeats: int) -> float:
    cmd = [sys.executable, "-m", "grounding.evaluate", "--gt", str(gt), "--pred", str(pred)]
    cmd += ["--protocol", protocol, "--json", str(out)]
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--queries", type=int, default=100_000)
    ap.add_argument("--candidates", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "grounding-bench")
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    gt_path, pred_path = write_inputs(args.dir, args.queries, args.candidates)
    size_mb = pred_path.stat().st_size / 1e6

    gt = read_moment_detr_gt(gt_path)
    preds = read_predictions(pred_path)
    packed = pack_predictions(preds.windows, [q.qid for q in gt.queries])
    gt_windows, _, durations = gt.gt_arrays()
    rows = []
    for name in sorted(PRESETS):
        t0 = time.perf_counter()
        evaluate_arrays(gt_windows, durations, *packed, get_protocol(name))
        core = time.perf_counter() - t0
        cli = time_cli(gt_path, pred_path, name, args.dir / f"{name}.json", args.repeats)
        rows.append(
            [name, f"{cli:.2f}", f"{core:.2f}", f"{cli / core:.1f}x", "yes" if cli < 5 else "NO"]
        )
    print(
        f"{args.queries:,} queries x {args.candidates} candidates ({size_mb:.0f} MB of jsonl), "
        f"{len(os.sched_getaffinity(0))} cores; CLI best of {args.repeats}"
    )
    print(
        tabulate(
            rows,
            headers=["protocol", "CLI end to end (s)", "metrics core (s)", "ratio", "< 5 s"],
            tablefmt="github",
        )
    )


if __name__ == "__main__":
    main()
