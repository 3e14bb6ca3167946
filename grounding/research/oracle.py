"""Oracle clip features of the synthetic dataset: what a perfect video encoder could say.

``python -m grounding.research.oracle --data DIR --out FEATS`` writes one
``FEATS/<vid>.npy`` ``(T, D)`` per video of a generated dataset (the Charades ``<vid>.npy``
folder layout that ``python -m grounding.train grounding --features FEATS`` reads), built from
the video's script instead of its pixels. Training the grounding model on them measures the
ceiling of the head and the query set, separately from the features: a model's distance to
the oracle is what its features lose; the oracle's distance to 100 is what the head and the
number of training queries lose.

Row ``t`` covers ``[t / rate, (t + 1) / rate)`` seconds and holds, for each action instance
overlapping it, a one in each of these blocks of ``A = 10`` action columns
(:data:`~grounding.data.synthetic.actions.ACTIONS` order; ``D = 11 * A``):

- ``colour x action`` (7 blocks, :data:`~grounding.data.synthetic.script.JERSEYS` order): who
  does what, as the sentences name players by jersey colour;
- ``tallest x action`` and ``shortest x action``: "the taller player" sentences;
- ``left x action`` and ``right x action``: the half of the court the instance touches.

Ordinals, "before" / "after" and "while" relations are left to the model: they are what the
temporal module and the head must work out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tabulate import tabulate
from tqdm import tqdm

from grounding.data.synthetic.actions import ACTIONS
from grounding.data.synthetic.court import MID_X
from grounding.data.synthetic.manifest import manifest_script, read_generator_settings
from grounding.data.synthetic.script import JERSEYS, VideoScript
from grounding.io import atomic_path

COLOURS: tuple[str, ...] = tuple(JERSEYS)
#: blocks of ``len(ACTIONS)`` columns after the colour blocks
EXTRA_BLOCKS: tuple[str, ...] = ("tallest", "shortest", "left", "right")
ORACLE_DIM = (len(COLOURS) + len(EXTRA_BLOCKS)) * len(ACTIONS)


def oracle_features(script: VideoScript, *, rate: float = 4.0) -> np.ndarray:
    """``(round(duration * rate), ORACLE_DIM)`` float32 features of one video (module
    docstring). Rows cover ``[0, duration]`` uniformly, as the feature readers assume."""
    if not rate > 0:
        raise ValueError(f"rate must be > 0 rows per second, got {rate}")
    n_rows = max(1, round(script.duration * rate))
    out = np.zeros((n_rows, ORACLE_DIM), dtype=np.float32)
    a = len(ACTIONS)
    heights = sorted((p.body.height, p.index) for p in script.players)
    tallest = heights[-1][1] if len(heights) > 1 else None
    shortest = heights[0][1] if len(heights) > 1 else None
    extra = len(COLOURS) * a
    for seg in script.segments:
        act = ACTIONS.index(seg.action)
        t0 = int(seg.start / script.fps * rate)
        t1 = max(t0 + 1, int(np.ceil(seg.end / script.fps * rate)))
        rows = slice(min(t0, n_rows - 1), min(t1, n_rows))
        cols = [COLOURS.index(script.players[seg.player].colour) * a + act]
        if seg.player == tallest:
            cols.append(extra + act)
        if seg.player == shortest:
            cols.append(extra + a + act)
        lo, hi = seg.x_range
        if lo < MID_X:
            cols.append(extra + 2 * a + act)
        if hi > MID_X:
            cols.append(extra + 3 * a + act)
        out[rows, cols] = 1.0
    return out


def write_oracle_features(
    data: Path, out: Path, *, rate: float = 4.0, progress: bool = True
) -> list[str]:
    """Write ``out/<vid>.npy`` for every video of the dataset in ``data``; returns the ids."""
    m = read_generator_settings(data)
    out.mkdir(parents=True, exist_ok=True)
    for index, vid in enumerate(tqdm(m["videos"], desc="oracle features", disable=not progress)):
        feats = oracle_features(manifest_script(m, index), rate=rate)
        with atomic_path(out / f"{vid}.npy") as tmp:
            np.save(tmp, feats)
    return list(m["videos"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m grounding.research.oracle",
        description="Write script-derived oracle clip features of a synthetic dataset.",
    )
    p.add_argument("--data", required=True, type=Path, help="generated dataset folder")
    p.add_argument("--out", required=True, type=Path, help="output folder of <vid>.npy files")
    p.add_argument("--rate", type=float, default=4.0, help="feature rows per second (default 4)")
    args = p.parse_args(argv)
    try:
        vids = write_oracle_features(args.data, args.out, rate=args.rate)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(tabulate([["videos", len(vids)], ["dim", ORACLE_DIM]], headers=["oracle", "value"]))
    print(f"features: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
