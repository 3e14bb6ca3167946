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
    assert f"missing predictions: 1 in {pred}" in capsys.readouterr().out


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


PRED = [
    {"qid": 1, "pred_relevant_windows": [[2.0, 6.0, 0.9], [0.0, 1.0, 0.1]]},
    {"qid": 2, "pred_relevant_windows": [[0.0, 5.0, 0.9]]},
]


def run_files(tmp_path, gt_rows=GT, pred_rows=PRED):
    return write_jsonl(tmp_path / "gt.jsonl", gt_rows), write_jsonl(
        tmp_path / "pred.jsonl", pred_rows
    )


def test_cli_table_has_two_decimals_and_discounted_recall(tmp_path, capsys):
    gt, pred = run_files(tmp_path)
    assert main(["--gt", str(gt), "--pred", str(pred)]) == 0
    out = capsys.readouterr().out
    assert "| R1@0.5     | 50.00 |" in out and "| dR1@0.5    | 50.00 |" in out


@pytest.mark.parametrize(
    "gt_text",
    ["", "\n\n"],
)
def test_cli_empty_ground_truth_is_an_error(tmp_path, capsys, gt_text):
    gt, pred = run_files(tmp_path)
    gt.write_text(gt_text)
    assert main(["--gt", str(gt), "--pred", str(pred)]) == 2
    err = capsys.readouterr().err
    assert "no usable query" in err and str(gt) in err


def test_cli_no_matching_qid_is_an_error(tmp_path, capsys):
    gt, pred = run_files(tmp_path, pred_rows=[{"qid": 99, "pred_relevant_windows": [[0, 1, 1]]}])
    assert main(["--gt", str(gt), "--pred", str(pred)]) == 2
    err = capsys.readouterr().err
    assert "none of its 1 qids" in err and str(pred) in err


def test_cli_unknown_and_out_of_video_are_counted_and_strict_refuses(tmp_path, capsys):
    rows = [*PRED, {"qid": 7, "pred_relevant_windows": [[-3.0, 2.0, 1.0], [1.0, 1e308, 0.5]]}]
    rows[1] = {"qid": 2, "pred_relevant_windows": [[-1.0, 50.0, 1.0]]}
    gt, pred = run_files(tmp_path, pred_rows=rows)
    out_json = tmp_path / "m.json"
    assert main(["--gt", str(gt), "--pred", str(pred), "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert f"unknown qids: 1 in {pred}" in out
    assert "pred windows before start: 1 in" in out and "pred windows past end: 1 in" in out
    counts = json.loads(out_json.read_text())["counts"]
    assert counts["pred_windows_before_start"] == 1 and counts["unknown_qids"] == 1
    assert main(["--gt", str(gt), "--pred", str(pred), "--strict"]) == 2
    err = capsys.readouterr().err
    assert "--strict" in err and str(pred) in err and "unknown qids: 1" in err


def test_cli_boolean_window_value_is_an_error(tmp_path, capsys):
    gt, pred = run_files(tmp_path, pred_rows=[{"qid": 1, "pred_relevant_windows": [[True, 2, 1]]}])
    assert main(["--gt", str(gt), "--pred", str(pred)]) == 2
    assert f"{pred}:1: qid 1: window 0 is [True, 2, 1]" in capsys.readouterr().err


@pytest.mark.parametrize("target", ["dir", "missing_parent_file", "file_parent"])
def test_cli_json_to_unwritable_place_fails_before_work(tmp_path, capsys, target):
    gt, pred = run_files(tmp_path)
    (tmp_path / "a_file").write_text("x")
    out = {
        "dir": tmp_path,
        "missing_parent_file": tmp_path / "a_file" / "m.json",
        "file_parent": tmp_path / "a_file" / "sub" / "m.json",
    }[target]
    assert main(["--gt", str(gt), "--pred", str(pred), "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --json") and "Traceback" not in err


def test_cli_breakdown_prints_buckets(tmp_path, capsys):
    gt, pred = run_files(tmp_path)
    assert main(["--gt", str(gt), "--pred", str(pred), "--breakdown"]) == 0
    out = capsys.readouterr().out
    assert "(0.1, 0.3]" in out and "first third" in out


def test_cli_check_passes_and_fails(tmp_path, capsys):
    gt, pred = run_files(tmp_path)
    expected = tmp_path / "expected.json"
    assert main(["--gt", str(gt), "--pred", str(pred), "--json", str(expected)]) == 0
    assert main(["--gt", str(gt), "--pred", str(pred), "--check", str(expected)]) == 0
    assert "all " in capsys.readouterr().out
    doc = json.loads(expected.read_text())
    doc["metrics"]["R1@0.5"] = 49.0
    doc["metrics"]["mIoU"] = doc["metrics"]["mIoU"] + 0.4
    doc["tolerances"] = {"mIoU": 0.5}
    expected.write_text(json.dumps(doc))
    assert main(["--gt", str(gt), "--pred", str(pred), "--check", str(expected)]) == 1
    out = capsys.readouterr().out
    assert "1 metric(s) out of tolerance" in out and "R1@0.5: 50.00 vs expected 49.00" in out
    args = ["--gt", str(gt), "--pred", str(pred), "--check", str(expected), "--tolerance", "1"]
    assert main(args) == 0


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("", "empty file"),
        ("[1]", "'metrics' map"),
        ('{"metrics": {}}', "'metrics' is empty"),
        ('{"metrics": {"R1@0.5": "abc"}}', "metrics.R1@0.5 is 'abc'"),
        ('{"metrics": {"R1@0.5": 50}, "tolerances": {"R1@0.5": "abc"}}', "tolerances.R1@0.5"),
        ('{"metrics": {"R1@0.5": 50}, "protocol": "2dtan"}', "written with protocol '2dtan'"),
        ('{"metrics": {"R1@0.5": 50', "invalid JSON"),
        (b'{"metrics": {"R1@0.5": "\xa5"}}', "not UTF-8 text (line 1, byte 0xa5"),
    ],
)
def test_cli_check_file_errors_name_the_file(tmp_path, capsys, content, needle):
    gt, pred = run_files(tmp_path)
    expected = tmp_path / "expected.json"
    if isinstance(content, bytes):
        expected.write_bytes(content)
    else:
        expected.write_text(content)
    assert main(["--gt", str(gt), "--pred", str(pred), "--check", str(expected)]) == 2
    err = capsys.readouterr().err
    assert needle in err and str(expected) in err and err.count("\n") == 1


def test_cli_plot_writes_pngs_and_keeps_foreign_files(tmp_path, capsys):
    gt, pred = run_files(tmp_path)
    out = tmp_path / "plots"
    assert main(["--gt", str(gt), "--pred", str(pred), "--plot", str(out), "--plot-n", "2"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert "buckets.png" in names and len(names) == 3
    assert all((out / n).read_bytes()[:4] == b"\x89PNG" for n in names)
    assert main(["--gt", str(gt), "--pred", str(pred), "--plot", str(out)]) == 0  # ours: redo
    (out / "notes.txt").write_text("mine")
    assert main(["--gt", str(gt), "--pred", str(pred), "--plot", str(out)]) == 2
    assert "notes.txt" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "mine"
