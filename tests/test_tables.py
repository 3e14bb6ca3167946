import json

import numpy as np
import pytest
from scipy import stats

from grounding.tables import main, table3, table4, table5


def make_doc() -> dict:
    rng = np.random.default_rng(0)

    def seeds(metrics: dict[str, float]) -> dict:
        return {
            "per_seed": {
                str(s): {k: round(v + float(rng.normal(0, 1)), 2) for k, v in metrics.items()}
                for s in range(3)
            }
        }

    g = {"R1@0.5": 60, "R1@0.7": 40, "R5@0.5": 90, "R5@0.7": 70, "mIoU": 50}
    doc = {
        "dataset": "synthetic",
        "split": "test",
        "seeds": [0, 1, 2],
        "protocol": {"name": "default"},
        "provenance": {"device": "cpu: test"},
        "grounding": {
            "ours": seeds(g) | {"bootstrap_ci": {"R1@0.5": [55.0, 65.0]}},
            "gtn": seeds({k: v - 10 for k, v in g.items()}),
            "prior-only": seeds({k: v / 4 for k, v in g.items()}),
        },
        "recognition": {
            "ours": seeds({"accuracy": 90, "recall": 89, "f1": 88})
            | {"params": 7_350_000, "gflops": 1.2},
            "dgcn": seeds({"accuracy": 80, "recall": 79, "f1": 78})
            | {"params": 507_000, "gflops": 0.45},
        },
        "ablations": {
            "temporal": {f"mhssa-{h}": seeds({"accuracy": 60 + h}) for h in (1, 2, 4, 6)},
            "spatial": {
                v: seeds({"accuracy": 62})
                for v in ("softmax", "sigmoid", "softmax+res", "sigmoid+res")
            },
        },
        "speed": {
            "recognition": [
                {
                    "name": "ours",
                    "fps": 20.0,
                    "fps_definition": "clips/s x frames per clip",
                    "time_vs_samples": [{"samples": n, "p50_ms": 100.0 * n} for n in (1, 2, 4)],
                },
                {"name": "dgcn", "fps": 90.0, "fps_definition": "clips/s x frames per clip"},
            ]
        },
    }
    return doc


def test_table4_means_and_p_values():
    doc = make_doc()
    title, headers, rows = table4(doc)
    assert "Table 4" in title and headers[1] == "R1@0.5"
    by_model = {r[0]: r for r in rows}
    vals = [doc["grounding"]["ours"]["per_seed"][s]["R1@0.5"] for s in "012"]
    assert by_model["ours"][1] == f"{np.mean(vals):.2f} ± {np.std(vals, ddof=1):.2f}"
    other = [doc["grounding"]["gtn"]["per_seed"][s]["R1@0.5"] for s in "012"]
    p = stats.ttest_ind(vals, other).pvalue
    assert by_model["gtn"][-2] == (f"{p:.3f}" if p >= 0.001 else "<0.001")
    assert by_model["ours"][-2] == "-" and by_model["ours"][-1] == "[55.00, 65.00]"


def test_table5_and_table3():
    doc = make_doc()
    _, headers, rows = table5(doc)
    assert rows[0][4] == "7.35" and rows[0][5] == "1.200"
    _, headers, rows = table3(doc)
    assert headers == ["module", "set A", "set B", "set C", "mean"] and len(rows) == 4


def test_missing_sections_are_skipped():
    assert table4({"seeds": []}) is None and table5({}) is None and table3({}) is None


def test_cli_writes_tables_and_pngs(tmp_path, capsys):
    path = tmp_path / "res.json"
    path.write_text(json.dumps(make_doc()))
    out = tmp_path / "out"
    assert main([str(path), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Table 4" in text and "Table 5" in text and "Table 3" in text
    for name in ("res_table3.md", "res_table4.md", "res_table5.md", "res_figure10.md"):
        assert (out / name).is_file()
    for png in ("res_figure10.png", "res_figure12.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main([str(path), "--format", "latex"]) == 0
    tex = capsys.readouterr().out
    assert r"\toprule" in tex and r"$\pm$" in tex


@pytest.mark.parametrize("content", ["{not json", ""])
def test_cli_bad_results_file(tmp_path, capsys, content):
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert main([str(path)]) == 2
    assert "bad.json" in capsys.readouterr().err


def _write(tmp_path, obj, name: str = "res.json"):
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


def _broken(mutate) -> dict:
    doc = make_doc()
    mutate(doc)
    return doc


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ({"a": 1}, "not a grounding.bench results file"),
        ({"metrics": {"R1@0.5": 1.0}, "gt": "x.txt", "pred": "p.jsonl"}, "not a grounding.bench"),
        ([1, 2], "top level: expected a JSON object"),
        (_broken(lambda d: d.update(grounding=[1])), "grounding: expected an object"),
        (
            _broken(lambda d: d["grounding"]["ours"]["per_seed"]["0"].update({"R1@0.5": "abc"})),
            "grounding.ours.per_seed.0.R1@0.5: expected a number",
        ),
        (
            _broken(lambda d: d["grounding"]["gtn"]["per_seed"].update(x={"R1@0.5": 1.0})),
            "grounding.gtn.per_seed.x: seed keys must be integers",
        ),
        (_broken(lambda d: d["grounding"].update(gtn=None)), "grounding.gtn: expected an object"),
        (_broken(lambda d: d.update(recognition="oops")), "recognition: expected an object"),
        (
            _broken(lambda d: d["recognition"]["ours"].update(params="big")),
            "recognition.ours.params: expected an integer",
        ),
        (
            _broken(lambda d: d["ablations"]["temporal"].update(x={"per_seed": [1]})),
            "ablations.temporal.x.per_seed: expected an object",
        ),
        (
            _broken(lambda d: d["speed"]["recognition"][0].update(time_vs_samples=[{}])),
            "speed.recognition.0.time_vs_samples.0: missing samples",
        ),
        (
            _broken(lambda d: d["grounding"]["ours"].update(bootstrap_ci={"R1@0.5": [1]})),
            "grounding.ours.bootstrap_ci.R1@0.5: expected [low, high]",
        ),
        (_broken(lambda d: d.update(seeds=["a"])), "seeds.0: expected an integer"),
    ],
)
def test_cli_wrong_schema_names_file_and_key_path(tmp_path, capsys, doc, where):
    path = _write(tmp_path, doc)
    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and where in err and "Traceback" not in err


def test_cli_nan_value_and_non_utf8(tmp_path, capsys):
    path = _write(tmp_path, '{"grounding": {"m": {"per_seed": {"0": {"R1@0.5": NaN}}}}}')
    assert main([str(path)]) == 2
    assert "grounding.m.per_seed.0.R1@0.5: expected a finite number" in capsys.readouterr().err
    path.write_bytes(b'{"grounding": "\xa5"}')
    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: not UTF-8 text (line 1" in err


def test_cli_missing_file_and_directory(tmp_path, capsys):
    assert main([str(tmp_path / "nope.json")]) == 2
    assert "nope.json" in capsys.readouterr().err
    assert main([str(tmp_path)]) == 2
    assert "is not a regular file" in capsys.readouterr().err


def test_cli_checks_every_file_before_printing(tmp_path, capsys):
    good = _write(tmp_path, make_doc(), "good.json")
    bad = _write(tmp_path, {"a": 1}, "bad.json")
    assert main([str(good), str(bad)]) == 2
    captured = capsys.readouterr()
    assert "bad.json" in captured.err and captured.out == ""


def test_cli_empty_sections_is_an_error(tmp_path, capsys):
    path = _write(tmp_path, {"grounding": {}, "recognition": {}})
    assert main([str(path)]) == 1
    assert f"{path}: no table to make" in capsys.readouterr().err


def test_cli_out_is_an_existing_file(tmp_path, capsys):
    path = _write(tmp_path, make_doc())
    out = tmp_path / "out.txt"
    out.write_text("user data")
    assert main([str(path), "--out", str(out)]) == 2
    assert f"--out {out} exists and is not a directory" in capsys.readouterr().err
    assert out.read_text() == "user data"


def test_real_results_files_validate():
    from pathlib import Path

    from grounding.results_schema import load_results

    for path in sorted(Path(__file__).parents[1].glob("results/*/*.json")):
        load_results(path)


def test_table4_shows_discounted_recall_for_the_cd_splits():
    from grounding.tables import table4

    metrics = {"R1@0.5": 10.0, "R1@0.7": 5.0, "R5@0.5": 40.0, "R5@0.7": 20.0, "mIoU": 12.0}
    metrics |= {f"d{k}": v / 2 for k, v in metrics.items() if k.startswith("R")}
    entry = {"mean": metrics, "per_seed": {"0": metrics}}
    doc = {"dataset": "charades-cd", "split": "test_ood", "grounding": {"prior-only": entry}}
    _, headers, rows = table4(doc)
    assert headers[6:10] == ["dR1@0.5", "dR1@0.7", "dR5@0.5", "dR5@0.7"]
    assert rows[0][6] == "5.00"
    _, headers, _ = table4(doc | {"dataset": "charades"})
    assert "dR1@0.5" not in headers
