"""Recognizer accuracy from close-ups to wide-shot crops (grounding.research.crop_gap)."""

from __future__ import annotations

import json

import pytest

from grounding.data.synthetic import generate_dataset
from grounding.research.crop_gap import ROWS, crop_gap, main
from grounding.train.__main__ import main as train_main

#: a dataset is generated and two recognizers trained once per module
pytestmark = [pytest.mark.research, pytest.mark.slow]

TINY = ["--width", "0.25", "--input-size", "64", "--batch-size", "4", "--workers", "0"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("gap")
    data = root / "data"
    generate_dataset(data, n_videos=4, seed=3, size=64, fps=8, workers=1, progress=False)
    for model in ("ours", "gtn"):
        out = root / model
        argv = ["recognition", "--data", str(data), "--out", str(out), "--model", model]
        assert train_main([*argv, *TINY, "--epochs", "1", "--segments", "2"]) == 0
    return data, root


def test_first_row_is_the_recognition_test_accuracy(runs):
    data, root = runs
    report = crop_gap(data, root / "ours" / "checkpoint.pt")
    metrics = json.loads((root / "ours" / "metrics.json").read_text())
    n_test = metrics["n_test"]
    assert all(report.trials[r] == n_test for r in ROWS[:4])
    assert report.accuracy(ROWS[0]) == pytest.approx(metrics["metrics"]["accuracy"], abs=0.01)
    assert report.trials[ROWS[4]] >= 0 and 0 <= report.unseen <= n_test
    assert all(0 <= report.accuracy(r) <= 100 for r in ROWS)
    one = crop_gap(data, root / "ours" / "checkpoint.pt", limit=1)
    assert all(one.trials[r] == 1 for r in ROWS[:4])


def test_cli_prints_the_table_and_refuses_bad_requests(runs, capsys):
    data, root = runs
    assert main(["--data", str(data), "--checkpoint", str(root / "ours" / "checkpoint.pt"),
                 "--limit", "2"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert all(r in out for r in ROWS) and "accuracy %" in out
    cases = [
        (["--checkpoint", str(root / "gtn" / "checkpoint.pt")], "needs ours"),
        (["--checkpoint", str(root / "missing.pt")], "not found"),
        (["--checkpoint", str(root / "ours" / "checkpoint.pt"), "--limit", "0"], "--limit"),
    ]
    for extra, message in cases:
        assert main(["--data", str(data), *extra]) == 2
        assert message in capsys.readouterr().err
