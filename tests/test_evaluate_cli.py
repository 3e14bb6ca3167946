import json

import pytest

from grounding.evaluate import main

GT = [
    {
        "qid": 1,
        "query": "a person opens a door.",
        "vid": "A",
        "duration": 30.0,
        "relevant_windows": [[2.0, 6.0]],
    },
    {
        "qid": 2,
        "query": "a person sits.",
        "vid": "B",
        "duration": 20.0,
        "relevant_windows": [[10.0, 24.0]],
    },
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_cli_prints_table_and_writes_json(tmp_path, capsys):
    gt = write_jsonl(tmp_path / "gt.jsonl", GT)
    pred = write_jsonl(
        tmp_path / "pred.jsonl",
        [
            {"qid": 1, "pred_relevant_windows": [[2.0, 6.0, 0.9], [0.0, 1.0, 0.1]]},
            {"qid": 2, "pred_relevant_windows": [[10.0, 20.0, 0.9]]},
        ],
    )
    out = tmp_path / "m.json"
    assert main(["--gt", str(gt), "--pred", str(pred), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "R1@0.5" in text and "mIoU" in text
    res = json.loads(out.read_text())
    assert res["protocol"] == "default" and res["n_queries"] == 2
    assert res["metrics"]["mIoU"] == 100.0  # default clips query 2's GT to [10, 20]
    assert (
        main(
            ["--gt", str(gt), "--pred", str(pred), "--protocol", "moment_detr", "--json", str(out)]
        )
        == 0
    )
    assert json.loads(out.read_text())["metrics"]["mIoU"] == 85.71  # Moment-DETR keeps [10, 24]


def test_cli_reports_missing_predictions(tmp_path, capsys):
    gt = write_jsonl(tmp_path / "gt.jsonl", GT)
    pred = write_jsonl(
        tmp_path / "pred.jsonl", [{"qid": 1, "pred_relevant_windows": [[2.0, 6.0, 0.9]]}]
    )
    assert main(["--gt", str(gt), "--pred", str(pred)]) == 0
    assert "missing predictions: 1" in capsys.readouterr().out


@pytest.mark.parametrize(
    "content, needle",
    [
        ('{"qid": 1, "pred_relevant_windows": [[2.0, 6.0, NaN]]}\n', "pred.jsonl:1"),
        ('{"qid": 1, "pred_relevant_windows": [[2.0, 6.0, 0.5]]\n', "pred.jsonl:1"),
        ('{"qid": 1, "windows": []}\n', "pred_relevant_windows"),
    ],
)
def test_cli_bad_predictions_exit_2_with_location(tmp_path, capsys, content, needle):
    gt = write_jsonl(tmp_path / "gt.jsonl", GT)
    pred = tmp_path / "pred.jsonl"
    pred.write_text(content)
    assert main(["--gt", str(gt), "--pred", str(pred)]) == 2
    assert needle in capsys.readouterr().err


def test_cli_missing_files(tmp_path, capsys):
    assert main(["--gt", str(tmp_path / "nope.jsonl"), "--pred", str(tmp_path / "p.jsonl")]) == 2
    assert "not found" in capsys.readouterr().err
