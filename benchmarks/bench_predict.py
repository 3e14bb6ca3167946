"""Measure the predictor: long-video memory, encode time per video-minute, per-query latency.

    python -m grounding.bench --profile smoke          # once: trains the smoke models
    python benchmarks/bench_predict.py [--run runs/synthetic-smoke --model ours --seed 0]

1. renders two synthetic videos with the generator of ``grounding.data.synthetic`` (its
   script's length drawn as ``--short`` and ``--long`` seconds instead of 15-40 s), with their
   pose files, into ``--videos`` (kept for reruns);
2. grounds each end to end in a fresh process (load the models, encode, 5 queries) and reads
   that process's peak resident memory, and its resident memory once the models were loaded;
3. encodes the short video once and asks ``--queries`` distinct sentences of the dataset,
   one call per query (p50 / p95 per query: the sentence encoder and the grounding head
   together, and the head alone), then all in one ``predict_many`` call (``--repeats``
   times: the median time per query);

then prints one table. Every number is measured in this run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from tabulate import tabulate

ROOT = Path(__file__).resolve().parent.parent


def rss_mb() -> float:
    """Resident memory of this process now (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def render(out: Path, seconds: float, *, index: int, size: int) -> Path:
    """One synthetic video of ``seconds`` (and its pose file) under ``out``; reused if there."""
    from grounding.data.synthetic import generate, script

    vid = script.video_id(index)
    video = out / "videos" / f"{vid}.mp4"
    if video.is_file() and (out / "skeletons" / f"{vid}.npz").is_file():
        return video
    lo, hi = script.MIN_VIDEO_S, script.MAX_VIDEO_S
    script.MIN_VIDEO_S = script.MAX_VIDEO_S = seconds
    try:
        s = script.make_script(index, seed=1234, size=size)
    finally:
        script.MIN_VIDEO_S, script.MAX_VIDEO_S = lo, hi
    t0 = time.perf_counter()
    generate.render_video(s, out)
    print(f"rendered {video} ({seconds:.0f} s) in {time.perf_counter() - t0:.0f} s", flush=True)
    return video


def measure_one(args: argparse.Namespace) -> None:
    """(In a fresh process) ground one video end to end; print a JSON line."""
    import torch

    from grounding.predict import MomentPredictor

    torch.set_num_threads(args.threads)
    p = MomentPredictor.from_run(args.run, model=args.model, seed=args.seed, device="cpu")
    p.text  # noqa: B018 (the sentence encoder: part of the loaded models)
    base = rss_mb()
    video = p.encode_video(args.measure)
    for q in ("a player shoots", "someone dribbles", "the player in red passes the ball",
              "a player runs down the floor", "somebody grabs a rebound"):  # fmt: skip
        p.predict(q)
    print(
        json.dumps(
            {
                "video": str(args.measure),
                "duration": video.duration,
                "clips": len(video.features),
                "windows": video.windows,
                "encode_s": video.seconds,
                "models_mb": base,
                "peak_mb": peak_mb(),
            }
        )
    )


def latency(args: argparse.Namespace, video: Path) -> dict[str, float]:
    import torch

    from grounding.data.datasets import load_split
    from grounding.models.grounding_model import predict_windows
    from grounding.predict import MomentPredictor

    torch.set_num_threads(args.threads)
    p = MomentPredictor.from_run(args.run, model=args.model, seed=args.seed, device="cpu")
    v = p.encode_video(video)
    data = p.data or ROOT / "data_cache" / "synthetic-smoke"
    sentences = sorted({q.sentence for q in load_split("charades", data, "test").queries})
    rng = np.random.default_rng(0)
    queries = [sentences[i] for i in rng.permutation(len(sentences))[: args.queries]]
    for q in queries[:3]:
        p.predict(q)  # warm-up
    total, head = [], []
    for q in queries:
        t0 = time.perf_counter()
        p.predict(q, 5)
        total.append(time.perf_counter() - t0)
        sentence = p.text.encode([q])
        t1 = time.perf_counter()
        predict_windows(p.model, v.clips, v.spans, sentence, nms_thresh=0.5, top_k=5)
        head.append(time.perf_counter() - t1)
    ms = 1000 * np.array(total)
    head_ms = 1000 * np.array(head)
    batched = []
    for _ in range(args.repeats):  # all queries in one call: sentences and head batched
        t0 = time.perf_counter()
        p.predict_many(queries, 5)
        batched.append(1000 * (time.perf_counter() - t0) / len(queries))
    return {
        "batched_ms_per_query": float(np.percentile(batched, 50)),
        "batched_call_s": float(np.percentile(batched, 50)) * len(queries) / 1000,
        "queries": len(queries),
        "encode_s": v.seconds,
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "head_p50_ms": float(np.percentile(head_ms, 50)),
        "all_queries_s": float(ms.sum() / 1000),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=ROOT / "runs" / "synthetic-smoke")
    ap.add_argument("--model", default="ours")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--videos", type=Path, default=ROOT / "data_cache" / "predict-bench")
    ap.add_argument("--short", type=float, default=30.0, help="seconds of the short video")
    ap.add_argument("--long", type=float, default=600.0, help="seconds of the long video")
    ap.add_argument("--size", type=int, default=128, help="frame side (the smoke data's)")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (2 CPU cores)")
    ap.add_argument("--repeats", type=int, default=5, help="repeats of the all-at-once call")
    ap.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure is not None:
        measure_one(args)
        return 0
    if not (args.run / "grounding").is_dir():
        print(f"error: no bench run in {args.run}: run python -m grounding.bench --profile smoke",
              file=sys.stderr)  # fmt: skip
        return 2
    short = render(args.videos, args.short, index=900_001, size=args.size)
    long = render(args.videos, args.long, index=900_002, size=args.size)
    rows = {}
    for video in (short, long):
        cmd = [sys.executable, __file__, "--measure", str(video), "--run", str(args.run)]
        cmd += ["--model", args.model, "--seed", str(args.seed), "--threads", str(args.threads)]
        env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if out.returncode:
            print(out.stderr, file=sys.stderr)
            return 1
        rows[video] = json.loads(out.stdout.strip().splitlines()[-1])
    table = []
    for r in rows.values():
        minutes = r["duration"] / 60
        table.append([
            Path(r["video"]).name, f"{r['duration']:.0f}", r["clips"], r["windows"],
            f"{r['encode_s']:.1f}", f"{r['encode_s'] / minutes:.1f}", f"{r['models_mb']:.0f}",
            f"{r['peak_mb']:.0f}", f"{r['peak_mb'] - r['models_mb']:.0f}",
        ])  # fmt: skip
    print(f"\nmodel {args.model} seed {args.seed} of {args.run}, {args.threads} torch threads")
    print(tabulate(table, headers=["video", "seconds", "clips", "windows", "encode s",
                                   "encode s / video-min", "RSS models MB", "peak RSS MB",
                                   "peak - models MB"]))  # fmt: skip
    a, b = rows[short], rows[long]
    above = (b["peak_mb"] - b["models_mb"]) / max(a["peak_mb"] - a["models_mb"], 1.0)
    ratio = b["peak_mb"] / a["peak_mb"]
    print(f"peak RSS long / short: {ratio:.2f}x (above the loaded models: {above:.2f}x)")
    lat = latency(args, short)
    print(
        f"\n{lat['queries']} queries on {short.name} (encoded once in {lat['encode_s']:.1f} s): "
        f"p50 {lat['p50_ms']:.1f} ms, p95 {lat['p95_ms']:.1f} ms per query (sentence encoder + "
        f"head); head alone p50 {lat['head_p50_ms']:.2f} ms; all queries "
        f"{lat['all_queries_s']:.2f} s"
    )
    print(f"all {lat['queries']} in one call (predict_many, the CLI's path; median of "
          f"{args.repeats} calls): {lat['batched_call_s']:.2f} s, "
          f"{lat['batched_ms_per_query']:.2f} ms per query")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
