"""Script-derived oracle features of the synthetic dataset (grounding.research.oracle)."""

from __future__ import annotations

import numpy as np
import pytest

from grounding.data.features import open_features
from grounding.data.synthetic.actions import ACTIONS
from grounding.data.synthetic.script import make_script
from grounding.research.oracle import (
    COLOURS,
    ORACLE_DIM,
    main,
    oracle_features,
    write_oracle_features,
)
from tests.data.test_synthetic_manifest import write_manifest

pytestmark = pytest.mark.research

A = len(ACTIONS)


@pytest.fixture(scope="module")
def script():
    return make_script(3, seed=0, fps=24, size=128)


def test_rows_cover_the_video_and_mark_who_does_what(script) -> None:
    rate = 4.0
    f = oracle_features(script, rate=rate)
    assert f.shape == (round(script.duration * rate), ORACLE_DIM)
    assert set(np.unique(f)) <= {0.0, 1.0}
    colour_block = f[:, : len(COLOURS) * A]
    for seg in script.segments:
        col = COLOURS.index(script.players[seg.player].colour) * A + ACTIONS.index(seg.action)
        mid = int((seg.start + seg.end) / 2 / script.fps * rate)
        assert colour_block[min(mid, len(f) - 1), col] == 1.0
    # every marked colour column is backed by an instance of that colour and action
    marked = {int(c) for c in np.flatnonzero(colour_block.any(axis=0))}
    expected = {
        COLOURS.index(script.players[s.player].colour) * A + ACTIONS.index(s.action)
        for s in script.segments
    }
    assert marked == expected


def test_size_blocks_name_only_the_tallest_and_shortest(script) -> None:
    f = oracle_features(script)
    base = len(COLOURS) * A
    heights = sorted((p.body.height, p.index) for p in script.players)
    tallest = heights[-1][1]
    tall_actions = {ACTIONS.index(s.action) for s in script.player_segments(tallest)}
    assert {int(c) for c in np.flatnonzero(f[:, base : base + A].any(axis=0))} == tall_actions


def test_bad_rate_is_an_error(script) -> None:
    with pytest.raises(ValueError, match="rate"):
        oracle_features(script, rate=0)


def test_written_folder_reads_as_charades_features(tmp_path) -> None:
    write_manifest(tmp_path)
    out = tmp_path / "oracle"
    assert write_oracle_features(tmp_path, out, progress=False) == ["syn00000", "syn00001"]
    store = open_features(out, feature_type="i3d")
    x = store["syn00001"]
    assert x.shape[1] == ORACLE_DIM
    np.testing.assert_array_equal(x, oracle_features(make_script(1, seed=0, fps=24, size=128)))


def test_cli_reports_a_missing_or_foreignwrite_manifest(tmp_path, capsys) -> None:
    assert main(["--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "manifest.json" in capsys.readouterr().err
    (tmp_path / "manifest.json").write_text('{"generator": "other"}', encoding="utf-8")
    assert main(["--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "not a manifest" in capsys.readouterr().err
