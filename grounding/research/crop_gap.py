"""Where the two-stream recognizer's accuracy goes between its close-ups and the grounding videos.

``python -m grounding.research.crop_gap --data DIR --checkpoint CKPT`` runs a two-stream
recognition checkpoint on every test clip of a generated dataset five ways, from the
recognizer's own test setting to the inputs its grounding features are made of
(:mod:`grounding.person_features`):

1. ``close-up, test snippets``: the trimmed close-up, ``test_segments`` snippets (the
   recognition test accuracy ``grounding.train recognition`` prints);
2. ``close-up, feature snippets``: the same with the training ``segments`` snippets, the
   number ``grounding.extract`` takes per clip;
3. ``wide crop, test snippets``: the *same frames* cut out of the wide-shot video around the
   clip's player, as ``grounding.extract`` (person kind) crops them, ``test_segments`` snippets;
4. ``wide crop, feature snippets``: the same with ``segments`` snippets;
5. ``wide crop, 1 s windows``: every whole second of the clip on its own, ``segments``
   snippets (a grounding feature's window; the clip's action throughout).

Each row is the fused (eq. 7) top-1 accuracy against the clip's label; a player the wide shot
never shows counts as a miss (and is counted).
"""

from __future__ import annotations

import argparse
import copy
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tabulate import tabulate
from tqdm import tqdm

from grounding.data.synthetic.manifest import read_generator_settings, scripted_clips
from grounding.data.video import video_info
from grounding.extract import load_recognizer, snippet_starts
from grounding.models.recognizer import PIXEL_CLIPS, recognizer_spec
from grounding.person_features import person_clip_inputs
from grounding.train.recognition import make_datasets, read_split

__all__ = ["ROWS", "CropGapReport", "crop_gap", "main"]

ROWS: tuple[str, ...] = (
    "close-up, test snippets",
    "close-up, feature snippets",
    "wide crop, test snippets",
    "wide crop, feature snippets",
    "wide crop, 1 s windows",
)


@dataclass
class CropGapReport:
    """Hits and trials per row of :data:`ROWS`, and the clips whose player is never seen."""

    hits: dict[str, int]
    trials: dict[str, int]
    unseen: int

    def accuracy(self, row: str) -> float:
        return 100.0 * self.hits[row] / max(1, self.trials[row])

    def table(self) -> str:
        rows = [[r, self.trials[r], round(self.accuracy(r), 2)] for r in ROWS]
        rows.append(["clips whose player the wide shot never shows", self.unseen, ""])
        return tabulate(rows, headers=["recognizer input", "trials", "accuracy %"])


@torch.no_grad()
def _fused_top1(model: torch.nn.Module, rgb: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``(N,)`` fused top-1 classes of ``(N, S, C, H, W)`` uint8 inputs."""
    out = model(torch.from_numpy(np.ascontiguousarray(rgb)), torch.from_numpy(flow))
    return out.fused.argmax(-1).numpy()


def crop_gap(data: Path, checkpoint: Path, *, limit: int | None = None) -> CropGapReport:
    """:class:`CropGapReport` of a two-stream checkpoint on the test clips of ``data`` (the
    first ``limit`` in a seeded random order, or all)."""
    model, config = load_recognizer(checkpoint, device=torch.device("cpu"))
    if recognizer_spec(config.model).inputs is not PIXEL_CLIPS:
        raise ValueError(f"{checkpoint}: a {config.model} checkpoint; crop_gap needs ours")
    m = read_generator_settings(data)
    split, skeletons = read_split(data, split=config.split)
    _, test = make_datasets(config, split, skeletons=skeletons, cache_dir=data / ".cache")
    test.flow_cache.prepare([c.path for c in split.test], progress=True)
    feature_set = copy.copy(test)  # the same clips and flow, the extractor's snippet count
    feature_set.segments = config.segments
    scripts, fps = scripted_clips(m), int(m["fps"])
    hits = dict.fromkeys(ROWS, 0)
    trials = dict.fromkeys(ROWS, 0)
    unseen = 0
    order = np.random.default_rng(0).permutation(len(test))[:limit]
    for i in tqdm(order, desc="crop gap", unit="clip"):
        clip = test.clips[i]
        if clip.path.stem not in scripts:
            raise ValueError(f"{clip.path}: no clip {clip.path.stem!r} in the scripts of {data}")
        for row, dataset in zip(ROWS[:2], (test, feature_set), strict=True):
            item = dataset[i]
            pred = _fused_top1(model, item["rgb"][None].numpy(), item["flow"][None].numpy())
            hits[row] += int(pred[0] == clip.label)
            trials[row] += 1
        scripted = scripts[clip.path.stem]
        vid, c = scripted.vid, scripted.clip
        video, skeleton = data / "videos" / f"{vid}.mp4", data / "skeletons" / f"{vid}.npz"
        n_frames = video_info(video).n_frames
        whole = [[c.start, c.end]]
        seconds = [[a, a + fps] for a in range(c.start, c.end - fps + 1, fps)]
        shown = True
        for row, segments, windows in (
            (ROWS[2], config.test_segments, whole),
            (ROWS[3], config.segments, whole),
            (ROWS[4], config.segments, seconds),
        ):
            if not windows:
                continue
            starts = snippet_starts(
                np.array(windows), n_frames, segments=segments, length=config.flow_length
            )
            inputs = person_clip_inputs(video, skeleton, config, starts, persons=[scripted.player])
            trials[row] += len(windows)
            if len(inputs.clip):
                pred = _fused_top1(model, inputs.rgb, inputs.flow)
                hits[row] += int((pred == clip.label).sum())
            else:
                shown = False
        unseen += not shown
    return CropGapReport(hits, trials, unseen)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m grounding.research.crop_gap",
        description="Recognizer accuracy from close-ups to the wide-shot crops of grounding.",
    )
    p.add_argument("--data", required=True, type=Path, help="generated dataset folder")
    p.add_argument("--checkpoint", required=True, type=Path, help="two-stream recognition run")
    p.add_argument("--limit", type=int, default=None, help="check only N test clips")
    args = p.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        print("error: --limit must be >= 1", file=sys.stderr)
        return 2
    try:
        report = crop_gap(args.data, args.checkpoint, limit=args.limit)
    except (ValueError, OSError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(report.table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
