"""Evaluator: hand-computed cases per preset, oracle equivalence, properties."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grounding.data.annotations import Query, QuerySet, RaggedWindows
from grounding.eval import evaluate, evaluate_arrays, get_protocol, nms, span_iou
from grounding.eval.average_precision import LENGTH_BUCKETS, MAP_THRESHOLDS
from grounding.eval.evaluator import pack_predictions
from tests.eval.oracles import (
    discounted_oracle,
    greedy_nms,
    iou_one,
    map_oracle,
    recall_oracle,
    tan_nms,
)


def qs(*items) -> QuerySet:
    """items: (qid, windows, duration)."""
    return QuerySet(
        "test",
        "test",
        [Query(str(q), "v", "s", tuple(map(tuple, w)), d) for q, w, d in items],
    )


def P(*rows) -> np.ndarray:
    return np.array(rows, dtype=np.float64).reshape(-1, 3)


# ---------------------------------------------------------------- hand-computed cases


def test_iou_basics():
    assert span_iou([0, 4], [0, 2]) == 0.5
    assert span_iou([0, 2], [3, 5]) == 0.0
    assert span_iou([1, 1], [1, 1]) == 0.0  # empty union
    assert span_iou([1, 1], [0, 2]) == 0.0  # zero-length span
    assert span_iou([0, 3], [1, 4]) == pytest.approx(2 / 4)


def test_strict_comparator_2dtan_vs_default():
    gt = qs(("a", [(0, 4)], 10))
    pred = {"a": P([0, 2, 1.0])}  # IoU exactly 0.5
    for name, expected in [
        ("default", 100.0),
        ("mmn", 100.0),
        ("moment_detr", 100.0),
        ("2dtan", 0.0),
    ]:
        r = evaluate(gt, pred, get_protocol(name))
        assert r.metrics["R1@0.5"] == expected, name
        assert r.metrics["mIoU"] == 50.0


def test_moment_detr_takes_first_window_not_best_score():
    gt = qs(("a", [(0, 4)], 10))
    pred = {"a": P([6, 9, 0.1], [0, 4, 0.9])}
    assert evaluate(gt, pred, get_protocol("moment_detr")).metrics["R1@0.5"] == 0.0
    assert evaluate(gt, pred, get_protocol("default")).metrics["R1@0.5"] == 100.0


def test_nms_changes_r5():
    # GT [10, 14]; five near-duplicates of a wrong moment, then the right one at rank 6.
    gt = qs(("a", [(10, 14)], 20))
    rows = [[0, 4, 1.0 - 0.01 * i] for i in range(5)] + [[10, 14, 0.5]]
    pred = {"a": P(*rows)}
    assert evaluate(gt, pred, get_protocol("default")).metrics["R5@0.7"] == 100.0
    assert evaluate(gt, pred, get_protocol("moment_detr")).metrics["R5@0.7"] == 0.0


def test_nms_suppresses_only_above_threshold():
    w = np.array([[0, 4], [0, 2], [0, 3]], float)  # IoU(0,1)=0.5 kept; IoU(0,2)=0.75 suppressed
    keep = nms(w, np.array([0.9, 0.8, 0.7]), thresh=0.5)
    assert keep.tolist() == [0, 1]


def test_nms_ties_keep_submitted_order():
    w = np.array([[5, 6], [0, 4], [0, 4.1]], float)
    keep = nms(w, np.array([0.5, 0.9, 0.9]), thresh=0.5)
    assert keep.tolist() == [1, 0]


def test_2dtan_stops_at_five_mmn_keeps_all():
    gt = qs(("a", [(50, 60)], 100))
    rows = [[10 * i, 10 * i + 5, 1.0 - 0.01 * i] for i in range(5)] + [[50, 60, 0.1]]
    pred = {"a": P(*rows)}
    kw = {"recall_at": (1, 5, 10)}
    assert evaluate(gt, pred, get_protocol("mmn", **kw)).metrics["R10@0.5"] == 100.0
    assert evaluate(gt, pred, get_protocol("2dtan", **kw)).metrics["R10@0.5"] == 0.0


def test_multiple_gt_windows_max_over_gt():
    gt = qs(("a", [(0, 2), (5, 9)], 10))
    r = evaluate(gt, {"a": P([5, 9, 1.0])}, get_protocol("default"))
    assert r.metrics["R1@0.7"] == 100.0 and r.metrics["mIoU"] == 100.0


def test_missing_and_empty_predictions_are_misses():
    gt = qs(("a", [(0, 4)], 10), ("b", [(0, 4)], 10), ("c", [(0, 4)], 10))
    pred = {"a": P([0, 4, 1.0]), "b": np.zeros((0, 3)), "zzz": P([0, 1, 1])}
    r = evaluate(gt, pred, get_protocol("default"))
    assert r.metrics["R1@0.5"] == pytest.approx(33.33)
    assert r.metrics["R5@0.3"] == pytest.approx(33.33)
    assert r.metrics["mAP"] == pytest.approx(33.33)
    assert r.counts["missing_predictions"] == 1
    assert r.counts["empty_predictions"] == 1
    assert r.counts["unknown_qids"] == 1


def test_gt_clipping_option():
    gt = qs(("a", [(5, 14)], 10))  # GT runs past the 10 s video
    pred = {"a": P([5, 10, 1.0])}
    assert evaluate(gt, pred, get_protocol("default")).metrics["R1@0.7"] == 100.0
    assert evaluate(gt, pred, get_protocol("moment_detr")).metrics["R1@0.7"] == 0.0


def test_map_hand_case_two_gt_windows():
    # GT: [0,10] and [20,30]. Ranked: [0,10] TP, [1,10] FP (GT locked), [20,30] TP.
    # precision 1, 1/2, 2/3 at recall .5, .5, 1 -> interpolated AP = .5*1 + .5*(2/3) = 5/6.
    gt = qs(("a", [(0, 10), (20, 30)], 40))
    pred = {"a": P([0, 10, 0.9], [1, 10, 0.8], [20, 30, 0.7])}
    r = evaluate(gt, pred, get_protocol("moment_detr"))
    assert r.metrics["mAP@0.5"] == pytest.approx(100 * 5 / 6, abs=0.005)
    assert r.metrics["mAP"] == pytest.approx(100 * 5 / 6, abs=0.005)  # IoUs are 1 or 0.9
    # [1,10] has IoU .9 with the locked GT: at t<=0.9 it is still an FP; all thresholds equal
    assert r.metrics["short/mAP"] == pytest.approx(100 * 5 / 6, abs=0.005)
    assert np.isnan(r.metrics["middle/mAP"]) and np.isnan(r.metrics["long/mAP"])


def test_map_uses_only_first_ten_windows():
    gt = qs(("a", [(50, 60)], 100))
    rows = [[0, 1, 0.1]] * 10 + [[50, 60, 1.0]]  # the perfect window is the 11th submitted
    r = evaluate(gt, {"a": P(*rows)}, get_protocol("moment_detr"))
    assert r.metrics["mAP"] == 0.0
    assert evaluate(gt, {"a": P(*rows[-1:])}, get_protocol("moment_detr")).metrics["mAP"] == 100.0


def test_length_buckets_keep_only_windows_in_bucket():
    gt = qs(("a", [(0, 5), (10, 30)], 40))  # a short (5 s) and a middle (20 s) window
    pred = {"a": P([10, 30, 1.0])}
    r = evaluate(gt, pred, get_protocol("moment_detr"))
    assert r.metrics["middle/mAP"] == 100.0
    assert r.metrics["short/mAP"] == 0.0
    assert r.metrics["mAP"] == 50.0  # recall 0.5 at precision 1
    assert r.counts["short/n_queries"] == 1 and r.counts["long/n_queries"] == 0


def test_result_json_shape():
    gt = qs(("a", [(0, 4)], 10))
    d = evaluate(gt, {"a": P([0, 4, 1])}, get_protocol("default")).to_dict()
    assert d["protocol"] == "default" and d["n_queries"] == 1
    for key in ["R1@0.5", "R5@0.7", "mIoU", "mAP", "mAP@0.5", "mAP@0.75", "short/mAP"]:
        assert key in d["metrics"]
    assert d["metrics"]["middle/mAP"] is None


def test_unknown_protocol():
    with pytest.raises(ValueError, match="unknown protocol"):
        get_protocol("nope")


# ---------------------------------------------------------------- oracle equivalence

span = st.tuples(
    st.integers(0, 40).map(lambda x: x / 2), st.integers(1, 30).map(lambda x: x / 2)
).map(lambda t: (t[0], t[0] + t[1]))
score = st.integers(0, 6).map(lambda x: x / 6)  # few values -> many ties
query = st.tuples(
    st.lists(span, min_size=1, max_size=3),
    st.lists(st.tuples(span, score).map(lambda t: (*t[0], t[1])), min_size=0, max_size=14),
    st.sampled_from([20.0, 25.0, 40.0]),
)


def _arrays(data):
    gt_list = [g for g, _, _ in data]
    pred_list = [p for _, p, _ in data]
    durs = np.array([d for _, _, d in data])
    g = max(len(x) for x in gt_list)
    gw = np.full((len(data), g, 2), np.nan)
    for i, x in enumerate(gt_list):
        gw[i, : len(x)] = x
    preds = {str(i): np.array(p, float).reshape(-1, 3) for i, p in enumerate(pred_list)}
    pw, ps, pv = pack_predictions(preds, [str(i) for i in range(len(data))])
    return gt_list, pred_list, durs, gw, pw, ps, pv


@settings(max_examples=120, deadline=None)
@given(st.lists(query, min_size=1, max_size=12), st.sampled_from(["default", "nms_off"]))
def test_recall_matches_reference_loop(data, name):
    """The default protocol (and it without NMS or sorting) against its one-query loop; the
    upstream presets have their literal re-statements in test_upstream_exactness.py."""
    over = {"nms_thresh": None, "sort_by_score": False} if name == "nms_off" else {}
    proto = get_protocol(
        "default", recall_at=(1, 3, 5, 10), iou_thresholds=(0.1, 0.3, 0.5, 0.7), **over
    )
    gt_list, pred_list, durs, gw, pw, ps, pv = _arrays(data)
    res = evaluate_arrays(gw, durs, pw, ps, pv, proto)
    expected, miou = recall_oracle(
        gt_list,
        pred_list,
        strict=proto.strict,
        nms_thresh=proto.nms_thresh,
        top_k=proto.max_keep,
        sort=proto.sort_by_score,
        ns=proto.recall_at,
        ms=proto.iou_thresholds,
        clip=proto.clip_gt,
        durations=durs,
    )
    for (n, m), v in expected.items():
        assert res.metrics[f"R{n}@{m:g}"] == round(100 * v, 2), (n, m)
    assert res.metrics["mIoU"] == round(100 * miou, 2)


@settings(max_examples=120, deadline=None)
@given(st.lists(query, min_size=1, max_size=12))
def test_map_matches_reference_loop(data):
    gt_list, pred_list, durs, gw, pw, ps, pv = _arrays(data)
    res = evaluate_arrays(gw, durs, pw, ps, pv, get_protocol("moment_detr"))
    assert res.metrics["mAP"] == round(100 * map_oracle(gt_list, pred_list, MAP_THRESHOLDS), 2)
    for name, bucket in LENGTH_BUCKETS.items():
        v = map_oracle(gt_list, pred_list, MAP_THRESHOLDS, bucket=bucket)
        got = res.metrics[f"{name}/mAP"]
        assert (np.isnan(v) and np.isnan(got)) or got == round(100 * v, 2), name


# ---------------------------------------------------------------- properties


@settings(max_examples=80, deadline=None)
@given(
    st.lists(query, min_size=1, max_size=10),
    st.sampled_from(["default", "2dtan", "mmn", "moment_detr"]),
)
def test_recall_properties(data, name):
    proto = get_protocol(name, recall_at=(1, 5), iou_thresholds=(0.1, 0.3, 0.5, 0.7, 0.9))
    _, _, durs, gw, pw, ps, pv = _arrays(data)
    m = evaluate_arrays(gw, durs, pw, ps, pv, proto).metrics
    for t in proto.iou_thresholds:
        assert m[f"R5@{t:g}"] >= m[f"R1@{t:g}"]
    for n in (1, 5):
        vals = [m[f"R{n}@{t:g}"] for t in proto.iou_thresholds]
        assert all(a >= b for a, b in itertools.pairwise(vals))
    assert all(0 <= v <= 100 for k, v in m.items() if not np.isnan(v))


@settings(max_examples=80, deadline=None)
@given(st.lists(query, min_size=2, max_size=10), st.randoms(use_true_random=False))
def test_invariant_to_query_order(data, rnd):
    shuffled = list(data)
    rnd.shuffle(shuffled)
    for name in ("default", "moment_detr"):
        results = []
        for d in (data, shuffled):
            _, _, durs, gw, pw, ps, pv = _arrays(d)
            results.append(evaluate_arrays(gw, durs, pw, ps, pv, get_protocol(name)).metrics)
        a, b = results
        for k in a:
            assert a[k] == pytest.approx(b[k], abs=0.011, nan_ok=True), k


@settings(max_examples=200, deadline=None)
@given(span, span)
def test_iou_symmetric_and_bounded(a, b):
    x, y = span_iou(a, b), span_iou(b, a)
    assert x == y and 0.0 <= x <= 1.0
    assert span_iou(a, a) == 1.0


# ---------------------------------------------------------------- discounted recall, buckets


def test_discounted_recall_hand_computed():
    gt = qs(("a", [(2, 6)], 10), ("b", [(0, 4)], 20))
    pred = {
        "a": P([2, 5, 0.9]),  # IoU 0.75, discount (1 - 0/10) * (1 - 1/10) = 0.9
        "b": P([10, 14, 0.9], [0, 5, 0.8]),  # top-1 misses; rank 2 IoU 0.8, (1 - 0) * (1 - 1/20)
    }
    m = evaluate(gt, pred, get_protocol("default")).metrics
    assert m["dR1@0.5"] == 45.0 and m["dR1@0.7"] == 45.0
    assert m["dR5@0.7"] == 92.5
    assert m["R1@0.5"] == 50.0 and m["R5@0.7"] == 100.0


def test_discounted_recall_takes_the_best_matching_gt_window():
    # GT windows [0, 2] and [4, 8]; the prediction [4, 7] matches the second (IoU 0.75)
    gt = qs(("a", [(0, 2), (4, 8)], 10))
    m = evaluate(gt, {"a": P([4, 7, 1.0])}, get_protocol("default")).metrics
    assert m["dR1@0.7"] == round(100 * (1 - 0 / 10) * (1 - 1 / 10), 2)


def test_discounted_recall_follows_the_protocol_comparator():
    gt = qs(("a", [(0, 4)], 10))
    pred = {"a": P([0, 2, 1.0])}  # IoU exactly 0.5
    assert evaluate(gt, pred, get_protocol("default")).metrics["dR1@0.5"] == 80.0
    assert evaluate(gt, pred, get_protocol("2dtan")).metrics["dR1@0.5"] == 0.0


@settings(max_examples=100, deadline=None)
@given(st.lists(query, min_size=1, max_size=12))
def test_discounted_recall_matches_reference_loop(data):
    proto = get_protocol("default", recall_at=(1, 5), iou_thresholds=(0.3, 0.5, 0.7))
    gt_list, pred_list, durs, gw, pw, ps, pv = _arrays(data)
    res = evaluate_arrays(gw, durs, pw, ps, pv, proto)
    for n in proto.recall_at:
        for m in proto.iou_thresholds:
            per_q = []
            for g, p, d in zip(gt_list, pred_list, durs, strict=True):
                g = [(max(s, 0.0), min(e, d)) for s, e in g]
                ranked = [tuple(x[:2]) for x in sorted(p, key=lambda x: -x[2])]
                kept = greedy_nms(ranked, 0.5, None)
                per_q.append(
                    discounted_oracle(g, kept, d, iou_fn=iou_one, hit_fn=lambda v, m=m: v >= m, n=n)
                )
            assert res.metrics[f"dR{n}@{m:g}"] == round(100 * float(np.mean(per_q)), 2), (n, m)
            assert res.metrics[f"dR{n}@{m:g}"] <= res.metrics[f"R{n}@{m:g}"]


def test_buckets_hand_computed():
    gt = qs(
        ("short-first", [(0, 0.5)], 10),  # length 5 %, centre 2.5 %
        ("mid-middle", [(3, 6)], 10),  # length 30 % -> (0.1, 0.3], centre 45 %
        ("long-last", [(4, 10)], 10),  # length 60 % -> (0.5, 1], centre 70 %
    )
    pred = {
        "short-first": P([0, 0.5, 1]),
        "mid-middle": P([3, 5, 1]),  # IoU 2/3: R1@0.5 only
        "long-last": P([0, 1, 1]),
    }
    b = evaluate(gt, pred, get_protocol("default")).buckets
    assert b["length"]["(0, 0.1]"] == {"n": 1, "R1@0.5": 100.0, "R1@0.7": 100.0}
    assert b["length"]["(0.1, 0.3]"] == {"n": 1, "R1@0.5": 100.0, "R1@0.7": 0.0}
    assert b["length"]["(0.3, 0.5]"]["n"] == 0 and np.isnan(b["length"]["(0.3, 0.5]"]["R1@0.5"])
    assert b["length"]["(0.5, 1]"] == {"n": 1, "R1@0.5": 0.0, "R1@0.7": 0.0}
    assert [b["position"][k]["n"] for k in ("first third", "middle third", "last third")] == [
        1,
        1,
        1,
    ]
    assert b["position"]["middle third"]["R1@0.5"] == 100.0


@settings(max_examples=60, deadline=None)
@given(st.lists(query, min_size=1, max_size=12))
def test_buckets_partition_the_queries(data):
    _, _, durs, gw, pw, ps, pv = _arrays(data)
    res = evaluate_arrays(gw, durs, pw, ps, pv, get_protocol("default"))
    clipped = np.clip(gw[:, 0], 0, durs[:, None])
    in_video = clipped[:, 1] > clipped[:, 0]
    for group in ("length", "position"):
        counted = sum(row["n"] for row in res.buckets[group].values())
        assert counted == (int(in_video.sum()) if group == "length" else len(data))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 5), min_size=1, max_size=8),
    st.lists(st.booleans(), min_size=8, max_size=8),
    st.sampled_from([None, 1, 3]),
)
def test_ragged_windows_pack_like_a_dict(counts, keep, max_windows):
    rng = np.random.default_rng(sum(counts))
    qids = [f"q{i}" for i in range(len(counts))]
    flat = rng.random((sum(counts), 3))
    ragged = RaggedWindows(flat, np.array(counts), qids)
    as_dict = {q: ragged[q].copy() for q in qids}
    wanted = [q for q, k in zip(qids, keep, strict=False) if k] + ["missing"]
    a = pack_predictions(ragged, wanted, max_windows=max_windows)
    b = pack_predictions(as_dict, wanted, max_windows=max_windows)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


@settings(max_examples=60, deadline=None)
@given(st.lists(query, min_size=1, max_size=12), st.sampled_from(["default", "2dtan"]))
def test_buckets_match_reference_loop(data, name):
    proto = get_protocol(name)
    gt_list, pred_list, durs, gw, pw, ps, pv = _arrays(data)
    res = evaluate_arrays(gw, durs, pw, ps, pv, proto)
    lengths = {"(0, 0.1]": (0, 0.1), "(0.1, 0.3]": (0.1, 0.3), "(0.3, 0.5]": (0.3, 0.5)}
    lengths["(0.5, 1]"] = (0.5, 1.0)
    rows: dict[str, list[tuple[float, float]]] = {}
    for g, p, d in zip(gt_list, pred_list, durs, strict=True):
        s, e = max(g[0][0], 0.0), min(g[0][1], d)  # the first GT window, clipped
        clipped = [(max(a, 0.0), min(b, d)) for a, b in g]
        ranked = [tuple(x[:2]) for x in sorted(p, key=lambda x: -x[2])]
        thresh, top_k = proto.nms_thresh, proto.max_keep
        kept = greedy_nms(ranked, thresh, top_k) if name == "default" else None
        if name == "2dtan":  # 2D-TAN's own NMS: sum union, keep ovr <= thresh, stop at 5
            kept = [tuple(w) for w in tan_nms([list(w) for w in ranked], 0.5, 5)] if ranked else []
        top1 = max(iou_one(kept[0], w) for w in clipped) if kept else 0.0
        frac, centre = (e - s) / d, (s + e) / 2 / d
        keys = [k for k, (lo, hi) in lengths.items() if lo < frac <= hi]
        keys.append(
            "first third" if centre < 1 / 3 else "middle third" if centre < 2 / 3 else "last third"
        )
        for k in keys:
            rows.setdefault(k, []).append(top1)
    for group in res.buckets.values():
        for k, row in group.items():
            ious = rows.get(k, [])
            assert row["n"] == len(ious), k
            for m in (0.5, 0.7):
                hits = [(v > m) if proto.strict else (v >= m) for v in ious]
                want = round(100 * float(np.mean(hits)), 2) if ious else None
                got = row[f"R1@{m:g}"]
                assert (want is None and np.isnan(got)) or got == want, (k, m)
