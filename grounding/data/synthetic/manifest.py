"""A generated dataset's manifest, read back: its generator settings and its videos' scripts.

The generator is a pure function of ``(seed, fps, size)``: given a dataset's ``manifest.json``,
:func:`read_generator_settings` checks that this code's generator wrote it, and
:func:`manifest_script` / :func:`scripted_clips` rebuild what each video shows (who does what,
when) without reading a frame. The research diagnostics (:mod:`grounding.research`) compare
features and predictions with these scripts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from grounding.data.synthetic.generate import GENERATOR, VERSION
from grounding.data.synthetic.script import Clip, VideoScript, make_script, video_id

__all__ = ["ScriptedClip", "manifest_script", "read_generator_settings", "scripted_clips"]


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
