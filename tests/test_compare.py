"""python -m grounding.compare: values, paired differences, query-set checks, JSON layout."""

import json
from math import comb

import pytest

from grounding.compare import main
from grounding.data.moment_detr import read_moment_detr_gt, read_predictions
from grounding.eval import evaluate, get_protocol

Q = 200
IMPROVED = range(0, 10)  # 5 % of the queries: A misses at IoU 0.5, B hits
BOTH_MISS = range(10, 60)


def write_gt(path, n=Q):
    lines = [
        json.dumps(
            {
                "qid": i,
                "query": f"q{i}",
                "vid": f"v{i}",
                "duration": 30.0,
                "relevant_windows": [[10.0, 20.0]],
            }
        )
        for i in range(n)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def window(i, improved_hit):
    if i in BOTH_MISS:
        return [0.0, 4.0, 0.9]  # IoU 0
    if i in IMPROVED and not improved_hit:
        return [10.0, 14.0, 0.9]  # IoU 0.4: a miss at 0.5, a hit at 0.3
    return [10.0, 20.0, 0.9]  # IoU 1


def write_pred(path, improved_hit, qids=range(Q)):
    lines = [
        json.dumps({"qid": i, "pred_relevant_windows": [window(i, improved_hit)]}) for i in qids
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def files(tmp_path):
    gt = write_gt(tmp_path / "gt.jsonl")
    a = write_pred(tmp_path / "a.jsonl", improved_hit=False)
    b = write_pred(tmp_path / "b.jsonl", improved_hit=True)
    return gt, a, b


def run(tmp_path, *argv):
    out = tmp_path / "cmp.json"
    rc = main([*map(str, argv), "--n-boot", "500", "--json", str(out)])
    return rc, json.loads(out.read_text()) if rc == 0 else None


def test_b_improves_five_percent_of_queries_is_significant(tmp_path, files, capsys):
    gt, a, b = files
    rc, doc = run(tmp_path, "--gt", gt, "--pred", a, "--pred", b)
    assert rc == 0
    r = doc["metrics"]["R1@0.5"]
    assert r["kind"] == "binary" and r["test"] == "exact McNemar"
    assert r["values"] == pytest.approx([100 * 140 / Q, 100 * 150 / Q])
    (c,) = r["vs_first"]
    assert c["pred"] == str(b) and c["diff"] == pytest.approx(5.0)
    assert (c["n_a_only"], c["n_b_only"]) == (0, 10)
    assert c["p"] == pytest.approx(2 * 0.5**10) and c["p"] < 0.05
    assert 0 < c["ci_low"] <= 5.0 <= c["ci_high"]
    # R@0.3: IoU 0.4 is a hit for both: no discordant query
    assert doc["metrics"]["R1@0.3"]["vs_first"][0]["p"] == 1.0
    miou = doc["metrics"]["mIoU"]
    assert miou["per_query_key"] == "IoU@1" and miou["kind"] == "continuous"
    assert miou["vs_first"][0]["diff"] == pytest.approx(100 * 10 * 0.6 / Q)
    # 10 equal non-zero differences: exact sign flip, only all + / all - reach: 2 / 2**10
    assert miou["vs_first"][0]["p"] == pytest.approx(2 / 2**10)
    out = capsys.readouterr().out
    assert "McNemar" in out and "+5.00" in out and str(Q) in out


def test_values_are_the_evaluators(tmp_path, files):
    gt, a, b = files
    rc, doc = run(tmp_path, "--gt", gt, "--pred", a, "--pred", b, "--protocol", "default")
    assert rc == 0
    result = evaluate(read_moment_detr_gt(gt), read_predictions(b).windows, get_protocol("default"))
    for name, m in doc["metrics"].items():
        if name in result.metrics:
            assert round(m["values"][1], 2) == pytest.approx(result.metrics[name], abs=0.006)
    assert {"R1@0.5", "R5@0.7", "mIoU", "mAP"} <= set(doc["metrics"])
    keys = set(result.per_query)
    assert {m["per_query_key"] for m in doc["metrics"].values()} == keys


def test_a_against_a_copy_is_p_one_and_zero_difference(tmp_path, files):
    gt, a, _ = files
    copy = tmp_path / "a_copy.jsonl"
    copy.write_text(a.read_text())
    rc, doc = run(tmp_path, "--gt", gt, "--pred", a, "--pred", copy)
    assert rc == 0
    for m in doc["metrics"].values():
        (c,) = m["vs_first"]
        assert c["p"] == 1.0 and c["diff"] == 0.0 and (c["ci_low"], c["ci_high"]) == (0.0, 0.0)
        assert m["values"][0] == m["values"][1]


def test_three_files_each_against_the_first(tmp_path, files):
    gt, a, b = files
    rc, doc = run(tmp_path, "--gt", gt, "--pred", a, "--pred", b, "--pred", a, "--seed", "3")
    assert rc == 0 and [f["pred"] for f in doc["files"]] == [str(a), str(b), str(a)]
    r = doc["metrics"]["R1@0.5"]
    assert len(r["values"]) == 3 and [c["pred"] for c in r["vs_first"]] == [str(b), str(a)]
    assert r["vs_first"][1]["p"] == 1.0
    assert doc["seed"] == 3 and doc["n_boot"] == 500 and doc["n_queries"] == Q
    assert len(doc["files"][0]["sha256"]) == 64


def test_json_layout_is_seeded(tmp_path, files):
    gt, a, b = files
    _, first = run(tmp_path, "--gt", gt, "--pred", a, "--pred", b)
    _, again = run(tmp_path, "--gt", gt, "--pred", a, "--pred", b)
    assert first == again
    assert set(first) >= {
        "gt", "dataset", "split", "n_queries", "protocol", "protocol_options", "n_boot",
        "n_perm", "seed", "confidence", "allow_missing", "files", "metrics",
    }  # fmt: skip
    assert set(first["files"][1]) == {
        "pred", "sha256", "missing_predictions", "empty_predictions", "unknown_qids"
    }  # fmt: skip


def test_query_sets_must_match(tmp_path, files, capsys):
    gt, a, _ = files
    partial = write_pred(tmp_path / "partial.jsonl", True, qids=[*range(3, Q), 999])
    rc = main(["--gt", str(gt), "--pred", str(a), "--pred", str(partial)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err and str(partial) in err
    assert "3 GT queries have no prediction (first: 0, 1, 2)" in err
    assert "1 predictions are for qids not in the GT (first: 999)" in err
    assert "--allow-missing" in err


def test_allow_missing_scores_misses_and_counts_them(tmp_path, files, capsys):
    gt, a, _ = files
    partial = write_pred(tmp_path / "partial.jsonl", True, qids=range(60, Q))  # drops 0..59
    rc, doc = run(tmp_path, "--gt", gt, "--pred", a, "--pred", partial, "--allow-missing")
    assert rc == 0 and doc["allow_missing"] is True
    assert (
        doc["files"][1]["missing_predictions"] == 60 and doc["files"][0]["missing_predictions"] == 0
    )
    assert "60 missing predictions (scored as misses)" in capsys.readouterr().out
    r = doc["metrics"]["R1@0.3"]["vs_first"][0]  # the 10 IoU-0.4 hits of A become misses
    assert (r["n_a_only"], r["n_b_only"]) == (10, 0)
    assert r["p"] == pytest.approx(2 * sum(comb(10, i) for i in range(1)) / 2**10)


def test_predictions_of_another_dataset_are_refused(tmp_path, files, capsys):
    gt, a, _ = files
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"qid": "x#0", "pred_relevant_windows": [[0, 1, 1]]}) + "\n")
    rc = main(["--gt", str(gt), "--pred", str(a), "--pred", str(other), "--allow-missing"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and str(other) in err and "no prediction for any" in err and "\n" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--pred", "{a}"], "at least two --pred"),
        (["--pred", "{a}", "--pred", "{tmp}/nope.jsonl"], "nope.jsonl"),
        (["--pred", "{a}", "--pred", "{a}", "--n-boot", "0"], "--n-boot"),
        (["--pred", "{a}", "--pred", "{bad}"], "bad.jsonl:1"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, files, capsys, argv, message):
    gt, a, _ = files
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    argv = [x.format(a=a, tmp=tmp_path, bad=tmp_path / "bad.jsonl") for x in argv]
    rc = main(["--gt", str(gt), *argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error: ") and "\n" not in err and message in err


def test_bad_gt_names_the_file(tmp_path, files, capsys):
    _, a, b = files
    rc = main(["--gt", str(tmp_path / "gt.txt"), "--pred", str(a), "--pred", str(b)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "gt.txt" in err and "\n" not in err


def test_shipped_ground_truth_by_name(tmp_path, capsys):
    from baselines.blind import WholeVideo
    from grounding.data.datasets import load_split
    from grounding.data.moment_detr import write_predictions

    test = load_split("charades-cd", None, "test_iid")
    a = write_predictions(tmp_path / "whole.jsonl", WholeVideo().predict(test))
    rc, doc = run(tmp_path, "--gt", "charades-cd:test_iid", "--pred", a, "--pred", a)
    assert rc == 0 and (doc["dataset"], doc["split"], doc["n_queries"]) == (
        "charades-cd",
        "test_iid",
        823,
    )
    assert doc["gt_source"] == "bundled:charades_cd/charades_test_iid.json"
