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
