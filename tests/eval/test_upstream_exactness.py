"""Each preset equals its literal re-statement of upstream (tests/eval/oracles.py) on every
metric, on data built to hit the places where the upstreams' arithmetic differs: two-decimal
times like the real files', spans whose IoU is exactly 0.3/0.5/0.7 in decimal, whole/half-video
windows, 2D-map cells ``(i, j + 1) * duration / T`` in float32 with nested top cells whose NMS
overlap is exactly 0.5, and scores that tie (or tie only in float32)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grounding.eval import evaluate_arrays, get_protocol
from grounding.eval.evaluator import pack_predictions
from tests.eval.oracles import mdetr_r1, mmn_evaluate, mmn_score2d_to_moments_scores, tan_eval

IOUS = (0.3, 0.5, 0.7)
RECALLS = (1, 5)


def decimal_queries(n: int, seed: int) -> list[tuple[float, list[float], np.ndarray]]:
    """``(duration, [gs, ge], candidates (K, 3))`` with times in hundredths of a second."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        dc = int(rng.integers(1000, 20000))  # duration in hundredths
        lc = 10 * int(rng.integers(1, max(2, dc // 30)))  # GT length: multiple of 0.1 s
        gs = int(rng.integers(0, dc - lc + 1))
        ge = gs + lc
        cands: list[tuple[int, int]] = []
        for f in (3, 5, 7):  # inside the GT: IoU exactly f/10
            length = lc * f // 10
            off = int(rng.integers(0, lc - length + 1))
            cands.append((gs + off, gs + off + length))
        a = 2 * int(rng.integers(0, lc // 2 + 1))  # partial overlap, IoU (L+a)/2 / (L+a) = 0.5
        b = (lc + a) // 2
        if gs - a >= 0 and b <= lc:
            cands.append((gs - a, gs + b))
        a = int(rng.integers(0, lc + 1))  # covering: L / (L + L) = 0.5
        if gs - a >= 0 and ge + (lc - a) <= dc:
            cands.append((gs - a, ge + lc - a))
        m = int(rng.integers(1, max(2, dc // 4)))  # nested: [x, x+m] and [x, x+2m] overlap 0.5
        x = int(rng.integers(0, dc - 2 * m + 1))
        cands += [(x, x + m), (x, x + 2 * m)]
        if rng.random() < 0.3:  # two zero-length windows at one time: their overlap is 0 / 0
            cands += [(x, x), (x, x)]
        for _ in range(int(rng.integers(3, 20))):
            s, e = sorted(int(v) for v in rng.integers(0, dc + 1, 2))
            cands.append((s, max(e, s + 1)))
        d = dc / 100
        rows = [[s / 100, e / 100] for s, e in cands] + [[0.0, d], [0.0, d / 2], [d / 2, d]]
        scores = rng.integers(0, 12, len(rows)) / 12  # heavy ties
        if rng.random() < 0.3:  # two scores equal in float32 only
            scores[:2] = [0.1234567891, 0.1234567892]
        arr = np.column_stack([np.array(rows), scores])
        out.append((d, [gs / 100, ge / 100], arr[rng.permutation(len(arr))]))
    return out


def map_cell_queries(
    n: int, num_clips: int, seed: int
) -> list[tuple[float, list[float], np.ndarray]]:
    """Every cell of a ``num_clips`` 2D map as candidates, built by MMN's own
    ``score2d_to_moments_scores`` (float32), with quantised scores and the two best cells nested
    (``[a, a+L]`` and ``[a, a+2L]``)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        d = int(rng.integers(1000, 20000)) / 100
        score2d = torch.zeros(num_clips, num_clips)
        iu = torch.triu_indices(num_clips, num_clips)
        score2d[iu[0], iu[1]] = torch.from_numpy(rng.integers(1, 9, iu.shape[1]) / 10).float()
        length = int(rng.integers(1, num_clips // 2))
        a = int(rng.integers(0, num_clips - 2 * length + 1))
        score2d[a, a + length - 1] = 1.0
        score2d[a, a + 2 * length - 1] = 0.95
        moments, scores = mmn_score2d_to_moments_scores(score2d, num_clips, d)
        i, j = sorted(int(v) for v in rng.integers(0, num_clips, 2))
        if rng.random() < 0.5:  # a GT on cell boundaries, two decimals like the real files
            gt = [round(i * d / num_clips, 2), round((j + 1) * d / num_clips, 2)]
        else:
            gs = int(rng.integers(0, int(d * 100) - 10))
            gt = [gs / 100, int(rng.integers(gs + 10, int(d * 100) + 1)) / 100]
        arr = np.column_stack([moments.double().numpy(), scores.double().numpy()])
        out.append((d, gt, arr))
    return out


def ours(queries, name: str) -> dict[str, float]:
    durs = np.array([d for d, _, _ in queries])
    gt = np.array([[g] for _, g, _ in queries], dtype=np.float64)
    preds = {str(i): c for i, (_, _, c) in enumerate(queries)}
    pw, ps, pv = pack_predictions(preds, [str(i) for i in range(len(queries))])
    return evaluate_arrays(gt, durs, pw, ps, pv, get_protocol(name)).metrics


def literal_2dtan(queries) -> dict[str, float]:
    segments = [
        [[s, e] for s, e, _ in sorted(c.tolist(), key=lambda r: -r[2])] for _, _, c in queries
    ]
    data = [{"times": [max(g[0], 0), min(g[1], d)]} for d, g, _ in queries]
    return tan_eval(segments, data, tious=IOUS, recalls=RECALLS, nms_thresh=0.5)


def literal_mmn(queries) -> dict[str, float]:
    cands = [torch.from_numpy(c[:, :2]).float() for _, _, c in queries]
    scores = [torch.from_numpy(c[:, 2]).float() for _, _, c in queries]
    gts = [torch.Tensor([max(g[0], 0), min(g[1], d)]) for d, g, _ in queries]
    return mmn_evaluate(
        cands, scores, gts, nms_thresh=0.5, recall_metrics=RECALLS, iou_metrics=IOUS
    )


def assert_same(got: dict[str, float], expected: dict[str, float]) -> None:
    diff = {k: (got[k], v) for k, v in expected.items() if got[k] != v}
    assert not diff, diff


@pytest.mark.parametrize("seed", [0, 1])
def test_2dtan_equals_its_literal_code_on_decimal_data(seed):
    queries = decimal_queries(1500, seed)
    assert_same(ours(queries, "2dtan"), literal_2dtan(queries))


@pytest.mark.parametrize("seed", [0, 1])
def test_mmn_equals_its_literal_code_on_decimal_data(seed):
    queries = decimal_queries(1500, seed)
    assert_same(ours(queries, "mmn"), literal_mmn(queries))


@pytest.mark.parametrize(("num_clips", "n"), [(16, 300), (64, 25)])
def test_presets_equal_literal_code_on_2d_map_cells(num_clips, n):
    queries = map_cell_queries(n, num_clips, seed=num_clips)
    assert_same(ours(queries, "2dtan"), literal_2dtan(queries))
    assert_same(ours(queries, "mmn"), literal_mmn(queries))


def test_moment_detr_r1_equals_its_literal_code_with_several_gt_windows():
    rng = np.random.default_rng(3)
    queries = decimal_queries(800, seed=3)
    submission, ground_truth, gt_rows = [], [], []
    for i, (d, g, c) in enumerate(queries):
        extra = sorted(int(v) for v in rng.integers(0, int(d * 100), 2))
        windows = [g, [extra[0] / 100, max(extra[1], extra[0] + 1) / 100]]
        if rng.random() < 0.5:
            windows = windows[::-1]
        ground_truth.append({"qid": i, "relevant_windows": windows, "duration": d})
        submission.append({"qid": i, "pred_relevant_windows": c.tolist()})
        gt_rows.append(windows)
    expected = mdetr_r1(submission, ground_truth, IOUS)
    durs = np.array([d for d, _, _ in queries])
    preds = {str(i): c for i, (_, _, c) in enumerate(queries)}
    pw, ps, pv = pack_predictions(preds, [str(i) for i in range(len(queries))])
    got = evaluate_arrays(np.array(gt_rows), durs, pw, ps, pv, get_protocol("moment_detr"))
    assert_same(got.metrics, expected)


def test_the_data_hits_the_boundaries():
    """The generators do produce the cases the presets disagree on: the presets give different
    figures on the same data, so equality with each literal code is not vacuous."""
    queries = decimal_queries(1500, 0)
    tan, mmn, default = ours(queries, "2dtan"), ours(queries, "mmn"), ours(queries, "default")
    assert tan["R1@0.5"] != default["R1@0.5"]  # strict > on exact 0.5
    assert mmn["R5@0.5"] != tan["R5@0.5"]  # whole/half windows survive MMN's NMS only
