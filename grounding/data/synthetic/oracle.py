"""Oracle clip features of the synthetic dataset: what a perfect video encoder could say.

``python -m grounding.data.synthetic.oracle --data DIR --out FEATS`` writes one
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
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tabulate import tabulate
from tqdm import tqdm

from grounding.data.synthetic.actions import ACTIONS
from grounding.data.synthetic.court import MID_X
from grounding.data.synthetic.generate import GENERATOR, VERSION
from grounding.data.synthetic.script import JERSEYS, Clip, VideoScript, make_script, video_id
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


def read_generator_settings(data: Path) -> dict:
    """``seed``, ``fps``, ``size`` and ``videos`` of a generated dataset's ``manifest.json``
    (``ValueError`` naming the file when it is missing, not a synthetic manifest, of another
    generator version, whose scripts this code would not rebuild, or lists videos other than
    the generator's ids in order, so that video ``i`` is ``manifest_script(m, i)``)."""
    path = data / "manifest.json"
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a readable synthetic-dataset manifest ({e})") from e
    missing = [k for k in ("seed", "fps", "size", "videos") if k not in m]
    if m.get("generator") != GENERATOR or missing:
        raise ValueError(
            f"{path}: not a manifest of python -m grounding.data.synthetic"
            + (f" (missing {missing})" if missing else "")
        )
    if m.get("version") != VERSION:
        raise ValueError(
            f"{path}: generator version {m.get('version')!r}, not {VERSION!r}; regenerate the "
            "dataset so its scripts match this code"
        )
    if list(m["videos"]) != [video_id(i) for i in range(len(m["videos"]))]:
        raise ValueError(
            f"{path}: videos are not the generator's ids {video_id(0)}, {video_id(1)}, ... in "
            "order, so their scripts cannot be rebuilt by position"
        )
    return m


def manifest_script(m: dict, index: int) -> VideoScript:
    """The script of video ``m["videos"][index]`` of a manifest read by
    :func:`read_generator_settings` (rebuilt from its seed, fps and size)."""
    return make_script(index, seed=m["seed"], fps=m["fps"], size=m["size"])


@dataclass(frozen=True)
class ScriptedClip:
    """A trimmed action clip of a manifest's video: the video id, the clip and its player."""

    vid: str
    clip: Clip
    player: int


def scripted_clips(m: dict) -> dict[str, ScriptedClip]:
    """Every trimmed clip of the videos of a manifest read by :func:`read_generator_settings`,
    by clip name (the file stem the generator gives the clip's close-up)."""
    out = {}
    for index, vid in enumerate(m["videos"]):
        script = manifest_script(m, index)
        for c in script.clips:
            out[c.name] = ScriptedClip(vid, c, script.segments[c.segment].player)
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
        prog="python -m grounding.data.synthetic.oracle",
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
