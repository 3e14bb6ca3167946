"""Recall per query relation on the synthetic dataset (grounding.research.breakdown)."""

from __future__ import annotations

import json
import shutil

import pytest

from grounding.data.datasets import load_split
from grounding.data.synthetic import generate_dataset
from grounding.data.synthetic.queries import RELATION_WEIGHT
from grounding.research.breakdown import main, query_relations, relation_breakdown

#: a dataset is generated once per module
pytestmark = [pytest.mark.research, pytest.mark.slow]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("brk") / "data"
    generate_dataset(root, n_videos=4, seed=3, size=64, fps=8, workers=1, progress=False)
    return root


def _write(path, rows) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _gt_predictions(data, *, shift: float = 0.0):
    """One prediction per test query: its own window, moved by ``shift`` seconds."""
    gt = load_split("charades", data, "test")
    return gt, [
        {
            "qid": q.qid,
            "pred_relevant_windows": [[q.windows[0][0] + shift, q.windows[0][1] + shift, 1.0]],
        }
        for q in gt.queries
    ]


def test_every_test_query_gets_its_generator_relation(data):
    gt = load_split("charades", data, "test")
    rel = query_relations(data, {q.vid for q in gt.queries})
    kinds = [rel[(q.vid, q.sentence)] for q in gt.queries]
    assert set(kinds) <= set(RELATION_WEIGHT)
    assert len(set(kinds)) >= 3  # a few videos already mix several relations


def test_exact_predictions_score_100_in_every_relation(data, tmp_path):
    gt, rows = _gt_predictions(data)
    _write(tmp_path / "p.jsonl", rows)
    report = relation_breakdown(data, tmp_path / "p.jsonl")
    assert report.counts["all"] == len(gt.queries)
    assert sum(n for r, n in report.counts.items() if r != "all") == len(gt.queries)
    for r in report.counts:
        assert report.metrics[r]["R1@0.5"] == pytest.approx(100.0)
        assert report.metrics[r]["IoU@1"] == pytest.approx(100.0)


def test_missing_predictions_count_as_misses_per_relation(data, tmp_path):
    _, rows = _gt_predictions(data)
    _write(tmp_path / "p.jsonl", rows[::2])  # every other query answered exactly
    report = relation_breakdown(data, tmp_path / "p.jsonl")
    assert report.metrics["all"]["R1@0.5"] == pytest.approx(100.0 * len(rows[::2]) / len(rows))
    weighted = sum(report.metrics[r]["R1@0.5"] * n for r, n in report.counts.items() if r != "all")
    assert weighted / len(rows) == pytest.approx(report.metrics["all"]["R1@0.5"])


def test_queries_of_another_dataset_are_refused_by_name(data, tmp_path):
    copy = tmp_path / "data"
    copy.mkdir()
    for name in ("manifest.json", "Charades_v1_test.csv", "charades_sta_test.txt"):
        shutil.copy(data / name, copy / name)
    ann = copy / "charades_sta_test.txt"
    lines = ann.read_text(encoding="utf-8").splitlines()
    lines[0] = lines[0].split("##")[0] + "##A sentence the generator never wrote."
    ann.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _, rows = _gt_predictions(copy)
    _write(tmp_path / "p.jsonl", rows)
    with pytest.raises(
        ValueError, match=r"never wrote.*is not a query the synthetic generator writes"
    ):
        relation_breakdown(copy, tmp_path / "p.jsonl")


def test_cli_prints_the_table_and_refuses_a_missing_file(data, tmp_path, capsys):
    _, rows = _gt_predictions(data, shift=0.25)
    _write(tmp_path / "p.jsonl", rows)
    assert main(["--data", str(data), "--pred", str(tmp_path / "p.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "relation" in out and "all" in out and "R1@0.5" in out
    assert main(["--data", str(data), "--pred", str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl" in capsys.readouterr().err
