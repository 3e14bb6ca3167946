"""Wide-shot versions of the synthetic training clips, for training the recognizer on them.

The generator renders every trimmed action clip as a close-up (a camera following the
player); the grounding videos show the same frames in a wide shot of one to three players, and
the two-stream model's grounding features (:mod:`grounding.person_features`) crop each player
out of the wide shot. A recognizer trained on close-ups only loses much of its accuracy on
those crops (``python -m grounding.research.crop_gap`` measures how much).

``python -m grounding.research.wide_clips --data DIR --out OUT`` writes an HMDB51-style
``OUT/actions`` holding every clip of ``DIR/actions`` (links to the close-ups and their
skeletons, the same split) plus, for every *training* clip, ``<clip>_wide.mp4``: the clip's
frames of the wide video, cropped around its player at the framing of
:func:`grounding.data.persons.person_boxes` (box side ``scale`` times the player's median pose
height over the clip, centre following the player, smoothed), with the crop's skeleton in
``actions/skeletons``. The test clips stay the close-ups, so ``grounding.train recognition
--data OUT`` reports an accuracy comparable with a run on ``DIR``. Training and test clips
come from the generator's video split, so no grounding test video is seen.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from grounding.data.action_dataset import load_skeleton
from grounding.data.persons import crop_square, person_boxes
from grounding.data.synthetic.manifest import (
    ScriptedClip,
    read_generator_settings,
    scripted_clips,
)
from grounding.data.synthetic.writers import write_skeleton, write_video
from grounding.data.video import read_frames
from grounding.io import atomic_write
from grounding.train.recognition import read_split

__all__ = ["crop_track", "main", "write_wide_clips"]

#: frames of the moving average that smooths the crop centre
SMOOTH_FRAMES = 5


def crop_track(
    joints: np.ndarray, player: int, start: int, end: int, *, scale: float = 2.5
) -> tuple[np.ndarray, float]:
    """``(F, 2)`` crop centres (x, y) of frames ``[start, end)`` and the crop side for one
    player of a ``(T, M, 17, 3)`` pose array: per-frame box centres of
    :func:`person_boxes` (frames without the player take the nearest frame's), smoothed over
    :data:`SMOOTH_FRAMES`, and ``scale`` times the median pose height over the clip.
    ``ValueError`` when the player is visible in none of the frames."""
    windows = np.stack([np.arange(start, end), np.arange(start, end) + 1], -1)
    boxes = person_boxes(joints[:, player : player + 1], windows, scale=scale)
    seen = np.flatnonzero(boxes.present[:, 0])
    if not len(seen):
        raise ValueError(f"player {player} is visible in none of frames [{start}, {end})")
    nearest = seen[np.abs(np.arange(end - start)[:, None] - seen[None, :]).argmin(1)]
    centre = boxes.centre[nearest, 0]
    pad = SMOOTH_FRAMES // 2
    padded = np.pad(centre, ((pad, pad), (0, 0)), mode="edge")
    kernel = np.ones(SMOOTH_FRAMES) / SMOOTH_FRAMES
    smooth = np.stack([np.convolve(padded[:, i], kernel, mode="valid") for i in range(2)], -1)
    return smooth.astype(np.float32), float(np.median(boxes.side[seen, 0]))


def _wide_clip(
    data: Path, scripted: ScriptedClip, size: int, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(F, size, size, 3)`` RGB crops and ``(F, 1, 17, 3)`` crop-space joints of a clip."""
    vid, clip, player = scripted.vid, scripted.clip, scripted.player
    joints = load_skeleton(data / "skeletons" / f"{vid}.npz")
    centre, side = crop_track(joints, player, clip.start, clip.end, scale=scale)
    frames = read_frames(data / "videos" / f"{vid}.mp4", np.arange(clip.start, clip.end))
    pairs = zip(frames, centre, strict=True)
    crops = np.stack([crop_square(f[None], c, side, size)[0] for f, c in pairs])
    own = joints[clip.start : clip.end, player : player + 1].copy()
    k = size / side
    own[..., :2] = (own[..., :2] - (centre[:, None, None, :] - side / 2)) * k
    own[..., 2] *= np.all((own[..., :2] >= 0) & (own[..., :2] < size), axis=-1)
    return crops, own


def _link(target: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(target.resolve(), link)


def _write_crop(
    data: Path, dst: Path, scripted: ScriptedClip, cls: str, size: int, fps: int, scale: float
) -> Path | None:
    """Write ``dst/<cls>/<clip>_wide.mp4`` and its skeleton unless both exist; returns the
    video path, or ``None`` when the wide shot never shows the clip's player."""
    name = scripted.clip.name
    video = dst / cls / f"{name}_wide.mp4"
    skeleton = dst / "skeletons" / cls / f"{name}_wide.npz"
    if not (video.is_file() and skeleton.is_file()):
        try:
            crops, joints = _wide_clip(data, scripted, size, scale)
        except ValueError:  # the player is outside the wide shot for the whole clip
            return None
        write_video(video, (cv2.cvtColor(f, cv2.COLOR_RGB2BGR) for f in crops), fps, size)
        write_skeleton(skeleton, joints, fps)
    return video


def write_wide_clips(
    data: Path,
    out: Path,
    *,
    scale: float = 2.5,
    progress: bool = True,
) -> dict[str, int]:
    """Write ``out/actions`` (module docstring); returns the counts of linked clips, of
    wide crops of training clips and of training clips whose player the wide shot never
    shows (no crop).
    Re-running skips the crops already written."""
    m = read_generator_settings(data)
    split, skeletons = read_split(data, split=1)
    size, fps = int(m["size"]), int(m["fps"])
    dst = out / "actions"
    lines: dict[str, list[str]] = {c: [] for c in split.classes}
    clips = scripted_clips(m)
    cropped = unseen = 0
    for subset, items in (("train", split.train), ("test", split.test)):
        for clip in tqdm(items, desc=f"wide clips ({subset})", disable=not progress):
            name = clip.path.stem
            cls = clip.class_name
            _link(clip.path, dst / cls / clip.path.name)
            _link(skeletons / cls / f"{name}.npz", dst / "skeletons" / cls / f"{name}.npz")
            lines[cls].append(f"{clip.path.name} {1 if subset == 'train' else 2}")
            if subset != "train":
                continue
            if name not in clips:
                raise ValueError(f"{clip.path}: no clip {name!r} in the scripts of {data}")
            video = _write_crop(data, dst, clips[name], cls, size, fps, scale)
            if video is None:
                unseen += 1
                continue
            lines[cls].append(f"{video.name} 1")
            cropped += 1
    for cls, rows in lines.items():
        path = dst / "splits" / f"{cls}_test_split1.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, "w", encoding="utf-8", newline="\n") as f:
            f.write("".join(f"{r}\n" for r in rows))
    return {
        "linked": len(split.train) + len(split.test),
        "wide": cropped,
        "unseen": unseen,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m grounding.research.wide_clips",
        description="Add wide-shot person crops of the training clips to a synthetic dataset.",
    )
    p.add_argument("--data", required=True, type=Path, help="generated dataset folder")
    p.add_argument("--out", required=True, type=Path, help="new dataset folder (actions/)")
    p.add_argument("--scale", type=float, default=2.5, help="crop side over pose height")
    args = p.parse_args(argv)
    if args.out.resolve() == args.data.resolve():
        print("error: --out must differ from --data", file=sys.stderr)
        return 2
    try:
        counts = write_wide_clips(args.data, args.out, scale=args.scale)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(
        f"{counts['linked']} clips linked, {counts['wide']} wide crops, {counts['unseen']} "
        f"training clips skipped (player outside the wide shot): {args.out / 'actions'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
