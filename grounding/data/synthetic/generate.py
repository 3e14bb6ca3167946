"""Generating the synthetic basketball grounding dataset on disk.

:func:`generate_dataset` is idempotent and resumable:

* a directory with a complete ``manifest.json`` of the same configuration is returned as is;
* every video (its mp4, skeletons and trimmed clips) is written atomically; its files are listed
  in ``.progress/<vid>.json`` before it is rendered and the record is marked complete after, so
  an interrupted run redoes only unfinished videos and every file the generator wrote is on
  record;
* annotation files and finally the manifest are written last, so a manifest means "complete";
* a non-empty directory holding anything else is refused. ``overwrite=True`` replaces a dataset
  of another configuration by removing only the files on record (the manifest, the progress
  records and what they list); a directory that also holds other files is refused, naming them,
  and nothing is removed;
* scripts are drawn one video at a time (in the render workers, and again when the annotation
  files are streamed), so the memory used does not grow with the number of videos; the free
  disk space is checked against an estimate before the first video is rendered.

Each video depends only on ``(seed, index)``, so the number of workers never changes the output.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import re
import shutil
from array import array
from collections.abc import Iterator
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
from grounding.data.synthetic.script import (
    VideoScript,
    make_script,
    video_frames,
    video_id,
    video_rng,
)
from grounding.data.synthetic.writers import (
    SplitWriter,
    clip_rows,
    write_hmdb_rows,
    write_skeleton,
    write_video,
)
from grounding.io import file_digest, remove_stale_temps, temp_target, write_json_atomic

GENERATOR = "grounding.synthetic"
VERSION = "1.2"
TEST_FRACTION = 0.25
STATE_FILE = ".synthetic.json"
PROGRESS_DIR = ".progress"
#: the files the generator writes at the top of the output directory
ROOT_FILES = frozenset(
    {
        "manifest.json",
        "preview.png",
        "charades_sta_train.txt",
        "charades_sta_test.txt",
        "Charades_v1_train.csv",
        "Charades_v1_test.csv",
        STATE_FILE,
    }
)
_ACTION = "|".join(re.escape(a) for a in ACTIONS)
_VID = r"syn\d{5,}"
_CLIP = rf"{_VID}_p\d+_s\d{{2,}}_(?:{_ACTION})"
#: the names the generator writes in each of its directories (regular expressions)
_NAMES: dict[str, re.Pattern[str]] = {
    ".": re.compile("|".join(re.escape(n) for n in sorted(ROOT_FILES))),
    "videos": re.compile(rf"{_VID}\.mp4"),
    "skeletons": re.compile(rf"{_VID}\.npz"),
    PROGRESS_DIR: re.compile(rf"{_VID}\.json"),
    "activitynet": re.compile(r"train\.json|val_1\.json"),
    "actions/splits": re.compile(rf"(?:{_ACTION})_test_split1\.txt"),
    **{f"actions/{a}": re.compile(rf"{_CLIP}\.mp4") for a in ACTIONS},
    **{f"actions/skeletons/{a}": re.compile(rf"{_CLIP}\.npz") for a in ACTIONS},
}
#: the generator's directories (removed on overwrite once empty)
OWN_DIRS = frozenset({*_NAMES, "actions", "actions/skeletons"} - {"."})
#: estimated bytes per video: frames of the video and of its trimmed clips (about 25 s + 15 s
#: of mean length) at BYTES_PER_PIXEL of mp4v, skeleton bytes per frame, and a fixed overhead
EST_SECONDS_PER_VIDEO = 40.0
BYTES_PER_PIXEL = 0.12
SKELETON_BYTES_PER_FRAME = 300
BYTES_PER_VIDEO = 20_000


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


def _is_done(root: Path, vid: str, cfg: GeneratorConfig) -> bool:
    p = _progress_path(root, vid)
    if not p.is_file():
        return False
    try:
        rec = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return (
        isinstance(rec, dict)
        and rec.get("complete", True) is True  # records written before "complete": finished
        and rec.get("config") == asdict(cfg)
        and all((root / f).is_file() for f in rec.get("files", []))
    )


def _render_task(args: tuple[int, str, dict]) -> str:
    index, root_s, cfg = args
    root = Path(root_s)
    script = make_script(index, seed=cfg["seed"], fps=cfg["fps"], size=cfg["size"])
    rec = {
        "vid": script.vid,
        "config": cfg,
        "n_frames": script.n_frames,
        "files": _video_files(script),
    }
    # on record before the first file is written, so an overwrite knows what is ours
    write_json_atomic(_progress_path(root, script.vid), {**rec, "complete": False})
    render_video(script, root)
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


def _state_matches(root: Path, cfg: GeneratorConfig) -> bool:
    """The directory's state file names this configuration (a run to resume or reuse)."""
    state = _read_state(root)
    return state is not None and {k: v for k, v in state.items() if k != "outputs"} == asdict(cfg)


def _read_state(root: Path) -> dict | None:
    p = root / STATE_FILE
    if not p.is_file():
        return None
    try:
        state = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return state if isinstance(state, dict) else None


def _is_own_name(rel: str) -> bool:
    """``rel`` (a path relative to the output directory) is a name the generator writes."""
    parent, _, name = rel.rpartition("/")
    pattern = _NAMES.get(parent or ".")
    return pattern is not None and pattern.fullmatch(name) is not None


def _own_files(root: Path) -> set[str]:
    """The files on record as written by the generator: the state file, the manifest and the
    annotation files it lists, every progress record and the files it lists (only names the
    generator writes), the preview when recorded, and stale temporary files of these names."""
    own: set[str] = set()
    state = _read_state(root)
    if state is not None:
        own.add(STATE_FILE)
        own.update(n for n in state.get("outputs", []) if isinstance(n, str) and _is_own_name(n))
    manifest = _read_manifest(root)
    if isinstance(manifest, dict) and manifest.get("generator") == GENERATOR:
        own.add("manifest.json")
        own.update(r for r in manifest.get("sha256", {}) if isinstance(r, str))
    progress = root / PROGRESS_DIR
    if progress.is_dir():
        for p in progress.iterdir():
            if not _is_own_name(f"{PROGRESS_DIR}/{p.name}") or not p.is_file():
                continue
            try:
                rec = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                continue
            if isinstance(rec, dict) and isinstance(rec.get("files"), list):
                own.add(f"{PROGRESS_DIR}/{p.name}")
                own.update(f for f in rec["files"] if isinstance(f, str))
    own = {r for r in own if _is_own_name(r)}
    for d in (".", *sorted(OWN_DIRS)):
        if (root / d).is_dir():
            own.update(_join(d, t.name) for t in (root / d).iterdir() if _is_stale_temp(d, t.name))
    return own


def _join(rel_dir: str, name: str) -> str:
    return name if rel_dir == "." else f"{rel_dir}/{name}"


def _is_stale_temp(rel_dir: str, name: str) -> bool:
    target = temp_target(name)
    return target is not None and _is_own_name(_join(rel_dir, target))


def _foreign_entries(root: Path, own: set[str]) -> list[str]:
    """Everything under ``root`` that is not on record as the generator's (a foreign directory
    is named once, not its content)."""
    foreign = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        keep = []
        for d in sorted(dirnames):
            rel = d if rel_dir == "." else f"{rel_dir}/{d}"
            if rel in OWN_DIRS and not (Path(dirpath) / d).is_symlink():
                keep.append(d)
            else:
                foreign.append(rel + "/")
        dirnames[:] = keep
        for f in sorted(filenames):
            rel = f if rel_dir == "." else f"{rel_dir}/{f}"
            if rel not in own:
                foreign.append(rel)
    return sorted(foreign)


def _describe(entries: list[str], limit: int = 5) -> str:
    shown = ", ".join(entries[:limit])
    return shown + (f" and {len(entries) - limit} more" if len(entries) > limit else "")


def _check_output_dir(root: Path) -> None:
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"output path exists and is not a directory: {root}")
    if root.is_dir() and not os.access(root, os.W_OK | os.X_OK):
        raise PermissionError(f"output directory is not writable: {root}")


def _make_dir(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PermissionError(f"cannot create output directory {root}: {e.strerror or e}") from e
    if not os.access(root, os.W_OK | os.X_OK):
        raise PermissionError(f"output directory is not writable: {root}")


def _plan_dir(root: Path, cfg: GeneratorConfig, overwrite: bool) -> tuple[bool, list[str]]:
    """``(same, to_remove)``: whether ``root`` holds a run of ``cfg`` (to resume), and the files
    an overwrite removes. Refuses (``FileExistsError``, nothing removed) a non-empty directory
    of other content, and on overwrite one holding anything the generator did not write."""
    if not root.is_dir():
        return False, []
    if _state_matches(root, cfg):
        return True, []
    if not any(root.iterdir()):
        return False, []
    ours = _read_state(root) is not None
    own = _own_files(root)
    foreign = _foreign_entries(root, own)
    if not overwrite:
        what = (
            "a synthetic dataset of another configuration (pass overwrite=True / --overwrite "
            "to replace it)"
            if ours and not foreign
            else f"files the generator did not write ({_describe(foreign)})"
        )
        raise FileExistsError(
            f"output directory {root} is not empty and holds {what}; choose an empty directory"
        )
    if foreign:
        raise FileExistsError(
            f"output directory {root} holds {len(foreign)} file(s) the generator did not write "
            f"({_describe(foreign)}); --overwrite removes only the generator's own files, so "
            "nothing was removed: move them away or choose another directory"
        )
    return False, sorted(own)


def _remove_own(root: Path, files: list[str]) -> None:
    """Remove the generator's files ``files``, then its directories left empty."""
    for rel in files:
        with contextlib.suppress(FileNotFoundError):
            (root / rel).unlink()
    for d in sorted(OWN_DIRS, key=lambda r: -r.count("/")):
        with contextlib.suppress(FileNotFoundError, OSError):
            (root / d).rmdir()  # only when empty


def estimate_bytes(cfg: GeneratorConfig, n_videos: int) -> int:
    """Rough disk space of ``n_videos`` rendered videos with their skeletons and clips."""
    frames = EST_SECONDS_PER_VIDEO * cfg.fps
    per_frame = BYTES_PER_PIXEL * cfg.size * cfg.size + SKELETON_BYTES_PER_FRAME
    return int(n_videos * (frames * per_frame + BYTES_PER_VIDEO))


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**28 else f"{n / 2**20:.1f} MiB"


def _check_free_space(root: Path, cfg: GeneratorConfig, n_todo: int, reclaim: int = 0) -> None:
    """Refuse when the videos still to render would not fit (``reclaim``: bytes an overwrite
    frees first)."""
    need = estimate_bytes(cfg, n_todo)
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return  # no way to tell: the writes themselves will report a full disk
    if need > free + reclaim:
        raise OSError(
            f"not enough free disk space for {root}: {n_todo} video(s) of {cfg.size} px at "
            f"{cfg.fps} fps need about {_gib(need)} (estimate), {_gib(free + reclaim)} available; "
            "free some space, choose another directory or generate fewer videos"
        )


def _remove_stale_temps(root: Path) -> None:
    """Delete temporary files a killed run may have left: exactly the temporary names
    :mod:`grounding.io` gives the files the generator writes, nothing else."""
    for d in (".", *sorted(OWN_DIRS)):
        remove_stale_temps(root / d, lambda t, d=d: _is_own_name(_join(d, t)))


def _record_output(root: Path, cfg: GeneratorConfig, name: str) -> None:
    """Note an optional output (the preview) in the state file, so an overwrite knows it."""
    state = _read_state(root) or asdict(cfg)
    outputs = sorted({*state.get("outputs", []), name})
    write_json_atomic(root / STATE_FILE, {**state, "outputs": outputs})


# --------------------------------------------------------------------------------------------


def build_scripts(
    cfg: GeneratorConfig,
) -> tuple[list[VideoScript], dict[str, list[GroundingQuery]]]:
    """The schedules and queries of every video, all in memory (small datasets; the generator
    itself draws them one at a time, :func:`iter_scripts`)."""
    scripts = list(s for s, _ in iter_scripts(cfg))
    return scripts, {s.vid: make_queries(s) for s in scripts}


def iter_scripts(cfg: GeneratorConfig) -> Iterator[tuple[VideoScript, list[GroundingQuery]]]:
    """Each video's script and queries in index order, one at a time."""
    for i in range(cfg.n_videos):
        script = make_script(i, seed=cfg.seed, fps=cfg.fps, size=cfg.size)
        yield script, make_queries(script)


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
            configuration; ``overwrite`` replaces a dataset of another configuration, removing
            only the files the generator wrote, and refuses a directory holding anything else).
        n_videos: number of grounding videos (>= 1), split 75/25 into train/test by video.
        seed: base seed; the same seed gives byte-identical annotations and identical frames.
        size: frame side in pixels; fps: frame rate.
        workers: processes used for rendering (default: up to 2).
        preview: also write ``preview.png`` (frames, skeleton overlay, optical flow).

    Raises:
        FileExistsError: the directory holds other content (named in the message).
        OSError: not enough free disk space for the estimated size (named in the message).
    """
    root = Path(out)
    cfg = GeneratorConfig(seed=int(seed), n_videos=int(n_videos), size=int(size), fps=int(fps))
    cfg.validate()
    manifest_path = root / "manifest.json"
    if root.is_dir() and _manifest_matches(root, cfg) and not overwrite:
        if preview and not (root / "preview.png").is_file():
            _preview(root, cfg)
        return manifest_path
    _check_output_dir(root)
    same, to_remove = _plan_dir(root, cfg, overwrite)
    vids = range(cfg.n_videos)
    todo = (
        np.array([i for i in vids if not _is_done(root, video_id(i), cfg)], dtype=np.int64)
        if same
        else np.arange(cfg.n_videos, dtype=np.int64)
    )
    reclaim = sum((root / r).stat().st_size for r in to_remove if (root / r).is_file())
    _check_free_space(root, cfg, len(todo), reclaim)
    _make_dir(root)
    _remove_own(root, to_remove)
    if not same:
        try:
            write_json_atomic(root / STATE_FILE, asdict(cfg))
        except OSError as e:
            raise PermissionError(
                f"cannot write to output directory {root}: {e.strerror or e}"
            ) from e
    _remove_stale_temps(root)
    # longest first balances the workers (the length is the script's first draw: cheap)
    frames = np.fromiter(
        (video_frames(int(i), seed=cfg.seed, fps=cfg.fps) for i in todo), np.int64, len(todo)
    )
    todo = todo[np.argsort(-frames, kind="stable")]
    n_workers = max(1, int(workers if workers is not None else default_workers()))
    tasks = ((int(i), str(root), asdict(cfg)) for i in todo)
    bar = tqdm(
        total=cfg.n_videos,
        initial=cfg.n_videos - len(todo),
        desc="synthetic videos",
        unit="video",
        disable=not progress,
    )
    with bar:
        if n_workers == 1 or len(todo) <= 1:
            for t in tasks:
                _render_task(t)
                bar.update(1)
        else:
            ctx = mp.get_context("spawn")
            with ctx.Pool(min(n_workers, len(todo)), initializer=_worker_init) as pool:
                for _ in pool.imap_unordered(_render_task, tasks, chunksize=1):
                    bar.update(1)
    _write_annotations(root, cfg, progress=progress)
    if preview:
        _preview(root, cfg)
    return manifest_path


def _write_annotations(root: Path, cfg: GeneratorConfig, *, progress: bool = False) -> Path:
    """Stream the annotation files (one video's script at a time), then the manifest."""
    _, test_idx = split_videos(cfg.n_videos, cfg.seed)
    is_test = np.zeros(cfg.n_videos, dtype=bool)
    is_test[test_idx] = True
    splits: dict[str, list[str]] = {"train": [], "test": []}
    n_q = {"train": 0, "test": 0}
    by_class: dict[str, list[tuple[str, int]]] = {}
    clips_by_class = {a: 0 for a in ACTIONS}
    ratios = array("d")
    anet = root / "activitynet"
    with (
        SplitWriter(root, "train", anet / "train.json") as train,
        SplitWriter(root, "test", anet / "val_1.json") as test,
        tqdm(total=cfg.n_videos, desc="annotations", unit="video", disable=not progress) as bar,
    ):
        for script, queries in iter_scripts(cfg):
            part = "test" if is_test[script.index] else "train"
            (test if part == "test" else train).add(script, queries)
            splits[part].append(script.vid)
            n_q[part] += len(queries)
            for action, name, label in clip_rows(script, 2 if part == "test" else 1):
                by_class.setdefault(action, []).append((name, label))
                clips_by_class[action] += 1
            ratios.extend((q.end - q.start) / script.duration for q in queries)
            bar.update(1)
    files = [*train.paths, *test.paths, *write_hmdb_rows(root, by_class)]
    manifest = {
        **asdict(cfg),
        "counts": {
            "videos": cfg.n_videos,
            "charades_train": n_q["train"],
            "charades_test": n_q["test"],
            "activitynet_train": n_q["train"],
            "activitynet_val_1": n_q["test"],
            "action_clips": sum(clips_by_class.values()),
            "action_classes": sum(1 for v in clips_by_class.values() if v),
        },
        "splits": splits,
        "videos": [video_id(i) for i in range(cfg.n_videos)],
        "action_classes": [a for a in ACTIONS if clips_by_class[a]],
        "clips_per_class": clips_by_class,
        "mean_moment_ratio": (
            round(float(np.mean(np.frombuffer(ratios, dtype=np.float64))), 4) if ratios else 0.0
        ),
        "sha256": {p.relative_to(root).as_posix(): file_digest(p, chars=64) for p in sorted(files)},
    }
    return write_json_atomic(root / "manifest.json", manifest)


def _preview(root: Path, cfg: GeneratorConfig) -> Path:
    from grounding.data.synthetic.preview import make_preview

    _record_output(root, cfg, "preview.png")  # on record before it is written
    return make_preview(root)
