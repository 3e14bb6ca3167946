"""``python -m grounding.data.synthetic --out DIR --videos N --seed S [...]``"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tabulate import tabulate

from grounding.data.synthetic.generate import default_workers, generate_dataset


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m grounding.data.synthetic",
        description="Generate the synthetic basketball grounding dataset in the real formats.",
    )
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--videos", required=True, type=int, help="number of grounding videos (>= 1)")
    p.add_argument("--seed", required=True, type=int, help="base random seed")
    p.add_argument("--size", type=int, default=128, help="frame side in pixels (default 128)")
    p.add_argument("--fps", type=int, default=24, help="frames per second (default 24)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a dataset of another configuration (removes only the generator's own "
        "files; a folder holding anything else is refused, naming it)",
    )
    p.add_argument("--preview", action="store_true", help="also write preview.png")
    p.add_argument("--workers", type=int, default=default_workers(), help="render processes")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    t0 = time.perf_counter()
    try:
        manifest = generate_dataset(
            args.out,
            n_videos=args.videos,
            seed=args.seed,
            size=args.size,
            fps=args.fps,
            overwrite=args.overwrite,
            workers=args.workers,
            preview=args.preview,
        )
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    wall = time.perf_counter() - t0
    m = json.loads(manifest.read_text(encoding="utf-8"))
    rows = [[k, v] for k, v in m["counts"].items()]
    rows += [["mean moment/video", m["mean_moment_ratio"]], ["wall seconds", f"{wall:.1f}"]]
    print(tabulate(rows, headers=["synthetic dataset", str(args.out)]))
    print(f"manifest: {manifest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
