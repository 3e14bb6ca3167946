"""Typed stage settings: flags generated from the dataclass fields, the stage key, the OpenMP
wait policy."""

import argparse
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from grounding.runtime import prefer_passive_omp
from grounding.settings import add_arguments, canonical_json, flag, from_args, stage_key


@dataclass(frozen=True)
class Inner:
    size: int = field(default=3, metadata=flag("a size"))
    kind: str = field(default="a", metadata=flag("a kind", ("a", "b")))
    on: bool = True


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    path: Path | None = None
    rate: float | None = None
    inner: Inner = field(default_factory=Inner)


def _parse(*argv: str) -> Outer:
    p = argparse.ArgumentParser()
    add_arguments(p, Outer)
    return from_args(Outer, p.parse_args(list(argv)))


def test_flags_default_to_the_fields_and_build_the_same_settings():
    assert _parse() == Outer()
    got = _parse("--size", "5", "--kind", "b", "--no-on", "--path", "p", "--rate", "0.5")
    assert got == Outer(path=Path("p"), rate=0.5, inner=Inner(size=5, kind="b", on=False))
    with pytest.raises(SystemExit):
        _parse("--kind", "c")


def test_canonical_json_and_stage_key():
    a = Outer(path=Path("/d"))
    assert canonical_json(a) == canonical_json(replace(a))
    assert '"path":"/d"' in canonical_json(a)
    assert stage_key(a, version="1") != stage_key(replace(a, name="y"), version="1")
    assert stage_key(a, version="1") != stage_key(a, version="2")


def test_the_training_flags_give_the_profile_settings():
    """``grounding.train recognition`` flags and a profile's settings object are the same
    thing: the flags of the smoke profile's recognition build it back."""
    from grounding.profiles import PROFILES
    from grounding.train.recognition import RecognitionSettings
    from grounding.train.recognition import add_arguments as recognition_arguments

    p = argparse.ArgumentParser()
    recognition_arguments(p)
    argv = ["--data", ".", "--out", "."]
    flags = "--input-size 64 --width 0.25 --segments 2 --epochs 1 --batch-size 16".split()
    assert from_args(RecognitionSettings, p.parse_args([*argv, *flags])) == (
        PROFILES["smoke"].recognition
    )
    old = p.parse_args([*argv, "--no-residual", "--no-flow-compensation", "--spatial", "softmax"])
    settings = from_args(RecognitionSettings, old)
    assert (settings.net.residual, settings.clips.flow_compensation) == (False, False)


def test_prefer_passive_omp_keeps_a_user_choice(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    prefer_passive_omp()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    prefer_passive_omp()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


@pytest.mark.parametrize(
    "module",
    ["grounding/bench.py", "grounding/extract.py", "grounding/train/__main__.py",
     "grounding/speed/__main__.py", "grounding/predict.py", "benchmarks/bench_training.py"],
)  # fmt: skip
def test_every_entry_point_sets_the_wait_policy_before_any_other_import(module):
    import ast

    root = Path(__file__).resolve().parents[1]
    body = ast.parse((root / module).read_text(encoding="utf-8")).body
    statements = [
        s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
    ]
    first, guard = statements[1], statements[2]  # after `from __future__ import annotations`
    assert isinstance(first, ast.ImportFrom) and first.module == "grounding.runtime"
    assert isinstance(guard, ast.If) and "prefer_passive_omp" in ast.unparse(guard)
