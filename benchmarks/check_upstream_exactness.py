"""Each preset against its literal re-statement of upstream, at scale.

Runs the generators and the literal upstream code of ``tests/eval/test_upstream_exactness.py``
(2D-TAN's ``eval`` in numpy, MMN's ``evaluate`` in torch, Moment-DETR's ``compute_mr_r1``) on
``--queries`` two-decimal queries (exact-decimal IoU boundaries, whole/half windows, zero-length
windows, float32-only ties) and on every cell of 16- and 64-clip 2D maps, and prints, per
preset and data set, the metrics that differ (none, when exact). The literal code loops over
queries in Python: 100,000 queries take a few minutes.

Run from the repository root: ``python benchmarks/check_upstream_exactness.py --queries 100000``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from grounding.eval import evaluate_arrays, get_protocol
from grounding.eval.evaluator import pack_predictions
from tests.eval import test_upstream_exactness as T
from tests.eval.oracles import mdetr_r1


def moment_detr_pair(queries: list, seed: int = 3) -> tuple[dict, dict]:
    """Ours and Moment-DETR's ``compute_mr_r1`` with a second GT window per query."""
    rng = np.random.default_rng(seed)
    submission, ground_truth, gt_rows = [], [], []
    for i, (d, g, c) in enumerate(queries):
        extra = sorted(int(v) for v in rng.integers(0, int(d * 100), 2))
        windows = [g, [extra[0] / 100, max(extra[1], extra[0] + 1) / 100]]
        windows = windows[::-1] if rng.random() < 0.5 else windows
        ground_truth.append({"qid": i, "relevant_windows": windows, "duration": d})
        submission.append({"qid": i, "pred_relevant_windows": c.tolist()})
        gt_rows.append(windows)
    preds = {str(i): c for i, (_, _, c) in enumerate(queries)}
    packed = pack_predictions(preds, [str(i) for i in range(len(queries))])
    durs = np.array([d for d, _, _ in queries])
    ours = evaluate_arrays(np.array(gt_rows), durs, *packed, get_protocol("moment_detr"))
    return ours.metrics, mdetr_r1(submission, ground_truth, T.IOUS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--queries", type=int, default=100_000)
    ap.add_argument("--map16", type=int, default=5_000, help="queries of 16-clip map cells")
    ap.add_argument("--map64", type=int, default=300, help="queries of 64-clip map cells")
    args = ap.parse_args()
    datasets = {
        f"decimal x{args.queries:,}": T.decimal_queries(args.queries, seed=7),
        f"16-clip map cells x{args.map16:,}": T.map_cell_queries(args.map16, 16, seed=16),
        f"64-clip map cells x{args.map64:,}": T.map_cell_queries(args.map64, 64, seed=64),
    }
    rows = []
    for label, queries in datasets.items():
        for name, literal in (("2dtan", T.literal_2dtan), ("mmn", T.literal_mmn)):
            t0 = time.perf_counter()
            ours = T.ours(queries, name)
            t1 = time.perf_counter()
            theirs = literal(queries)
            t2 = time.perf_counter()
            diff = {k: (ours[k], v) for k, v in theirs.items() if ours[k] != v}
            shown = ", ".join(f"{k}={v}" for k, v in sorted(theirs.items()))
            rows.append(
                [label, name, len(theirs), diff or "none", f"{t1 - t0:.2f}", f"{t2 - t1:.1f}"]
            )
            print(f"{label} {name}: {shown}", flush=True)
    label = next(iter(datasets))
    t0 = time.perf_counter()
    ours, theirs = moment_detr_pair(datasets[label])
    diff = {k: (ours[k], v) for k, v in theirs.items() if ours[k] != v}
    rows.append([label, "moment_detr", len(theirs), diff or "none", "-", "-"])
    print(f"{label} moment_detr: {sorted(theirs.items())} ({time.perf_counter() - t0:.1f} s)")
    print(
        tabulate(
            rows,
            headers=["data", "preset", "metrics", "differences", "ours (s)", "literal (s)"],
            tablefmt="github",
        )
    )


if __name__ == "__main__":
    main()
