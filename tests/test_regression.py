import copy

import pytest

from grounding.regression import check_against, tolerances_from


def doc() -> dict:
    return {
        "grounding": {
            "ours": {"mean": {"R1@0.5": 60.0, "mIoU": 50.0}, "std": {"R1@0.5": 2.0, "mIoU": 0.1}},
            "prior-only": {"mean": {"R1@0.5": 10.0, "long/mAP": None}, "std": {"R1@0.5": 0.0}},
        },
        "recognition": {"ours": {"mean": {"accuracy": 90.0}, "std": {"accuracy": 0.5}}},
    }


def test_tolerances_from_seed_spread():
    tol = tolerances_from(doc())
    assert tol == {
        "grounding/ours/R1@0.5": 6.0,
        "grounding/ours/mIoU": 1.0,
        "grounding/prior-only/R1@0.5": 1.0,
        "recognition/ours/accuracy": 1.5,
    }


def test_tolerance_granularity_floor():
    d = doc() | {"n_queries": 50}
    d["recognition"]["ours"]["n_test"] = 40
    tol = tolerances_from(d)
    assert tol["grounding/ours/mIoU"] == 4.0  # two of 50 queries
    assert tol["recognition/ours/accuracy"] == 5.0  # two of 40 clips
    assert tol["grounding/ours/R1@0.5"] == 6.0  # the seed spread is larger


def test_check_passes_within_and_fails_outside_naming_metric():
    ref = doc() | {"tolerances": tolerances_from(doc())}
    same = copy.deepcopy(doc())
    same["grounding"]["ours"]["mean"]["R1@0.5"] = 55.0  # within 6.0
    assert check_against(same, ref) == []
    bad = copy.deepcopy(doc())
    bad["grounding"]["ours"]["mean"]["mIoU"] = 48.5  # 1.5 > 1.0
    del bad["recognition"]
    devs = check_against(bad, ref)
    assert [d.metric for d in devs] == ["grounding/ours/mIoU", "recognition/ours/accuracy"]
    assert "48.50 vs reference 50.00" in str(devs[0]) and "missing" in str(devs[1])


def test_reference_without_tolerances():
    with pytest.raises(ValueError, match="tolerances"):
        check_against(doc(), doc())


def test_load_reference_checks_the_shape_naming_file_and_key(tmp_path):
    import json

    from grounding.regression import load_reference

    good = doc() | {"tolerances": tolerances_from(doc())}
    good["grounding"]["ours"]["mean"]["short/mAP"] = 5.0
    good["tolerances"]["grounding/ours/short/mAP"] = 1.0  # a metric name with a slash
    path = tmp_path / "ref.json"
    path.write_text(json.dumps(good))
    assert load_reference(path) == good
    bad_cases = [
        ([1], "got a JSON list"),
        ({"metrics": {}}, "no 'tolerances' key"),
        (good | {"tolerances": []}, "tolerances: expected a non-empty object"),
        (good | {"tolerances": {"grounding/ours/mIoU": "abc"}}, "got 'abc'"),
        (good | {"tolerances": {"grounding/ours/mIoU": True}}, "got True"),
        (good | {"tolerances": {"grounding/ours/mIoU": -1}}, "non-negative"),
        (good | {"tolerances": {"ours/mIoU": 1.0}}, "expected a key"),
        (good | {"grounding": None}, "grounding: expected an object of models"),
        (good | {"recognition": {"ours": {"mean": None}}}, "recognition/ours/mean: expected"),
        (good | {"tolerances": {"grounding/x/mIoU": 1.0}}, "grounding/x/mean: expected"),
        (
            good | {"tolerances": {"grounding/prior-only/long/mAP": 1.0}},
            "grounding/prior-only/mean/long/mAP: expected a number",
        ),
    ]
    for obj, message in bad_cases:
        path.write_text(json.dumps(obj))
        with pytest.raises(ValueError) as e:
            load_reference(path)
        assert str(path) in str(e.value) and message in str(e.value), str(e.value)


def test_check_against_ignores_malformed_entries_of_the_new_run():
    ref = doc() | {"tolerances": tolerances_from(doc())}
    new = copy.deepcopy(doc())
    new["grounding"]["junk"] = None
    new["recognition"]["ours"]["mean"] = "oops"
    devs = check_against(new, ref)
    assert [d.metric for d in devs] == ["recognition/ours/accuracy"] and devs[0].value is None
