import numpy as np
import pytest

from baselines.blind import PriorOnly, WholeVideo, normalized_moments
from grounding.data.annotations import Query, QuerySet
from grounding.eval import evaluate, get_protocol, span_iou


def make_set(n: int, seed: int, split: str) -> QuerySet:
    rng = np.random.default_rng(seed)
    qs = []
    for i in range(n):
        d = float(rng.uniform(20, 40))
        s = float(rng.uniform(0, 0.3)) * d
        e = s + float(rng.uniform(0.2, 0.4)) * d
        qs.append(Query(str(i), f"v{i}", "someone does something", ((s, e),), d))
    return QuerySet("toy", split, qs)


def test_whole_video():
    test = make_set(5, 1, "test")
    pred = WholeVideo().fit(test).predict(test)
    for q in test.queries:
        assert pred[q.qid].tolist() == [[0.0, q.duration, 1.0]]


def test_prior_only_is_seeded_valid_and_nms_clean():
    train, test = make_set(300, 0, "train"), make_set(50, 1, "test")
    m = PriorOnly(n_samples=60, top_k=5).fit(train)
    a, b, c = m.predict(test, seed=0), m.predict(test, seed=0), m.predict(test, seed=1)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert any(not np.array_equal(a[k], c[k]) for k in a)
    for q in test.queries:
        w = a[q.qid]
        assert 1 <= len(w) <= 5
        assert (w[:, 0] >= 0).all() and (w[:, 1] <= q.duration + 1e-9).all()
        assert (w[:, 0] < w[:, 1]).all()
        assert (np.diff(w[:, 2]) <= 0).all()  # ranked by prior density
        iou = span_iou(w[:, None, :2], w[None, :, :2])
        assert (iou[~np.eye(len(w), dtype=bool)] <= 0.5).all()


def test_prior_only_learns_the_prior():
    # all train moments sit in the first third: the prior must beat whole-video on R1@0.5
    train, test = make_set(400, 0, "train"), make_set(200, 1, "test")
    proto = get_protocol("default")
    prior = evaluate(test, PriorOnly().fit(train).predict(test, seed=0), proto)
    whole = evaluate(test, WholeVideo().predict(test), proto)
    assert prior.metrics["R1@0.5"] > whole.metrics["R1@0.5"] + 20


def test_prior_only_errors():
    with pytest.raises(RuntimeError, match="before fit"):
        PriorOnly().predict(make_set(2, 0, "test"))
    with pytest.raises(ValueError, match="at least 3"):
        PriorOnly().fit(make_set(2, 0, "train"))


def test_normalized_moments():
    qs = QuerySet("t", "t", [Query("0", "v", "s", ((2.0, 6.0),), 10.0)])
    assert normalized_moments(qs).tolist() == [[0.2, 0.4]]
