"""The run folder checks: a run's outputs are never replaced without --resume / --overwrite,
and only the trainer's own stale temporary files are removed (issue 22 #3, #4)."""

from __future__ import annotations

import pytest

from grounding.train.paths import RunPaths, prepare_run_dir


def _outputs(paths: RunPaths):
    return (paths.checkpoint, paths.metrics, paths.predictions)


def _tree(root):
    return {p.name: p.read_bytes() for p in root.iterdir()}


def test_existing_outputs_are_refused_naming_them(tmp_path):
    paths = RunPaths(tmp_path)
    paths.metrics.write_text('{"mine": 1}')
    paths.predictions.write_text("my predictions\n")
    before = _tree(tmp_path)
    with pytest.raises(FileExistsError, match=r"metrics\.json, predictions\.jsonl.*--overwrite"):
        prepare_run_dir(paths, _outputs(paths), resume=False, overwrite=False)
    with pytest.raises(FileExistsError, match=r"no checkpoint\.pt to continue from"):
        prepare_run_dir(paths, _outputs(paths), resume=True, overwrite=False)
    with pytest.raises(ValueError, match="exclude each other"):
        prepare_run_dir(paths, _outputs(paths), resume=True, overwrite=True)
    assert _tree(tmp_path) == before
    paths.checkpoint.write_bytes(b"ck")  # a run to continue: --resume may replace its files
    assert prepare_run_dir(paths, _outputs(paths), resume=True, overwrite=False) == []
    assert len(_tree(tmp_path)) == 3
    prepare_run_dir(paths, _outputs(paths), resume=False, overwrite=True, is_main=False)
    assert len(_tree(tmp_path)) == 3  # only rank 0 removes
    prepare_run_dir(paths, _outputs(paths), resume=False, overwrite=True)
    assert _tree(tmp_path) == {}


def test_only_the_runs_own_outputs_count(tmp_path):
    paths = RunPaths(tmp_path)
    paths.predictions.write_text("a grounding run's predictions\n")
    (tmp_path / "notes.txt").write_text("mine")
    prepare_run_dir(paths, (paths.checkpoint, paths.metrics), resume=False, overwrite=True)
    assert _tree(tmp_path) == {
        "predictions.jsonl": b"a grounding run's predictions\n",
        "notes.txt": b"mine",
    }


def test_a_path_in_the_way_is_refused(tmp_path):
    paths = RunPaths(tmp_path / "run")
    paths.metrics.mkdir(parents=True)
    with pytest.raises(IsADirectoryError, match=r"metrics\.json"):
        prepare_run_dir(paths, _outputs(paths), resume=False, overwrite=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="file"):
        prepare_run_dir(RunPaths(tmp_path / "file"), (), resume=False, overwrite=False)


def test_stale_temporaries_of_the_writers_are_removed_and_nothing_else(tmp_path):
    paths = RunPaths(tmp_path)
    stale = [
        ".checkpoint.a1b2c3d4.tmp.pt",
        ".metrics.json.zz_9yy88.tmp",
        ".predictions.jsonl.q1w2e3r4.tmp",
    ]
    mine = [".ck.notes.tmp", ".checkpoint.pt.bak", "checkpoint.tmp.pt", ".bashrc.tmpl"]
    for name in stale + mine:
        (tmp_path / name).write_bytes(b"x" * 10)
    removed = prepare_run_dir(paths, _outputs(paths), resume=False, overwrite=False)
    assert sorted(p.name for p in removed) == sorted(stale)
    assert sorted(_tree(tmp_path)) == sorted(mine)
