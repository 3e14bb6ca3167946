"""Run a graph of stages on a few CPU cores: independent stages at the same time, each in its
own process with the thread count that suits it, never more busy threads than cores.

A :class:`Stage` is a picklable call (a module-level function, or a ``functools.partial`` of
one) with the names of the stages it needs, its thread count and a cost estimate.
:func:`run_stages` starts ready stages by critical path (the longest chain of estimated cost
still behind a stage first: list scheduling), fills cores left idle with smaller ready stages,
and returns every stage's result with its :class:`StageTime` (wall and CPU seconds, whether it
was computed or found in a cache).

A stage's numbers depend on its thread count (float reductions split differently), never on
which other stages run beside it: the thread count is the stage's own, so the same seed and
settings give the same results whatever ``jobs`` is. With ``jobs=1`` the stages run one after
another in this process (no child processes; what a test or a debugger wants).

In a child, the stage's output goes to its log file (``log``), and the parent prints one line
per running stage every ``progress_every`` seconds: the last progress line of its log (the
tqdm bar with its epoch and ETA).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import resource
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

__all__ = [
    "Cached",
    "Stage",
    "StageTime",
    "critical_paths",
    "default_jobs",
    "run_stages",
    "stage_table",
]


@dataclass(frozen=True)
class Stage:
    """One unit of work.

    Attributes:
        name: unique, shown in progress lines and the stage-time table.
        fn: ``fn(**{keyword: result of the stage it names in args})``; must be picklable
            (child processes call it). Returns anything picklable; a :class:`Cached` marks a
            result found in a cache.
        deps: names of the stages that must finish first.
        threads: torch threads the stage runs with (counts against the cores).
        cost: estimated work, any unit (only ratios matter): the priority is the longest
            chain of costs from this stage to the end.
        args: ``{keyword: stage name}``: results ``fn`` receives (those stages are deps too).
        log: the child's stdout / stderr go here (``None``: the parent's).
    """

    name: str
    fn: Callable[..., Any]
    deps: tuple[str, ...] = ()
    threads: int = 1
    cost: float = 1.0
    args: Mapping[str, str] = field(default_factory=dict)
    log: Path | None = None


@dataclass(frozen=True)
class Cached:
    """A stage result found in a cache (the stage-time table says "cached")."""

    value: Any


@dataclass(frozen=True)
class StageTime:
    """How one stage ran: wall and CPU seconds (the CPU of its process and the children it
    waited for, e.g. data-loader workers), its threads, and whether it was cached."""

    name: str
    wall_s: float
    cpu_s: float
    threads: int
    cached: bool
    start_s: float  # seconds after the first stage started

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "wall_s": round(self.wall_s, 1),
            "cpu_s": round(self.cpu_s, 1),
            "threads": self.threads,
            "cached": self.cached,
            "start_s": round(self.start_s, 1),
        }


def default_jobs() -> int:
    """The cores this process may use (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def critical_paths(stages: Sequence[Stage]) -> dict[str, float]:
    """Each stage's cost plus the longest chain of costs of the stages that need it."""
    by_name = {s.name: s for s in stages}
    users: dict[str, list[str]] = {s.name: [] for s in stages}
    for s in stages:
        for d in s.deps:
            users[d].append(s.name)
    memo: dict[str, float] = {}

    def path(name: str) -> float:
        if name not in memo:
            memo[name] = by_name[name].cost + max((path(u) for u in users[name]), default=0.0)
        return memo[name]

    return {s.name: path(s.name) for s in stages}


def _check_graph(stages: Sequence[Stage]) -> None:
    names = [s.name for s in stages]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"stage names must be unique, repeated: {dup}")
    known = set(names)
    for s in stages:
        missing = [d for d in s.deps if d not in known]
        if missing:
            raise ValueError(f"stage {s.name!r} needs unknown stages {missing}")
        if not set(s.args.values()) <= set(s.deps):
            raise ValueError(f"stage {s.name!r}: the stages named in args must be deps")
        if s.threads < 1:
            raise ValueError(f"stage {s.name!r}: threads must be >= 1, got {s.threads}")
    # a cycle leaves stages that never become ready
    done: set[str] = set()
    left = list(stages)
    while left:
        ready = [s for s in left if set(s.deps) <= done]
        if not ready:
            raise ValueError(f"stage graph has a cycle among {sorted(s.name for s in left)}")
        done.update(s.name for s in ready)
        left = [s for s in left if s.name not in done]


def _cpu_seconds() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


@contextmanager
def _output_to(log: Path | None):
    """Send this process's stdout and stderr (file descriptors too, so data-loader workers and
    C libraries follow) to ``log`` while the block runs."""
    if log is None:
        yield
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "a", encoding="utf-8") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _call(
    fn: Callable[..., Any], kwargs: Mapping[str, Any], threads: int, log: Path | None
) -> tuple[Any, float, float]:
    """Run one stage here with ``threads`` torch threads: ``(result, wall s, cpu s)``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    t0, c0 = time.perf_counter(), _cpu_seconds()
    try:
        with _output_to(log):
            result = fn(**kwargs)
    finally:
        torch.set_num_threads(before)
    return result, time.perf_counter() - t0, _cpu_seconds() - c0


def _last_progress(log: Path | None, limit: int = 4096) -> str:
    """The last non-empty progress line of a log (tqdm redraws with carriage returns)."""
    if log is None or not log.is_file():
        return ""
    with open(log, "rb") as f:
        f.seek(max(0, log.stat().st_size - limit))
        tail = f.read().decode("utf-8", "replace")
    parts = [p.strip() for p in tail.replace("\r", "\n").split("\n")]
    parts = [p for p in parts if p]
    return parts[-1][:120] if parts else ""


def _format_s(s: float) -> str:
    return f"{int(s // 60)}:{int(s % 60):02d}"


def run_stages(
    stages: Sequence[Stage],
    *,
    jobs: int = 1,
    cores: int | None = None,
    init: Callable[[], Any] | None = None,
    progress_every: float = 30.0,
    out: TextIO | None = None,
) -> tuple[dict[str, Any], list[StageTime]]:
    """Run ``stages`` (dependencies first) and return ``({name: result}, [StageTime])``, the
    times in the order the stages finished.

    Args:
        jobs: stages at once (1: one after another in this process).
        cores: threads that may be busy at once (default: :func:`default_jobs`); a stage with
            more threads than that runs with ``cores`` threads.
        init: a picklable call each child makes first (e.g. importing the user's models).
        progress_every: seconds between progress lines (children only).
        out: where progress lines go (default stderr).

    A stage that raises stops the run: the other running stages are terminated (every stage
    writes its results atomically and resumes, so nothing half-written is kept) and the
    exception is raised here.
    """
    _check_graph(stages)
    out = out or sys.stderr
    cores = max(1, cores or default_jobs())
    stages = [s if s.threads <= cores else _with_threads(s, cores) for s in stages]
    priority = critical_paths(stages)
    results: dict[str, Any] = {}
    times: list[StageTime] = []
    t_start = time.perf_counter()

    def finish(stage: Stage, value: Any, wall: float, cpu: float, started: float) -> None:
        cached = isinstance(value, Cached)
        results[stage.name] = value.value if cached else value
        times.append(StageTime(stage.name, wall, cpu, stage.threads, cached, started - t_start))
        tag = "cached" if cached else f"{_format_s(wall)} wall, {cpu:.0f} s CPU"
        print(f"[done {len(times)}/{len(stages)}] {stage.name} ({tag})", file=out, flush=True)

    def kwargs_of(stage: Stage) -> dict[str, Any]:
        return {k: results[d] for k, d in stage.args.items()}

    pending = sorted(stages, key=lambda s: -priority[s.name])
    if jobs <= 1:
        while pending:
            stage = next(s for s in pending if set(s.deps) <= results.keys())
            pending.remove(stage)
            print(f"[start] {stage.name} ({stage.threads} threads)", file=out, flush=True)
            started = time.perf_counter()
            value, wall, cpu = _call(stage.fn, kwargs_of(stage), stage.threads, None)
            finish(stage, value, wall, cpu, started)
        return results, times

    running: dict[cf.Future, tuple[Stage, float]] = {}
    context = multiprocessing.get_context("spawn")  # no fork of a process with OpenMP threads
    pool = cf.ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=init)
    last_report = time.perf_counter()
    try:
        while pending or running:
            busy = sum(s.threads for s, _ in running.values())
            for stage in list(pending):
                if len(running) >= jobs:
                    break
                if not set(stage.deps) <= results.keys() or busy + stage.threads > cores:
                    continue
                pending.remove(stage)
                print(f"[start] {stage.name} ({stage.threads} threads)", file=out, flush=True)
                future = pool.submit(_call, stage.fn, kwargs_of(stage), stage.threads, stage.log)
                running[future] = (stage, time.perf_counter())
                busy += stage.threads
            if not running:
                raise RuntimeError(f"no stage can start: {[s.name for s in pending]}")
            done, _ = cf.wait(running, timeout=progress_every, return_when=cf.FIRST_COMPLETED)
            for future in done:
                stage, started = running.pop(future)
                value, wall, cpu = future.result()  # a stage's exception is raised here
                finish(stage, value, wall, cpu, started)
            now = time.perf_counter()
            if running and now - last_report >= progress_every:
                last_report = now
                for stage, started in running.values():
                    line = _last_progress(stage.log)
                    print(
                        f"  {stage.name} [{_format_s(now - started)}] {line}", file=out, flush=True
                    )
    except BaseException:
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return results, times


def _with_threads(stage: Stage, threads: int) -> Stage:
    from dataclasses import replace

    return replace(stage, threads=threads)


def stage_table(times: Sequence[StageTime], *, total_wall: float | None = None) -> str:
    """The stage-time table (tabulate, GitHub style), in start order, with a total row."""
    from tabulate import tabulate

    rows = [
        [t.name, _format_s(t.start_s), f"{t.wall_s:.1f}", f"{t.cpu_s:.1f}", t.threads,
         "cached" if t.cached else "computed"]
        for t in sorted(times, key=lambda t: t.start_s)
    ]  # fmt: skip
    cpu = sum(t.cpu_s for t in times)
    seq = sum(t.wall_s for t in times)
    rows.append(["all stages", "", f"{total_wall if total_wall is not None else seq:.1f}",
                 f"{cpu:.1f}", "", f"{sum(not t.cached for t in times)} computed"])  # fmt: skip
    return tabulate(
        rows, headers=["stage", "start", "wall s", "CPU s", "threads", ""], tablefmt="github"
    )
