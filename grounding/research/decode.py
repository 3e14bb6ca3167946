"""How much who-does-what person-centric features hold, checked against the synthetic scripts.

``python -m grounding.research.decode --data DIR --features FEATS.h5`` reads features
written by ``python -m grounding.extract`` (person kind) (:mod:`grounding.person_features`) for a
generated dataset and, for every (second, jersey colour) with exactly one scripted action of
that player in that second (the oracle's colour blocks at one row per second,
:func:`grounding.research.oracle.oracle_features`), reads the features the way a
grounding head would need to:

- **colour found**: the clip's colour-bound block has a posterior mass of at least 0.2 in the
  histogram bin of the player's jersey colour;
- **colour-bound action**: the colour is found and the action with the largest mass in that
  bin is the scripted one (a miss when the colour is not found);
- **any-player action**: the largest entry of the summed posterior is the scripted action.

``--confusion`` also prints the colour-bound actions' confusion matrix (scripted action per row,
decoded action per column, over the pairs whose colour is found) with each action's recall:
which actions the features cannot tell apart.

Features must be one row per second (``--clip-seconds 1``, the default).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
from tabulate import tabulate

from grounding.data.persons import COLOUR_BINS, descriptor_dim
from grounding.data.synthetic.actions import ACTIONS
from grounding.data.synthetic.manifest import manifest_script, read_generator_settings
from grounding.data.synthetic.script import JERSEYS
from grounding.research.oracle import COLOURS, oracle_features

__all__ = ["DecodeReport", "colour_bin", "decode_person_features", "main"]

#: least posterior mass in a colour bin for the colour to count as found
FOUND_MASS = 0.2


def colour_bin(bgr: tuple[int, int, int], bins: int = COLOUR_BINS) -> int:
    """Histogram bin (:func:`grounding.data.persons.torso_colours`) of a BGR jersey colour."""
    r, g, b = bgr[2], bgr[1], bgr[0]
    i, j, k = (min(int(v * bins / 256), bins - 1) for v in (r, g, b))
    return (i * bins + j) * bins + k


@dataclass
class DecodeReport:
    """Fractions over the checked (second, colour) pairs; ``confusion`` ``(A, A)`` counts
    scripted (row) against decoded (column) colour-bound actions, :data:`ACTIONS` order, over
    the pairs whose colour is found."""

    pairs: int
    colour_found: float
    colour_bound_action: float
    any_player_action: float
    confusion: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))

    def table(self) -> str:
        rows = [
            ["checked (second, player) pairs", self.pairs],
            ["colour found %", round(100 * self.colour_found, 2)],
            ["colour-bound action %", round(100 * self.colour_bound_action, 2)],
            ["any-player action %", round(100 * self.any_player_action, 2)],
        ]
        return tabulate(rows, headers=["person features vs script", "value"])

    def confusion_table(self) -> str:
        """The confusion matrix with each scripted action's recall (%)."""
        rows = []
        for i, (action, row) in enumerate(zip(ACTIONS, self.confusion, strict=True)):
            recall = 100 * row[i] / row.sum() if row.sum() else float("nan")
            rows.append([action, *row.tolist(), round(recall, 2)])
        return tabulate(rows, headers=["scripted \\ decoded", *ACTIONS, "recall %"])


def decode_person_features(data: Path, features: Path) -> DecodeReport:
    """:class:`DecodeReport` of a person-feature HDF5 file of the dataset in ``data``."""
    m = read_generator_settings(data)
    n_actions = len(ACTIONS)
    width = n_actions * descriptor_dim(COLOUR_BINS) + n_actions
    try:
        f = h5py.File(features, "r")
    except OSError as exc:
        raise ValueError(f"{features}: not a readable HDF5 file ({exc})") from exc
    with f:
        if "persons" not in f.attrs:
            raise ValueError(f"{features}: not person-centric features of grounding.extract")
        if float(f.attrs.get("clip_seconds", "1.0")) != 1.0:
            raise ValueError(f"{features}: needs one row per second (--clip-seconds 1)")
        classes = tuple(json.loads(f.attrs["recognition_config"])["classes"])
        if sorted(classes) != sorted(ACTIONS):
            raise ValueError(f"{features}: classes {classes} are not the synthetic actions")
        order = [classes.index(a) for a in ACTIONS]
        bins = {c: colour_bin(JERSEYS[c]) for c in COLOURS}
        checked = found = anyone = 0
        confusion = np.zeros((n_actions, n_actions), np.int64)
        for index, vid in enumerate(m["videos"]):
            if vid not in f:
                raise ValueError(f"{features}: no features for video {vid}")
            x = f[vid][()]
            o = oracle_features(manifest_script(m, index), rate=1.0)
            n = min(len(o), len(x))
            block = x[:n, -width:]
            pairs = block[:, :-n_actions].reshape(n, n_actions, -1)[:, order]
            posterior = block[:, -n_actions:][:, order]
            for t in range(n):
                for ci, colour in enumerate(COLOURS):
                    acts = np.flatnonzero(o[t, ci * n_actions : (ci + 1) * n_actions])
                    if len(acts) != 1:
                        continue
                    mass = pairs[t, :, bins[colour]]
                    checked += 1
                    if mass.sum() >= FOUND_MASS:
                        found += 1
                        confusion[acts[0], int(np.argmax(mass))] += 1
                    anyone += int(np.argmax(posterior[t])) == acts[0]
    if not checked:
        raise ValueError(f"{features}: no (second, player) pair with one scripted action")
    bound = int(np.trace(confusion))  # colour found and the scripted action decoded
    return DecodeReport(checked, found / checked, bound / checked, anyone / checked, confusion)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m grounding.research.decode",
        description="Check person-centric features against the synthetic scripts.",
    )
    p.add_argument("--data", required=True, type=Path, help="generated dataset folder")
    p.add_argument(
        "--features", required=True, type=Path, help="person-centric HDF5 of grounding.extract"
    )
    p.add_argument(
        "--confusion", action="store_true", help="also print the colour-bound confusion matrix"
    )
    args = p.parse_args(argv)
    try:
        report = decode_person_features(args.data, args.features)
    except (ValueError, OSError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(report.table())
    if args.confusion:
        print()
        print(report.confusion_table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
