from __future__ import annotations

import io
import time
from functools import partial

import pytest

from grounding.scheduler import Cached, Stage, critical_paths, run_stages, stage_table


def _nap(seconds: float, **_: object) -> float:
    time.sleep(seconds)
    return seconds


def test_critical_path_is_the_longest_chain_behind_a_stage():
    stages = [
        Stage("a", dict, cost=1.0),
        Stage("b", dict, deps=("a",), cost=5.0),
        Stage("c", dict, deps=("a",), cost=2.0),
        Stage("d", dict, deps=("c",), cost=1.0),
    ]
    assert critical_paths(stages) == {"a": 6.0, "b": 5.0, "c": 3.0, "d": 1.0}


@pytest.mark.parametrize(
    ("stages", "match"),
    [
        ([Stage("a", dict), Stage("a", dict)], "unique"),
        ([Stage("a", dict, deps=("x",))], "unknown stages"),
        ([Stage("a", dict, deps=("b",)), Stage("b", dict, deps=("a",))], "cycle"),
        ([Stage("a", dict), Stage("b", dict, args={"x": "a"})], "must be deps"),
        ([Stage("a", dict, threads=0)], "threads"),
    ],
)
def test_bad_graphs_are_refused(stages, match):
    with pytest.raises(ValueError, match=match):
        run_stages(stages)


def test_in_process_results_args_and_cached_flag():
    stages = [
        Stage("one", partial(dict, a=1)),
        Stage("two", partial(Cached, 2)),
        Stage("sum", partial(dict, c=3), deps=("one", "two"), args={"x": "one", "y": "two"}),
    ]
    out = io.StringIO()
    results, times = run_stages(stages, jobs=1, out=out)
    assert results == {"one": {"a": 1}, "two": 2, "sum": {"c": 3, "x": {"a": 1}, "y": 2}}
    assert [t.name for t in times] == ["one", "two", "sum"]
    assert [t.cached for t in times] == [False, True, False]
    assert "[done 3/3] sum" in out.getvalue()
    table = stage_table(times)
    assert "cached" in table and "2 computed" in table


@pytest.mark.slow
def test_processes_run_independent_stages_at_once_within_the_cores(tmp_path):
    """Two 1-thread naps overlap on 2 cores; a 2-thread stage never runs beside another; each
    child's output goes to its log; results come back through the args."""
    log = tmp_path / "logs" / "talk.log"
    stages = [
        Stage("nap a", partial(_nap, 1.5)),
        Stage("nap b", partial(_nap, 1.5)),
        Stage("wide", partial(_nap, 0.5), threads=2, deps=("nap a",), args={"x": "nap a"}),
        Stage("talk", partial(print, "hello from a stage"), log=log),
    ]
    results, times = run_stages(stages, jobs=2, cores=2, out=io.StringIO())
    assert results["nap a"] == 1.5 and results["wide"] == 0.5
    by = {t.name: t for t in times}
    assert by["nap b"].start_s < by["nap a"].start_s + by["nap a"].wall_s  # overlapped
    wide = by["wide"]
    for t in times:
        if t.name != "wide":  # nothing else runs while the 2-thread stage runs
            assert t.start_s + t.wall_s <= wide.start_s + 0.05 or t.start_s >= wide.start_s
            assert not (wide.start_s < t.start_s < wide.start_s + wide.wall_s)
    assert "hello from a stage" in log.read_text()


@pytest.mark.slow
def test_a_failing_stage_stops_the_run_with_its_error():
    stages = [Stage("bad", partial(int, "not a number")), Stage("later", dict, deps=("bad",))]
    with pytest.raises(ValueError, match="not a number"):
        run_stages(stages, jobs=2, cores=2, out=io.StringIO())
