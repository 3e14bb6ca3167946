"""A PNG contact sheet of a generated dataset, for people to see what the data looks like.

For a couple of videos: a row of frames with one of their queries, the same frames with the
skeleton overlay (visible joints only), and the optical flow (DIS) between each frame and the
next as a colour map (hue = direction, brightness = speed). A last row shows one frame of a
trimmed clip per action class.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from grounding.data.flow import compute_flow
from grounding.data.synthetic.skeleton import COCO_BONES
from grounding.data.video import read_frames, video_info
from grounding.io import atomic_path

SCALE = 2
LABEL_W = 110
BONE_BGR = (0, 255, 255)
JOINT_BGR = (0, 0, 255)


def flow_colour(flow: np.ndarray, max_mag: float = 4.0) -> np.ndarray:
    """``(H, W, 2)`` flow -> ``(H, W, 3)`` uint8 BGR (HSV wheel, saturating at ``max_mag`` px)."""
    mag, ang = cv2.cartToPolar(flow[..., 0], flow[..., 1])
    hsv = np.zeros((*flow.shape[:2], 3), np.uint8)
    hsv[..., 0] = (ang * 90 / np.pi).astype(np.uint8)
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(mag / max_mag * 255, 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def draw_skeleton(img: np.ndarray, joints: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Overlay ``(M, 17, 3)`` joints (x, y, visibility) on a BGR image (returns a copy)."""
    out = img.copy()
    for person in joints:
        for a, b in COCO_BONES:
            if person[a, 2] > 0 and person[b, 2] > 0:
                pa = tuple(int(v) for v in person[a, :2] * scale)
                pb = tuple(int(v) for v in person[b, :2] * scale)
                cv2.line(out, pa, pb, BONE_BGR, 1, cv2.LINE_AA)
        for x, y, v in person:
            if v > 0:
                cv2.circle(out, (int(x * scale), int(y * scale)), 2, JOINT_BGR, -1, cv2.LINE_AA)
    return out


def _label(text: str, height: int, width: int = LABEL_W) -> np.ndarray:
    img = np.full((height, width, 3), 30, np.uint8)
    for k, line in enumerate(text.split("\n")):
        y = 18 + 16 * k
        cv2.putText(
            img, line, (6, y), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (230, 230, 230), 1, cv2.LINE_AA
        )
    return img


def _banner(text: str, width: int) -> np.ndarray:
    img = np.full((22, width, 3), 50, np.uint8)
    cv2.putText(
        img, text[:160], (6, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA
    )
    return img


def _first_query(root: Path, vid: str) -> str:
    for name in ("charades_sta_train.txt", "charades_sta_test.txt"):
        p = root / name
        if p.is_file():
            for line in p.read_text(encoding="utf-8").splitlines():
                if line.startswith(vid + " "):
                    head, sentence = line.split("##", 1)
                    _, s, e = head.split()
                    return f"{vid} [{s}-{e}s]: {sentence}"
    return vid


def _row(tiles: list[np.ndarray], label: str) -> np.ndarray:
    big = [cv2.resize(t, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_NEAREST) for t in tiles]
    strip = np.concatenate(big, axis=1)
    return np.concatenate([_label(label, strip.shape[0]), strip], axis=1)


def make_preview(root: str | Path, *, n_videos: int = 2, n_frames: int = 6) -> Path:
    """Write ``root/preview.png`` for a generated dataset and return its path."""
    root = Path(root)
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    vids = manifest["videos"][:n_videos]
    blocks = []
    for vid in vids:
        path = root / "videos" / f"{vid}.mp4"
        info = video_info(path)
        idx = np.linspace(0, info.n_frames - 2, n_frames).astype(np.int64)
        frames = read_frames(path, np.concatenate([idx, idx + 1]))
        bgr = [cv2.cvtColor(f, cv2.COLOR_RGB2BGR) for f in frames[:n_frames]]
        with np.load(root / "skeletons" / f"{vid}.npz", allow_pickle=False) as z:
            joints = z["joints"]
        skel = [draw_skeleton(b, joints[i]) for b, i in zip(bgr, idx, strict=True)]
        flows = [
            flow_colour(compute_flow(frames[k], frames[n_frames + k], method="dis"))
            for k in range(n_frames)
        ]
        times = " ".join(f"{i / info.fps:.1f}s" for i in idx)
        rows = [
            _row(bgr, f"frames\n{times[:14]}"),
            _row(skel, "skeleton\n(17 COCO)"),
            _row(flows, "flow (DIS)\nhue=direction"),
        ]
        width = rows[0].shape[1]
        blocks.append(np.concatenate([_banner(_first_query(root, vid), width), *rows], axis=0))
    clip_tiles, names = [], []
    for cls in manifest.get("action_classes", [])[:n_frames]:
        clips = sorted((root / "actions" / cls).glob("*.mp4"))
        if clips:
            n = video_info(clips[0]).n_frames
            f = read_frames(clips[0], [n // 2])[0]
            tile = cv2.cvtColor(f, cv2.COLOR_RGB2BGR)
            cv2.putText(
                tile, cls, (2, 10), cv2.FONT_HERSHEY_SIMPLEX, 0.3, (255, 255, 255), 1, cv2.LINE_AA
            )
            clip_tiles.append(tile)
            names.append(cls)
    if clip_tiles:
        size = clip_tiles[0].shape[0]
        while len(clip_tiles) < n_frames:
            clip_tiles.append(np.zeros((size, size, 3), np.uint8))
        blocks.append(_row(clip_tiles, "action clips\n(HMDB-style)"))
    sheet = np.concatenate(blocks, axis=0)
    out = root / "preview.png"
    with atomic_path(out) as tmp:
        if not cv2.imwrite(str(tmp), sheet):
            raise OSError(f"cannot write PNG {out}")
    return out
