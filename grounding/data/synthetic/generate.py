"""Generating the synthetic basketball grounding dataset on disk.

:func:`generate_dataset` is idempotent and resumable:

* a directory with a complete ``manifest.json`` of the same configuration is returned as is;
* every video (its mp4, skeletons and trimmed clips) is written atomically and then recorded in
  ``.progress/<vid>.json``; an interrupted run redoes only unrecorded videos;
* annotation files and finally the manifest are written last, so a manifest means "complete";
* a non-empty directory holding anything else is refused unless ``overwrite=True``.

Each video depends only on ``(seed, index)``, so the number of workers never changes the output.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from grounding.data.synthetic.actions import ACTIONS
from grounding.data.synthetic.queries import GroundingQuery, make_queries
from grounding.data.synthetic.render import (
    player_tracks,
    render_frames,
    skeleton_array,
    to_screen,
    view_bounds,
)
from grounding.data.synthetic.scene import camera_track, make_scene, sample_degradation
from grounding.data.synthetic.script import VideoScript, make_script, video_rng
from grounding.data.synthetic.writers import (
    write_activitynet,
    write_charades,
    write_hmdb_splits,
    write_skeleton,
    write_video,
)
from grounding.io import file_digest, write_json_atomic

GENERATOR = "grounding.synthetic"
VERSION = "1.2"
TEST_FRACTION = 0.25
STATE_FILE = ".synthetic.json"
PROGRESS_DIR = ".progress"
#: everything the generator writes (removed by ``overwrite=True``; nothing else is touched)
OUTPUTS = (
    "manifest.json",
    "preview.png",
    "charades_sta_train.txt",
    "charades_sta_test.txt",
    "Charades_v1_train.csv",
    "Charades_v1_test.csv",
    "videos",
    "skeletons",
    "actions",
    "activitynet",
    PROGRESS_DIR,
    STATE_FILE,
)


@dataclass(frozen=True)
class GeneratorConfig:
    """What determines the dataset's content."""

    seed: int
    n_videos: int
    size: int = 128
    fps: int = 24
    generator: str = GENERATOR
    version: str = VERSION

    def validate(self) -> None:
        if int(self.n_videos) < 1:
            raise ValueError(f"n_videos must be at least 1, got {self.n_videos}")
        if int(self.size) < 32:
            raise ValueError(f"size must be at least 32 pixels, got {self.size}")
        if not 1 <= int(self.fps) <= 120:
            raise ValueError(f"fps must be between 1 and 120, got {self.fps}")


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def split_videos(n_videos: int, seed: int) -> tuple[list[int], list[int]]:
    """Video indices of the train and test splits (by video, 75 / 25, seeded)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7_777_777]))
    perm = rng.permutation(n_videos)
    n_test = 0 if n_videos < 2 else max(1, round(TEST_FRACTION * n_videos))
    return sorted(perm[n_test:].tolist()), sorted(perm[:n_test].tolist())


# --------------------------------------------------------------------------------------------
# rendering one video (runs in a worker)


def _video_files(script: VideoScript) -> list[str]:
    files = [f"videos/{script.vid}.mp4", f"skeletons/{script.vid}.npz"]
    for c in script.clips:
        action = script.segments[c.segment].action
        files += [f"actions/{action}/{c.name}.mp4", f"actions/skeletons/{action}/{c.name}.npz"]
    return files


def render_video(script: VideoScript, root: Path) -> None:
    """Render and write one video, its skeletons and its trimmed clips."""
    seed, idx, size, fps = script.seed, script.index, script.size, script.fps
    scene = make_scene(video_rng(seed, idx, "scene"), size)
    tracks = player_tracks(script, scene)
    lo, hi = view_bounds(tracks)
    cam = camera_track(video_rng(seed, idx, "camera"), scene, lo, hi, size, fps)
    deg = sample_degradation(video_rng(seed, idx, "camera", 1), script.n_frames, size, fps)
    screen = to_screen(tracks, cam)
    write_video(
        root / "videos" / f"{script.vid}.mp4",
        render_frames(scene, screen, cam, deg, size),
        fps,
        size,
    )
    write_skeleton(root / "skeletons" / f"{script.vid}.npz", skeleton_array(screen, size), fps)
    for k, clip in enumerate(script.clips):
        seg = script.segments[clip.segment]
        track = tracks[seg.player].window(clip.start, clip.end)
        clo, chi = view_bounds([track])
        ccam = camera_track(
            video_rng(seed, idx, "camera", 2, k),
            scene,
            clo,
            chi,
            size,
            fps,
            margin_m=1.5,
            view_limits_m=(3.5, 5.0),
        )
        cdeg = sample_degradation(video_rng(seed, idx, "camera", 3, k), len(ccam), size, fps)
        cscreen = to_screen([track], ccam)
        write_video(
            root / "actions" / seg.action / f"{clip.name}.mp4",
            render_frames(scene, cscreen, ccam, cdeg, size),
            fps,
            size,
        )
        write_skeleton(
            root / "actions" / "skeletons" / seg.action / f"{clip.name}.npz",
            skeleton_array(cscreen, size),
            fps,
        )


def _progress_path(root: Path, vid: str) -> Path:
    return root / PROGRESS_DIR / f"{vid}.json"


def _is_done(root: Path, script: VideoScript, cfg: GeneratorConfig) -> bool:
    p = _progress_path(root, script.vid)
    if not p.is_file():
        return False
    try:
        rec = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return rec.get("config") == asdict(cfg) and all(
        (root / f).is_file() for f in rec.get("files", [])
    )


def _render_task(args: tuple[VideoScript, str, dict]) -> str:
    script, root_s, cfg = args
    root = Path(root_s)
    render_video(script, root)
    rec = {
        "vid": script.vid,
        "config": cfg,
        "n_frames": script.n_frames,
        "files": _video_files(script),
    }
    write_json_atomic(_progress_path(root, script.vid), rec)
    return script.vid


def _worker_init() -> None:
    cv2.setNumThreads(1)


# --------------------------------------------------------------------------------------------
# the directory


def _read_manifest(root: Path) -> dict | None:
    p = root / "manifest.json"
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _manifest_matches(root: Path, cfg: GeneratorConfig) -> bool:
    """A complete manifest of this configuration whose files are all present and unchanged."""
    m = _read_manifest(root)
    if m is None or any(m.get(k) != v for k, v in asdict(cfg).items()):
        return False
    for rel, digest in m.get("sha256", {}).items():
        if not (root / rel).is_file() or file_digest(root / rel, chars=64) != digest:
            return False
    return all((root / "videos" / f"{vid}.mp4").is_file() for vid in m.get("videos", []))


def _prepare_dir(root: Path, cfg: GeneratorConfig, overwrite: bool) -> None:
    """Create / check the output directory; clear it on overwrite; refuse foreign content."""
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"output path exists and is not a directory: {root}")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PermissionError(f"cannot create output directory {root}: {e.strerror or e}") from e
    if not os.access(root, os.W_OK | os.X_OK):
        raise PermissionError(f"output directory is not writable: {root}")
    state = root / STATE_FILE
    same = False
    if state.is_file():
        with contextlib.suppress(OSError, json.JSONDecodeError):
            same = json.loads(state.read_text(encoding="utf-8")) == asdict(cfg)
    if overwrite and not same:
        for name in OUTPUTS:
            p = root / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    elif not same and any(root.iterdir()):
        what = "a synthetic dataset of another configuration" if state.is_file() else "other files"
        raise FileExistsError(
            f"output directory {root} is not empty and holds {what}; "
            "choose an empty directory or pass overwrite=True (--overwrite)"
        )
    try:
        write_json_atomic(state, asdict(cfg))
    except OSError as e:
        raise PermissionError(f"cannot write to output directory {root}: {e.strerror or e}") from e
    _remove_stale_temps(root)


def _remove_stale_temps(root: Path) -> None:
    """Delete temporary files a killed run may have left (``.name.XXXX.tmp*``)."""
    for sub in ("videos", "skeletons", "actions", "activitynet", PROGRESS_DIR, "."):
        d = root / sub
        if not d.is_dir():
            continue
        it = d.rglob(".*.tmp*") if sub != "." else d.glob(".*.tmp*")
        for p in it:
            if p.is_file():
                p.unlink()


# --------------------------------------------------------------------------------------------


def build_scripts(
    cfg: GeneratorConfig,
) -> tuple[list[VideoScript], dict[str, list[GroundingQuery]]]:
    """The schedules and queries of every video (cheap: no rendering)."""
    scripts = [
        make_script(i, seed=cfg.seed, fps=cfg.fps, size=cfg.size) for i in range(cfg.n_videos)
    ]
    return scripts, {s.vid: make_queries(s) for s in scripts}


def generate_dataset(
    out: str | Path,
    *,
    n_videos: int,
    seed: int,
    size: int = 128,
    fps: int = 24,
    overwrite: bool = False,
    workers: int | None = None,
    preview: bool = False,
    progress: bool = True,
) -> Path:
    """Generate (or finish, or reuse) the synthetic dataset in ``out``; returns the manifest path.

    Args:
        out: output directory (created if missing; must be empty, or hold a run of the same
            configuration, unless ``overwrite``).
        n_videos: number of grounding videos (>= 1), split 75/25 into train/test by video.
        seed: base seed; the same seed gives byte-identical annotations and identical frames.
        size: frame side in pixels; fps: frame rate.
        workers: processes used for rendering (default: up to 2).
        preview: also write ``preview.png`` (frames, skeleton overlay, optical flow).
    """
    root = Path(out)
    cfg = GeneratorConfig(seed=int(seed), n_videos=int(n_videos), size=int(size), fps=int(fps))
    cfg.validate()
    manifest_path = root / "manifest.json"
    if root.is_dir() and _manifest_matches(root, cfg) and not overwrite:
        if preview and not (root / "preview.png").is_file():
            _preview(root)
        return manifest_path
    _prepare_dir(root, cfg, overwrite)
    scripts, queries = build_scripts(cfg)
    todo = [s for s in scripts if not _is_done(root, s, cfg)]
    todo.sort(key=lambda s: -s.n_frames)  # longest first balances the workers
    n_workers = max(1, int(workers if workers is not None else default_workers()))
    tasks = [(s, str(root), asdict(cfg)) for s in todo]
    bar = tqdm(
        total=len(scripts),
        initial=len(scripts) - len(todo),
        desc="synthetic videos",
        unit="video",
        disable=not progress,
    )
    with bar:
        if n_workers == 1 or len(tasks) <= 1:
            for t in tasks:
                _render_task(t)
                bar.update(1)
        else:
            ctx = mp.get_context("spawn")
            with ctx.Pool(min(n_workers, len(tasks)), initializer=_worker_init) as pool:
                for _ in pool.imap_unordered(_render_task, tasks, chunksize=1):
                    bar.update(1)
    _write_annotations(root, cfg, scripts, queries)
    if preview:
        _preview(root)
    return manifest_path


def _write_annotations(
    root: Path,
    cfg: GeneratorConfig,
    scripts: list[VideoScript],
    queries: dict[str, list[GroundingQuery]],
) -> Path:
    train_idx, test_idx = split_videos(cfg.n_videos, cfg.seed)
    train = [scripts[i] for i in train_idx]
    test = [scripts[i] for i in test_idx]
    files = write_charades(root, "train", train, queries) + write_charades(
        root, "test", test, queries
    )
    files.append(write_activitynet(root / "activitynet" / "train.json", train, queries))
    files.append(write_activitynet(root / "activitynet" / "val_1.json", test, queries))
    files += write_hmdb_splits(root, train, test)
    n_q = {
        name: sum(len(queries[s.vid]) for s in part)
        for name, part in (("train", train), ("test", test))
    }
    clips_by_class = {a: 0 for a in ACTIONS}
    for s in scripts:
        for c in s.clips:
            clips_by_class[s.segments[c.segment].action] += 1
    ratios = [(q.end - q.start) / s.duration for s in scripts for q in queries[s.vid]]
    manifest = {
        **asdict(cfg),
        "counts": {
            "videos": len(scripts),
            "charades_train": n_q["train"],
            "charades_test": n_q["test"],
            "activitynet_train": n_q["train"],
            "activitynet_val_1": n_q["test"],
            "action_clips": sum(clips_by_class.values()),
            "action_classes": sum(1 for v in clips_by_class.values() if v),
        },
        "splits": {"train": [s.vid for s in train], "test": [s.vid for s in test]},
        "videos": [s.vid for s in scripts],
        "action_classes": [a for a in ACTIONS if clips_by_class[a]],
        "clips_per_class": clips_by_class,
        "mean_moment_ratio": round(float(np.mean(ratios)), 4) if ratios else 0.0,
        "sha256": {p.relative_to(root).as_posix(): file_digest(p, chars=64) for p in sorted(files)},
    }
    return write_json_atomic(root / "manifest.json", manifest)


def _preview(root: Path) -> Path:
    from grounding.data.synthetic.preview import make_preview

    return make_preview(root)
