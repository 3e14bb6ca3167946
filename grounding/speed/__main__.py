"""``python -m grounding.speed``: measure latency, end-to-end FPS and recognition speed.

Examples::

    python -m grounding.speed                                  # CPU size, auto device
    python -m grounding.speed --size full --device cuda --json results/speed.json
    python -m grounding.speed --data data_cache/synthetic-reference --videos 4
    python -m grounding.speed --import my_model.py --models ours,my_model

Without ``--data`` a 2-video synthetic dataset is generated in a temporary folder (at the
profile's input size) for the end-to-end runs. Models are untrained (speed does not depend on
the weights); :func:`grounding.speed.suite.run_speed` takes trained ones. The end-to-end runs
use the first model's own feature pipeline (person-centric for ``ours``).
"""

from __future__ import annotations

from grounding.runtime import prefer_passive_omp

if __name__ == "__main__":  # before torch is loaded
    prefer_passive_omp()

import argparse
import os
import sys
import tempfile
from pathlib import Path

import torch

from grounding.models.bninception import CPU_PROFILE, FULL_PROFILE
from grounding.models.registry import add_import_argument, import_models
from grounding.speed.pipeline import PipelineConfig
from grounding.speed.recognition import DEFAULT_SAMPLES
from grounding.speed.suite import SpeedSettings, build_speed_models, run_speed, synthetic_queries
from grounding.speed.timing import DeviceError, resolve_device

SIZES = {"cpu": CPU_PROFILE, "full": FULL_PROFILE}


def _samples(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from exc
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"sample counts must be integers >= 1, got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m grounding.speed",
        description="Measure per-query latency, end-to-end FPS per video (both definitions) and "
        "recognition speed (Figure 12); print tables, optionally write JSON.",
    )
    p.add_argument("--data", type=Path, default=None, help="synthetic dataset folder")
    p.add_argument(
        "--size",
        choices=sorted(SIZES),
        default="cpu",
        help="backbone width/resolution: cpu (0.5, 128 px) or full (1.0, 224 px)",
    )
    p.add_argument(
        "--models",
        default="ours,gtn,dgcn",
        help="registered models with a recognizer; the first one runs end to end",
    )
    add_import_argument(p)
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda[:K]")
    p.add_argument("--json", type=Path, default=None, help="write the report here (atomic)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iters", type=int, default=5, help="timed runs per measurement")
    p.add_argument("--query-iters", type=int, default=50, help="timed runs per query latency")
    p.add_argument("--videos", type=int, default=2, help="end-to-end videos (0: skip)")
    p.add_argument(
        "--samples",
        type=_samples,
        default=DEFAULT_SAMPLES,
        help="Figure 12(b) batch sizes, e.g. 1,2,4,8,16,32",
    )
    p.add_argument(
        "--max-seconds",
        type=float,
        default=20.0,
        help="timed-time budget per recognizer batch size",
    )
    p.add_argument("--num-clips", type=int, default=16, help="N clips of the grounding model")
    p.add_argument("--segments", type=int, default=3, help="S TSN snippets per clip")
    p.add_argument("--clip-seconds", type=float, default=1.0, help="extraction clip length")
    p.add_argument("--batch-size", type=int, default=16, help="clips per backbone forward")
    p.add_argument("--skeleton-frames", type=int, default=32, help="T of GTN / DGCN windows")
    p.add_argument(
        "--person-context",
        type=float,
        default=0.0,
        help="person-centric features: seconds each clip's snippets reach past the clip",
    )
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    p.add_argument("--width-mult", type=float, default=None, help="override the profile width")
    p.add_argument("--input-size", type=int, default=None, help="override the profile size")
    p.add_argument(
        "--no-text",
        action="store_true",
        help="skip the sentence encoder (end to end uses a cached embedding)",
    )
    p.add_argument("--seed", type=int, default=0)
    return p


def _text_encoder(device: torch.device):
    from grounding.models.text import SentenceEncoder

    try:
        return SentenceEncoder(device=device)
    except (ModuleNotFoundError, FileNotFoundError, OSError) as exc:
        print(f"warning: sentence encoder unavailable, not timed ({exc})", file=sys.stderr)
        return None


def _argument_error(args: argparse.Namespace) -> str | None:
    """The first invalid option as a message, or ``None``."""
    at_least = {"warmup": 0, "videos": 0, "iters": 1, "query_iters": 1, "num_clips": 1}
    at_least |= {"segments": 1, "batch_size": 1, "skeleton_frames": 1, "threads": 1}
    for name, low in at_least.items():
        value = getattr(args, name)
        if value is not None and value < low:
            return f"--{name.replace('_', '-')} must be >= {low}, got {value}"
    if not args.clip_seconds > 0:
        return f"--clip-seconds must be > 0, got {args.clip_seconds}"
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        message = _argument_error(args)
        device = resolve_device(args.device) if message is None else None
        import_models(args.imports)
    except (DeviceError, ValueError) as exc:
        message = str(exc)
    if message is not None:
        print(f"error: {message}", file=sys.stderr)
        return 2
    threads = torch.get_num_threads()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        return _run(args, device)
    except ValueError as exc:  # e.g. an unknown model
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        torch.set_num_threads(threads)


def _warn_if_busy(device: torch.device) -> None:
    if device.type != "cpu" or not hasattr(os, "getloadavg"):
        return
    load, cpus, threads = os.getloadavg()[0], os.cpu_count() or 1, torch.get_num_threads()
    if load + threads > cpus + 1.0:
        hint = " (threads waiting on each other can cost 100x; try --threads 1)"
        print(
            f"warning: load average {load:.2f} on {cpus} CPUs with {threads} torch thread(s): "
            "other processes compete for the CPU, so numbers will be slow and noisy"
            + (hint if threads > 1 else ""),
            file=sys.stderr,
        )


def _run(args: argparse.Namespace, device: torch.device) -> int:
    profile = SIZES[args.size]
    width = args.width_mult or profile.width_mult
    size = args.input_size or profile.input_size
    settings = SpeedSettings(
        warmup=args.warmup,
        iters=args.iters,
        query_iters=args.query_iters,
        videos=args.videos,
        samples=args.samples,
        max_seconds=args.max_seconds,
        pipeline=PipelineConfig(
            clip_seconds=args.clip_seconds,
            person_context=args.person_context,
            batch_size=args.batch_size,
        ),
    )
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    models = build_speed_models(
        models=names,
        main=names[0],
        width_mult=width,
        input_size=size,
        num_clips=args.num_clips,
        segments=args.segments,
        skeleton_frames=args.skeleton_frames,
        seed=args.seed,
    )
    text = None if args.no_text else _text_encoder(device)
    print(f"size {args.size}: BN-Inception width {width}, {size}x{size} input")
    _warn_if_busy(device)
    with tempfile.TemporaryDirectory(prefix="grounding-speed-") as tmp:
        try:
            videos = _videos(args, Path(tmp), size)
            report = run_speed(
                models, videos=videos, settings=settings, device=device, text_encoder=text
            )
        except (FileNotFoundError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    report.settings.update(
        size=args.size, width_mult=width, input_size=size, segments=args.segments,
        skeleton_frames=args.skeleton_frames,
    )  # fmt: skip
    print()
    print(report.tables())
    if args.json is not None:
        print(f"\nwrote {report.write_json(args.json)}")
    return 0


def _videos(args: argparse.Namespace, tmp: Path, size: int) -> list[tuple[Path, str]]:
    if args.videos == 0:
        return []
    root = args.data
    if root is None:
        from grounding.data.synthetic.generate import generate_dataset

        root = tmp / "synthetic"
        print(f"generating {max(2, args.videos)} synthetic videos at {size}x{size} in {root}")
        generate_dataset(
            root, n_videos=max(2, args.videos), seed=args.seed, size=size, progress=False
        )
    elif not root.is_dir():
        raise FileNotFoundError(f"--data {root}: not a folder")
    return synthetic_queries(root, args.videos)


if __name__ == "__main__":
    raise SystemExit(main())
