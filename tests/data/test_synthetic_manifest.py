"""A generated dataset's manifest read back (grounding.data.synthetic.manifest)."""

from __future__ import annotations

import json

import pytest

from grounding.data.synthetic.generate import GENERATOR, VERSION
from grounding.data.synthetic.manifest import (
    manifest_script,
    read_generator_settings,
    scripted_clips,
)
from grounding.data.synthetic.script import make_script, video_id


def write_manifest(root, n=2, version=VERSION) -> None:
    """A manifest of ``n`` generator videos in ``root`` (also used by tests/research)."""
    m = {
        "generator": GENERATOR,
        "version": version,
        "seed": 0,
        "fps": 24,
        "size": 128,
        "videos": [video_id(i) for i in range(n)],
    }
    (root / "manifest.json").write_text(json.dumps(m), encoding="utf-8")


def test_scripts_and_clips_are_rebuilt_from_thewrite_manifest(tmp_path) -> None:
    write_manifest(tmp_path)
    m = read_generator_settings(tmp_path)
    script = make_script(1, seed=0, fps=24, size=128)
    assert manifest_script(m, 1) == script
    clips = scripted_clips(m)
    for c in script.clips:
        assert clips[c.name].vid == "syn00001" and clips[c.name].clip == c
        assert clips[c.name].player == script.segments[c.segment].player


def test_a_missing_or_foreign_manifest_is_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"manifest\.json"):
        read_generator_settings(tmp_path)
    (tmp_path / "manifest.json").write_text('{"generator": "other"}', encoding="utf-8")
    with pytest.raises(ValueError, match="not a manifest"):
        read_generator_settings(tmp_path)


def test_a_manifest_of_another_generator_version_is_refused(tmp_path) -> None:
    write_manifest(tmp_path, version="0.9")
    with pytest.raises(ValueError, match=r"generator version '0\.9'"):
        read_generator_settings(tmp_path)


def test_a_manifest_whose_videos_are_not_the_generator_ids_in_order_is_refused(tmp_path) -> None:
    write_manifest(tmp_path, n=3)
    m = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    m["videos"] = [m["videos"][1], m["videos"][0], m["videos"][2]]
    (tmp_path / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    with pytest.raises(ValueError, match=r"generator's ids syn00000, syn00001, \.\.\. in order"):
        read_generator_settings(tmp_path)
    m["videos"] = ["syn00000", "clip_b"]
    (tmp_path / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    with pytest.raises(ValueError, match=r"manifest\.json: videos are not"):
        read_generator_settings(tmp_path)
