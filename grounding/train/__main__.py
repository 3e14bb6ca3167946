"""``python -m grounding.train recognition|grounding ...`` (also under ``torchrun``).

Before torch is imported, OpenMP threads are told to sleep rather than spin while waiting
(:func:`grounding.runtime.prefer_passive_omp`).
"""

from __future__ import annotations

from grounding.runtime import prefer_passive_omp

if __name__ == "__main__":  # before torch is loaded
    prefer_passive_omp()

import argparse
import sys

from grounding.train import grounding, recognition
from grounding.train.loop import NonFiniteError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m grounding.train",
        description="Train and evaluate the paper's model or a baseline (CPU or CUDA, DDP "
        "under torchrun).",
    )
    sub = p.add_subparsers(dest="task", required=True)
    rec = sub.add_parser(
        "recognition", help="action recognition on HMDB51-style clips (DIR/actions)"
    )
    recognition.add_arguments(rec)
    rec.set_defaults(run=recognition.run)
    gr = sub.add_parser("grounding", help="temporal grounding on clip features")
    grounding.add_arguments(gr)
    gr.set_defaults(run=grounding.run)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (NonFiniteError, ValueError, OSError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
