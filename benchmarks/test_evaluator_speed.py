"""Evaluator speed (pytest-benchmark): :func:`grounding.eval.evaluate_arrays` on 10,000 queries
x 100 ranked candidates, every metric of each protocol preset (NMS 0.5 where the preset has it).

Run: ``pytest benchmarks/test_evaluator_speed.py`` (the 100,000-query timing table is
``python benchmarks/bench_evaluator.py``). Inputs are the seeded random predictions of
``bench_evaluator.make_inputs``; queries and candidates are attached as ``extra_info``.
"""

from __future__ import annotations

import numpy as np
import pytest
from bench_evaluator import make_inputs

from grounding.eval import evaluate_arrays, get_protocol
from grounding.eval.protocols import PRESETS

QUERIES = 10_000
CANDIDATES = 100


@pytest.fixture(scope="module")
def inputs():
    return make_inputs(QUERIES, CANDIDATES, seed=0)


@pytest.mark.parametrize("protocol", sorted(PRESETS))
def test_evaluate_arrays_speed(benchmark, inputs, protocol: str) -> None:
    benchmark.extra_info.update(queries=QUERIES, candidates=CANDIDATES, protocol=protocol)
    result = benchmark(evaluate_arrays, *inputs, get_protocol(protocol))
    values = np.array([v for v in result.metrics.values() if isinstance(v, float)])
    assert len(values) and np.isfinite(values).all()
    assert ((values >= 0) & (values <= 100)).all()
    assert result.metrics["R1@0.5"] <= result.metrics["R5@0.5"]
