"""Evaluator speed: 100,000 queries x 100 ranked candidates, all metrics with NMS 0.5.

Run: ``python benchmarks/bench_evaluator.py [--queries 100000] [--candidates 100]``.
Prints the wall time of each preset and queries/s; the target is < 3 s per preset on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from tabulate import tabulate

from grounding.eval import evaluate_arrays, get_protocol


def make_inputs(n_queries: int, n_cands: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    dur = rng.uniform(20, 120, n_queries)
    gs = rng.uniform(0, 0.7, n_queries) * dur
    ge = gs + rng.uniform(0.05, 0.3, n_queries) * dur
    gt = np.stack([gs, np.minimum(ge, dur)], -1)[:, None, :]
    s = rng.uniform(0, 0.9, (n_queries, n_cands)) * dur[:, None]
    e = s + rng.uniform(0.02, 0.5, (n_queries, n_cands)) * dur[:, None]
    pw = np.stack([s, np.minimum(e, dur[:, None])], -1)
    ps = rng.random((n_queries, n_cands))
    pv = np.ones((n_queries, n_cands), dtype=bool)
    return gt, dur, pw, ps, pv


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--queries", type=int, default=100_000)
    ap.add_argument("--candidates", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    inputs = make_inputs(args.queries, args.candidates)
    rows = []
    for name in ("default", "2dtan", "mmn", "moment_detr"):
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            res = evaluate_arrays(*inputs, get_protocol(name))
            times.append(time.perf_counter() - t0)
        best = min(times)
        rows.append(
            [
                name,
                f"{best:.3f}",
                f"{args.queries / best:,.0f}",
                res.metrics["R1@0.5"],
                "yes" if best < 3 else "NO",
            ]
        )
    print(
        f"{args.queries:,} queries x {args.candidates} candidates, all metrics, "
        f"best of {args.repeats}"
    )
    print(tabulate(rows, headers=["protocol", "seconds", "queries/s", "R1@0.5", "< 3 s"]))


if __name__ == "__main__":
    main()
